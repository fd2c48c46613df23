"""The monitoring job end to end against a real (sqlite) MLflow registry, and its command line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlops_workloads.data import generate_transactions, inject_drift, write_partitions
from mlops_workloads.features import FEATURE_NAMES, LABEL, MODEL_NAME
from mlops_workloads.monitoring import metrics
from mlops_workloads.monitoring.__main__ import EXIT_BAD_INPUT, main
from mlops_workloads.monitoring.job import MonitoringConfig, run_monitoring
from mlops_workloads.monitoring.retrain import LocalRetrainer, Outcome, RetrainSubmission
from mlops_workloads.reference import build_reference_profile
from mlops_workloads.registry import CHAMPION, promote_challenger
from mlops_workloads.training import data_fingerprint, evaluate_model, feature_matrix, register_model, train_model

REPO = Path(__file__).resolve().parents[2]
SMALL_FOREST = {"n_estimators": 15, "max_depth": 6}


def _register(frame: pd.DataFrame, tracking_uri: str) -> str:
    """Train a small forest on ``frame`` and register it (with its reference profile) as challenger."""
    X, y = feature_matrix(frame), frame[LABEL].to_numpy()
    model = train_model(X, y, SMALL_FOREST)
    scores = model.predict_proba(X)[:, 1]
    metrics_ = evaluate_model(model, X, y)
    profile = build_reference_profile(X, scores, y, metrics_)
    version = register_model(
        model, X.head(20), metrics_, SMALL_FOREST, data_fingerprint=data_fingerprint(frame), profile=profile,
        tracking_uri=tracking_uri,
    )  # fmt: skip
    return str(version.version)


def _register_champion(tracking_uri: str) -> str:
    _register(generate_transactions(3_000, seed=1, n_cards=3_000), tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    assert promote_challenger(client, MODEL_NAME, policy="auto").promoted
    return tracking_uri


@pytest.fixture(scope="module")
def shared_champion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One registry with champion version 1 for the tests that do not change the registry."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    yield _register_champion(uri)
    mlflow.set_tracking_uri(None)


@pytest.fixture
def champion(mlflow_tracking: str) -> str:
    """A private registry for a test that promotes a new version."""
    return _register_champion(mlflow_tracking)


class RecordingRetrainer:
    backend = "recording"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def retrain(self, *, model_name: str, reasons: Sequence[str]) -> RetrainSubmission:
        self.calls.append(list(reasons))
        return RetrainSubmission(self.backend, "run-1", completed=False)


def test_drifted_window_is_detected_reported_exported_and_retrained(shared_champion: str, tmp_path: Path) -> None:
    window = inject_drift(
        generate_transactions(4_000, seed=7, n_cards=4_000, start="2026-02-01", days=2),
        shift={"amount": 1.0, "merchant_risk_score": 1.5, "hour_of_day": 2.0, "international": 1.0},
    )
    write_partitions(window, tmp_path / "window")  # no prediction column: the job scores with the champion
    retrainer = RecordingRetrainer()
    config = MonitoringConfig(
        current=str(tmp_path / "window"), tracking_uri=shared_champion, report_dir=str(tmp_path / "out")
    )

    run = run_monitoring(config, retrainer=retrainer)

    assert run.model_version == "1"
    assert run.drift.window_rows == 4_000
    assert {"amount", "merchant_risk_score", "hour_of_day"} <= set(run.drift.drifted_features)
    assert run.drift.prediction is not None  # scored in the job
    assert run.drift.performance is not None  # labels arrived with the window
    assert run.decision.outcome is Outcome.TRIGGERED
    assert len(retrainer.calls) == 1
    assert run.report_uri is not None
    html = Path(run.report_uri).read_text()
    assert "<html" in html.lower()
    assert "merchant_risk_score" in html
    summary = json.loads(Path(run.summary_uri).read_text())
    assert summary["decision"]["outcome"] == "triggered"
    assert summary["drift"]["window_rows"] == 4_000
    prom = Path(run.metrics_file).read_text()
    assert 'model_dataset_drift_share{model_name="fraud-detection",model_version="1"}' in prom
    assert metrics.LAST_SUCCESS_TIMESTAMP in prom

    again = run_monitoring(config, retrainer=retrainer)  # same window, within the 24 h cooldown
    assert again.decision.outcome is Outcome.COOLDOWN
    assert len(retrainer.calls) == 1


@pytest.mark.parametrize("promotion", ["auto", "manual"])
def test_drift_retrain_and_the_release_policy_decides_the_promotion(
    champion: str, tmp_path: Path, promotion: str
) -> None:
    """Drift -> retraining registers a challenger -> the stack's promotion mode decides what becomes champion."""
    from dataclasses import asdict

    from mlops_workloads.release import ReleasePolicy

    window = inject_drift(
        generate_transactions(3_000, seed=8, n_cards=3_000), shift={"amount": 1.0, "merchant_risk_score": 1.5}
    )
    window.to_parquet(tmp_path / "window.parquet")
    received: list[dict[str, Any]] = []

    def runner(**params: Any) -> dict[str, Any]:  # the pipeline's register and promote steps, in-process
        received.append(params)
        version = _register(pd.read_parquet(params["source_uri"]), params["tracking_uri"])
        client = mlflow.MlflowClient(tracking_uri=params["tracking_uri"], registry_uri=params["tracking_uri"])
        decision = promote_challenger(
            client, params["model_name"], policy=params["promotion"], tolerance=params["champion_tolerance"]
        )
        return {"version": version, "promotion": asdict(decision) | {"awaiting_approval": decision.awaiting_approval}}

    policy = ReleasePolicy(promotion=promotion)  # type: ignore[arg-type]
    params = {"source_uri": str(tmp_path / "window.parquet"), "tracking_uri": champion, **policy.pipeline_arguments()}
    config = MonitoringConfig(current=str(tmp_path / "window.parquet"), tracking_uri=champion,
                              report_dir=str(tmp_path / "out"))  # fmt: skip
    run = run_monitoring(config, retrainer=LocalRetrainer(params, runner))

    assert run.decision.outcome is Outcome.TRIGGERED
    assert received[0]["promotion"] == promotion
    assert received[0]["champion_tolerance"] == policy.champion_tolerance
    client = mlflow.MlflowClient(tracking_uri=champion, registry_uri=champion)
    decided = run.decision.promotion
    assert decided is not None
    if promotion == "auto":
        assert decided["promoted"] and not decided["awaiting_approval"], decided
        assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "2"
    else:
        assert not decided["promoted"] and decided["awaiting_approval"], decided
        assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version) == "1"
        assert str(client.get_model_version_by_alias(MODEL_NAME, "challenger").version) == "2"
    summary = json.loads(Path(run.summary_uri).read_text())
    assert summary["decision"]["promotion"]["awaiting_approval"] is (promotion == "manual")


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args) if "--model-name" in args else ["--model-name", MODEL_NAME, *args])
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p / "nowhere", "does not exist; pass a Parquet/CSV file or a directory of them"),
        (lambda p: (p / "empty_dir").mkdir() or p / "empty_dir", "holds no .parquet or .csv files"),
        (
            lambda p: (p / "bad.parquet").write_text("not parquet") and p / "bad.parquet",
            "cannot read",
        ),
        (
            lambda p: generate_transactions(5).head(0).to_parquet(p / "zero.parquet") or p / "zero.parquet",
            "is empty: it has no rows to compare with the reference",
        ),
    ],
    ids=["missing-path", "empty-dir", "unreadable", "no-rows"],
)
def test_cli_bad_window_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, setup: Any, message: str
) -> None:
    current = setup(tmp_path)
    code, err = _cli(capsys, "--current", str(current), "--report-dir", str(tmp_path / "out"), "--tracking-uri",
                     f"sqlite:///{tmp_path / 'none.db'}")  # fmt: skip
    assert code == EXIT_BAD_INPUT
    assert err.startswith("monitoring: error: ")
    assert message in err
    assert "\n" not in err
    assert "Traceback" not in err


