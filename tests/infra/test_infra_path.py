"""The infrastructure path needs only the infra environment, and the deploy workflows check what offline cannot."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from components.versions import EKS_ADDON_VERSIONS
from infra.plan.engine import PROJECT_ROOT
from tests.infra.conftest import stack_spec

INFRA_WORKFLOWS = ("deploy.yml", "preview.yml")


def dry_run(*targets: str) -> str:
    """The commands `make` would run for `targets` if every prerequisite were out of date (-B)."""
    result = subprocess.run(
        ["make", "-n", "-B", *targets], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout


@pytest.mark.parametrize("target", ["plan", "plan-all", "policy", "docs", "setup-infra", "check-eks-addons"])
def test_infra_targets_never_build_the_workloads_environment(target: str) -> None:
    commands = dry_run(target, "STACK=dev")
    assert "uv sync" in commands  # the infra environment is set up ...
    assert "workloads" not in commands  # ... and nothing of the workloads one


def test_setup_still_builds_both_environments() -> None:
    commands = dry_run("setup")
    assert "cd workloads && uv sync --frozen" in commands
    assert re.search(r"^uv sync --frozen", commands, re.MULTILINE)


def make_targets(workflow: str) -> list[list[str]]:
    """The targets of every `make` command in the workflow's run steps (`make plan STACK=x && make policy ...`)."""
    document = yaml.safe_load((PROJECT_ROOT / ".github" / "workflows" / workflow).read_text())
    runs = [step.get("run", "") for job in document["jobs"].values() for step in job["steps"]]
    commands = [segment.split() for run in runs for segment in re.split(r"&&|;|\n", run)]
    return [
        list(itertools.takewhile(lambda token: re.fullmatch(r"[a-z][\w-]*", token), tokens[1:]))
        for tokens in commands
        if tokens[:1] == ["make"]
    ]


@pytest.mark.parametrize("workflow", INFRA_WORKFLOWS)
def test_deploy_and_preview_workflows_only_run_infra_targets(workflow: str) -> None:
    invocations = make_targets(workflow)
    assert invocations, f"{workflow} runs no make target"
    for targets in invocations:
        assert targets
        assert "workloads" not in dry_run(*targets, "STACK=dev"), targets


@pytest.fixture
def fake_aws(tmp_path: Path) -> Path:
    """An `aws` on PATH that offers exactly the versions written to `offered.txt`, whatever the add-on."""
    offered = tmp_path / "offered.txt"
    script = tmp_path / "aws"
    script.write_text(f"#!/bin/sh\ntr '\\n' '\\t' < {offered}\n")
    script.chmod(0o755)
    return offered


def check_addons(stack: str, offered: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{offered.parent}:{os.environ['PATH']}"}
    return subprocess.run(
        ["make", "--no-print-directory", "check-eks-addons", f"STACK={stack}"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_eks_addon_check_passes_when_aws_offers_every_pin(fake_aws: Path) -> None:
    pins = EKS_ADDON_VERSIONS[stack_spec("dev").cluster.kubernetes_version]
    fake_aws.write_text("\n".join(["v0.0.1-eksbuild.1", *pins.values()]) + "\n")
    result = check_addons("dev", fake_aws)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len([line for line in result.stdout.splitlines() if "offered for" in line]) == len(pins)


def test_eks_addon_check_stops_the_deploy_when_a_pin_is_not_offered(fake_aws: Path) -> None:
    pins = EKS_ADDON_VERSIONS[stack_spec("dev").cluster.kubernetes_version]
    fake_aws.write_text("\n".join(v for name, v in pins.items() if name != "coredns") + "\n")
    result = check_addons("dev", fake_aws)
    assert result.returncode != 0
    assert f"::error::coredns {pins['coredns']} is not offered for Kubernetes" in result.stdout


@pytest.mark.parametrize("workflow", INFRA_WORKFLOWS)
def test_readme_names_every_variable_and_secret_the_deploy_workflows_read(workflow: str) -> None:
    """A workflow reading a repository variable or secret the README's deploy section does not list fails on the
    first real run, with an empty role ARN or token."""
    text = (PROJECT_ROOT / ".github" / "workflows" / workflow).read_text()
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme[readme.index("## Deploying for real") : readme.index("## The offline plan")]
    names = set(re.findall(r"\$\{\{\s*(?:vars|secrets)\.([A-Z0-9_]+)", text))
    assert names, workflow
    assert sorted(name for name in names if f"`{name}`" not in section) == []
