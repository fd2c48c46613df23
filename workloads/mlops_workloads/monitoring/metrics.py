"""Prometheus metrics of the monitoring job — the names Grafana dashboards and alert rules refer to.

A batch job has no scrape endpoint, so (as Prometheus recommends) results are pushed to a Pushgateway under a job
name and grouping key when one is configured, and always written as a node-exporter textfile-collector ``.prom``
file. A failed run only updates ``last_run`` and the failure flag, so ``last_success`` keeps its previous value
and staleness alerts (``time() - model_monitoring_last_success_timestamp_seconds > …``) work.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, push_to_gateway, pushadd_to_gateway, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from mlops_workloads.monitoring.drift import DriftResult, PredictionDrift, RegressionPerformance

logger = logging.getLogger("mlops_workloads.monitoring")

PUSHGATEWAY_JOB = "model_monitoring"

FEATURE_DRIFT_SCORE = "model_feature_drift_score"  # {model_name, model_version, feature, statistic}
FEATURE_DRIFT_DETECTED = "model_feature_drift_detected"  # {model_name, model_version, feature}
DATASET_DRIFT_SHARE = "model_dataset_drift_share"  # {model_name, model_version}
DATASET_DRIFT_DETECTED = "model_dataset_drift_detected"  # {model_name, model_version}
PREDICTION_DRIFT_SCORE = "model_prediction_drift_score"  # {model_name, model_version, statistic}
PREDICTION_POSITIVE_RATE = "model_prediction_positive_rate"  # {model_name, model_version, window}
F1_SCORE = "model_f1_score"  # {model_name, model_version, window}
RMSE = "model_rmse"  # {model_name, model_version, window}: a regressor's error on labelled rows
MAE = "model_mae"  # {model_name, model_version, window}
R2_SCORE = "model_r2_score"  # {model_name, model_version, window}
WINDOW_ROWS = "model_monitoring_window_rows"  # {model_name, model_version}
RETRAINING_TRIGGERED_TOTAL = "model_retraining_triggered_total"  # {model_name}
RETRAINING_DECISION = "model_retraining_decision"  # {model_name, outcome}: 1 for this run's outcome
LAST_RUN_TIMESTAMP = "model_monitoring_last_run_timestamp_seconds"  # {model_name}
LAST_SUCCESS_TIMESTAMP = "model_monitoring_last_success_timestamp_seconds"  # {model_name}
RUN_FAILED = "model_monitoring_run_failed"  # {model_name}: 1 when the last run failed

EXPORTED_METRICS: tuple[str, ...] = (
    FEATURE_DRIFT_SCORE,
    FEATURE_DRIFT_DETECTED,
    DATASET_DRIFT_SHARE,
    DATASET_DRIFT_DETECTED,
    PREDICTION_DRIFT_SCORE,
    PREDICTION_POSITIVE_RATE,
    F1_SCORE,
    RMSE,
    MAE,
    R2_SCORE,
    WINDOW_ROWS,
    RETRAINING_TRIGGERED_TOTAL,
    RETRAINING_DECISION,
    LAST_RUN_TIMESTAMP,
    LAST_SUCCESS_TIMESTAMP,
    RUN_FAILED,
)

REGRESSION_METRICS: tuple[str, ...] = (RMSE, MAE, R2_SCORE)  # exported for a regressor instead of F1 and positive rate
CLASSIFICATION_METRICS: tuple[str, ...] = (F1_SCORE, PREDICTION_POSITIVE_RATE)


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def success_families(
    result: DriftResult,
    *,
    model_name: str,
    model_version: str,
    outcome: str,
    triggered_total: int,
    now: float,
) -> list[Metric]:
    """Metric families of a completed run."""
    mv = [model_name, model_version]
    families = _drift_families(result, mv)
    if result.prediction is not None:
        families += _prediction_families(result.prediction, mv)
    if isinstance(result.performance, RegressionPerformance):
        families += _regression_families(result.performance, mv)
    elif result.performance is not None:
        f1 = _gauge(
            F1_SCORE,
            "F1 on labelled rows (current) and at training (reference)",
            ["model_name", "model_version", "window"],
        )
        f1.add_metric([*mv, "current"], result.performance.f1)
        if result.performance.reference_f1 is not None:
            f1.add_metric([*mv, "reference"], result.performance.reference_f1)
        families.append(f1)
    decision = _gauge(RETRAINING_DECISION, "1 for the retraining decision of the last run", ["model_name", "outcome"])
    decision.add_metric([model_name, outcome], 1.0)
    total = CounterMetricFamily(
        RETRAINING_TRIGGERED_TOTAL.removesuffix("_total"),
        "Retraining runs triggered by monitoring",
        labels=["model_name"],
    )
    total.add_metric([model_name], float(triggered_total))
    families += [decision, total, *run_families(model_name, now=now, last_success=now, failed=False)]
    return families


def _drift_families(result: DriftResult, mv: list[str]) -> list[Metric]:
    """Per-feature drift statistics and verdicts, the dataset's drift share and verdict, the window's rows."""
    score = _gauge(
        FEATURE_DRIFT_SCORE,
        "Per-feature drift statistic of the current window",
        ["model_name", "model_version", "feature", "statistic"],
    )
    detected = _gauge(
        FEATURE_DRIFT_DETECTED,
        "1 when the feature drifted: its distribution, or its share of missing or invalid values",
        ["model_name", "model_version", "feature"],
    )
    for f in result.features:
        for statistic, value in (
            ("psi", f.psi),
            ("ks_statistic", f.ks_statistic),
            ("ks_pvalue", f.ks_pvalue),
            ("wasserstein_norm", f.wasserstein_norm),
            ("missing_share", f.null_fraction + f.invalid_fraction),  # a drift signal of its own (policy.missing_share)
            ("invalid_share", f.invalid_fraction),  # values breaking the feature contract
        ):
            if value is not None and math.isfinite(value):
                score.add_metric([*mv, f.feature, statistic], value)
        detected.add_metric([*mv, f.feature], float(f.drifted))
    share = _gauge(DATASET_DRIFT_SHARE, "Share of features whose drift was detected", ["model_name", "model_version"])
    share.add_metric(mv, result.drift_share)
    dataset = _gauge(
        DATASET_DRIFT_DETECTED, "1 when the drift share crossed the dataset threshold", ["model_name", "model_version"]
    )
    dataset.add_metric(mv, float(result.dataset_drift))
    rows = _gauge(WINDOW_ROWS, "Rows in the monitored window", ["model_name", "model_version"])
    rows.add_metric(mv, float(result.window_rows))
    return [score, detected, share, dataset, rows]


def _prediction_families(prediction: PredictionDrift, mv: list[str]) -> list[Metric]:
    """Drift of the model's scores; for a classifier also its positive rate, now and at training."""
    pred = _gauge(
        PREDICTION_DRIFT_SCORE,
        "Drift of the model's score distribution",
        ["model_name", "model_version", "statistic"],
    )
    pred.add_metric([*mv, "psi"], prediction.psi)
    current_rate, reference_rate = prediction.current_positive_rate, prediction.reference_positive_rate
    if current_rate is None or reference_rate is None:  # a regressor's scores have no decisions
        return [pred]
    rate = _gauge(
        PREDICTION_POSITIVE_RATE,
        "Share of predictions at or above the decision threshold",
        ["model_name", "model_version", "window"],
    )
    rate.add_metric([*mv, "current"], current_rate)
    rate.add_metric([*mv, "reference"], reference_rate)
    return [pred, rate]


