"""The published configuration reference: the JSON schema editors validate stack files with, and the README table,
both generated from the spec. They must be current, accept every shipped stack and refuse what the spec refuses."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
import yaml

from infra.config_reference import (
    PATTERN_NAMES,
    SCHEMA_COMMENT,
    SCHEMA_PATH,
    readable_type,
    reference_rows,
    schema_text,
)
from infra.plan.engine import PROJECT_ROOT
from tests.infra.conftest import STACKS

STACK_FILES = [PROJECT_ROOT / f"Pulumi.{stack}.yaml" for stack in STACKS]


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def shipped(stack: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())
    return document


def errors(document: dict[str, Any]) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(document)]


def test_published_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text() == schema_text(), "run `make docs` to regenerate schema/stack-config.schema.json"


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_file_names_and_satisfies_the_schema(stack: str) -> None:
    path = PROJECT_ROOT / f"Pulumi.{stack}.yaml"
    first_line = path.read_text().splitlines()[0]
    assert first_line == SCHEMA_COMMENT
    # The language server resolves the path from the stack file's folder.
    assert (path.parent / first_line.split("$schema=", 1)[1]).resolve() == SCHEMA_PATH.resolve()
    assert errors(shipped(stack)) == []


def _set(document: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    node = changed["config"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


def _rename(document: dict[str, Any], path: tuple[str, ...], new_key: str) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    node = changed["config"]
    for key in path[:-1]:
        node = node[key]
    node[new_key] = node.pop(path[-1])
    return changed


MISTAKES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "misspelt top-level key": lambda d: _rename(d, ("mlops:network",), "mlops:netwrok"),
    "misspelt nested key": lambda d: _rename(d, ("mlops:network", "vpcCidr"), "vpcCdir"),
    "misspelt key in a list item": lambda d: _set(d, ("mlops:workloads",), {"teams": [{"nmae": "ml-team"}]}),
    "string for an integer": lambda d: _set(d, ("mlops:network", "zoneCount"), "two"),
    "integer out of range": lambda d: _set(d, ("mlops:network", "zoneCount"), 9),
    "value outside an enum": lambda d: _set(d, ("mlops:environment",), "production"),
    "name that is no DNS label": lambda d: _set(d, ("mlops:namePrefix",), "ML_Ops"),
    "secret in plain text": lambda d: _set(d, ("mlops:slackWebhookUrl",), "https://hooks.slack.com/x"),
}


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
@pytest.mark.parametrize("stack", ["dev", "gcp-prod"])
def test_schema_flags_a_mistake_in_a_stack_file(stack: str, mistake: str) -> None:
    assert errors(MISTAKES[mistake](shipped(stack)))


def test_other_namespaces_stay_open() -> None:
    """Provider settings (`aws:region`, `gcp:project`) and Pulumi's own keys live in the same file."""
    document = _set(shipped("dev"), ("aws:region",), "us-east-1")
    document["encryptionsalt"] = "v1:abc"
    assert errors(document) == []


def test_reference_reads_as_yaml_not_python() -> None:
    rows = list(reference_rows())
    assert len(rows) > 100
    for key, type_, default, _ in rows:
        for python in ("Optional", "Annotated", "Literal", "[", "^", "$", "NoneType", "Spec"):
            assert python not in type_, f"{key}: {type_}"
        assert "=" not in default and "QuotaSpec" not in default, f"{key}: {default}"
    by_key = {key: (type_, default) for key, type_, default, _ in rows}
    assert by_key["network.zoneCount"] == ("integer 1 to 6", "`2`")
    assert by_key["nodePools.system.desiredSize"][0] == "integer ≥ 0 or `null`"
    assert by_key["namePrefix"][0].startswith("string (DNS label")
    assert by_key["budget.notificationEmails"][0] == "list of email address"
    assert by_key["workloads.teams"][1].startswith("`[{name: ml-team, quota: {")


def test_a_pattern_without_a_readable_name_fails_generation() -> None:
    assert "^x{3}$" not in PATTERN_NAMES
    with pytest.raises(KeyError, match="PATTERN_NAMES"):
        readable_type({"type": "string", "pattern": "^x{3}$"}, {})
