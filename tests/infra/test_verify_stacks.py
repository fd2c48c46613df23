"""`make verify` for every shipped stack: everything the deploy creates is rendered and judged by every check.

The stacks still carry one violation in another engineer's area; this test asserts exactly that (so a new one fails
it, and a fixed one fails it until its entry is removed). The lead removes the entry when the branch that owns it
merges. Every checkov waiver must apply to some shipped stack, so none outlives its object or its finding.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.plan.engine import Plan
from infra.render.helm import HELM_RELEASE
from infra.render.kustomize import DIRECTORY
from infra.render.objects import Scopes
from infra.render.renderer import render_plan
from infra.verify.allowlists import CHECKOV_WAIVERS
from infra.verify.model import ObjectSet
from infra.verify.runner import verify
from tests.infra.conftest import STACKS, stack_spec

StackPlan = Callable[[str], Plan]
Finding = tuple[str, str, str]  # (check, object, reason)


def finding(check: str, subject: str, reason: str) -> Finding:
    """What the stacks' test compares: the object without its origin, checkov's id, a grant's use without its why."""
    if check == "peer-scan":
        reason = reason.split(":", 1)[0]
    if check == "identity":
        reason = reason.split(", but ", 1)[0]
    return check, subject.split(" from ")[0], reason


Verified = tuple[ObjectSet, list[Finding], set[str]]  # the set, its violations, the waivers applied to it


@pytest.fixture(scope="module")
def verified(stack_plan: StackPlan) -> Callable[[str], Verified]:
    cache: dict[str, Verified] = {}

    def run(stack: str) -> Verified:
        if stack not in cache:
            plan, spec = stack_plan(stack), stack_spec(stack)
            objects = ObjectSet.of_plan(stack, plan, render_plan(plan, spec.cluster.kubernetes_version), spec)
            results = verify(objects)
            found = [finding(v.check, v.subject, v.reason) for _, r in results for v in r.violations]
            waived = {w.subject for _, r in results for w in r.waived}
            cache[stack] = objects, sorted(found), waived
        return cache[stack]

    return run


@pytest.mark.parametrize("stack", STACKS)
def test_the_whole_set_verifies_with_zero_violations(verified, stack: str) -> None:  # type: ignore[no-untyped-def]
    _, found, _ = verified(stack)
    assert found == []


def test_every_checkov_waiver_applies_to_a_shipped_stack(verified) -> None:  # type: ignore[no-untyped-def]
    """A waiver whose object is gone, or whose check no longer fails on it in any stack, is an error: remove it."""
    applied = set().union(*(verified(stack)[2] for stack in STACKS))
    declared = {f"{check_id} on {pattern}" for check_id, entries in CHECKOV_WAIVERS.items() for pattern, _ in entries}
    assert applied <= declared
    assert sorted(declared - applied) == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_release_and_directory_of_the_plan_is_rendered_into_the_set(
    verified, stack_plan: StackPlan, stack: str
) -> None:  # type: ignore[no-untyped-def]
    objects, _, _ = verified(stack)
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
