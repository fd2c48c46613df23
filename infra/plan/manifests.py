"""Export the plain Kubernetes objects of a plan as YAML and validate them against the official OpenAPI schemas.

Schemas come from kubernetes-validate's bundled, strict (unknown fields are errors) JSON schemas of the cluster's
Kubernetes version. Validators are built once per kind and cached; every error of every object is reported. Helm
releases and custom resources (CRDs ship no bundled schema) are listed separately.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

from infra.plan.engine import Plan, RecordedResource

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# Remote components and providers: recorded in the plan, but they are not objects the API server would receive.
NOT_OBJECTS = re.compile(r"^(pulumi:providers:kubernetes|kubernetes:(helm\.sh|yaml|kustomize)/v\d+:.*)$")
_SCHEMA_ROOT = resources.files("kubernetes_validate") / "kubernetes-json-schema"


@dataclass(frozen=True)
class ManifestError:
    urn: str
    kind: str
    name: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}: {self.path or '(root)'}: {self.message}"


@dataclass(frozen=True)
class ManifestReport:
    kubernetes_version: str
    objects: list[dict[str, Any]]
    errors: list[ManifestError]
    helm_releases: list[dict[str, Any]]
    custom_resources: list[dict[str, Any]]


def bundled_schema_versions() -> list[str]:
    """Kubernetes minors kubernetes-validate ships strict schemas for (1.25-1.37 in 1.37.0)."""
    names = (p.name for p in _SCHEMA_ROOT.iterdir() if p.name.endswith(".0-local-strict"))
    minors = sorted(tuple(int(x) for x in n.removeprefix("v").split(".")[:2]) for n in names)
    return [f"{major}.{minor}" for major, minor in minors]


def schema_dir(kubernetes_version: str) -> str:
    """The schemas of exactly the cluster's minor: an older schema would accept fields the cluster drops or rejects."""
    if kubernetes_version not in bundled_schema_versions():
        raise ValueError(
            f"kubernetes-validate bundles no schema for Kubernetes {kubernetes_version} "
            f"(bundled: {', '.join(bundled_schema_versions())}); upgrade kubernetes-validate in pyproject.toml"
        )
    return f"v{kubernetes_version}.0-local-strict"


@functools.cache
def _definitions(directory: str) -> Registry:
    """The shared definitions every kind's schema refers to (2 MB of JSON: read once per version)."""
    definitions = json.loads((_SCHEMA_ROOT / directory / "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


@functools.cache
def validator(directory: str, filename: str) -> jsonschema.protocols.Validator | None:
    """The cached strict validator of one kind, or None when that Kubernetes version has no such kind."""
    path = _SCHEMA_ROOT / directory / filename
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    registry: Registry = Resource.from_contents(schema) @ _definitions(directory)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_filename(api_version: str, kind: str) -> str:
    """kubernetes-validate's file naming: `deployment-apps-v1.json`, `networkpolicy-networking-v1.json`."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{group_version}.json"


def is_kubernetes_object(resource: RecordedResource) -> bool:
    """A resource the provider sends to the API server as one object (not a release, component or provider)."""
    return resource.type.startswith("kubernetes:") and resource.custom and not NOT_OBJECTS.match(resource.type)


def object_manifest(resource: RecordedResource) -> dict[str, Any]:
    """The object the provider would send: program inputs, with the name the provider would have assigned."""
    manifest = {k: v for k, v in resource.inputs.items() if not k.startswith("__")}
    metadata = dict(manifest.get("metadata") or {})
    assigned = (resource.outputs.get("metadata") or {}).get("name")
    metadata.setdefault("name", assigned or resource.name)
    manifest["metadata"] = metadata
    cleaned: dict[str, Any] = drop_nulls(manifest)
    return cleaned


def drop_nulls(value: Any) -> Any:
    """The value without null mapping entries (what the API server decodes)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def validate_plan(plan: Plan, kubernetes_version: str) -> ManifestReport:
    directory = schema_dir(kubernetes_version)
    objects, errors, releases, custom = [], [], [], []
    for resource in plan.resources:
        if resource.type == HELM_RELEASE:
            inputs = resource.inputs
            releases.append(
                {
                    "release": inputs.get("name", resource.name),
                    "namespace": inputs.get("namespace"),
                    "chart": inputs.get("chart"),
                    "repository": (inputs.get("repositoryOpts") or {}).get("repo"),
                    "version": inputs.get("version"),
                    "values": inputs.get("values", {}),
                }
            )
            continue
        if not is_kubernetes_object(resource):
            continue
        manifest = object_manifest(resource)
        api_version, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
        kind_validator = validator(directory, schema_filename(api_version, kind))
        if kind_validator is None:
            custom.append(
                {
                    "apiVersion": api_version,
                    "kind": kind,
                    "name": manifest["metadata"]["name"],
                    "schema": "no schema (custom resource)",
                }
            )
            objects.append(manifest)
            continue
        objects.append(manifest)
        # A *Patch resource (server-side apply of a few fields) is a partial object: only `required` may be missing.
        partial = resource.type.endswith("Patch")
        for error in kind_validator.iter_errors(manifest):
            if partial and error.validator == "required":
                continue
            errors.append(
                ManifestError(
                    resource.urn,
                    kind,
                    manifest["metadata"]["name"],
                    "/".join(str(p) for p in error.absolute_path),
                    error.message,
                )
            )
    return ManifestReport(kubernetes_version, objects, errors, releases, custom)


def _file_name(manifest: dict[str, Any]) -> str:
    metadata = manifest["metadata"]
    parts = [manifest.get("kind", "Object").lower(), metadata.get("namespace") or "cluster", metadata["name"]]
    return "-".join(re.sub(r"[^a-z0-9.-]", "-", p.lower()) for p in parts) + ".yaml"


def write_manifests(report: ManifestReport, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.yaml"):
        stale.unlink()
    for manifest in report.objects:
        (directory / _file_name(manifest)).write_text(yaml.safe_dump(manifest, sort_keys=False))
    listing = {"helmReleases": report.helm_releases, "customResources": report.custom_resources}
    (directory / "_releases-and-custom-resources.yaml").write_text(yaml.safe_dump(listing, sort_keys=False))
