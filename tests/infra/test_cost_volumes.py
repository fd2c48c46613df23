"""The volume tables of infra/cost/volumes.py against what the pinned charts and manifests really create.

Every Helm release of the shipped plans is rendered with its recorded values, and every Kubernetes Pipelines directory
is built, offline from the pinned copies (MLOPS_CHART_CACHE, as CI sets it); the claims they create (PVCs, StatefulSet
claim templates, Prometheus and Alertmanager storage, per replica) must be exactly the claims the cost model prices.
The objects the manifests create are what a real preview registers as the directory's children: their types must be
classified too.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.cost import volumes
from infra.cost.model import RULES, free_reason
from infra.plan.engine import PROJECT_ROOT, Plan, RecordedResource
from infra.tools import tool
from tests.infra.conftest import STACKS, stack_spec

StackPlan = Callable[[str], Plan]
KFP_PREFIX = "https://github.com/kubeflow/pipelines/manifests/kustomize/"


def chart_cache() -> Path:
    candidates = [os.environ.get("MLOPS_CHART_CACHE", ""), PROJECT_ROOT.parent / "shared" / "charts",
                  PROJECT_ROOT.parents[1] / "shared" / "charts"]  # fmt: skip
    for candidate in candidates:
        if candidate and Path(candidate, "INDEX.md").is_file():
            return Path(candidate)
    pytest.skip("no offline chart copy: set MLOPS_CHART_CACHE (CI does, see .ci/run)")


def claims_of(objects: Iterable[Mapping[str, Any]]) -> Counter[tuple[float, str | None]]:
    """(GiB x copies, storage class) of every claim the objects make, the way the API server and operators do."""
    found: Counter[tuple[float, str | None]] = Counter()
    for obj in objects:
        kind, spec = obj.get("kind"), obj.get("spec") or {}
        if kind == "PersistentVolumeClaim":
            templates, copies = [spec], 1
        elif kind == "StatefulSet":
            templates = [t.get("spec") or {} for t in spec.get("volumeClaimTemplates") or []]
            copies = int(spec.get("replicas", 1))
        elif kind in ("Prometheus", "Alertmanager", "ThanosRuler"):
            template = ((spec.get("storage") or {}).get("volumeClaimTemplate") or {}).get("spec")
            templates = [template] if template else []
            copies = int(spec.get("replicas", 1)) * int(spec.get("shards", 1) or 1)
        else:
            continue
        for template in templates:
            size = volumes.gigabytes(template["resources"]["requests"]["storage"])
            found[(size * copies, template.get("storageClassName"))] += 1
    return found


def priced_claims(claims: Iterable[volumes.Claim]) -> Counter[tuple[float, str | None]]:
    return Counter((c.gb * c.copies, c.storage_class) for c in claims)


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]


def render_release(release: RecordedResource, cache: Path, kubernetes_version: str, tmp: Path) -> list[dict[str, Any]]:
    inputs = release.inputs
    values = tmp / f"{release.name}.yaml"
    values.write_text(yaml.safe_dump(inputs.get("values") or {}))
    command = [str(tool("helm")), "template", str(inputs.get("name") or release.name),
               str(cache / f"{inputs['chart']}-{inputs['version']}.tgz"), "--namespace", str(inputs["namespace"]),
               "-f", str(values), "--kube-version", kubernetes_version]  # fmt: skip
    return documents(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def build_directory(directory: RecordedResource, cache: Path) -> list[dict[str, Any]]:
    url = str(directory.inputs["directory"])
    path, ref = url.removeprefix(KFP_PREFIX).split("?ref=")
    local = cache / "kubeflow-pipelines" / ref / "manifests" / "kustomize" / path
    result = subprocess.run([str(tool("kubectl")), "kustomize", str(local)], check=True, capture_output=True, text=True)
    return documents(result.stdout)


@pytest.mark.parametrize("stack", STACKS)
def test_priced_helm_volumes_are_what_the_charts_create(stack_plan: StackPlan, stack: str, tmp_path: Path) -> None:
    cache, version = chart_cache(), stack_spec(stack).cluster.kubernetes_version
    releases = stack_plan(stack).of_type("kubernetes:helm.sh/v3:Release")
    assert releases
    for release in releases:
        rendered = claims_of(render_release(release, cache, f"{version}.0", tmp_path))
        assert priced_claims(volumes.helm_claims(release.inputs)) == rendered, release.name


def test_priced_kustomize_volumes_are_what_the_manifests_create(stack_plan: StackPlan) -> None:
    cache = chart_cache()
    directories = {d.inputs["directory"]: d for stack in STACKS for d in stack_plan(stack).of_type(
        "kubernetes:kustomize/v2:Directory")}  # fmt: skip
    assert directories
    kinds: set[str] = set()
    for url, directory in directories.items():
        objects = build_directory(directory, cache)
        assert priced_claims(volumes.kustomize_claims(directory.inputs)) == claims_of(objects), url
        kinds |= {pulumi_type(obj) for obj in objects}
    # In a real preview these objects are registered as the directory's children and priced one by one.
    assert sorted(t for t in kinds if t not in RULES and free_reason(t) is None) == []


def pulumi_type(obj: Mapping[str, Any]) -> str:
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{obj['kind']}"


def test_a_chart_value_that_adds_a_volume_changes_both_sides(stack_plan: StackPlan, tmp_path: Path) -> None:
    """The check above can fail: enabling Alertmanager storage adds a claim per replica in the chart and the model."""
    cache = chart_cache()
    (release,) = [r for r in stack_plan("prod").of_type("kubernetes:helm.sh/v3:Release")
                  if r.inputs["chart"] == "kube-prometheus-stack"]  # fmt: skip
    values = dict(release.inputs["values"])
    values["alertmanager"] = {**values["alertmanager"], "alertmanagerSpec": {
        **values["alertmanager"]["alertmanagerSpec"],
        "storage": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "3Gi"}}}}}}}  # fmt: skip
    changed = RecordedResource(**{**release.__dict__, "inputs": {**release.inputs, "values": values}})
    rendered = claims_of(render_release(changed, cache, "1.33.0", tmp_path))
    priced = priced_claims(volumes.helm_claims(changed.inputs))
    replicas = int(values["alertmanager"]["alertmanagerSpec"]["replicas"])
    assert rendered[(3.0 * replicas, None)] == 1
    assert priced == rendered
