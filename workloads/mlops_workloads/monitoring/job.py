"""The monitoring job: one run compares a current window with the champion's reference profile, writes the
Evidently report, exports Prometheus metrics and decides about retraining."""

from __future__ import annotations

import itertools
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_workloads.contract import ContractError, ModelContract, load_contract
from mlops_workloads.features import FRAUD_CONTRACT, MODEL_NAME
from mlops_workloads.monitoring import metrics, storage
from mlops_workloads.monitoring.drift import DriftAccumulator, DriftPolicy, DriftResult, check_feature_columns
from mlops_workloads.monitoring.report import run_evidently, save_report
from mlops_workloads.monitoring.retrain import (
    DEFAULT_COOLDOWN_HOURS,
    CooldownState,
    Outcome,
    Retrainer,
    RetrainingDecision,
    decide,
)
from mlops_workloads.reference import ARTIFACT_PATH, PREDICTION_COLUMN, ReferenceProfile
from mlops_workloads.registry import CHAMPION
from mlops_workloads.storage import is_local
from mlops_workloads.validation import check_features

logger = logging.getLogger("mlops_workloads.monitoring")

METRICS_FILE = "model_monitoring.prom"
COOLDOWN_FILE = "retraining_state.json"
SUMMARY_FILE = "drift_summary.json"


class MonitoringError(RuntimeError):
    """The job cannot run with the given model or registry (a one-line message for the operator)."""


@dataclass(frozen=True)
class MonitoringConfig:
    current: str
    model_name: str = MODEL_NAME
    alias: str = CHAMPION
    tracking_uri: str | None = None
    report_dir: str = "monitoring"
    metrics_file: str | None = None  # default: <report_dir>/model_monitoring.prom (the temp dir for a bucket)
    pushgateway: str | None = None
    cooldown_state: str | None = None  # default: <report_dir>/retraining_state.json (local, s3:// or gs://)
    cooldown_hours: float = DEFAULT_COOLDOWN_HOURS
    policy: DriftPolicy = field(default_factory=DriftPolicy)
    chunk_rows: int = storage.DEFAULT_CHUNK_ROWS
    prediction_column: str = PREDICTION_COLUMN
    score_missing_predictions: bool = True  # score the window with the champion when it has no prediction column

    @property
    def metrics_path(self) -> str:
        if self.metrics_file:
            return self.metrics_file
        base = Path(self.report_dir) if is_local(self.report_dir) else Path(tempfile.gettempdir())
        return str(base / METRICS_FILE)

    @property
    def cooldown_uri(self) -> str:
        return self.cooldown_state or storage.join(self.report_dir, COOLDOWN_FILE)


@dataclass(frozen=True)
class MonitoringRun:
    model_name: str
    model_version: str
    drift: DriftResult
    decision: RetrainingDecision
    report_uri: str | None
    summary_uri: str
    metrics_file: str


@dataclass(frozen=True)
class ChampionModel:
    version: str
    run_id: str
    profile: ReferenceProfile
    load_scorer: Callable[[], Callable[[pd.DataFrame], np.ndarray]]
    contract: ModelContract = FRAUD_CONTRACT  # the version's features, label and task: what the job checks and scores


