"""`python -m infra.plan --stack dev`: an offline preview of a stack, with no Pulumi CLI and no cloud account.

Prints a preview-like resource tree and counts per type, validates every Kubernetes object against the official
schemas, and optionally writes the graph (`--json`) and the manifests (`--manifests`). Exit status: 0 clean,
1 the stack cannot be planned (bad config, program error), 2 a Kubernetes object is schema-invalid, 3 the typical
monthly cost estimate exceeds the budget and `budget.enforceEstimate` is true.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from infra.config import StackConfigError, parse_spec
from infra.cost.model import budget_status
from infra.cost.plans import priced_resources
from infra.plan.engine import (
    PROJECT_ROOT,
    Plan,
    PlanError,
    ProgramFailed,
    RecordedResource,
    StackFileError,
    load_stack_config,
    plan_stack,
)
from infra.plan.manifests import ManifestReport, validate_plan, write_manifests
from infra.plan.recorded import write_plan

OVER_BUDGET = 3  # the typical monthly estimate exceeds budget.monthlyLimitUsd and budget.enforceEstimate is true


def render_tree(plan: Plan) -> str:
    children: dict[str, list[RecordedResource]] = defaultdict(list)
    urns = {r.urn for r in plan.resources}
    for resource in plan.resources:
        children[resource.parent if resource.parent in urns else ""].append(resource)
    lines = [f"     {'Type':<58} Name", f" +   {'pulumi:pulumi:Stack':<58} {plan.project}-{plan.stack}"]

    def walk(parent: str, prefix: str) -> None:
        kids = children.get(parent, [])
        for i, resource in enumerate(kids):
            last = i == len(kids) - 1
            flags = [f for f, on in (("protect", resource.protect), ("retain", resource.retain_on_delete)) if on]
            branch = f"{prefix}{'└─ ' if last else '├─ '}"
            suffix = f"  [{', '.join(flags)}]" if flags else ""
            lines.append(f" +   {branch + resource.type:<58} {resource.name}{suffix}")
            walk(resource.urn, prefix + ("   " if last else "│  "))

    walk("", "")
    return "\n".join(lines)


def render_summary(plan: Plan, report: ManifestReport | None) -> str:
    lines = ["", "Resources by type:"]
    lines += [f"  {count:>4}  {type_}" for type_, count in plan.counts_by_type().items()]
    lines.append(f"  {len(plan.resources):>4}  to create")
    if plan.outputs:
        lines += ["", "Outputs:"]
        lines += [f"  {key}: {value}" for key, value in plan.outputs.items()]
    if report is not None:
        lines += [
            "",
            f"Kubernetes objects: {len(report.objects)} ({len(report.custom_resources)} custom resources, "
            f"no schema); Helm releases: {len(report.helm_releases)}; "
            f"schema v{report.kubernetes_version} errors: {len(report.errors)}",
        ]
        lines += [
            f"  {release['chart']} {release['version']} ({release['repository']}) -> "
            f"{release['namespace']}/{release['release']}"
            for release in report.helm_releases
        ]
        lines += [f"  ERROR {error}" for error in report.errors]
    return "\n".join(lines)


def run(stack: str, json_path: Path | None, manifests_dir: Path | None, quiet: bool) -> int:
    config, secret_keys = load_stack_config(PROJECT_ROOT, stack)
    try:
        spec = parse_spec(config, f"Pulumi.{stack}.yaml", secret_keys)
        plan = plan_stack(stack)
    except StackConfigError as error:
        print(error, file=sys.stderr)
        return 1
    report = validate_plan(plan, spec.cluster.kubernetes_version)
    if not quiet:
        print(render_tree(plan))
    print(render_summary(plan, report))
    if json_path is not None:
        write_plan(plan, json_path)
        print(f"\nGraph written to {json_path}")
    if manifests_dir is not None:
        write_manifests(report, manifests_dir)
        print(f"Manifests written to {manifests_dir}/")
    budget, over_budget = budget_status(priced_resources(plan), stack)  # the same check as the CrossGuard pack's
    print(f"\n{budget}")
    return 2 if report.errors else OVER_BUDGET if over_budget else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.plan", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--json", type=Path, help="write the recorded resource graph to this file")
    parser.add_argument("--manifests", type=Path, help="write every Kubernetes object as YAML into this directory")
    parser.add_argument("--quiet", action="store_true", help="print the summary only, not the tree")
    args = parser.parse_args(argv)
    try:
        return run(args.stack, args.json, args.manifests, args.quiet)
    except StackFileError as error:
        print(error, file=sys.stderr)
        return 1
    except PlanError as error:
        cause = error.error if isinstance(error, ProgramFailed) else error
        print(f"plan failed for stack {args.stack}: {type(cause).__name__}: {cause}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
