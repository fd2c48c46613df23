"""End to end: ``python -m mlops_workloads.demo --fast`` runs the whole lifecycle and leaves no process behind.

One real run (S3 + MLflow servers, Feast, two kfp local pipeline runs, the inference service, batch scoring, the
monitoring job) in a temporary directory on free ports; the assertions read its summary.json and the process table.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mlops_workloads.demo.processes import group_members, pid_alive

REPO_ROOT = Path(__file__).resolve().parents[2]
# A guard against a hung run, not a benchmark: a fast run takes minutes on a busy 2-core machine.
RUN_GUARD_SECONDS = 2400


def _demo_command(output: Path) -> list[str]:
    return [
        sys.executable, "-m", "mlops_workloads.demo", "--fast", "--skip-infra", "--output", str(output),
        "--mlflow-port", "0", "--serving-port", "0", "--s3-port", "0", "--service-timeout", "900",
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "MLFLOW_REGISTRY"))}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    output = tmp_path_factory.mktemp("demo") / "out"
    completed = subprocess.run(
        _demo_command(output),
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=RUN_GUARD_SECONDS,
        check=False,
    )
    summary_path = output / "summary.json"
    assert summary_path.exists(), f"no summary.json; stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
    summary = json.loads(summary_path.read_text())
    if completed.returncode != 0:
        pytest.fail(f"the demo failed at {summary.get('failed_step')}: {summary.get('error')}\n{completed.stdout}")
    return completed, summary


def test_the_demo_succeeds(demo_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    completed, summary = demo_run
    assert completed.returncode == 0
    assert summary["status"] == "ok"
    assert "Summary" in completed.stdout


def test_two_versions_and_the_aliases_moved(demo_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    _, summary = demo_run
    versions = [entry["version"] for entry in summary["versions"]]
    assert len(versions) == 2
    first, second = versions
    assert first != second
    assert summary["aliases"] == {"champion": second, "previous-champion": first}
    assert [p["promoted"] for p in summary["promotions"]] == [True, True]
    assert summary["gates"]["initial"]["passed"] is True
    assert summary["gates"]["retrain"]["passed"] is True
    for entry in summary["versions"]:
        assert entry["metrics"]["f1"] >= 0.75  # the pipeline's default quality gate


def test_drift_was_detected_and_triggered_retraining(
    demo_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, summary = demo_run
    drift = summary["drift"]
    assert drift["detected"] is True
    assert drift["decision"] == "triggered"
    # The injected shifts are among the drifted features.
    assert {"amount", "hour_of_day", "days_since_last_transaction"} <= set(drift["drifted_features"])
    assert Path(summary["reports"]["evidently_html"]).is_file()
    assert Path(summary["reports"]["prometheus_textfile"]).is_file()
    assert summary["batch"]["rows"] == summary["data"]["drifted_rows"]


def test_the_running_service_reloaded_the_new_champion_without_failures(
    demo_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, summary = demo_run
    first, second = (entry["version"] for entry in summary["versions"])
    assert summary["reload"]["observed"] is True
    assert (summary["reload"]["from_version"], summary["reload"]["to_version"]) == (first, second)
    burst, during = summary["traffic"]["burst"], summary["traffic"]["during_retraining"]
    assert burst["ok"] == burst["sent"] == 400
    assert burst["failed"] == 0
    assert during["failed"] == 0
    assert set(during["versions"]) == {first, second}  # one service process answered with both versions


def test_no_child_process_survives(demo_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    _, summary = demo_run
    pids = summary["pids"]
    services = summary["services"]
    assert {services[name]["pid"] for name in ("s3", "mlflow", "serving")} <= set(pids)
    assert summary["shutdown"] == {"clean": True, "survivors": []}
    assert [pid for pid in pids if pid_alive(pid)] == []
    for name in ("s3", "mlflow", "serving"):
        assert group_members(services[name]["pid"]) == [], f"{name}'s process group still has members"


def test_sigterm_mid_run_stops_every_service_and_exits_130(tmp_path: Path) -> None:
    output = tmp_path / "out"
    process = subprocess.Popen(
        _demo_command(output), cwd=REPO_ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seen = []
    assert process.stdout is not None
    for line in process.stdout:  # the first step's line: S3 and MLflow have been started
        seen.append(line)
        if "Launch the S3-compatible object store" in line:
            break
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=300)
    assert process.returncode == 130, "".join(seen) + rest
    assert "interrupted: stopping every service" in rest
    summary = json.loads((output / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert len(summary["pids"]) >= 2  # the S3 and MLflow servers were running
    assert summary["shutdown"] == {"clean": True, "survivors": []}
    assert [pid for pid in summary["pids"] if pid_alive(pid)] == []
