"""The four shipped stacks: every resource type is priced or free with a reason, the estimates hold together, the
plan records the stack's usage assumptions, and the README shows the current figures."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from components.cost import COST_ASSUMPTIONS_TYPE, assumption_props
from infra.cost.model import RULES, SCENARIOS, Estimate, estimate, free_reason
from infra.cost.plans import priced_resources
from infra.cost.report import README_MARKERS, readme_table, spot_pools
from infra.plan.engine import PROJECT_ROOT, Plan
from tests.infra.conftest import STACKS, stack_spec

StackPlan = Callable[[str], Plan]


def stack_estimate(stack_plan: StackPlan, stack: str) -> Estimate:
    return estimate(priced_resources(stack_plan(stack)), stack)


def test_every_resource_type_of_the_shipped_stacks_is_priced_or_free_with_a_reason(stack_plan: StackPlan) -> None:
    types = {r.type for stack in STACKS for r in stack_plan(stack).resources}
    unclassified = sorted(t for t in types if t not in RULES and free_reason(t) is None)
    assert unclassified == [], "classify them in infra/cost/model.py (RULES or FREE_TYPES)"
    assert not set(RULES) & {t for t in types if free_reason(t)}, "a type is either priced or free, not both"


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stack_estimate_holds_together(stack_plan: StackPlan, stack: str) -> None:
    spec, result = stack_spec(stack), stack_estimate(stack_plan, stack)
    total = result.total()
    assert 0 < total.idle <= total.typical <= total.peak
    gpu = result.groups()["node pool gpu"]
    assert spec.node_pools.gpu is not None and spec.node_pools.gpu.min_size == 0
    assert gpu.idle == 0 < gpu.typical < gpu.peak, "the GPU pool scales to zero when idle"
    (cpu,) = spot_pools(result)
    assert cpu.group == "node pool cpu" and spec.node_pools.cpu.capacity_type == "SPOT"
    assert all(cpu.spot.get(s) <= cpu.on_demand.get(s) for s in SCENARIOS) and cpu.saving.peak > 0
    assert {"control plane", "databases", "online store", "buckets", "persistent volumes"} <= set(result.groups())
    budget = result.budget()
    assert budget is not None and budget.limit == spec.budget.monthly_limit_usd
    assert not budget.exceeded, budget.message()


@pytest.mark.parametrize("stack", STACKS)
def test_plan_records_the_stacks_usage_assumptions(stack_plan: StackPlan, stack: str) -> None:
    (recorded,) = stack_plan(stack).of_type(COST_ASSUMPTIONS_TYPE)
    expected = assumption_props(stack_spec(stack))
    assert recorded.inputs["budget"] == expected["budget"]
    assert recorded.inputs["usage"] == {k: v for k, v in expected["usage"].items() if v is not None}


def test_prod_costs_more_than_dev_on_each_cloud(stack_plan: StackPlan) -> None:
    for dev, prod in (("dev", "prod"), ("gcp-dev", "gcp-prod")):
        small, large = stack_estimate(stack_plan, dev).total(), stack_estimate(stack_plan, prod).total()
        assert all(small.get(s) < large.get(s) for s in SCENARIOS)


def test_readme_cost_table_is_current(stack_plan: StackPlan) -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    start, end = README_MARKERS
    shown = readme.split(start, 1)[1].split(end, 1)[0].strip()
    current = readme_table(stack_estimate(stack_plan, stack) for stack in STACKS)
    assert shown == current, "run `make docs` to regenerate the README's cost table"
