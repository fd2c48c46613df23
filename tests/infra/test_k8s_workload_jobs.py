"""The monitoring and batch CronJobs carry the stack's release policy and training image, and the monitoring job
itself (the workloads package, in its own environment) turns those arguments into the retraining run's arguments."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from components.spec import PlatformSpec
from infra.plan.engine import PROJECT_ROOT, Plan, load_stack_config
from tests.infra.conftest import STACKS, stack_spec
from tests.infra.fake_cloud import fake_cloud_plan, kube_objects

WORKLOADS_PYTHON = PROJECT_ROOT / "workloads/.venv/bin/python"


def _container(plan: Plan, cronjob: str) -> dict[str, Any]:
    (cron,) = [c for c in kube_objects(plan, "CronJob", "ml-workloads") if c["metadata"]["name"] == cronjob]  # type: ignore[index]
    return cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index,no-any-return]


def _flag(args: list[str], name: str) -> str:
    assert args.count(name) == 1, f"{name} appears {args.count(name)} times in {args}"
    return args[args.index(name) + 1]


def _expected_policy(spec: PlatformSpec) -> dict[str, str]:
    gates = spec.workloads.quality_gates
    return {
        "--min-f1": str(gates.f1),
        "--min-precision": str(gates.precision),
        "--min-recall": str(gates.recall),
        "--min-roc-auc": str(gates.roc_auc),
        "--champion-tolerance": str(gates.champion_tolerance),
        "--promotion": spec.workloads.promotion,
    }


def _settings(plan: Plan) -> dict[str, str]:
    (settings,) = [
        c for c in kube_objects(plan, "ConfigMap", "ml-workloads") if c["metadata"]["name"] == "mlops-platform"
    ]  # type: ignore[index]
    return settings["data"]  # type: ignore[return-value]


@pytest.mark.parametrize("stack", STACKS)
def test_monitoring_cronjob_carries_the_stacks_release_policy_and_training_image(stack: str) -> None:
    plan, _ = fake_cloud_plan(stack)
    spec = stack_spec(stack)
    args = _container(plan, "model-monitoring")["args"]
    assert {flag: _flag(args, flag) for flag in _expected_policy(spec)} == _expected_policy(spec)
    image = _flag(args, "--training-image")
    assert image == _settings(plan)["TRAINING_IMAGE"]  # the training image this stack deploys, by the same helper
    monitoring_image = _container(plan, "model-monitoring")["image"]
    assert image.rsplit("/", 1)[0] == monitoring_image.rsplit("/", 1)[0]  # same registry as the stack's own images
    assert "ghcr.io/mlops-platform" not in image
    batch = _container(plan, "batch-inference")["command"]
    assert _flag(batch, "--pushgateway") == _flag(args, "--pushgateway")


def test_changed_gates_and_promotion_change_the_arguments() -> None:
    config, _ = load_stack_config(PROJECT_ROOT, "dev")
    workloads = json.loads(config["mlops:workloads"])
    workloads["qualityGates"] = {
        "f1": 0.91,
        "precision": 0.82,
        "recall": 0.73,
        "rocAuc": 0.94,
        "championTolerance": 0.0,
    }
    workloads["promotion"] = "manual" if workloads.get("promotion", "auto") == "auto" else "auto"
    plan, _ = fake_cloud_plan("dev", overrides=(("mlops:workloads", json.dumps(workloads)),))
    args = _container(plan, "model-monitoring")["args"]
    assert [_flag(args, f) for f in ("--min-f1", "--min-precision", "--min-recall", "--min-roc-auc")] == [
        "0.91", "0.82", "0.73", "0.94"
    ]  # fmt: skip
    assert _flag(args, "--champion-tolerance") == "0.0"
    assert _flag(args, "--promotion") == workloads["promotion"] != stack_spec("dev").workloads.promotion


@pytest.mark.parametrize("stack", ["dev", "gcp-prod"])
def test_the_monitoring_job_turns_the_cronjob_arguments_into_the_stacks_pipeline_arguments(stack: str) -> None:
    """The real job's parser (workloads environment) reads exactly what the plan writes."""
    plan, _ = fake_cloud_plan(stack)
    spec = stack_spec(stack)
    container = _container(plan, "model-monitoring")
    env = {e["name"]: e["value"] for e in container["env"]}
    completed = subprocess.run(
        [str(WORKLOADS_PYTHON), "-m", "mlops_workloads.monitoring", *container["args"], "--dry-run"],
        capture_output=True, text=True, timeout=120, check=False,
        env={"MLFLOW_TRACKING_URI": env["MLFLOW_TRACKING_URI"]},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    resolved = json.loads(completed.stdout)
    gates = spec.workloads.quality_gates
    assert resolved["training_image"] == _flag(container["args"], "--training-image")
    assert {k: v for k, v in resolved["pipeline_arguments"].items() if k not in ("source_uri", "tracking_uri")} == {
        "min_f1": gates.f1,
        "min_precision": gates.precision,
        "min_recall": gates.recall,
        "min_roc_auc": gates.roc_auc,
        "champion_tolerance": gates.champion_tolerance,
        "promotion": spec.workloads.promotion,
    }
