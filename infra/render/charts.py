"""The chart cache: every pinned Helm chart as `helm pull` saves it, and the pinned Kubeflow Pipelines manifests.

`MLOPS_CHART_CACHE` names the cache directory (CI points it at the offline copy in `../shared/charts`); the default
is the project's `.cache/charts`. `make charts` (`python -m infra.render.charts`) fills it for users with a network:
`helm pull --repo <repo> <chart> --version <v>` for every chart pinned in `components/versions.py`, and the Kubeflow
Pipelines `manifests/kustomize` tree at the pinned tag with its remote kustomize bases vendored beside it, so a build
never needs the network. A lookup returns the pinned version or fails naming the file it expected: a cache entry of
another version is an error, never a fallback.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from components import versions
from components.versions import KFP_VERSION, HelmChart
from infra.render.objects import load_yaml
from infra.tools import tool

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CACHE_ENV = "MLOPS_CHART_CACHE"
DEFAULT_CACHE = PROJECT_ROOT / ".cache" / "charts"
KFP_DIR = "kubeflow-pipelines"
KFP_REPOSITORY = ("kubeflow", "pipelines")
KFP_MANIFESTS = "manifests/kustomize"
GITHUB = "https://github.com"
# A remote kustomize target on GitHub: https://github.com/org/repo[.git][/|//]path?ref=x (also git@, git::, bare).
_REMOTE = re.compile(
    r"^(?:git::)?(?:https://|ssh://git@|git@)?github\.com[/:](?P<org>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?"
    r"(?:/+(?P<path>[^?]*))?(?:\?(?P<query>.*))?$"
)


class ChartCacheError(Exception):
    """A pinned chart or manifest tree is missing from the cache, or the cache holds another version."""


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser().resolve() if configured else DEFAULT_CACHE


def pinned_charts() -> list[HelmChart]:
    """Every chart pinned in components/versions.py (the one place versions live)."""
    charts = {value for value in vars(versions).values() if isinstance(value, HelmChart)}
    return sorted(charts, key=lambda chart: chart.name)


def pinned_chart(name: str, version: str, repository: str) -> HelmChart:
    """The pin of a chart the plan deploys; a chart or version not pinned in components/versions.py is an error."""
    pins = [chart for chart in pinned_charts() if chart.name == name]
    for chart in pins:
        if chart.version == version and chart.repository.rstrip("/") == repository.rstrip("/"):
            return chart
    pinned = ", ".join(f"{c.name} {c.version} from {c.repository}" for c in pins) or "nothing"
    raise ChartCacheError(
        f"chart {name} {version} from {repository} is not pinned in components/versions.py (pinned: {pinned}); "
        "deploy charts only through their pinned HelmChart"
    )


def archive_name(chart: HelmChart) -> str:
    """The file `helm pull` saves."""
    return f"{chart.name}-{chart.version}.tgz"


def chart_archive(chart: HelmChart, cache: Path | None = None) -> Path:
    """The cached package of `chart` at exactly its pinned version."""
    cache = cache or cache_dir()
    expected = cache / archive_name(chart)
    if not expected.is_file():
        others = sorted(
            p.name for p in cache.glob(f"{chart.name}-*.tgz") if re.fullmatch(rf"{re.escape(chart.name)}-\d.*", p.stem)
        )
        found = f"; the cache holds {', '.join(others)}, not the pinned version" if others else ""
        raise ChartCacheError(
            f"{expected} not found: chart {chart.name} is pinned at {chart.version} (components/versions.py)"
            f"{found}. Run `make charts` (needs the chart repository) or set {CACHE_ENV} to a cache that holds "
            f"{archive_name(chart)}"
        )
    name, version = archive_identity(expected)
    if (name, version) != (chart.name, chart.version):
        raise ChartCacheError(
            f"{expected} holds chart {name} {version}, not the pinned {chart.name} {chart.version}: replace it with "
            f"the package `helm pull --repo {chart.repository} {chart.name} --version {chart.version}` saves"
        )
    return expected


def archive_identity(archive: Path) -> tuple[str, str]:
    """(name, version) from the package's top-level Chart.yaml."""
    with tarfile.open(archive) as package:
        for member in package:
            parts = PurePosixPath(member.name).parts
            if len(parts) == 2 and parts[1] == "Chart.yaml":
                handle = package.extractfile(member)
                metadata = yaml.safe_load(handle.read()) if handle else {}
                return str(metadata.get("name")), str(metadata.get("version"))
    raise ChartCacheError(f"{archive} is not a Helm chart package: no <chart>/Chart.yaml inside")


