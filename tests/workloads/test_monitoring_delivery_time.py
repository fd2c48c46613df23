"""The monitoring job on the second reference model, delivery-time (regression): features, label and prediction
semantics come from the contract stored with the monitored version, not from the fraud model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlops_workloads.contract import ModelContract, load_contract
from mlops_workloads.delivery_time import generate_deliveries
from mlops_workloads.monitoring import RegressionPerformance, metrics
from mlops_workloads.monitoring.job import MonitoringConfig, MonitoringRun, run_monitoring
from prometheus_client.parser import text_string_to_metric_families

OUT_OF_RANGE_RATINGS = 7  # courier_rating is contracted to [1, 5]


def _contract(registry: Any) -> ModelContract:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri)
    return load_contract(client, registry.model_name, registry.versions["regressor"])


def _monitor(registry: Any, window: pd.DataFrame, out: Path) -> MonitoringRun:
    window.to_parquet(out / "window.parquet")  # no prediction column: the job scores it with the champion
    config = MonitoringConfig(
        current=str(out / "window.parquet"),
        model_name=registry.model_name,
        tracking_uri=registry.tracking_uri,
        report_dir=str(out / "reports"),
    )
    return run_monitoring(config)


def _series(textfile: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(Path(textfile).read_text())
        for s in family.samples
    }


def test_reference_like_window_has_no_drift_and_reports_regression_metrics(
    delivery_registry: Any, tmp_path: Path
) -> None:
    contract = _contract(delivery_registry)
    window = generate_deliveries(1_500, seed=11, days=2)
    window.loc[window.index[:OUT_OF_RANGE_RATINGS], "courier_rating"] = 9.0
    run = _monitor(delivery_registry, window, tmp_path)

    drift = run.drift
    assert run.model_version == delivery_registry.versions["regressor"]
    assert [f.feature for f in drift.features] == list(contract.feature_names)
    assert drift.drifted_features == []
    assert not drift.dataset_drift
    assert drift.prediction is not None and not drift.prediction.drifted
    assert drift.prediction.current_positive_rate is None  # a regressor has no decision threshold
    assert drift.prediction.current_mean == pytest.approx(drift.prediction.reference_mean, rel=0.1)
    # The contract's range check: the broken ratings are named, counted and left out (never scored as 9 stars).
    [violation] = drift.violations
    assert (violation.column, violation.count) == ("courier_rating", OUT_OF_RANGE_RATINGS)
    rating = next(f for f in drift.features if f.feature == "courier_rating")
    assert rating.invalid_fraction == pytest.approx(OUT_OF_RANGE_RATINGS / len(window))

    performance = drift.performance
    assert isinstance(performance, RegressionPerformance)
    assert performance.labelled_rows == len(window) - OUT_OF_RANGE_RATINGS
    assert 0 < performance.mae <= performance.rmse
    assert performance.r2 is not None and performance.r2 > 0.5  # the model explains fresh deliveries
    # The fixture's reference RMSE is in-sample, so fresh data may read as degraded: the rule, not a constant.
    assert performance.reference_rmse is not None
    assert performance.degraded == (performance.rmse * drift.policy.f1_ratio > performance.reference_rmse)
    assert [r for r in run.decision.reasons if not r.startswith("RMSE ")] == []  # no drift reason

    series = _series(run.metrics_file)
    mv = {("model_name", delivery_registry.model_name), ("model_version", run.model_version)}
    current = frozenset({*mv, ("window", "current")})
    assert series[(metrics.RMSE, current)] == pytest.approx(performance.rmse)
    assert series[(metrics.MAE, current)] == pytest.approx(performance.mae)
    assert series[(metrics.R2_SCORE, current)] == pytest.approx(performance.r2)
    assert series[(metrics.RMSE, frozenset({*mv, ("window", "reference")}))] == performance.reference_rmse
    exported = {name for name, _ in series}
    assert exported == set(metrics.EXPORTED_METRICS) - set(metrics.CLASSIFICATION_METRICS)


def test_shifted_window_drifts_on_the_contract_features(delivery_registry: Any, tmp_path: Path) -> None:
    """Longer trips, slower kitchens and a feature gone half-null upstream: drift, named per feature."""
    window = generate_deliveries(1_500, seed=12, days=2)
    window["distance_km"] = (window["distance_km"] * 1.8).clip(upper=50.0)
    window["prep_minutes"] = (window["prep_minutes"] + 20.0).clip(upper=120.0)
    window["courier_rating"] = window["courier_rating"].mask(np.arange(len(window)) % 2 == 0)
    run = _monitor(delivery_registry, window, tmp_path)

    drift = run.drift
    assert {"distance_km", "prep_minutes", "courier_rating"} <= set(drift.drifted_features)
    assert "items" not in drift.drifted_features
    rating = next(f for f in drift.features if f.feature == "courier_rating")
    assert rating.missing_drift and rating.null_fraction == pytest.approx(0.5)
    assert drift.prediction is not None and drift.prediction.drifted  # longer trips, longer predicted deliveries
    assert drift.prediction.current_mean > drift.prediction.reference_mean
    assert drift.dataset_drift == (drift.drift_share >= drift.policy.drift_share)
    assert any(reason.startswith("feature distance_km") for reason in run.decision.reasons)

    summary = json.loads(Path(run.summary_uri).read_text())
    assert summary["model_name"] == delivery_registry.model_name
    assert set(summary["drift"]["performance"]) == {
        "rmse", "mae", "r2", "labelled_rows", "reference_rmse", "degraded"
    }  # fmt: skip
    assert run.report_uri is not None and "distance_km" in Path(run.report_uri).read_text()
