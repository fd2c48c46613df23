"""Turning a drift result into a retraining decision, and submitting the retraining run.

Every decision — triggered, or skipped because there is no drift, because the last trigger is within the cooldown,
because the window is too small or because retraining is disabled — is returned as a :class:`RetrainingDecision`
and logged as one JSON line with its reasons. The cooldown state (last trigger time and a running count per model)
lives in a small JSON file, local, ``s3://`` or ``gs://``, so a series of drifted windows does not start a retraining
storm.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from mlops_workloads.monitoring import storage
from mlops_workloads.monitoring.drift import DriftResult
from mlops_workloads.release import DEFAULT_PROMOTION

logger = logging.getLogger("mlops_workloads.monitoring")

DEFAULT_COOLDOWN_HOURS = 24.0
DEFAULT_KFP_EXPERIMENT = "fraud-detection-retraining"


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


# An image reference the cluster can pull reproducibly: a registry path with a version tag or a digest.
_IMAGE_REFERENCE = re.compile(
    r"^[a-z0-9][a-z0-9.-]*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+"
    r"(:(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64}|:(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}@sha256:[0-9a-f]{64})$"
)


def check_image_reference(image: str) -> str:
    """``image`` when it names a registry, a repository and a version tag or digest (never ``:latest``)."""
    if not _IMAGE_REFERENCE.match(image):
        raise ValueError(
            f"training image {image!r} is not a pinned image reference: use <registry>/<repository>:<version> or "
            "<registry>/<repository>@sha256:<digest> (the image the stack deployed), never :latest"
        )
    return image


def with_executor_image(package: Path, image: str, target: Path) -> Path:
    """Write ``package`` (a compiled pipeline) to ``target`` with every executor's container running ``image``.

    The package is compiled into the monitoring image with the workloads package's default training image; the
    stack deploys its own (its registry, its tag or digest), so the retrainer rewrites each container executor of
    the IR (``deploymentSpec.executors.<label>.container.image``: kfp 2.17.0, kfp/compiler/pipeline_spec_builder.py
    lines 745-746 and 1411) before submitting. The platform-specific document (node selectors, tolerations)
    holds no image and is kept as it is.
    """
    import yaml

    check_image_reference(image)
    documents = list(yaml.safe_load_all(package.read_text()))
    if not documents or "deploymentSpec" not in documents[0]:
        raise ValueError(f"{package} is not a compiled KFP pipeline (no deploymentSpec)")
    executors = documents[0]["deploymentSpec"].get("executors", {})
    containers = [e["container"] for e in executors.values() if "container" in e]
    if not containers:
        raise ValueError(f"{package} has no container executor to run {image}")
    for container in containers:
        container["image"] = image
    target.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return target


class KfpApiRetrainer:
    """Submits a run of the compiled training pipeline package to the Kubeflow Pipelines API (in the cluster), every
    step running ``image`` (the training image the stack deployed)."""

    backend = "kfp"

    def __init__(
        self,
        host: str,
        package_path: str | Path,
        *,
        image: str,
        arguments: Mapping[str, Any] | None = None,
        experiment_name: str = DEFAULT_KFP_EXPERIMENT,
        namespace: str | None = None,
        client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        self.host = host
        self.package_path = Path(package_path)
        self.image = check_image_reference(image)
        self.arguments = dict(arguments or {})
        self.experiment_name = experiment_name
        self.namespace = namespace
        self._client_factory = client_factory or _kfp_client

    def retrain(self, *, model_name: str, reasons: Sequence[str]) -> RetrainSubmission:
        if not self.package_path.is_file():
            raise FileNotFoundError(
                f"compiled training pipeline {str(self.package_path)!r} not found; build it with "
                "pipelines.training.compile_pipeline(path) (the monitoring image ships it)"
            )
        client = self._client_factory(self.host)
        run_name = f"retrain-{model_name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        arguments = {**self.arguments, "model_name": model_name}
        with tempfile.TemporaryDirectory(prefix="pipeline-") as tmp:
            package = with_executor_image(self.package_path, self.image, Path(tmp) / self.package_path.name)
            result = client.create_run_from_pipeline_package(
                pipeline_file=str(package),
                arguments=arguments,
                run_name=run_name,
                experiment_name=self.experiment_name,
                namespace=self.namespace,
                enable_caching=False,  # a drift-triggered run must read the new data, not replay a cached step
            )
        promotion = arguments.get("promotion", DEFAULT_PROMOTION)
        return RetrainSubmission(
            self.backend,
            str(result.run_id),
            completed=False,
            details={
                "host": self.host,
                "run_name": run_name,
                "image": self.image,
                "promotion": {"policy": promotion, "status": f"decided by the run's promote step ({promotion})"},
            },
        )


def _kfp_client(host: str) -> Any:
    import kfp

    return kfp.Client(host=host)


class LocalRetrainer:
    """Runs the training pipeline in-process with ``pipelines.training.run_locally`` (demo, laptop, CI).

    ``params`` are the pipeline's parameters (``source_uri``, ``tracking_uri``, …); ``model_name`` is added.
    """

    backend = "local"

    def __init__(self, params: Mapping[str, Any] | None = None, runner: Callable[..., Any] | None = None) -> None:
        self.params = dict(params or {})
        self._runner = runner

    def retrain(self, *, model_name: str, reasons: Sequence[str]) -> RetrainSubmission:
        runner = self._runner
        if runner is None:
            from pipelines.training import run_locally

            runner = run_locally
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