def _regression_families(performance: RegressionPerformance, mv: list[str]) -> list[Metric]:
    """RMSE, MAE and R² of a regressor on the window's labelled rows; the reference RMSE when training logged it."""
    labels = ["model_name", "model_version", "window"]
    rmse = _gauge(RMSE, "Root mean squared error on labelled rows (current) and at training (reference)", labels)
    rmse.add_metric([*mv, "current"], performance.rmse)
    if performance.reference_rmse is not None:
        rmse.add_metric([*mv, "reference"], performance.reference_rmse)
    mae = _gauge(MAE, "Mean absolute error on labelled rows", labels)
    mae.add_metric([*mv, "current"], performance.mae)
    families: list[Metric] = [rmse, mae]
    if performance.r2 is not None:
        r2 = _gauge(R2_SCORE, "Coefficient of determination on labelled rows", labels)
        r2.add_metric([*mv, "current"], performance.r2)
        families.append(r2)
    return families


def run_families(model_name: str, *, now: float, last_success: float | None, failed: bool) -> list[Metric]:
    """The liveness families: last run, last success (when known), failure flag."""
    last_run = _gauge(LAST_RUN_TIMESTAMP, "Unix time of the last monitoring run", ["model_name"])
    last_run.add_metric([model_name], now)
    failed_g = _gauge(RUN_FAILED, "1 when the last monitoring run failed", ["model_name"])
    failed_g.add_metric([model_name], float(failed))
    families: list[Metric] = [last_run, failed_g]
    if last_success is not None:
        success = _gauge(LAST_SUCCESS_TIMESTAMP, "Unix time of the last successful monitoring run", ["model_name"])
        success.add_metric([model_name], last_success)
        families.append(success)
    return families


def previous_success(textfile: str | Path, model_name: str) -> float | None:
    """The last-success timestamp recorded in an existing textfile, so a failed run does not erase it."""
    path = Path(textfile)
    if not path.is_file():
        return None
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            if sample.name == LAST_SUCCESS_TIMESTAMP and sample.labels.get("model_name") == model_name:
                return float(sample.value)
    return None


def export(
    families: list[Metric],
    *,
    textfile: str | Path,
    model_name: str,
    pushgateway: str | None = None,
    replace: bool = True,
    job: str = PUSHGATEWAY_JOB,
) -> CollectorRegistry:
    """Write ``families`` to the textfile (atomically) and push them when a Pushgateway is configured.

    ``replace=True`` (a successful run) replaces the whole push group; ``False`` (a failed run) only replaces the
    pushed families, keeping the previous success's drift figures and timestamp in the gateway.
    """
    registry = CollectorRegistry()
    registry.register(_Families(families))
    Path(textfile).parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(textfile), registry)
    if pushgateway:
        push = push_to_gateway if replace else pushadd_to_gateway
        try:
            push(pushgateway, job=job, registry=registry, grouping_key={"model_name": model_name})
        except OSError as exc:  # an unreachable gateway must not lose the run: the textfile already holds it
            logger.warning(json.dumps({"event": "pushgateway_failed", "pushgateway": pushgateway, "error": str(exc)}))
    return registry
