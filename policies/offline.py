"""Evaluate the policy pack over an offline plan, as the Pulumi analyzer would over a preview.

`python -m policies.offline --stack dev` reads the recorded plan (build/plan/dev.json, planned first when missing or
stale), prints every violation and exits 1 if a mandatory one is among them (advisory violations, like a
typical cost estimate above the budget, are printed as warnings).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from infra.plan.engine import Plan, PlanError, ProgramFailed, RecordedResource
from infra.plan.recorded import recorded_plan
from policies.rules import RESOURCE_POLICIES, STACK_POLICIES


@dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    message: str
    advisory: bool = False

    def __str__(self) -> str:
        return f"[{self.policy}{' (advisory)' if self.advisory else ''}] {self.urn}: {self.message}"


def _options(resource: RecordedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=resource.ignore_changes,
        delete_before_replace=resource.delete_before_replace,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=resource.additional_secret_outputs,
        parent=resource.parent or None,
    )


def _props(resource: RecordedResource) -> Any:
    return unknown_checking_proxy(resource.inputs)


def _provider(plan: Plan, resource: RecordedResource) -> PolicyProviderResource | None:
    """The explicit provider of `resource`; its reference is `<provider urn>::<provider id>`."""
    for candidate in plan.resources:
        if resource.provider.startswith(f"{candidate.urn}::"):
            return PolicyProviderResource(candidate.type, _props(candidate), candidate.urn, candidate.name)
    return None


def policy_resources(plan: Plan) -> list[PolicyResource]:
    by_urn: dict[str, PolicyResource] = {}
    for resource in plan.resources:  # sorted by URN; parents and dependencies are linked in a second pass
        by_urn[resource.urn] = PolicyResource(
            resource.type, _props(resource), resource.urn, resource.name, _options(resource),
            _provider(plan, resource), None, [], {},
        )  # fmt: skip
    for resource in plan.resources:
        target = by_urn[resource.urn]
        target.parent = by_urn.get(resource.parent)
        target.dependencies = [by_urn[u] for u in resource.dependencies if u in by_urn]
        target.property_dependencies = {
            key: [by_urn[u] for u in urns if u in by_urn] for key, urns in resource.property_dependencies.items()
        }
    return list(by_urn.values())


def evaluate(plan: Plan) -> list[Violation]:
    violations: list[Violation] = []

    def reporter(policy: Policy, default_urn: str) -> ReportViolation:
        advisory = policy.enforcement_level == EnforcementLevel.ADVISORY

        def report(message: str, urn: str | None = None) -> None:
            violations.append(Violation(policy.name, urn or default_urn, message, advisory))

        return report

    for resource in plan.resources:
        args = ResourceValidationArgs(
            resource.type, _props(resource), resource.urn, resource.name, _options(resource),
            _provider(plan, resource),
        )  # fmt: skip
        for policy in RESOURCE_POLICIES:
            policy.validate(args, reporter(policy, resource.urn))
    stack_args = StackValidationArgs(policy_resources(plan))
    for stack_policy in STACK_POLICIES:
        stack_policy.validate(stack_args, reporter(stack_policy, f"stack {plan.stack}"))
    return sorted(violations, key=lambda v: (v.policy, v.urn, v.message))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies.offline", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    args = parser.parse_args(argv)
    try:
        plan = recorded_plan(args.stack)
    except PlanError as error:  # a bad stack file or config: its own one-line messages, no traceback
        print(error.error if isinstance(error, ProgramFailed) else error, file=sys.stderr)
        return 1
    violations = evaluate(plan)
    policies = len(RESOURCE_POLICIES) + len(STACK_POLICIES)
    for violation in violations:
        print(violation)
    print(f"{args.stack}: {policies} policies over {len(plan.resources)} resources, {len(violations)} violation(s)")
    return 1 if any(not v.advisory for v in violations) else 0


if __name__ == "__main__":
    sys.exit(main())
