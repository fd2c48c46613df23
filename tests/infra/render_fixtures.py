"""Small, realistic charts, CRDs and kustomize trees for the render and verify tests, written to a temp directory."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import yaml


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def tar_gz(files: dict[str, bytes | str], prefix: str) -> bytes:
    """A gzipped tarball with every file under `prefix/` (the layout of `helm package` and of GitHub archives)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in sorted(files.items()):
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(f"{prefix}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def chart_files(
    name: str,
    version: str,
    values: dict[str, Any],
    templates: dict[str, str],
    extra: dict[str, str | bytes] | None = None,
    dependencies: list[dict[str, Any]] | None = None,
) -> dict[str, str | bytes]:
    metadata: dict[str, Any] = {"apiVersion": "v2", "name": name, "version": version, "appVersion": version}
    if dependencies:
        metadata["dependencies"] = dependencies
    files: dict[str, str | bytes] = {"Chart.yaml": yaml.safe_dump(metadata), "values.yaml": yaml.safe_dump(values)}
    files |= {f"templates/{path}": text for path, text in templates.items()}
    return files | (extra or {})


def package(directory: Path, name: str, version: str, files: dict[str, str | bytes]) -> Path:
    """`<name>-<version>.tgz` as `helm pull` saves it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{version}.tgz"
    path.write_bytes(tar_gz(files, name))
    return path


def crd(
    group: str, kind: str, schema: dict[str, Any], versions: tuple[str, ...] = ("v1",), scope: str = "Namespaced"
) -> dict[str, Any]:
    plural = kind.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()},
            "scope": scope,
            "versions": [
                {"name": v, "served": True, "storage": i == 0, "schema": {"openAPIV3Schema": schema}}
                for i, v in enumerate(versions)
            ],
        },
    }


# A trimmed ServiceMonitor CRD with the structural-schema features the real one (prometheus-operator) uses.
SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["selector"],
            "properties": {
                "selector": {
                    "type": "object",
                    "properties": {
                        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                    "x-kubernetes-map-type": "atomic",
                },
                "endpoints": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": "^(0|(([0-9]+)(ms|s|m|h))+)$"},
                            "targetPort": {
                                "anyOf": [{"type": "integer"}, {"type": "string"}],
                                "x-kubernetes-int-or-string": True,
                            },
                            "honorLabels": {"type": "boolean"},
                            "relabelings": {"type": "array", "nullable": True, "items": {"type": "object"}},
                            "params": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    },
                },
            },
        },
    },
}
SERVICE_MONITOR_CRD = crd("monitoring.coreos.com", "ServiceMonitor", SERVICE_MONITOR_SCHEMA)


def service_monitor(name: str, namespace: str, **endpoint: Any) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s", **endpoint}],
        },
    }


def deployment(name: str, namespace: str, image: str, **pod: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": name, "image": image, "ports": [{"containerPort": 8080, "name": "http"}]}],
                    **pod,
                },
            },
        },
    }
