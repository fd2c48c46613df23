"""What a recorded `kustomize/v2:Directory` builds, offline.

The provider builds the directory with kustomize's Go API (no load restrictions, Helm charts enabled) and gives every
namespaced object without a namespace the Directory's `namespace` (pulumi/pulumi-kubernetes
provider/pkg/provider/kustomize/v2/directory.go at 94977969d: the build at line 135, the namespace at lines 154-158,
`makeKustomizer` at lines 182-192).
Offline, `kubectl kustomize` with the same options builds:

- a remote URL of the pinned Kubeflow Pipelines manifests from the chart cache
  (`$MLOPS_CHART_CACHE/kubeflow-pipelines/<ref>/manifests/kustomize/<path>`);
- a local directory of the repository (an overlay) from a copy in which every remote resource URL names the cache
  instead; the local directories and files it references are copied along, at the same relative places.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.plan.engine import PROJECT_ROOT, RecordedResource
from infra.render.charts import ChartCacheError, RemoteTarget, kfp_cache_path

DIRECTORY = "kubernetes:kustomize/v2:Directory"
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# kustomize fields whose entries are paths (or remote URLs) relative to the kustomization.
_PATH_FIELDS = ("resources", "bases", "components", "crds", "patchesStrategicMerge", "configurations")


class DirectoryError(Exception):
    """A recorded Directory cannot be built offline."""


@dataclass(frozen=True)
class KustomizeDirectory:
    urn: str
    directory: str  # as recorded: a remote URL or a path
    namespace: str  # applied to namespaced objects without one

    @classmethod
    def from_resource(cls, resource: RecordedResource, default_namespace: str = "default") -> KustomizeDirectory:
        """The Directory as recorded; without a namespace its objects go to the provider's default namespace."""
        namespace = str(resource.inputs.get("namespace") or default_namespace)
        return cls(resource.urn, str(resource.inputs["directory"]), namespace)

    @property
    def remote(self) -> RemoteTarget | None:
        return RemoteTarget.parse(self.directory)

    def local_path(self, project_root: Path = PROJECT_ROOT) -> Path:
        path = Path(self.directory)
        path = path if path.is_absolute() else project_root / path
        if not (path.is_dir() and any((path / name).is_file() for name in KUSTOMIZATION_FILES)):
            raise DirectoryError(f"{self.urn}: {self.directory} is neither a remote URL nor a kustomization directory")
        return path.resolve()


def kustomize_args(build_dir: Path, helm: Path) -> list[str]:
    """`kubectl kustomize` with the provider's options: no load restrictions, Helm chart inflation enabled."""
    return [
        "kustomize",
        str(build_dir),
        "--load-restrictor",
        "LoadRestrictionsNone",
        "--enable-helm",
        "--helm-command",
        str(helm),
    ]


def _kustomization(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def _references(document: Any) -> list[str]:
    """Every string a kustomization holds under a path-valued field, plus patch and generator file paths."""
    found: list[str] = []
    for key in _PATH_FIELDS:
        found += [entry for entry in document.get(key) or [] if isinstance(entry, str)]
    for patch in document.get("patches") or []:
        if isinstance(patch, dict) and isinstance(patch.get("path"), str):
            found.append(patch["path"])
    for patch in document.get("patchesJson6902") or []:
        if isinstance(patch, dict) and isinstance(patch.get("path"), str):
            found.append(patch["path"])
    for key in ("configMapGenerator", "secretGenerator"):
        for generator in document.get(key) or []:
            for field in ("files", "envs"):
                found += [entry.rsplit("=", 1)[-1] for entry in generator.get(field) or [] if isinstance(entry, str)]
            if isinstance(generator.get("env"), str):
                found.append(generator["env"])
    return found


def _copy_overlay(source: Path, root: Path, destination: Path, cache: Path | None, seen: set[Path]) -> None:
    """Copy the kustomization in `source` (and what it references locally) to the same place under `destination`,
    with each remote Kubeflow Pipelines URL replaced by the cached directory."""
    if source in seen:
        return
    seen.add(source)
    try:
        target = destination / source.relative_to(root)
    except ValueError as error:
        raise DirectoryError(
            f"{source} is outside the repository; overlays may only reference files inside it"
        ) from error
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file():
            shutil.copy2(item, target / item.name)
    kustomization = _kustomization(source)
    if kustomization is None:
        return
    document = yaml.safe_load(kustomization.read_text()) or {}
    text = kustomization.read_text()
    for reference in _references(document):
        remote = RemoteTarget.parse(reference)
        if remote is not None:
            cached = kfp_cache_path(remote, cache)
            text = text.replace(reference, os.path.relpath(cached, target))
            continue
        referenced = (source / reference).resolve()
        if referenced.is_dir():
            _copy_overlay(referenced, root, destination, cache, seen)
        elif referenced.is_file() and referenced.parent != source:
            _copy_overlay(referenced.parent, root, destination, cache, seen)
    (target / kustomization.name).write_text(text)


def build_directory(
    directory: KustomizeDirectory, scratch: Path, cache: Path | None = None, project_root: Path = PROJECT_ROOT
) -> Path:
    """The directory `kubectl kustomize` builds for `directory`: the cached upstream tree, or a rewritten copy."""
    remote = directory.remote
    if remote is not None:
        try:
            return kfp_cache_path(remote, cache)
        except ChartCacheError as error:
            raise DirectoryError(f"{directory.urn}: {error}") from error
    source = directory.local_path(project_root)
    try:
        _copy_overlay(source, project_root.resolve(), scratch, cache, set())
    except ChartCacheError as error:
        raise DirectoryError(f"{directory.urn}: {error}") from error
    return scratch / source.relative_to(project_root.resolve())