def kfp_tree(cache: Path | None = None, ref: str = KFP_VERSION) -> Path:
    """`<cache>/kubeflow-pipelines/<ref>`: upstream `manifests/kustomize` at the tag, remote bases under `remote/`."""
    cache = cache or cache_dir()
    tree = cache / KFP_DIR / ref
    if not (tree / KFP_MANIFESTS).is_dir():
        present = sorted(p.name for p in (cache / KFP_DIR).iterdir()) if (cache / KFP_DIR).is_dir() else []
        found = f"; the cache holds {', '.join(present)}, not the pinned version" if present else ""
        raise ChartCacheError(
            f"{tree / KFP_MANIFESTS} not found: Kubeflow Pipelines manifests are pinned at {ref} "
            f"(components/versions.py KFP_VERSION){found}. Run `make charts` or set {CACHE_ENV}"
        )
    return tree


# --- Remote kustomize targets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteTarget:
    """A kustomize remote resource on GitHub: repository, ref and the path inside it."""

    org: str
    repo: str
    path: str
    ref: str

    @classmethod
    def parse(cls, url: str) -> RemoteTarget | None:
        match = _REMOTE.match(url.strip())
        if not match:
            return None
        query = dict(part.split("=", 1) for part in (match["query"] or "").split("&") if "=" in part)
        ref = query.get("ref") or query.get("version") or ""
        return cls(match["org"], match["repo"], (match["path"] or "").strip("/"), ref)

    @property
    def vendored(self) -> PurePosixPath:
        """Where `make charts` (and the offline copy) keeps it: remote/github.com/<org>/<repo>/<ref>/<path>."""
        return PurePosixPath("remote", "github.com", self.org, self.repo, self.ref, self.path)


def kfp_cache_path(target: RemoteTarget, cache: Path | None = None) -> Path:
    """The cached directory of a Kubeflow Pipelines manifests URL at the pinned tag; anything else is an error."""
    if (target.org, target.repo) != KFP_REPOSITORY or not target.path.startswith(KFP_MANIFESTS):
        raise ChartCacheError(
            f"remote kustomize resource github.com/{target.org}/{target.repo}/{target.path}?ref={target.ref} is not "
            f"in the chart cache: only github.com/{'/'.join(KFP_REPOSITORY)}/{KFP_MANIFESTS}/... at {KFP_VERSION} is "
            "(vendor other sources into the repository)"
        )
    if target.ref != KFP_VERSION:
        raise ChartCacheError(
            f"remote kustomize resource {target.path} is at ref {target.ref or '(none)'}, but Kubeflow Pipelines is "
            f"pinned at {KFP_VERSION} (components/versions.py KFP_VERSION): use ?ref={KFP_VERSION}"
        )
    directory = kfp_tree(cache, target.ref) / target.path
    if not directory.is_dir():
        raise ChartCacheError(f"{directory} not found: {target.path} does not exist at Kubeflow Pipelines {target.ref}")
    return directory


# --- Chart contents (values, schema, templates, CRDs, subcharts) ------------------------------------------------


@dataclass
class ChartFiles:
    """A chart package read into memory: what the values check and the API-version guess look at."""

    name: str
    version: str
    values: dict[str, Any]
    schema: dict[str, Any] | None
    templates: dict[str, str]
    crds: dict[str, str]
    subcharts: dict[str, ChartFiles] = field(default_factory=dict)  # by their key in the parent's values
    conditions: tuple[str, ...] = ()  # value paths Chart.yaml's dependencies switch subcharts on


