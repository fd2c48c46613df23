"""Plans are expensive (the whole program under mocks): each shipped stack's recorded plan (build/plan/<stack>.json)
is read once per test session, and planned first only when it is missing or older than the program's sources.

Besides the shipped stacks, tests that name physical resources also run on RENAMED stacks: a shipped stack file
under another `namePrefix`. A name written into a test instead of derived from the spec fails there. DECOMMISSIONED
stacks are the prod stacks as a deliberate teardown configures them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import pytest

from components.spec import PlatformSpec
from infra.config import parse_spec
from infra.plan.engine import PROJECT_ROOT, Plan, load_stack_config, run_program, stack_program
from infra.plan.recorded import recorded_plan

STACKS = ("dev", "prod", "gcp-dev", "gcp-prod")
AWS_STACKS = ("dev", "prod")
GCP_STACKS = ("gcp-dev", "gcp-prod")
# Test-only stacks: (shipped stack file, config overrides).
RENAMED: dict[str, tuple[str, dict[str, str]]] = {
    "acme-dev": ("dev", {"mlops:namePrefix": "acme"}),
    "acme-gcp-dev": ("gcp-dev", {"mlops:namePrefix": "acme"}),
}
AWS_RENAMED, GCP_RENAMED = "acme-dev", "acme-gcp-dev"
# Test-only stacks: a shipped prod stack file as the README's deliberate teardown sets it before `pulumi destroy`.
DECOMMISSIONED: dict[str, str] = {"prod-decommission": "prod", "gcp-prod-decommission": "gcp-prod"}


def _decommission(config: dict[str, str]) -> dict[str, str]:
    storage = {**json.loads(config.get("mlops:storage", "{}")), "forceDestroy": True}
    return {"mlops:decommission": "true", "mlops:deletionProtection": "false", "mlops:storage": json.dumps(storage)}


def stack_config(stack: str) -> tuple[dict[str, str], list[str]]:
    """The config the engine would pass for `stack` (a shipped stack, or a test-only variant of one)."""
    if stack in DECOMMISSIONED:
        config, secret_keys = load_stack_config(PROJECT_ROOT, DECOMMISSIONED[stack])
        return {**config, **_decommission(config)}, secret_keys
    base, overrides = RENAMED.get(stack, (stack, {}))
    config, secret_keys = load_stack_config(PROJECT_ROOT, base)
    return {**config, **overrides}, secret_keys


@functools.cache
def _stack_plan(stack: str) -> Plan:
    if stack in STACKS:
        return recorded_plan(stack)  # the same recorded plan make plan/verify/policy/cost read
    config, secret_keys = stack_config(stack)
    name = DECOMMISSIONED.get(stack, stack)  # a teardown reconfigures the same stack: same URNs, same state
    return run_program(stack_program(), project="mlops", stack=name, config=config, secret_keys=secret_keys)


def stack_spec(stack: str) -> PlatformSpec:
    config, secret_keys = stack_config(stack)
    return parse_spec(config, f"Pulumi.{stack}.yaml", secret_keys)


def component_plan(stack: str, build: Callable[[PlatformSpec], Any]) -> Plan:
    """Plan only `build(spec)` with the stack's config: for testing one layer in isolation."""
    config, secret_keys = stack_config(stack)
    spec = parse_spec(config, f"Pulumi.{stack}.yaml", secret_keys)
    return run_program(lambda: build(spec) and None, project="mlops", stack=stack, config=config,
                       secret_keys=secret_keys)  # fmt: skip


@pytest.fixture(scope="session")
def stack_plan() -> Callable[[str], Plan]:
    """`stack_plan("dev")`: the recorded graph of the real stack program for Pulumi.dev.yaml (cached)."""
    return _stack_plan
