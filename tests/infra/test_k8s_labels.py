"""The recommended `app.kubernetes.io/*` labels on every Kubernetes object the stack program creates, and selectors
that survive a release: a Deployment's selector is immutable, so the version label must never be part of one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infra.plan.engine import Plan, RecordedResource
from tests.infra.conftest import GCP_RENAMED, STACKS, stack_spec

STANDARD = ("name", "instance", "version", "component", "part-of", "managed-by")
STANDARD_KEYS = tuple(f"app.kubernetes.io/{key}" for key in STANDARD)
VERSION = "app.kubernetes.io/version"
# Keys whose value selects objects by label: a Service's `selector` is a plain map, the others are LabelSelectors.
SELECTOR_KEYS = {"selector", "labelSelector", "podSelector", "namespaceSelector"}
# Pulumi resources of the Kubernetes provider that are not API objects: Helm's release record (the chart's objects are
# labelled by the chart) and the provider itself.
NOT_API_OBJECTS = ("kubernetes:helm.sh/", "kubernetes:kustomize/", "kubernetes:yaml/")


def api_objects(plan: Plan) -> list[RecordedResource]:
    return [
        r
        for r in plan.resources
        if r.custom and r.type.startswith("kubernetes:") and not r.type.startswith(NOT_API_OBJECTS)
    ]


def selectors(value: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every label selector in a manifest, with where it is."""
    if isinstance(value, dict):
        for key, child in value.items():
            here = f"{path}.{key}" if path else key
            if key in SELECTOR_KEYS and isinstance(child, dict):
                yield here, child
            yield from selectors(child, here)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from selectors(child, f"{path}[{index}]")


def selected_labels(selector: dict[str, Any]) -> set[str]:
    """The label keys a selector reads: a plain map, matchLabels and matchExpressions."""
    keys = {k for k, v in selector.items() if isinstance(v, str)}
    keys |= set(selector.get("matchLabels") or {})
    keys |= {e.get("key", "") for e in selector.get("matchExpressions") or [] if isinstance(e, dict)}
    return keys


@pytest.mark.parametrize("stack", [*STACKS, GCP_RENAMED])
def test_every_kubernetes_object_carries_the_standard_labels(stack: str, stack_plan: Callable[[str], Plan]) -> None:
    objects = api_objects(stack_plan(stack))
    assert len(objects) > 50  # namespaces, policies, workloads, RBAC, config: the whole in-cluster layer
    missing = {
        f"{r.type}::{r.name}": sorted(set(STANDARD_KEYS) - set((r.inputs.get("metadata") or {}).get("labels") or {}))
        for r in objects
    }
    assert not {name: keys for name, keys in missing.items() if keys}
    values = {key: {r.inputs["metadata"]["labels"][key] for r in objects} for key in STANDARD_KEYS}
    # One installation of one release: every object names this stack's platform and one version.
    assert values["app.kubernetes.io/instance"] == {stack_spec(stack).base_name}
    assert len(values[VERSION]) == 1 and all(values[VERSION])
    assert values["app.kubernetes.io/managed-by"] == {"pulumi"}
    assert len(values["app.kubernetes.io/part-of"]) == 1


@pytest.mark.parametrize("stack", STACKS)
def test_no_selector_reads_the_version_label(stack: str, stack_plan: Callable[[str], Plan]) -> None:
    found = [
        (f"{r.type}::{r.name}", path)
        for r in api_objects(stack_plan(stack))
        for path, selector in selectors(r.inputs)
        if VERSION in selected_labels(selector)
    ]
    assert not found, (
        f"selectors on {VERSION} break on the next release (a Deployment's selector is immutable): {found}"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_workload_selectors_match_their_pod_templates(stack: str, stack_plan: Callable[[str], Plan]) -> None:
    """A Deployment whose selector does not match its template is refused by the API server."""
    deployments = [r for r in api_objects(stack_plan(stack)) if r.type == "kubernetes:apps/v1:Deployment"]
    assert deployments
    for deployment in deployments:
        spec = deployment.inputs["spec"]
        match = spec["selector"]["matchLabels"]
        template = spec["template"]["metadata"]["labels"]
        assert match.items() <= template.items(), deployment.name
