"""Plans are expensive (the whole program under mocks): each stack is planned once per test session."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

from components.spec import IMAGE_NAMES, PlatformSpec
from infra.config import parse_spec
from infra.plan.engine import PROJECT_ROOT, Plan, load_stack_config, plan_stack, run_program
from tests.infra.image_harness import Dockerfile, EnvironmentFactory, Layout, recreate

STACKS = ("dev", "prod", "gcp-dev", "gcp-prod")
DOCKER_DIR = PROJECT_ROOT / "workloads" / "docker"
AWS_STACKS = ("dev", "prod")
GCP_STACKS = ("gcp-dev", "gcp-prod")


@functools.cache
def _stack_plan(stack: str) -> Plan:
    return plan_stack(stack)


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


# --- workload images recreated without Docker (tests/infra/image_harness.py) ----------------------------------------


@pytest.fixture(scope="session")
def image_environments(tmp_path_factory: pytest.TempPathFactory) -> EnvironmentFactory:
    """One fresh environment per lock and uv sync flags, shared by every image that syncs the same way."""
    return EnvironmentFactory(tmp_path_factory.mktemp("image-environments"))


@pytest.fixture(scope="session")
def image_layouts(
    tmp_path_factory: pytest.TempPathFactory, image_environments: EnvironmentFactory
) -> dict[str, Layout]:
    """Every workload image recreated from its Dockerfile, with the build arguments the dev stack's build passes."""
    build_args = {r.name.removeprefix("image-"): r.inputs.get("buildArgs") or {} for r in
                  _stack_plan("dev").of_type("docker-build:index:Image")}  # fmt: skip
    root = tmp_path_factory.mktemp("images")
    return {
        name: recreate(Dockerfile.parse(DOCKER_DIR / f"{name}.Dockerfile"), PROJECT_ROOT, root, image_environments,
                       build_args[name])
        for name in IMAGE_NAMES
    }  # fmt: skip
