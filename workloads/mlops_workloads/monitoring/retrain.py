"""Turning a drift result into a retraining decision, and submitting the retraining run.

Every decision — triggered, or skipped because there is no drift, because the last trigger is within the cooldown,
because the window is too small or because retraining is disabled — is returned as a :class:`RetrainingDecision`
and logged as one JSON line with its reasons. The cooldown state (last trigger time and a running count per model)
lives in a small JSON file, local, ``s3://`` or ``gs://``, so a series of drifted windows does not start a retraining
storm.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from mlops_workloads.monitoring import storage
from mlops_workloads.monitoring.drift import DriftResult
from mlops_workloads.submission import DEFAULT_PIPELINE_MODULE, TrainingRequest, submit_run

logger = logging.getLogger("mlops_workloads.monitoring")

DEFAULT_COOLDOWN_HOURS = 24.0


class Outcome(StrEnum):
    TRIGGERED = "triggered"
    NO_DRIFT = "skipped_no_drift"
    COOLDOWN = "skipped_cooldown"
    INSUFFICIENT_SAMPLES = "skipped_insufficient_samples"
    DISABLED = "skipped_retraining_disabled"
    FAILED = "retraining_failed"


@dataclass(frozen=True)
class RetrainSubmission:
    backend: str
    run_id: str | None
    completed: bool  # the run has finished and registered its challenger (local); False when only submitted (KFP)
    details: dict[str, Any] = field(default_factory=dict)


class Retrainer(Protocol):
    backend: str

    def retrain(self, *, model_name: str, reasons: Sequence[str]) -> RetrainSubmission: ...


class KfpApiRetrainer:
    """Submits a run of the model's training pipeline (compiled now, with its placement, the stack's image and the
    release policy: :class:`~mlops_workloads.submission.TrainingRequest`) to the Kubeflow Pipelines API."""

    backend = "kfp"

    def __init__(
        self,
        host: str,
        request: TrainingRequest,
        *,
        tracking_uri: str,
        client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        if not request.training_image:
            raise ValueError("--retrain kfp needs --training-image: the image the stack deployed")
        self.host = host
        self.request = request
        self.tracking_uri = tracking_uri
        self._client_factory = client_factory

    def retrain(self, *, model_name: str, reasons: Sequence[str]) -> RetrainSubmission:
        run = submit_run(
            self.request,
            host=self.host,
            model_name=model_name,
            tracking_uri=self.tracking_uri,
            run_prefix="retrain",
            client_factory=self._client_factory,
        )
        promotion = self.request.release.promotion
        return RetrainSubmission(
            self.backend,
            run.run_id,
            completed=False,
            details={
                "host": self.host,
                "run_name": run.run_name,
                "experiment": run.experiment,
                "image": self.request.training_image,
                "promotion": {"policy": promotion, "status": f"decided by the run's promote step ({promotion})"},
            },
        )


class LocalRetrainer:
    """Runs the model's training pipeline in-process with its module's ``run_locally`` (demo, laptop, CI).

    ``params`` are the pipeline's parameters (``source_uri``, ``tracking_uri``, …); ``model_name`` is added.
    """

    backend = "local"

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        runner: Callable[..., Any] | None = None,
        pipeline_module: str = DEFAULT_PIPELINE_MODULE,
    ) -> None:
        self.params = dict(params or {})
        self.pipeline_module = pipeline_module
        self._runner = runner

    def retrain(self, *, model_name: str, reasons: Sequence[str]) -> RetrainSubmission:
        runner = self._runner or importlib.import_module(self.pipeline_module).run_locally
        outcome = runner(**{"model_name": model_name, **self.params})
        if is_dataclass(outcome) and not isinstance(outcome, type):
            details = asdict(outcome)
        else:
            details = outcome if isinstance(outcome, dict) else {"result": repr(outcome)}
        run_id = details.get("run_id")
        return RetrainSubmission(
            self.backend, None if run_id is None else str(run_id), completed=True, details=_jsonable(details)
        )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class CooldownState:
    """Per-model last trigger time and trigger count, persisted as JSON at a local path or bucket URI."""

    def __init__(self, uri: str, hours: float = DEFAULT_COOLDOWN_HOURS) -> None:
        if hours < 0:
            raise ValueError(f"cooldown hours must be >= 0, got {hours}")
        self.uri = uri
        self.hours = hours

    def _load(self) -> dict[str, dict[str, Any]]:
        text = storage.read_text(self.uri)
        if not text:
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"cooldown state {self.uri!r} is not valid JSON ({exc}); delete it to reset") from exc
        return data if isinstance(data, dict) else {}

    def triggered_total(self, model_name: str) -> int:
        return int(self._load().get(model_name, {}).get("triggered_total", 0))

    def cooldown_until(self, model_name: str) -> datetime | None:
        last = self._load().get(model_name, {}).get("last_triggered_at")
        return None if last is None else datetime.fromisoformat(last) + timedelta(hours=self.hours)

    def record_trigger(self, model_name: str, now: datetime) -> int:
        state = self._load()
        entry = state.setdefault(model_name, {})
        entry["last_triggered_at"] = now.isoformat()
        entry["triggered_total"] = int(entry.get("triggered_total", 0)) + 1
        storage.write_bytes(self.uri, json.dumps(state, indent=2, sort_keys=True).encode(), "application/json")
        return int(entry["triggered_total"])


@dataclass(frozen=True)
class RetrainingDecision:
    outcome: Outcome
    model_name: str
    model_version: str
    reasons: list[str]
    decided_at: str
    cooldown_until: str | None = None
    submission: RetrainSubmission | None = None
    promotion: dict[str, Any] | None = None
    error: str | None = None

    @property
    def triggered(self) -> bool:
        return self.outcome is Outcome.TRIGGERED

    def to_dict(self) -> dict[str, Any]:
        return dict(_jsonable(asdict(self)))


def decide(
    result: DriftResult,
    *,
    model_name: str,
    model_version: str,
    retrainer: Retrainer | None,
    cooldown: CooldownState,
    now: datetime | None = None,
) -> RetrainingDecision:
    """Decide whether ``result`` warrants retraining, submit it if so, log and return the decision (with the
    retraining run's promotion: its decision when it ran to completion, its policy when it was only submitted)."""
    now = now or datetime.now(UTC)
    base = RetrainingDecision(Outcome.NO_DRIFT, model_name, model_version, [], now.isoformat())
    reasons = result.retraining_reasons()
    if not result.enough_samples:
        decision = replace(base, outcome=Outcome.INSUFFICIENT_SAMPLES, reasons=list(result.skipped))
    elif not reasons:
        decision = replace(base, reasons=[f"drift share {result.drift_share:.2f}; no threshold crossed"])
    elif retrainer is None:
        decision = replace(base, outcome=Outcome.DISABLED, reasons=reasons)
    elif (until := cooldown.cooldown_until(model_name)) is not None and now < until:
        decision = replace(
            base,
            outcome=Outcome.COOLDOWN,
            reasons=[*reasons, f"last retraining triggered less than {cooldown.hours} h ago"],
            cooldown_until=until.isoformat(),
        )
    else:
        try:
            submission = retrainer.retrain(model_name=model_name, reasons=reasons)
        except Exception as exc:  # the job must still export metrics and report the failed attempt
            decision = replace(base, outcome=Outcome.FAILED, reasons=reasons, error=f"{type(exc).__name__}: {exc}")
        else:
            cooldown.record_trigger(model_name, now)
            decision = replace(
                base,
                outcome=Outcome.TRIGGERED,
                reasons=reasons,
                cooldown_until=(now + timedelta(hours=cooldown.hours)).isoformat(),
                submission=submission,
                promotion=submission.details.get("promotion"),
            )
    logger.info(json.dumps({"event": "retraining_decision", **decision.to_dict()}, sort_keys=True))
    return decision