def test_cli_names_the_window_columns_the_monitored_version_needs(
    capsys: pytest.CaptureFixture[str], shared_champion: str, tmp_path: Path
) -> None:
    """Which columns a window must hold is the monitored version's contract: checked once it is read."""
    generate_transactions(40).drop(columns=["amount", "card_present"]).to_parquet(tmp_path / "m.parquet")
    code, err = _cli(capsys, "--current", str(tmp_path / "m.parquet"), "--report-dir", str(tmp_path / "out"),
                     "--tracking-uri", shared_champion)  # fmt: skip
    assert code == EXIT_BAD_INPUT
    assert "is missing feature columns ['amount', 'card_present']" in err
    assert "\n" not in err


def test_cli_names_a_missing_champion(capsys: pytest.CaptureFixture[str], shared_champion: str, tmp_path: Path) -> None:
    generate_transactions(50).to_parquet(tmp_path / "w.parquet")
    code, err = _cli(capsys, "--current", str(tmp_path / "w.parquet"), "--report-dir", str(tmp_path), "--tracking-uri",
                     shared_champion, "--model-name", "no-such-model")  # fmt: skip
    assert code == EXIT_BAD_INPUT
    assert "model 'no-such-model' has no 'champion' alias" in err
    # A failed run still tells Prometheus it ran and failed.
    prom = (tmp_path / "model_monitoring.prom").read_text()
    assert 'model_monitoring_run_failed{model_name="no-such-model"} 1.0' in prom


