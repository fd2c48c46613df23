"""Unit tests of the demo's own helpers: ports, process-group shutdown, output layout, infra output parsing."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlops_workloads.demo.__main__ import EXIT_USAGE, main
from mlops_workloads.demo.config import DATA_MANIFEST, FRESH_EACH_RUN, prepare_output
from mlops_workloads.demo.infra import CommandOutcome, StackCheck, parse_plan_output, parse_policy_output
from mlops_workloads.demo.processes import (
    LogFollower,
    PortInUseError,
    ProcessSupervisor,
    ServiceStartError,
    group_members,
    pid_alive,
    resolve_port,
    wait_until_healthy,
)
from mlops_workloads.demo.report import print_summary, write_summary
from mlops_workloads.demo.traffic import TrafficStats
from rich.console import Console


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port with a live listener on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[ProcessSupervisor]:
    sup = ProcessSupervisor(tmp_path / "logs", stop_timeout=2.0)
    yield sup
    sup.stop_all()


def test_taken_port_names_the_port_the_service_and_the_option(busy_port: int) -> None:
    with pytest.raises(PortInUseError) as caught:
        resolve_port(busy_port, "MLflow tracking server", "--mlflow-port")
    message = str(caught.value)
    assert f"port {busy_port}" in message
    assert "MLflow tracking server" in message
    assert "--mlflow-port <port>" in message
    assert "--mlflow-port 0 = any free port" in message


def test_port_zero_picks_a_free_port_not_already_chosen() -> None:
    first = resolve_port(0, "S3", "--s3-port")
    second = resolve_port(0, "MLflow", "--mlflow-port", taken=[first])
    assert second != first
    assert 0 < first < 65536
    assert 0 < second < 65536


def test_port_out_of_range_is_rejected_with_the_option_name() -> None:
    with pytest.raises(ValueError, match=r"--serving-port must be between 0 and 65535, got 70000"):
        resolve_port(70000, "inference service", "--serving-port")


def test_cli_exits_2_with_a_clear_message_when_a_port_is_taken(
    busy_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--fast", "--output", str(tmp_path / "demo"), "--serving-port", str(busy_port)])
    out = " ".join(capsys.readouterr().out.split())
    assert code == EXIT_USAGE
    assert f"port {busy_port} on 127.0.0.1 is already in use" in out
    assert "inference service" in out
    assert "--serving-port" in out
    assert not (tmp_path / "demo").exists()  # nothing was started or written


def test_stop_all_kills_the_whole_process_group_including_grandchildren(supervisor: ProcessSupervisor) -> None:
    # A shell whose background grandchild would outlive a plain kill of the shell.
    child = supervisor.start("tree", ["sh", "-c", "sleep 300 & echo started; wait"])
    while len(group_members(child.pid)) < 2:
        assert child.running(), child.log_tail()
        time.sleep(0.01)
    child.remember_group()
    pids = supervisor.started_pids()
    assert len(pids) >= 2
    supervisor.stop_all()
    assert [pid for pid in pids if pid_alive(pid)] == []
    assert supervisor.survivors() == []
    assert group_members(child.pid) == []


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(supervisor: ProcessSupervisor) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
    code += "time.sleep(300)"
    child = supervisor.start("stubborn", [sys.executable, "-c", code])
    while "ready" not in child.log_tail():
        assert child.running(), child.log_tail()
        time.sleep(0.01)
    returncode = supervisor.stop(child)
    assert returncode == -9  # SIGKILL: SIGTERM was ignored
    assert not pid_alive(child.pid)


def test_child_output_goes_to_its_log_file(supervisor: ProcessSupervisor, tmp_path: Path) -> None:
    child = supervisor.start("echo", ["sh", "-c", "echo hello from the child; echo oops >&2"])
    assert child.process.wait(timeout=60) == 0
    assert child.log_path == tmp_path / "logs" / "echo.log"
    assert child.log_path.read_text().splitlines() == ["hello from the child", "oops"]


def test_health_wait_fails_fast_with_the_log_when_the_service_exits(supervisor: ProcessSupervisor) -> None:
    child = supervisor.start("broken", ["sh", "-c", "echo cannot bind; exit 3"])
    with pytest.raises(ServiceStartError) as caught:
        wait_until_healthy("http://127.0.0.1:9/health", child=child, timeout=120, service="MLflow tracking server")
    message = str(caught.value)
    assert "MLflow tracking server exited with code 3" in message
    assert str(child.log_path) in message
    assert "cannot bind" in message


def test_prepare_output_keeps_cached_frames_and_wipes_what_must_be_fresh(tmp_path: Path) -> None:
    output = tmp_path / "demo"
    for name in FRESH_EACH_RUN:
        target = output / name
        if target.suffix:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("{}")
        else:
            (target / "old").mkdir(parents=True)
    cache = output / "data" / "cache" / DATA_MANIFEST
    cache.parent.mkdir(parents=True)
    cache.write_text("{}")

    removed = prepare_output(output, reset=False)

    assert sorted(Path(p).relative_to(output).as_posix() for p in removed) == sorted(FRESH_EACH_RUN)
    assert cache.exists()
    assert not (output / "mlflow" / "old").exists()
    assert not (output / "summary.json").exists()

    prepare_output(output, reset=True)
    assert not cache.exists()
    assert (output / "logs").is_dir()


PLAN_OUTPUT = """
Resources by type:
    12  aws:ec2/subnet:Subnet
     3  kubernetes:helm.sh/v3:Release
   187  to create

