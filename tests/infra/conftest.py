"""Plans are expensive (the whole program under mocks): each stack's recorded plan (build/plan/<stack>.json) is
read once per test session, and planned first only when it is missing or older than the program's sources."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from components.spec import PlatformSpec
from infra.config import parse_spec
from infra.plan.engine import PROJECT_ROOT, Plan, load_stack_config, run_program
from infra.plan.recorded import recorded_plan

STACKS = ("dev", "prod", "gcp-dev", "gcp-prod")
AWS_STACKS = ("dev", "prod")
GCP_STACKS = ("gcp-dev", "gcp-prod")


@functools.cache
def _stack_plan(stack: str) -> Plan:
    return recorded_plan(stack)


def stack_spec(stack: str) -> PlatformSpec:
    config, _ = load_stack_config(PROJECT_ROOT, stack)
    return parse_spec(config, source=f"Pulumi.{stack}.yaml")


def component_plan(stack: str, build: Callable[[PlatformSpec], Any]) -> Plan:
    """Plan only `build(spec)` with the stack's config: for testing one layer in isolation."""
    config, secret_keys = load_stack_config(PROJECT_ROOT, stack)
    spec = parse_spec(config, source=f"Pulumi.{stack}.yaml")
    return run_program(lambda: build(spec) and None, project="mlops", stack=stack, config=config,
                       secret_keys=secret_keys)  # fmt: skip


@pytest.fixture(scope="session")
def stack_plan() -> Callable[[str], Plan]:
    """`stack_plan("dev")`: the recorded graph of the real stack program for Pulumi.dev.yaml (cached)."""
    return _stack_plan
