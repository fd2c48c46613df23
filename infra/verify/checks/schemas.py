"""Check 1, schemas: every object is valid for the stack's Kubernetes version, as the API server would judge it.

- Built-in kinds (the core groups and `*.k8s.io`): the strict OpenAPI schema of that Kubernetes version from
  kubernetes-validate (unknown fields are errors); an apiVersion/kind that version does not serve is a violation.
- Custom resources: the `openAPIV3Schema` of the served version of their CustomResourceDefinition in the set, read as
  the API server reads a structural schema (`nullable`, `x-kubernetes-int-or-string`,
  `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-embedded-resource`); a field the schema does not declare is
  a violation, since the API server drops it (or rejects it under strict field validation). CEL rules
  (`x-kubernetes-validations`) and string formats are not evaluated offline.
- A custom resource whose CRD is neither in the set nor on `CRDS_OUTSIDE_THE_SET` is a violation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema

from infra.plan.manifests import drop_nulls, schema_dir, schema_filename, validator
from infra.render.objects import KubeObject, Scopes
from infra.verify.allowlists import CRDS_OUTSIDE_THE_SET
from infra.verify.model import Check, CheckResult, ObjectSet, Violation

NAME = "schemas"
_ROOT_FIELDS = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}


def structural(schema: Mapping[str, Any], root: bool = False) -> dict[str, Any]:
    """A CRD's openAPIV3Schema as a JSON Schema (draft 4) with the API server's semantics."""
    node = {k: v for k, v in schema.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if schema.get("x-kubernetes-int-or-string"):
        node.pop("type", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    for key in ("properties", "patternProperties", "definitions"):
        if key in node:
            node[key] = {name: structural(child) for name, child in node[key].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(node.get(key), Mapping):
            node[key] = structural(node[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema and key in node and not schema.get("x-kubernetes-int-or-string"):
            node[key] = [structural(child) for child in node[key]]
    if schema.get("x-kubernetes-embedded-resource") or root:
        node["properties"] = {**_ROOT_FIELDS, **node.get("properties", {})}
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    if schema.get("nullable"):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def _served_schema(crd: KubeObject, version: str) -> tuple[Mapping[str, Any] | None, str]:
    """(openAPIV3Schema, "") of the served version, or (None, why not)."""
    spec = crd.manifest.get("spec") or {}
    versions = {v.get("name"): v for v in spec.get("versions") or []}
    entry = versions.get(version)
    if entry is None:
        return None, f"its CRD {crd.name} serves {', '.join(sorted(map(str, versions)))}, not {version}"
    if not entry.get("served", True):
        return None, f"version {version} of CRD {crd.name} is not served"
    schema = (entry.get("schema") or spec.get("validation") or {}).get("openAPIV3Schema")
    return schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}, ""


def _errors(validator_: jsonschema.protocols.Validator, obj: KubeObject) -> Iterator[str]:
    # A null field is an unset field to the API server (decoding drops it; structural schemas prune it).
    for error in validator_.iter_errors(drop_nulls(obj.manifest)):
        if obj.partial and error.validator == "required":
            continue  # a server-side-apply patch names only the fields it sets
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        yield f"{path}: {error.message}"


def builtin(obj: KubeObject) -> bool:
    return Scopes().namespaced(obj.api_version, obj.kind) is not None


def run(objects: ObjectSet) -> CheckResult:
    directory = schema_dir(objects.kubernetes_version)
    violations: list[Violation] = []
    notes: set[str] = set()
    crd_validators: dict[tuple[str, str], jsonschema.protocols.Validator | str] = {}
    for obj in objects.objects:
        if builtin(obj):
            kind_validator = validator(directory, schema_filename(obj.api_version, obj.kind))
            if kind_validator is None:
                violations.append(
                    Violation(
                        NAME,
                        str(obj),
                        f"{obj.api_version} {obj.kind} is not served by Kubernetes {objects.kubernetes_version}",
                    )
                )
                continue
            violations += [Violation(NAME, str(obj), message) for message in _errors(kind_validator, obj)]
            continue
        crd = objects.crds.get((obj.group, obj.kind))
        if crd is None:
            group_kind = f"{obj.group}/{obj.kind}"
            if group_kind in CRDS_OUTSIDE_THE_SET:
                notes.add(f"{group_kind}: CRD created outside the set ({CRDS_OUTSIDE_THE_SET[group_kind]})")
            else:
                violations.append(
                    Violation(
                        NAME,
                        str(obj),
                        f"custom resource of {group_kind}, whose CRD is not in the set "
                        "and not on CRDS_OUTSIDE_THE_SET (infra/verify/allowlists.py)",
                    )
                )
            continue
        key = (crd.name, obj.api_version)
        if key not in crd_validators:
            schema, why_not = _served_schema(crd, obj.api_version.rpartition("/")[2])
            crd_validators[key] = jsonschema.Draft4Validator(structural(schema, root=True)) if schema else why_not
        crd_validator = crd_validators[key]
        if isinstance(crd_validator, str):
            violations.append(Violation(NAME, str(obj), crd_validator))
            continue
        violations += [Violation(NAME, str(obj), f"{m} (CRD {crd.name})") for m in _errors(crd_validator, obj)]
    return CheckResult(NAME, len(objects.objects), "objects", tuple(violations), tuple(sorted(notes)))


CHECK = Check(
    1,
    NAME,
    "every object is valid for the stack's Kubernetes version; custom resources against their CRD's schema",
    run,
)