Kubernetes objects: 64 (5 custom resources, no schema); Helm releases: 3; schema v1.33 errors: 0
"""


def test_plan_and_policy_outputs_are_parsed_into_counts() -> None:
    assert parse_plan_output(PLAN_OUTPUT) == (187, 64)
    assert parse_plan_output("plan failed for stack dev: TypeError: boom") == (None, None)
    policy = "aws-eks-private: cluster endpoint public\nprod: 31 policies over 245 resources, 1 violation(s)\n"
    assert parse_policy_output(policy) == (31, 1)
    assert parse_policy_output("Traceback ...") == (None, None)


def test_traffic_stats_count_failures_and_report_percentiles() -> None:
    stats = TrafficStats()
    stats.latencies_ms = [float(v) for v in range(1, 101)]
    stats.ok, stats.sent, stats.failed, stats.elapsed_seconds = 100, 101, 1, 2.0
    stats.versions["3"] = 100
    summary = stats.summary()
    assert summary["throughput_rps"] == 50.0
    assert summary["latency_ms"]["p50"] == pytest.approx(50.5)
    assert summary["latency_ms"]["p99"] == pytest.approx(99.01)
    assert summary["failed"] == 1
    assert summary["versions"] == {"3": 100}


def test_log_follower_streams_complete_new_lines_of_each_log(tmp_path: Path) -> None:
    received: list[tuple[str, str]] = []
    log = tmp_path / "mlflow.log"
    log.write_text("written before following\n")
    follower = LogFollower(lambda name, line: received.append((name, line)), interval=0.01)
    follower.follow("mlflow", log)
    with log.open("a") as handle:
        handle.write("first line\nsecond line\npartial")
    follower.stop()
    assert received == [("mlflow", "first line"), ("mlflow", "second line")]


def _stack(name: str, plan_code: int, detail: str) -> dict[str, object]:
    plan = CommandOutcome(f"python -m infra.plan --stack {name} --quiet", plan_code, f"/logs/plan-{name}.log", detail)
    policy = CommandOutcome(f"python -m policies.offline --stack {name}", 0, f"/logs/policy-{name}.log", "ok")
    resources = 275 if plan_code == 0 else None
    return StackCheck(name, resources, 118 if resources else None, 0, 17, plan, policy).to_dict()


def test_summary_tables_show_versions_aliases_drift_and_a_failed_stack(tmp_path: Path) -> None:
    summary = {
        "output": str(tmp_path),
        "aliases": {"champion": "2", "previous-champion": "1"},
        "versions": [
            {"version": "1", "origin": "initial training", "metrics": {"f1": 0.9375, "roc_auc": 0.948}},
            {"version": "2", "origin": "retraining after drift", "metrics": {"f1": 0.9565, "roc_auc": 0.999}},
        ],
        "gates": {"initial": {"passed": True, "champion_metrics": None}},
        "promotions": [{"when": "initial", "promoted": True, "challenger_version": "1", "reasons": []}],
        "traffic": {"burst": TrafficStats(sent=1, ok=1, latencies_ms=[5.0], elapsed_seconds=0.5).summary()},
        "drift": {
            "drift_share": 0.64,
            "decision": "triggered",
            "features": [
                {
                    "feature": "amount",
                    "method": "wasserstein_norm",
                    "score": 0.726,
                    "psi": 5.632,
                    "severity": "significant",
                    "reference_mean": 65.95,
                    "current_mean": 130.64,
                    "drifted": True,
                },
            ],
        },
        "infra": {"stacks": [_stack("dev", 0, "ok"), _stack("gcp-prod", 1, "plan failed: TypeError: boom")]},
    }
    console = Console(record=True, width=200)
    print_summary(console, summary)
    text = console.export_text()
    assert "previous-champion" in text
    assert "0.957" in text  # v2's f1
    assert "v1 → champion" in text
    assert "amount" in text
    assert "5.632" in text
    assert "275" in text
    assert "plan failed: TypeError: boom" in text
    assert "/logs/plan-gcp-prod.log" in text
    written = write_summary(summary, tmp_path / "summary.json")
    assert written.read_text().startswith("{")
    assert not (tmp_path / "summary.json.tmp").exists()
