"""Prometheus export of the monitoring job: textfile content and Pushgateway pushes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest
from mlops_workloads.data import generate_transactions, inject_drift
from mlops_workloads.features import FEATURE_NAMES, LABEL
from mlops_workloads.monitoring import metrics
from mlops_workloads.monitoring.drift import DriftAccumulator, DriftResult
from mlops_workloads.reference import PREDICTION_COLUMN, build_reference_profile
from prometheus_client.parser import text_string_to_metric_families

NOW = 1_767_225_600.0


@pytest.fixture(scope="module")
def result() -> DriftResult:
    reference = generate_transactions(3_000, seed=1, n_cards=3_000)
    labels = reference[LABEL].to_numpy()
    profile = build_reference_profile(reference[list(FEATURE_NAMES)], labels.astype(float), labels, {"f1": 1.0})
    window = inject_drift(generate_transactions(3_000, seed=2, n_cards=3_000), shift={"merchant_risk_score": 1.0})
    window[PREDICTION_COLUMN] = window[LABEL].astype(float)
    accumulator = DriftAccumulator(profile)
    accumulator.update(window)
    return accumulator.result()


def _samples(path: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(path.read_text())
        for s in family.samples
    }


def test_textfile_holds_named_labelled_values(result: DriftResult, tmp_path: Path) -> None:
    textfile = tmp_path / "textfile" / "model_monitoring.prom"
    families = metrics.success_families(
        result, model_name="fraud", model_version="3", outcome="triggered", triggered_total=2, now=NOW
    )
    metrics.export(families, textfile=textfile, model_name="fraud")
    samples = _samples(textfile)
    mv = {("model_name", "fraud"), ("model_version", "3")}
    risk = next(f for f in result.features if f.feature == "merchant_risk_score")

    key = (metrics.FEATURE_DRIFT_SCORE, frozenset({*mv, ("feature", "merchant_risk_score"), ("statistic", "psi")}))
    assert samples[key] == pytest.approx(risk.psi)
    wd = (
        metrics.FEATURE_DRIFT_SCORE,
        frozenset({*mv, ("feature", "merchant_risk_score"), ("statistic", "wasserstein_norm")}),
    )
    assert samples[wd] == pytest.approx(risk.wasserstein_norm)
    assert samples[(metrics.FEATURE_DRIFT_DETECTED, frozenset({*mv, ("feature", "merchant_risk_score")}))] == 1.0
    assert samples[(metrics.FEATURE_DRIFT_DETECTED, frozenset({*mv, ("feature", "amount")}))] == 0.0
    # One drifted feature out of the ten that count (the calendar feature day_of_week never does).
    assert samples[(metrics.DATASET_DRIFT_SHARE, frozenset(mv))] == pytest.approx(1 / 10)
    assert samples[(metrics.F1_SCORE, frozenset({*mv, ("window", "current")}))] == 1.0
    assert samples[(metrics.F1_SCORE, frozenset({*mv, ("window", "reference")}))] == 1.0
    assert samples[(metrics.PREDICTION_DRIFT_SCORE, frozenset({*mv, ("statistic", "psi")}))] < 0.1
    assert samples[(metrics.RETRAINING_TRIGGERED_TOTAL, frozenset({("model_name", "fraud")}))] == 2.0
    assert samples[(metrics.RETRAINING_DECISION, frozenset({("model_name", "fraud"), ("outcome", "triggered")}))] == 1.0
    assert samples[(metrics.LAST_SUCCESS_TIMESTAMP, frozenset({("model_name", "fraud")}))] == NOW
    assert samples[(metrics.RUN_FAILED, frozenset({("model_name", "fraud")}))] == 0.0
    # Categorical features have no KS/Wasserstein series rather than a NaN one.
    assert not any(name == metrics.FEATURE_DRIFT_SCORE and ("feature", "hour_of_day") in labels and
                   ("statistic", "ks_pvalue") in labels for name, labels in samples)  # fmt: skip
    exported = {name for name, _ in samples}
    assert exported == set(metrics.EXPORTED_METRICS) - set(metrics.REGRESSION_METRICS)  # a classifier's run


def test_failed_run_keeps_last_success(result: DriftResult, tmp_path: Path) -> None:
    textfile = tmp_path / "model_monitoring.prom"
    ok = metrics.success_families(result, model_name="fraud", model_version="3", outcome="skipped_no_drift",
                                  triggered_total=0, now=NOW)  # fmt: skip
    metrics.export(ok, textfile=textfile, model_name="fraud")
    previous = metrics.previous_success(textfile, "fraud")
    assert previous == NOW
    failed = metrics.run_families("fraud", now=NOW + 3600, last_success=previous, failed=True)
    metrics.export(failed, textfile=textfile, model_name="fraud", replace=False)
    samples = _samples(textfile)
    fraud = frozenset({("model_name", "fraud")})
    assert samples[(metrics.LAST_SUCCESS_TIMESTAMP, fraud)] == NOW
    assert samples[(metrics.LAST_RUN_TIMESTAMP, fraud)] == NOW + 3600
    assert samples[(metrics.RUN_FAILED, fraud)] == 1.0


class _Recorder(BaseHTTPRequestHandler):
    requests: list[tuple[str, str, bytes]] = []

    def _record(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Recorder.requests.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    do_PUT = do_POST = _record

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pushgateway() -> Iterator[str]:
    _Recorder.requests = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_pushgateway_gets_the_group_put_on_success_and_post_on_failure(
    result: DriftResult, tmp_path: Path, pushgateway: str
) -> None:
    ok = metrics.success_families(result, model_name="fraud", model_version="3", outcome="triggered",
                                  triggered_total=1, now=NOW)  # fmt: skip
    metrics.export(ok, textfile=tmp_path / "m.prom", model_name="fraud", pushgateway=pushgateway)
    failed = metrics.run_families("fraud", now=NOW, last_success=None, failed=True)
    metrics.export(failed, textfile=tmp_path / "m.prom", model_name="fraud", pushgateway=pushgateway, replace=False)
    (put_method, put_path, put_body), (post_method, post_path, post_body) = _Recorder.requests
    assert (put_method, put_path) == ("PUT", "/metrics/job/model_monitoring/model_name/fraud")
    assert (post_method, post_path) == ("POST", "/metrics/job/model_monitoring/model_name/fraud")
    assert b"model_dataset_drift_share" in put_body
    assert b"model_monitoring_run_failed" in post_body
    assert b"model_dataset_drift_share" not in post_body  # a failed run leaves the last drift figures in place


def test_metric_names_are_prometheus_conventional() -> None:
    assert len(set(metrics.EXPORTED_METRICS)) == len(metrics.EXPORTED_METRICS)
    for name in metrics.EXPORTED_METRICS:
        assert name.startswith("model_")
        assert name == name.lower()
    assert metrics.RETRAINING_TRIGGERED_TOTAL.endswith("_total")
    assert np.all([n.endswith("_seconds") for n in (metrics.LAST_RUN_TIMESTAMP, metrics.LAST_SUCCESS_TIMESTAMP)])


def test_unreachable_pushgateway_keeps_the_textfile(
    result: DriftResult, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ok = metrics.success_families(result, model_name="fraud", model_version="3", outcome="triggered",
                                  triggered_total=1, now=NOW)  # fmt: skip
    metrics.export(ok, textfile=tmp_path / "m.prom", model_name="fraud", pushgateway=f"http://127.0.0.1:{port}")
    assert metrics.previous_success(tmp_path / "m.prom", "fraud") == NOW
    assert "pushgateway_failed" in caplog.text
