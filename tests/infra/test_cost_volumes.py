"""The volume tables of infra/cost/volumes.py against what the pinned charts and manifests really create.

Every Helm release of the shipped plans is rendered with its recorded values, and every Kubeflow Pipelines directory
is built, offline from the pinned copies (MLOPS_CHART_CACHE, as CI sets it); the claims they create (PVCs, StatefulSet
claim templates, Prometheus and Alertmanager storage, per replica) must be exactly the claims the cost model prices.
The objects the manifests create are what a real preview registers as the directory's children: their types must be
classified too.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from infra.cost import volumes
from infra.cost.model import RULES, free_reason
from infra.plan.engine import Plan, RecordedResource
from infra.render.renderer import RenderedSource, render_plan
from tests.infra.conftest import STACKS, stack_spec

StackPlan = Callable[[str], Plan]


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


def rendered_sources(plan: Plan, stack: str) -> dict[str, RenderedSource]:
    """What every Helm release and kustomize Directory of the plan creates, by URN (the project's offline renderer)."""
    rendering = render_plan(plan, stack_spec(stack).cluster.kubernetes_version)
    return {source.urn: source for source in rendering.sources}


def manifests(source: RenderedSource) -> list[Mapping[str, Any]]:
    return [obj.manifest for obj in source.objects]


@pytest.mark.parametrize("stack", STACKS)
def test_priced_helm_volumes_are_what_the_charts_create(stack_plan: StackPlan, stack: str) -> None:
    plan = stack_plan(stack)
    sources, releases = rendered_sources(plan, stack), plan.of_type("kubernetes:helm.sh/v3:Release")
    assert releases
    for release in releases:
        rendered = claims_of(manifests(sources[release.urn]))
        assert priced_claims(volumes.helm_claims(release.inputs)) == rendered, release.name


def test_priced_kustomize_volumes_are_what_the_manifests_create(stack_plan: StackPlan) -> None:
    kinds: set[str] = set()
    for stack in STACKS:
        plan = stack_plan(stack)
        directories, sources = plan.of_type("kubernetes:kustomize/v2:Directory"), rendered_sources(plan, stack)
        for directory in directories:
            objects = manifests(sources[directory.urn])
            assert priced_claims(volumes.kustomize_claims(directory.inputs)) == claims_of(objects), directory.urn
            kinds |= {pulumi_type(obj) for obj in objects}
    assert kinds
    # In a real preview these objects are registered as the directory's children and priced one by one.
    assert sorted(t for t in kinds if t not in RULES and free_reason(t) is None) == []


def pulumi_type(obj: Mapping[str, Any]) -> str:
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{obj['kind']}"


def test_a_chart_value_that_adds_a_volume_changes_both_sides(stack_plan: StackPlan) -> None:
    """The check above can fail: enabling Alertmanager storage adds a claim per replica in the chart and the model."""
    plan = stack_plan("prod")
    (release,) = [r for r in plan.of_type("kubernetes:helm.sh/v3:Release")
                  if r.inputs["chart"] == "kube-prometheus-stack"]  # fmt: skip
    values = dict(release.inputs["values"])
    values["alertmanager"] = {**values["alertmanager"], "alertmanagerSpec": {
        **values["alertmanager"]["alertmanagerSpec"],
        "storage": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "3Gi"}}}}}}}  # fmt: skip
    changed = RecordedResource(**{**release.__dict__, "inputs": {**release.inputs, "values": values}})
    changed_plan = dataclasses.replace(plan, resources=[changed if r is release else r for r in plan.resources])
    rendered = claims_of(manifests(rendered_sources(changed_plan, "prod")[release.urn]))
    priced = priced_claims(volumes.helm_claims(changed.inputs))
    replicas = int(values["alertmanager"]["alertmanagerSpec"]["replicas"])
    assert rendered[(3.0 * replicas, None)] == 1
    assert priced == rendered
