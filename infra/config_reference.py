"""The stack configuration's reference, generated from the typed spec so it cannot drift: the README table and the
JSON schema editors validate stack files with (`schema/stack-config.schema.json`). Both read one document, pydantic's
JSON schema of `PlatformSpec`, so the types a user reads in the README are the ones the schema enforces.

`python -m infra.config_reference --write` (`make docs`) rewrites both; tests keep them current.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from components.spec import INT32_MAX, PlatformSpec
from infra.config import SECRET_KEYS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = PROJECT_ROOT / "schema" / "stack-config.schema.json"
# The first line of each shipped stack file: the YAML language server (VS Code, JetBrains, Neovim) validates against it.
SCHEMA_COMMENT = "# yaml-language-server: $schema=schema/stack-config.schema.json"
NAMESPACE = "mlops:"
README_MARKERS = ("<!-- config-reference:start -->", "<!-- config-reference:end -->")
# What each pattern of the spec means to a user. A pattern missing here fails `make docs`: no regex reaches the README.
PATTERN_NAMES: Mapping[str, str] = {
    r"^[a-z]([-a-z0-9]{0,24}[a-z0-9])?$": "string (DNS label, at most 26 characters)",
    r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$": "string (DNS label, at most 32 characters)",
    r"^[1-9][0-9]*[hdwy]$": "duration (a number and h, d, w or y, e.g. `15d`)",
    r"^[^@\s]+@[^@\s]+\.[^@\s]+$": "email address",
    r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$": "GCP project id (6 to 30 characters)",
}
FORMAT_NAMES: Mapping[str, str] = {"ipv4network": "IPv4 CIDR (e.g. `10.0.0.0/16`)"}


def spec_schema() -> dict[str, Any]:
    """pydantic's JSON schema of the `mlops:` namespace: camelCase keys, unknown keys refused at every level."""
    return PlatformSpec.model_json_schema(by_alias=True)


def stack_file_schema() -> dict[str, Any]:
    """The schema of a whole `Pulumi.<stack>.yaml`: every `mlops:<key>` under `config`, each secret as Pulumi
    stores it (`secure:` ciphertext), and no other `mlops:` key, so a misspelt key is flagged where it is typed.
    Other namespaces (`aws:`, `gcp:`, `pulumi:`) and the file's own keys (`secretsprovider`, ...) stay open."""
    spec = spec_schema()
    keys = {f"{NAMESPACE}{key}": schema for key, schema in spec["properties"].items()}
    secret = {
        "type": "object",
        "properties": {"secure": {"type": "string"}},
        "required": ["secure"],
        "additionalProperties": False,
    }
    keys |= {f"{NAMESPACE}{key}": {**secret, "description": text} for key, text in SECRET_KEYS.items()}
    config = {
        "type": "object",
        "properties": keys,
        "required": [f"{NAMESPACE}{key}" for key in spec.get("required", [])],
        "propertyNames": {"anyOf": [{"enum": sorted(keys)}, {"not": {"pattern": f"^{NAMESPACE}"}}]},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Pulumi stack file of the MLOps platform",
        "description": "Generated from components/spec.py by `make docs`; the README's configuration reference.",
        "type": "object",
        "properties": {"config": config},
        "required": ["config"],
        "$defs": spec["$defs"],
    }


def schema_text() -> str:
    return json.dumps(stack_file_schema(), indent=2, sort_keys=True) + "\n"


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    return _resolve(defs[ref.rsplit("/", 1)[1]], defs) if ref else node


