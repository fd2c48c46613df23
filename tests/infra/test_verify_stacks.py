"""`make verify` for every shipped stack: everything the deploy creates is rendered and judged by every check.

The stacks still carry violations in other engineers' areas; this test asserts exactly those (so a new one fails it,
and a fixed one fails it until its entry is removed). The lead removes each entry when the branch that owns it merges.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from components.spec import PlatformSpec
from infra.plan.engine import Plan
from infra.render.helm import HELM_RELEASE
from infra.render.kustomize import DIRECTORY
from infra.render.objects import Scopes
from infra.render.renderer import render_plan
from infra.verify.model import ObjectSet
from infra.verify.runner import verify
from tests.infra.conftest import STACKS, stack_spec

StackPlan = Callable[[str], Plan]
Finding = tuple[str, str, str]  # (check, object, reason)


def known_violations(spec: PlatformSpec) -> list[Finding]:
    """Violations another area still owes (none: the last ones were fixed when their branches merged)."""
    return []


@pytest.fixture(scope="module")
def verified(stack_plan: StackPlan) -> Callable[[str], tuple[ObjectSet, list[Finding]]]:
    cache: dict[str, tuple[ObjectSet, list[Finding]]] = {}

    def run(stack: str) -> tuple[ObjectSet, list[Finding]]:
        if stack not in cache:
            plan, spec = stack_plan(stack), stack_spec(stack)
            objects = ObjectSet.of_plan(stack, plan, render_plan(plan, spec.cluster.kubernetes_version), spec)
            found = [
                (v.check, v.subject.split(" from ")[0], v.reason) for _, r in verify(objects) for v in r.violations
            ]
            cache[stack] = objects, sorted(found)
        return cache[stack]

    return run


@pytest.mark.parametrize("stack", STACKS)
def test_the_whole_set_verifies_but_for_known_violations_of_other_areas(verified, stack: str) -> None:  # type: ignore[no-untyped-def]
    _, found = verified(stack)
    assert found == known_violations(stack_spec(stack))


@pytest.mark.parametrize("stack", STACKS)
def test_every_release_and_directory_of_the_plan_is_rendered_into_the_set(
    verified, stack_plan: StackPlan, stack: str
) -> None:  # type: ignore[no-untyped-def]
    objects, _ = verified(stack)
    plan = stack_plan(stack)
    creators = {r.urn for r in plan.of_type(HELM_RELEASE)} | {r.urn for r in plan.of_type(DIRECTORY)}
    rendered = [o for o in objects.objects if o.origin.kind != "pulumi"]
    assert creators and {o.origin.urn for o in rendered} == creators  # each creates something, nothing else does
    assert {o.origin.urn for o in objects.objects if o.origin.kind == "pulumi"} <= {r.urn for r in plan.resources}
    # Every custom resource of the set (Pulumi's ServiceMonitors, the charts' Prometheus, ...) has its CRD in the set.
    custom = [o for o in objects.objects if (o.group, o.kind) in objects.crds]
    assert custom and all(not o.group.endswith(".k8s.io") for o in custom)
    assert {o.kind for o in custom} >= {"ServiceMonitor", "PrometheusRule"}
    # Every object lands in a namespace exactly when its kind is namespaced, as the API server would place it.
    scopes = Scopes.of(crd.manifest for crd in objects.crds.values())
    assert {bool(o.namespace) for o in objects.objects if scopes.namespaced(o.api_version, o.kind)} == {True}
    assert {bool(o.namespace) for o in objects.objects if scopes.namespaced(o.api_version, o.kind) is False} == {False}