def _chart_files(files: dict[PurePosixPath, bytes]) -> ChartFiles:
    """Build from {path relative to the chart root: content}."""
    metadata = load_yaml(files[PurePosixPath("Chart.yaml")]) or {}
    aliases = {d["name"]: d.get("alias") or d["name"] for d in metadata.get("dependencies") or []}
    values_text = files.get(PurePosixPath("values.yaml"), b"")
    schema_text = files.get(PurePosixPath("values.schema.json"))
    top = {path: data for path, data in files.items() if path.parts[0] != "charts"}
    subtrees: dict[str, dict[PurePosixPath, bytes]] = {}
    subcharts: dict[str, ChartFiles] = {}
    for path, data in files.items():
        if path.parts[0] != "charts" or len(path.parts) < 2:
            continue
        if len(path.parts) == 2 and path.name.endswith(".tgz"):
            sub = _read_package(data)
            subcharts[aliases.get(sub.name, sub.name)] = sub
        elif len(path.parts) > 2:
            subtrees.setdefault(path.parts[1], {})[PurePosixPath(*path.parts[2:])] = data
    for tree in subtrees.values():
        if PurePosixPath("Chart.yaml") in tree:
            sub = _chart_files(tree)
            subcharts[aliases.get(sub.name, sub.name)] = sub
    return ChartFiles(
        name=str(metadata.get("name")),
        version=str(metadata.get("version")),
        values=load_yaml(values_text) or {},
        schema=json.loads(schema_text) if schema_text else None,
        templates={str(p): d.decode() for p, d in top.items() if p.parts[0] == "templates"},
        crds={str(p): d.decode() for p, d in top.items() if p.parts[0] == "crds" and p.suffix in {".yaml", ".yml"}},
        subcharts=subcharts,
        conditions=tuple(
            condition.strip()
            for dependency in metadata.get("dependencies") or []
            for condition in str(dependency.get("condition") or "").split(",")
            if condition.strip()
        ),
    )