def test_cli_rejects_kfp_without_host_or_training_image(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    generate_transactions(50).to_parquet(tmp_path / "w.parquet")
    base = ["--current", str(tmp_path / "w.parquet"), "--report-dir", str(tmp_path), "--tracking-uri", "sqlite:///x.db",
            "--retrain", "kfp"]  # fmt: skip
    code, err = _cli(capsys, *base)
    assert code == EXIT_BAD_INPUT
    assert "--retrain kfp needs --kfp-host (or KFP_HOST)" in err
    code, err = _cli(capsys, *base, "--kfp-host", "http://kfp")
    assert code == EXIT_BAD_INPUT
    assert "--retrain kfp needs --training-image" in err
    code, err = _cli(capsys, *base, "--kfp-host", "http://kfp", "--training-image", "ghcr.io/a/t:1", "--gate", "f1>")
    assert code == EXIT_BAD_INPUT
    assert "gate 'f1>' is not METRIC>=NUMBER or METRIC<=NUMBER" in err


def test_cli_dry_run_resolves_the_release_policy_into_pipeline_arguments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    image = "us-central1-docker.pkg.dev/acme/ml/mlops-training@sha256:" + "ab" * 32
    code = main(["--model-name", MODEL_NAME,
                 "--current", "gs://lake/predictions", "--report-dir", "gs://monitoring/reports", "--tracking-uri",
                 "http://mlflow:5000", "--retrain", "kfp", "--kfp-host", "http://kfp:8888", "--train-source",
                 "gs://lake/inputs", "--training-image", image, "--gate", "f1>=0.81", "--gate", "roc_auc>=0.9",
                 "--pipeline-parameters", '{"nEstimators": 30}', "--champion-tolerance", "0.005", "--promotion",
                 "manual", "--alias", "production", "--champion-alias", "production", "--challenger-alias",
                 "candidate", "--dry-run"])  # fmt: skip
    assert code == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["training_image"], plan["pipeline_module"], plan["accelerator"]) == (
        image,
        "pipelines.fraud_detection",
        "cpu",
    )
    assert plan["pipeline_arguments"] == {
        "source_uri": "gs://lake/inputs", "tracking_uri": "http://mlflow:5000", "model_name": MODEL_NAME,
        "gates": '["f1>=0.81", "roc_auc>=0.9"]', "n_estimators": 30, "champion_tolerance": 0.005,
        "promotion": "manual", "champion_alias": "production", "challenger_alias": "candidate",
    }  # fmt: skip


