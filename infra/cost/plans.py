"""The recorded offline plans the cost commands read: one small loader, so every offline command can share it."""

from __future__ import annotations

from pathlib import Path

from infra.cost.model import PricedResource
from infra.plan.engine import PROJECT_ROOT, Plan, plan_stack

PLAN_DIR = PROJECT_ROOT / "build" / "plan"


def load_plan(stack: str, path: Path | None = None) -> Plan:
    """The recorded offline plan of `stack` (build/plan/<stack>.json); planned and recorded first if it is missing."""
    path = path or PLAN_DIR / f"{stack}.json"
    if path.exists():
        return Plan.from_json(path.read_text())
    plan = plan_stack(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(plan.to_json())
    return plan


def priced_resources(plan: Plan) -> list[PricedResource]:
    return [PricedResource(r.urn, r.type, r.name, r.inputs, r.property_dependencies, r.parent) for r in plan.resources]