def _read_package(data: bytes) -> ChartFiles:
    files: dict[PurePosixPath, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as package:
        for member in package:
            if member.isfile():
                handle = package.extractfile(member)
                if handle is not None:
                    files[PurePosixPath(*PurePosixPath(member.name).parts[1:])] = handle.read()
    return _chart_files(files)


@functools.lru_cache(maxsize=32)
def _load(archive: Path, _mtime_ns: int, _size: int) -> ChartFiles:
    return _read_package(archive.read_bytes())


def load_chart(archive: Path) -> ChartFiles:
    """The chart package's files (cached per file version)."""
    stat = archive.stat()
    return _load(archive, stat.st_mtime_ns, stat.st_size)


# --- make charts: fill the cache from the network ---------------------------------------------------------------


def helm_environment(home: Path) -> dict[str, str]:
    """Helm's cache, config and data directories inside `home`: never the user's own repositories or plugins."""
    return {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def pull_chart(chart: HelmChart, cache: Path, helm: Path | None = None) -> Path:
    """`helm pull --repo <repo> <chart> --version <v>` into the cache (kept if the pinned package is there)."""
    try:
        return chart_archive(chart, cache)
    except ChartCacheError:
        pass
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="helm-pull-") as scratch:
        work = Path(scratch)
        (work / "out").mkdir()
        command = [str(helm or tool("helm")), "pull", chart.name, "--repo", chart.repository]
        command += ["--version", chart.version, "--destination", str(work / "out")]
        result = subprocess.run(command, capture_output=True, text=True, env=helm_environment(work), check=False)
        if result.returncode != 0:
            raise ChartCacheError(
                f"helm pull {chart.name} {chart.version} from {chart.repository} failed: {result.stderr.strip()}"
            )
        pulled = work / "out" / archive_name(chart)
        if not pulled.is_file():
            raise ChartCacheError(
                f"helm pull saved {sorted(p.name for p in (work / 'out').iterdir())}, not {archive_name(chart)}"
            )
        staged = cache / f".{archive_name(chart)}.partial"
        shutil.copyfile(pulled, staged)
        staged.replace(cache / archive_name(chart))
    return chart_archive(chart, cache)


Fetch = Callable[[str, str, str], Path]  # (org, repo, ref) -> directory holding the repository at that ref


def github_archives(base: str, scratch: Path) -> Fetch:
    """Fetch `<base>/<org>/<repo>/archive/<ref>.tar.gz` once per (repo, ref) and unpack it under `scratch`."""

    @functools.cache
    def fetch(org: str, repo: str, ref: str) -> Path:
        url = f"{base.rstrip('/')}/{org}/{repo}/archive/{ref}.tar.gz"
        with urllib.request.urlopen(url, timeout=300) as response:  # noqa: S310 - https (a loopback URL in tests)
            data = response.read()
        target = scratch / org / repo / ref
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            archive.extractall(target, filter="data")
        (root,) = [p for p in target.iterdir() if p.is_dir()]  # GitHub archives hold one <repo>-<ref>/ directory
        return root

    return fetch


def _kustomizations(root: Path) -> list[Path]:
    names = {"kustomization.yaml", "kustomization.yml", "Kustomization"}
    return sorted(p for p in root.rglob("*") if p.name in names and p.is_file())


def vendor_remote_resources(tree: Path, fetch: Fetch) -> list[str]:
    """Copy every remote resource a kustomization of `tree` names under `tree/remote/` and point the line at the copy.

    Vendored directories are scanned again (their own remote bases), so the tree builds with no network. Returns
    "file: old -> new" per rewritten line.
    """
    rewrites: list[str] = []
    pending = [tree]
    while pending:
        for kustomization in _kustomizations(pending.pop()):
            document = yaml.safe_load(kustomization.read_text()) or {}
            entries = [e for key in ("resources", "bases", "components") for e in document.get(key) or []]
            remotes = [(e, t) for e in entries if isinstance(e, str) and (t := RemoteTarget.parse(e)) is not None]
            if not remotes:
                continue
            text = kustomization.read_text()
            for url, target in remotes:
                if not target.ref:
                    raise ChartCacheError(f"{kustomization}: remote resource {url} has no ?ref=: it cannot be pinned")
                copy = tree / target.vendored
                if not copy.exists():
                    source = fetch(target.org, target.repo, target.ref) / target.path
                    if not source.is_dir():
                        raise ChartCacheError(
                            f"{kustomization}: {url} names {target.path}, which does not exist "
                            f"at {target.org}/{target.repo}@{target.ref}"
                        )
                    shutil.copytree(source, copy)
                    pending.append(copy)
                relative = os.path.relpath(copy, kustomization.parent)
                text = re.sub(rf"(?m)^(\s*-\s*)['\"]?{re.escape(url)}['\"]?\s*$", rf"\g<1>{relative}", text)
                rewrites.append(f"{kustomization.relative_to(tree)}: {url} -> {relative}")
            kustomization.write_text(text)
    return rewrites


def pull_kfp_manifests(cache: Path, ref: str = KFP_VERSION, github: str = GITHUB) -> Path:
    """The Kubeflow Pipelines `manifests/kustomize` tree at `ref`, remote bases vendored (kept if already there)."""
    try:
        return kfp_tree(cache, ref)
    except ChartCacheError:
        pass
    with tempfile.TemporaryDirectory(prefix="kfp-manifests-") as scratch:
        fetch = github_archives(github, Path(scratch) / "archives")
        staged = Path(scratch) / ref
        upstream = fetch(*KFP_REPOSITORY, ref)
        shutil.copytree(upstream / KFP_MANIFESTS, staged / KFP_MANIFESTS)
        if (upstream / "LICENSE").is_file():
            shutil.copyfile(upstream / "LICENSE", staged / "LICENSE")
        rewrites = vendor_remote_resources(staged, fetch)
        (staged / "REWRITES.md").write_text(
            f"# Kubeflow Pipelines {ref}: remote kustomize resources vendored by `make charts`\n\n"
            + "".join(f"- {line}\n" for line in rewrites)
        )
        target = cache / KFP_DIR / ref
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(staged, target)
    return kfp_tree(cache, ref)


def main() -> int:
    """Pull every pin; report each one that fails (not only the first) and exit 1 if any did."""
    cache = cache_dir()
    pulls: list[tuple[str, Callable[[], Path]]] = [
        (f"{chart.name} {chart.version}", functools.partial(pull_chart, chart, cache)) for chart in pinned_charts()
    ]
    pulls.append((f"Kubeflow Pipelines manifests {KFP_VERSION}", functools.partial(pull_kfp_manifests, cache)))
    failed = 0
    for what, pull in pulls:
        try:
            print(pull())
        except (ChartCacheError, OSError) as error:
            print(f"make charts: {what}: {error}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