def test_cli_prints_the_run_summary(shared_champion: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    generate_transactions(2_000, seed=11, n_cards=2_000).to_parquet(tmp_path / "w.parquet")
    code = main(["--model-name", MODEL_NAME,
                 "--current", str(tmp_path / "w.parquet"), "--report-dir", str(tmp_path / "out"),
                 "--tracking-uri", shared_champion])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["decision"] == "skipped_no_drift"
    assert out["drifted_features"] == []
    assert out["window_rows"] == 2_000


def test_cli_as_a_process_has_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_workloads.monitoring", "--model-name", MODEL_NAME,
         "--current", str(tmp_path / "absent"), "--report-dir",
         str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert proc.returncode == EXIT_BAD_INPUT
    assert proc.stderr.strip().splitlines() == [
        f"monitoring: error: current window {str(tmp_path / 'absent')!r} does not exist; pass a Parquet/CSV file or "
        "a directory of them"
    ]


def test_window_columns_unused_by_the_job_are_not_read(tmp_path: Path) -> None:
    from mlops_workloads.monitoring.storage import iter_window

    frame = generate_transactions(100).assign(extra=np.arange(100))
    frame.to_parquet(tmp_path / "w.parquet")
    chunks = list(iter_window(str(tmp_path / "w.parquet"), chunk_rows=30, columns=[*FEATURE_NAMES, LABEL]))
    assert [len(c) for c in chunks] == [30, 30, 30, 10]
    assert list(chunks[0].columns) == [*FEATURE_NAMES, LABEL]


@pytest.mark.parametrize("with_predictions", [False, True], ids=["scored-by-the-job", "predictions-present"])
def test_wrong_dtypes_are_named_with_column_file_and_count_never_a_crash_or_drift_from_nanoseconds(
    shared_champion: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, with_predictions: bool
) -> None:
    window = generate_transactions(1_000, seed=12, n_cards=1_000)
    window["days_since_last_transaction"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(window.index, unit="min")
    if with_predictions:
        window["prediction"] = 0.05
    good = generate_transactions(1_000, seed=13, n_cards=1_000).assign(amount=lambda f: f["amount"].astype(str))
    if with_predictions:
        good["prediction"] = 0.05
    (tmp_path / "w").mkdir()
    window.to_parquet(tmp_path / "w" / "part-0.parquet")
    good.to_parquet(tmp_path / "w" / "part-1.parquet")

    code = main(["--model-name", MODEL_NAME,
                 "--current", str(tmp_path / "w"), "--report-dir", str(tmp_path / "out"), "--tracking-uri",
                 shared_champion])  # fmt: skip

    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    violations = "\n".join(out["contract_violations"])
    assert (
        f"days_since_last_transaction in {tmp_path / 'w' / 'part-0.parquet'}: 1000 value(s) of the wrong type"
        in violations
    )
    assert f"amount in {tmp_path / 'w' / 'part-1.parquet'}: 1000 value(s) of the wrong type" in violations
    assert {"days_since_last_transaction", "amount"} <= set(out["drifted_features"])  # as missing/invalid share
    summary = json.loads(next((tmp_path / "out").rglob("drift_summary.json")).read_text())
    features = {f["feature"]: f for f in summary["drift"]["features"]}
    html = Path(summary["report"]).read_text()
    assert "MissingValueCount" in html or "Missing" in html  # the report shows the missing-value share too
    assert features["days_since_last_transaction"]["invalid_fraction"] == 0.5
    assert (
        features["days_since_last_transaction"]["wasserstein_norm"] is None
        or features["days_since_last_transaction"]["wasserstein_norm"] < 1.0
    )  # never a distance computed from nanoseconds
