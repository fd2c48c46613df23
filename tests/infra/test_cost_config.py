"""`mlops:cost` and `budget.enforceEstimate`: usage assumptions that cannot match the pools are refused up front."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import StackConfigError, parse_spec
from tests.infra.test_config import DELETE, mutate, run_real_program

BAD_COST = [
    pytest.param("dev", {"cost.cpuAverageNodes": 12},
                 "mlops:cost.cpuAverageNodes = 12.0 is outside nodePools.cpu minSize..maxSize = 0..10; fix: set an "
                 "average between 0 and 10", id="cpu-average-above-max"),
    pytest.param("prod", {"cost.systemAverageNodes": 1},
                 "mlops:cost.systemAverageNodes = 1.0 is outside nodePools.system minSize..maxSize = 3..5",
                 id="system-average-below-min"),
    pytest.param("dev", {"cost.gpuHoursPerMonth": 2000},
                 "mlops:cost.gpuHoursPerMonth = 2000.0 exceeds what nodePools.gpu can run: maxSize 2 x 730 h = 1460 h",
                 id="gpu-hours-above-pool"),
    pytest.param("dev", {"nodePools.gpu": DELETE, "cost.gpuHoursPerMonth": 10},
                 "mlops:cost.gpuHoursPerMonth = 10.0 is set but the stack has no GPU pool",
                 id="gpu-hours-without-pool"),
    pytest.param("dev", {"cost.gkeFreeTier": False}, "mlops:cost.gkeFreeTier = False is a GCP setting",
                 id="gke-setting-on-aws"),
    pytest.param("dev", {"cost.bucketGb.data": -5}, "mlops:cost.bucketGb.data = -5 is invalid", id="negative-usage"),
    pytest.param("dev", {"cost.bucketGb.raw": 5}, "mlops:cost.bucketGb.raw = 5 is not a known key", id="unknown-role"),
    pytest.param("dev", {"budget.enforceEstimate": "sometimes"}, "mlops:budget.enforceEstimate = 'sometimes' is "
                 "invalid", id="enforce-not-a-bool"),
]  # fmt: skip


@pytest.mark.parametrize(("stack", "changes", "expected"), BAD_COST)
def test_bad_cost_settings_are_refused_before_any_resource(stack: str, changes: dict[str, Any], expected: str) -> None:
    failure = run_real_program(stack, mutate(stack, changes))
    assert isinstance(failure.error, StackConfigError), failure.error
    assert failure.registered == []
    assert any(expected in line for line in str(failure.error).splitlines()), str(failure.error)


def test_a_stack_without_gpu_pool_keeps_the_default_gpu_hours() -> None:
    spec = parse_spec(mutate("dev", {"nodePools.gpu": DELETE}), source="Pulumi.dev.yaml")
    assert spec.node_pools.gpu is None and spec.cost.gpu_hours_per_month > 0


def test_usage_settings_within_the_pools_are_accepted() -> None:
    spec = parse_spec(mutate("prod", {"cost.cpuAverageNodes": 6, "cost.gpuHoursPerMonth": 300,
                                      "budget.enforceEstimate": True}), source="Pulumi.prod.yaml")  # fmt: skip
    assert (spec.cost.cpu_average_nodes, spec.cost.gpu_hours_per_month, spec.budget.enforce_estimate) == (6, 300, True)
