"""`python -m infra.cost --stack dev`: the monthly cost of a stack from its recorded offline plan.

Reads build/plan/<stack>.json (planning the stack first if it is missing), prints the estimate per group and
resource for the idle, typical and peak scenarios, and writes build/cost/<stack>.json. With `--base <plan.json>` it
shows the change from that plan (e.g. the base branch's) instead. Exit status: 0 fine, 1 the plan cannot be loaded
or a resource cannot be priced, 3 the typical estimate exceeds the budget and budget.enforceEstimate is true.
`--write-readme` plans the shipped stacks afresh and rewrites the README's cost table (`make docs`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from infra.config import StackConfigError
from infra.cost.model import CostError, Estimate, estimate
from infra.cost.plans import load_plan, priced_resources
from infra.cost.report import (
    CostDiff,
    diff_json,
    readme_table,
    readme_with_table,
    render_diff_markdown,
    render_diff_text,
    render_text,
    to_json,
)
from infra.plan.engine import PROJECT_ROOT, Plan, PlanError, plan_stack

COST_DIR = PROJECT_ROOT / "build" / "cost"
OVER_BUDGET = 3
SHIPPED_STACKS = ("dev", "prod", "gcp-dev", "gcp-prod")


def estimate_plan(plan: Plan) -> Estimate:
    return estimate(priced_resources(plan), plan.stack)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.cost", description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="stack name: reads build/plan/<stack>.json")
    target.add_argument("--write-readme", action="store_true", help="rewrite the README's cost table")
    parser.add_argument("--plan", type=Path, help="the plan to price (default build/plan/<stack>.json)")
    parser.add_argument("--base", type=Path, help="a plan JSON to compare with: show the cost change")
    parser.add_argument("--out", type=Path, help="where to write the JSON (default build/cost/<stack>.json)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON instead of the table")
    output.add_argument("--markdown", action="store_true", help="print the cost change as Markdown (with --base)")
    args = parser.parse_args(argv)
    if args.write_readme:
        readme = PROJECT_ROOT / "README.md"
        table = readme_table(estimate_plan(plan_stack(stack)) for stack in SHIPPED_STACKS)
        readme.write_text(readme_with_table(readme.read_text(), table))
        return 0
    try:
        head = estimate_plan(load_plan(args.stack, args.plan))
        base = estimate_plan(Plan.from_json(args.base.read_text())) if args.base else None
    except (CostError, StackConfigError, PlanError, OSError) as error:
        print(f"cost of stack {args.stack}: {error}", file=sys.stderr)
        return 1
    document = to_json(head) if base is None else diff_json(CostDiff(base, head))
    written = args.out or COST_DIR / (f"{args.stack}.json" if base is None else f"{args.stack}.diff.json")
    written.parent.mkdir(parents=True, exist_ok=True)
    written.write_text(json.dumps(document, indent=2, sort_keys=True))
    if args.json:
        print(json.dumps(document, indent=2, sort_keys=True))
    elif base is None:
        print(render_text(head) + f"\n\nWritten to {written}")
    elif args.markdown:
        print(render_diff_markdown(CostDiff(base, head)))
    else:
        print(render_diff_text(CostDiff(base, head)) + f"\n\nWritten to {written}")
    budget = head.budget()
    return OVER_BUDGET if budget is not None and budget.blocking else 0


if __name__ == "__main__":
    sys.exit(main())
