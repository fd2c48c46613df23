"""Evaluate the policy pack over an offline plan, as the Pulumi analyzer would over a preview.

`python -m policies.offline --stack dev` reads the recorded plan (build/plan/dev.json, planned first when missing or
stale), runs every policy over its resources, and the resource policies also over every object the plan's Helm
releases and kustomize Directories create (rendered as `make render` renders them, as resources of type
`kubernetes:<group>/<version>:<Kind>`: a real preview shows only the Release). It prints every violation and exits 1
if a mandatory one is among them (advisory ones, like a cost estimate above the budget, are warnings).

Enforcement levels come from the policies, overridden by a policy configuration file in CrossGuard's format (the file
`pulumi preview --policy-pack policies --policy-pack-config <file>` takes: `{"all": "advisory", "<policy>":
"mandatory", "<other>": {"enforcementLevel": "disabled"}}`, https://www.pulumi.com/docs/using-pulumi/crossguard/
configuration): `--config <file>`, by default policies/config/<stack>.json when it exists.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
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

from infra.plan.engine import PROJECT_ROOT, Plan, PlanError, ProgramFailed, RecordedResource
from infra.plan.recorded import recorded_plan, stack_spec
from infra.render.objects import KubeObject
from infra.render.renderer import RenderError, render_plan
from policies.rules import RESOURCE_POLICIES, STACK_POLICIES

CONFIG_DIR = PROJECT_ROOT / "policies" / "config"
LEVELS = {
    "advisory": EnforcementLevel.ADVISORY,
    "mandatory": EnforcementLevel.MANDATORY,
    "disabled": EnforcementLevel.DISABLED,
}


class PolicyConfigError(ValueError):
    """A policy configuration file names an unknown policy or level."""


def enforcement_levels(config: Mapping[str, Any] | None = None) -> dict[str, EnforcementLevel]:
    """Each policy's level: its own, then the config's `all`, then the config's entry for that policy."""
    policies: list[Policy] = [*RESOURCE_POLICIES, *STACK_POLICIES]
    levels = {p.name: p.enforcement_level or EnforcementLevel.ADVISORY for p in policies}
    config = dict(config or {})
    unknown = sorted(set(config) - set(levels) - {"all"})
    if unknown:
        raise PolicyConfigError(f"policy configuration names unknown policies {unknown}; policies: {sorted(levels)}")

    def level(name: str, value: Any) -> EnforcementLevel:
        text = value.get("enforcementLevel") if isinstance(value, Mapping) else value
        if text not in LEVELS:
            raise PolicyConfigError(
                f"policy configuration {name}: enforcement level {text!r} is not one of {', '.join(LEVELS)}"
            )
        return LEVELS[str(text)]

    if "all" in config:
        levels = dict.fromkeys(levels, level("all", config["all"]))
    for name, value in config.items():
        if name != "all":
            levels[name] = level(name, value)
    return levels


def read_config(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise PolicyConfigError(f"policy configuration {path}: {error}") from error
    if not isinstance(document, dict):
        raise PolicyConfigError(f"policy configuration {path}: expected a JSON object of policy names")
    return document


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
            resource.type,
            _props(resource),
            resource.urn,
            resource.name,
            _options(resource),
            _provider(plan, resource),
            None,
            [],
            {},
        )
    for resource in plan.resources:
        target = by_urn[resource.urn]
        target.parent = by_urn.get(resource.parent)
        target.dependencies = [by_urn[u] for u in resource.dependencies if u in by_urn]
        target.property_dependencies = {
            key: [by_urn[u] for u in urns if u in by_urn] for key, urns in resource.property_dependencies.items()
        }
    return list(by_urn.values())


def rendered_type(obj: KubeObject) -> str:
    """The Pulumi type of a Kubernetes object (`kubernetes:apps/v1:Deployment`, `kubernetes:core/v1:ConfigMap`)."""
    group, _, version = obj.api_version.rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{obj.kind}"


def rendered_args(objects: Iterable[KubeObject]) -> list[ResourceValidationArgs]:
    """The objects a Release or Directory creates, as the policies would see them as their own resources."""
    found = []
    for obj in objects:
        type_ = rendered_type(obj)
        name = f"{obj.namespace}/{obj.name}" if obj.namespace else obj.name
        urn = f"{obj.origin.urn}${type_}::{name}"
        options = PolicyResourceOptions(False, [], False, [], PolicyCustomTimeouts(0, 0, 0), [], obj.origin.urn)
        found.append(
            ResourceValidationArgs(type_, unknown_checking_proxy(dict(obj.manifest)), urn, name, options, None)
        )
    return found


def evaluate(
    plan: Plan, rendered: Iterable[KubeObject] = (), config: Mapping[str, Any] | None = None
) -> list[Violation]:
    """Every violation of the plan's resources (and of the rendered objects) at the configured levels."""
    violations: list[Violation] = []
    levels = enforcement_levels(config)

    def reporter(policy: Policy, default_urn: str) -> ReportViolation:
        advisory = levels[policy.name] == EnforcementLevel.ADVISORY

        def report(message: str, urn: str | None = None) -> None:
            violations.append(Violation(policy.name, urn or default_urn, message, advisory))

        return report

    resource_policies = [p for p in RESOURCE_POLICIES if levels[p.name] != EnforcementLevel.DISABLED]
    targets = [
        ResourceValidationArgs(
            resource.type, _props(resource), resource.urn, resource.name, _options(resource), _provider(plan, resource)
        )
        for resource in plan.resources
    ] + rendered_args(rendered)
    for args in targets:
        for policy in resource_policies:
            policy.validate(args, reporter(policy, args.urn))
    stack_args = StackValidationArgs(policy_resources(plan))
    for stack_policy in (p for p in STACK_POLICIES if levels[p.name] != EnforcementLevel.DISABLED):
        stack_policy.validate(stack_args, reporter(stack_policy, f"stack {plan.stack}"))
    return sorted(violations, key=lambda v: (v.policy, v.urn, v.message))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies.offline", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--config", type=Path, help="policy configuration (default policies/config/<stack>.json)")
    parser.add_argument("--plan-only", action="store_true", help="do not render the charts and manifests")
    args = parser.parse_args(argv)
    config_path = args.config or CONFIG_DIR / f"{args.stack}.json"
    try:
        config = read_config(config_path) if args.config or config_path.is_file() else {}
        enforcement_levels(config)
        plan = recorded_plan(args.stack)
        rendered: list[KubeObject] = []
        if not args.plan_only:  # the chart cache is needed only here
            rendered = render_plan(plan, stack_spec(args.stack).cluster.kubernetes_version).objects
    except PlanError as error:  # a bad stack file or config: its own one-line messages, no traceback
        print(error.error if isinstance(error, ProgramFailed) else error, file=sys.stderr)
        return 1
    except (PolicyConfigError, RenderError) as error:
        print(error, file=sys.stderr)
        return 1
    violations = evaluate(plan, rendered, config)
    policies = len(RESOURCE_POLICIES) + len(STACK_POLICIES)
    for violation in violations:
        print(violation)
    print(
        f"{args.stack}: {policies} policies over {len(plan.resources)} resources and {len(rendered)} rendered "
        f"objects, {len(violations)} violation(s)"
    )
    return 1 if any(not v.advisory for v in violations) else 0


if __name__ == "__main__":
    sys.exit(main())
