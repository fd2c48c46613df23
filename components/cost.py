"""`CostAssumptions`: the stack's usage assumptions and budget, recorded in the resource graph.

It creates nothing in the cloud. Its inputs (and outputs, which a real `pulumi preview` hands to stack policies) carry
`mlops:cost` and `mlops:budget`, so the one cost model (`infra/cost/model.py`) reads everything it prices from the
graph: `make cost` from the offline plan, the CrossGuard budget policies from the preview. A pull request that changes
an assumption shows it in the plan and in the cost diff, like any other change.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.renames import formerly
from components.spec import PlatformSpec

COST_ASSUMPTIONS_TYPE = "mlops:cost:CostAssumptions"


def assumption_props(spec: PlatformSpec) -> dict[str, Any]:
    return {
        "cloud": spec.cloud,
        "region": spec.region,
        "usage": spec.cost.model_dump(by_alias=True, mode="json"),
        "budget": {
            "monthlyLimitUsd": spec.budget.monthly_limit_usd,
            "enforceEstimate": spec.budget.enforce_estimate,
        },
    }


class CostAssumptions(pulumi.ComponentResource):
    def __init__(self, name: str, spec: PlatformSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        props = assumption_props(spec)
        super().__init__(COST_ASSUMPTIONS_TYPE, name, props, formerly(opts, "mlops:cost:Assumptions"))
        # Stack policies see a component's registered outputs, not its inputs: register the same values.
        self.register_outputs(props)