def _bounds(node: Mapping[str, Any], noun: str) -> str:
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    if high is not None and high >= INT32_MAX:  # the API's integer width, not a choice the user makes
        high = None
    low_sign = ">" if "exclusiveMinimum" in node else "≥"
    high_sign = "<" if "exclusiveMaximum" in node else "≤"
    if low is not None and high is not None and low_sign == "≥" and high_sign == "≤":
        return f"{noun} {_number(low)} to {_number(high)}"
    parts = [
        f"{low_sign} {_number(low)}" if low is not None else "",
        f"{high_sign} {_number(high)}" if high is not None else "",
    ]
    return f"{noun} " + " and ".join(filter(None, parts)) if any(parts) else noun


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def readable_type(node: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    """A JSON-schema node as a user reads it: `integer ≥ 1`, `list of string`, `one of `a`, `b``."""
    if "$ref" in node:
        target = _resolve(node, defs)
        return "object (keys below)" if "properties" in target else readable_type(target, defs)
    if "anyOf" in node:
        options = [option for option in node["anyOf"] if option.get("type") != "null"]
        text = " or ".join(readable_type(option, defs) for option in options)
        return f"{text} or `null`" if len(options) < len(node["anyOf"]) else text
    if "enum" in node:
        return "one of " + ", ".join(f"`{value}`" for value in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    kind = node.get("type")
    if kind == "string":
        if "pattern" in node:
            if node["pattern"] not in PATTERN_NAMES:
                raise KeyError(f"no readable name for the pattern {node['pattern']!r}: add it to PATTERN_NAMES")
            return PATTERN_NAMES[node["pattern"]]
        if "format" in node:
            return FORMAT_NAMES[node["format"]]
        low, high = node.get("minLength"), node.get("maxLength")
        if low is not None and high is not None:
            return f"string of {low} to {high} characters"
        return f"string of at least {low} characters" if low else "string"
    if kind in ("integer", "number"):
        return _bounds(node, kind)
    if kind == "boolean":
        return "boolean"
    if kind == "array":
        return f"list of {readable_type(node.get('items', {}), defs)}"
    if kind == "object":
        values = node.get("additionalProperties")
        value_text = readable_type(values, defs) if isinstance(values, dict) else "any"
        names = node.get("propertyNames")
        key_text = readable_type(names, defs) if names else "string"
        return f"map of {key_text} to {value_text}"
    if not node:  # an unconstrained JSON value (pydantic JsonValue), e.g. a pipeline parameter
        return "any YAML value"
    raise ValueError(f"no readable form for the schema {dict(node)}")


def readable_default(value: Any) -> str:
    """A default as it would be written in the stack file (YAML flow style), never a Python repr."""
    if isinstance(value, BaseModel):
        return "see below"
    plain = to_jsonable_python(value, by_alias=True)
    text = yaml.safe_dump(plain, default_flow_style=True, sort_keys=False, width=10_000).strip()
    return f"`{text.removesuffix('...').strip()}`"


def _nested_model(node: Mapping[str, Any], defs: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool] | None:
    """The object a key holds (or a list holds), if it has documented keys of its own; and whether it is a list."""
    for option in node.get("anyOf", [node]):
        if option.get("type") == "array":
            items = _resolve(option.get("items", {}), defs)
            if "properties" in items:
                return items, True
        target = _resolve(option, defs)
        if "properties" in target:
            return target, False
    return None


def reference_rows(
    model: type[BaseModel] = PlatformSpec,
    node: Mapping[str, Any] | None = None,
    prefix: str = "",
    defs: Mapping[str, Any] | None = None,
) -> Iterator[tuple[str, str, str, str]]:
    """(key, type, default, meaning) for every key, nested objects expanded (the schema is built once, at the top)."""
    if node is None or defs is None:
        schema = spec_schema()
        node, defs = schema, schema["$defs"]
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    for key, field_node in node["properties"].items():
        field = fields[key]
        default = "required" if field.is_required() else readable_default(field.default)
        yield f"{prefix}{key}", readable_type(field_node, defs), default, field.description or ""
        nested = _nested_model(field_node, defs)
        if nested is not None:
            target, is_list = nested
            nested_model = _model_class(field.annotation, target["title"])
            assert nested_model is not None, f"{key}: no model {target['title']} in {field.annotation}"
            yield from reference_rows(nested_model, target, f"{prefix}{key}{'[]' if is_list else ''}.", defs)


def _model_class(annotation: Any, title: str) -> type[BaseModel] | None:
    """The pydantic model named `title` inside a field's annotation (`X`, `X | None`, `list[X]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation.__name__ == title:
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_class(arg, title)
        if found is not None:
            return found
    return None


def reference_markdown() -> str:
    lines = ["| Key (`mlops:` namespace) | Type | Default | Meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| `{key}` | {type_} | {default} | {text} |" for key, type_, default, text in reference_rows()]
    lines += [f"| `{key}` (secret) | string | unset | {text} |" for key, text in SECRET_KEYS.items()]
    return "\n".join(lines)


def readme_with_reference(readme: str) -> str:
    start, end = README_MARKERS
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{reference_markdown()}\n{end}{tail}"


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--write"]:
        readme = PROJECT_ROOT / "README.md"
        readme.write_text(readme_with_reference(readme.read_text()))
        SCHEMA_PATH.parent.mkdir(exist_ok=True)
        SCHEMA_PATH.write_text(schema_text())
    else:
        print(reference_markdown())