def load_champion(model_name: str, alias: str, tracking_uri: str | None) -> ChampionModel:
    """The aliased model version, its contract and its reference profile (the run's ``reference/`` artifacts)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = tracking_uri or mlflow.get_tracking_uri()
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        version = client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        raise MonitoringError(
            f"model {model_name!r} has no {alias!r} alias in the registry at {uri}; register and promote a version "
            "first (training pipeline + registry.promote_challenger)"
        ) from exc
    with tempfile.TemporaryDirectory(prefix="reference-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=version.run_id, artifact_path=ARTIFACT_PATH, dst_path=tmp, tracking_uri=uri
            )
        except (MlflowException, OSError) as exc:
            raise MonitoringError(
                f"version {version.version} of {model_name!r} has no '{ARTIFACT_PATH}/' artifacts (run "
                f"{version.run_id}); re-register it with training.register_model, which logs the reference profile"
            ) from exc
        profile = ReferenceProfile.load(local)
    try:
        contract = load_contract(client, model_name, str(version.version))
    except ContractError as exc:
        raise MonitoringError(f"cannot monitor {model_name!r} version {version.version}: {exc}") from exc

    def load_scorer() -> Callable[[pd.DataFrame], np.ndarray]:
        # The serving loader: the window is scored as the inference service scores it (same runtime, same checks).
        from mlops_workloads.serving.model import ModelSource

        model = ModelSource(uri).load(model_name, str(version.version), str(version.run_id))
        return lambda frame: model.score(frame[list(contract.feature_names)].to_numpy(dtype=np.float64))

    return ChampionModel(str(version.version), str(version.run_id), profile, load_scorer, contract)


def compute_drift(
    chunks: Iterable[pd.DataFrame | storage.WindowChunk],
    profile: ReferenceProfile,
    policy: DriftPolicy,
    *,
    prediction_column: str = PREDICTION_COLUMN,
    scorer: Callable[[], Callable[[pd.DataFrame], np.ndarray]] | None = None,
    source: str = "current window",
    contract: ModelContract = FRAUD_CONTRACT,
) -> DriftResult:
    """Stream ``chunks`` through a :class:`DriftAccumulator`; scores chunks lacking predictions when ``scorer``.

    Only rows whose every feature is usable (present and within the contract) are scored; the others get no
    prediction (they are reported as contract violations and missing values instead).
    """
    accumulator = DriftAccumulator(profile, policy, prediction_column=prediction_column, contract=contract)
    score: Callable[[pd.DataFrame], np.ndarray] | None = None
    for item in chunks:
        chunk, origin = (item.frame, item.source) if isinstance(item, storage.WindowChunk) else (item, "")
        if scorer is not None and prediction_column not in chunk.columns and len(chunk):
            check_feature_columns(chunk.columns, source, contract)
            score = score or scorer()
            chunk = chunk.assign(**{prediction_column: _score_usable_rows(chunk, score, contract)})
        accumulator.update(chunk, origin)
    if accumulator.rows == 0:
        raise storage.WindowError(f"{source} is empty: it has no rows to compare with the reference")
    return accumulator.result()


def _score_usable_rows(
    chunk: pd.DataFrame, score: Callable[[pd.DataFrame], np.ndarray], contract: ModelContract
) -> np.ndarray:
    checked, _ = check_features(chunk, features=contract.features)
    usable = ~np.logical_or.reduce([checked[name].unusable for name in contract.feature_names])
    predictions = np.full(len(chunk), np.nan)
    if usable.any():
        clean = pd.DataFrame({f.name: checked[f.name].values[usable] for f in contract.features}).astype(
            {f.name: f.pandas_dtype for f in contract.features}
        )
        predictions[usable] = score(clean)
    return predictions


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


def run_monitoring(
    config: MonitoringConfig,
    *,
    retrainer: Retrainer | None = None,
    champion: ChampionModel | None = None,
    now: datetime | None = None,
) -> MonitoringRun:
    """Run the job once. On failure the liveness metrics are still exported (failed=1) before re-raising."""
    now = now or datetime.now(UTC)
    try:
        return _run(config, retrainer, champion, now)
    except Exception:
        previous = metrics.previous_success(config.metrics_path, config.model_name)
        failure = metrics.run_families(config.model_name, now=now.timestamp(), last_success=previous, failed=True)
        try:
            metrics.export(
                failure,
                textfile=config.metrics_path,
                model_name=config.model_name,
                pushgateway=config.pushgateway,
                replace=False,
            )
        except OSError as exc:
            logger.warning(json.dumps({"event": "metrics_export_failed", "error": str(exc)}))
        raise


def _run(
    config: MonitoringConfig, retrainer: Retrainer | None, champion: ChampionModel | None, now: datetime
) -> MonitoringRun:
    started = time.monotonic()
    source = f"current window {config.current!r}"
    # Read one row before touching the registry: a missing, unreadable or empty window fails fast with a message
    # about the window. Which columns it must hold is the monitored version's contract, known once it is loaded.
    if next(storage.iter_window_chunks(config.current, chunk_rows=1), None) is None:
        raise storage.WindowError(f"{source} is empty: it has no rows to compare with the reference")
    champion = champion or load_champion(config.model_name, config.alias, config.tracking_uri)
    drift = _window_drift(config, champion, source)
    stamp = _stamp(now)
    report_uri = None
    if drift.enough_samples:
        report = run_evidently(champion.profile.sample, drift.sample, config.policy, champion.contract)
        report_uri = save_report(report, config.report_dir, stamp)
    else:
        drift.skipped.append("evidently report: window below min_samples")
    cooldown = CooldownState(config.cooldown_uri, config.cooldown_hours)
    decision = decide(
        drift,
        model_name=config.model_name,
        model_version=champion.version,
        retrainer=retrainer,
        cooldown=cooldown,
        now=now,
    )
    families = metrics.success_families(
        drift,
        model_name=config.model_name,
        model_version=champion.version,
        outcome=decision.outcome.value,
        triggered_total=cooldown.triggered_total(config.model_name),
        now=now.timestamp(),
    )
    metrics.export(families, textfile=config.metrics_path, model_name=config.model_name, pushgateway=config.pushgateway)
    summary_uri = _record(config, champion.version, drift, decision, report_uri, now, stamp, started)
    return MonitoringRun(
        config.model_name, champion.version, drift, decision, report_uri, summary_uri, config.metrics_path
    )


def _window_drift(config: MonitoringConfig, champion: ChampionModel, source: str) -> DriftResult:
    """Stream the window's contract columns, checked once, against the champion's reference profile."""
    contract = champion.contract
    columns = [*contract.feature_names, config.prediction_column, contract.label]
    chunks = storage.iter_window_chunks(config.current, chunk_rows=config.chunk_rows, columns=columns)
    first = next(chunks, None)
    if first is None:
        raise storage.WindowError(f"{source} is empty: it has no rows to compare with the reference")
    check_feature_columns(first.frame.columns, f"{source} (file {first.source})", contract)
    return compute_drift(
        itertools.chain([first], chunks),
        champion.profile,
        config.policy,
        prediction_column=config.prediction_column,
        scorer=champion.load_scorer if config.score_missing_predictions else None,
        source=source,
        contract=contract,
    )


def _record(
    config: MonitoringConfig,
    version: str,
    drift: DriftResult,
    decision: RetrainingDecision,
    report_uri: str | None,
    now: datetime,
    stamp: str,
    started: float,
) -> str:
    """Write the run's summary.json next to its report and log the run as one JSON line; the summary's URI."""
    summary = {
        "model_name": config.model_name,
        "model_version": version,
        "current": config.current,
        "run_at": now.isoformat(),
        "duration_seconds": round(time.monotonic() - started, 3),
        "report": report_uri,
        "drift": drift.to_dict(),
        "decision": decision.to_dict(),
    }
    summary_uri = storage.write_bytes(
        storage.join(config.report_dir, stamp, SUMMARY_FILE), json.dumps(summary, indent=2).encode(), "application/json"
    )
    logger.info(
        json.dumps(
            {
                "event": "monitoring_run",
                "model_name": config.model_name,
                "model_version": version,
                "window_rows": drift.window_rows,
                "drift_share": drift.drift_share,
                "drifted_features": drift.drifted_features,
                "outcome": decision.outcome.value,
                "report": report_uri,
                "contract_violations": [v.describe() for v in drift.violations],
            }
        )
    )
    return summary_uri


__all__ = [
    "ChampionModel",
    "MonitoringConfig",
    "MonitoringError",
    "MonitoringRun",
    "Outcome",
    "compute_drift",
    "load_champion",
    "run_monitoring",
]
