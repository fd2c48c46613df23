"""Retraining decisions: trigger, cooldown, skips, the KFP and local retrainers."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlops_workloads.data import generate_transactions, inject_drift
from mlops_workloads.features import FEATURE_NAMES
from mlops_workloads.monitoring.drift import DriftAccumulator, DriftResult
from mlops_workloads.monitoring.retrain import (
    CooldownState,
    KfpApiRetrainer,
    LocalRetrainer,
    Outcome,
    RetrainSubmission,
    decide,
)
from mlops_workloads.reference import build_reference_profile

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _result(rows: int, **drift: Any) -> DriftResult:
    reference = generate_transactions(3_000, seed=1, n_cards=3_000)
    profile = build_reference_profile(reference[list(FEATURE_NAMES)], np.zeros(len(reference)), None, {})
    window = generate_transactions(rows, seed=2, n_cards=rows)
    accumulator = DriftAccumulator(profile)
    accumulator.update(inject_drift(window, **drift) if drift else window)
    return accumulator.result()


@pytest.fixture(scope="module")
def drifted() -> DriftResult:
    return _result(3_000, shift={"amount": 1.0, "merchant_risk_score": 1.0, "hour_of_day": 2.0})


class FakeRetrainer:
    backend = "fake"

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.fail = fail

    def retrain(self, *, model_name: str, reasons: Sequence[str]) -> RetrainSubmission:
        self.calls.append((model_name, list(reasons)))
        if self.fail:
            raise ConnectionError("KFP API unreachable")
        return RetrainSubmission(self.backend, f"run-{len(self.calls)}", completed=True)


def _decide(result: DriftResult, retrainer: FakeRetrainer | None, state: CooldownState, now: datetime = NOW, **kw: Any):
    return decide(result, model_name="fraud", model_version="3", retrainer=retrainer, cooldown=state, now=now, **kw)


def test_drift_triggers_once_then_cooldown_then_again(drifted: DriftResult, tmp_path: Path) -> None:
    state = CooldownState(str(tmp_path / "state.json"), hours=6)
    retrainer = FakeRetrainer()
    first = _decide(drifted, retrainer, state)
    assert first.outcome is Outcome.TRIGGERED
    assert first.submission is not None
    assert first.submission.run_id == "run-1"
    assert any("merchant_risk_score" in r for r in first.reasons)
    assert retrainer.calls[0][0] == "fraud"

    second = _decide(drifted, retrainer, state, now=NOW + timedelta(hours=5))
    assert second.outcome is Outcome.COOLDOWN
    assert second.cooldown_until == (NOW + timedelta(hours=6)).isoformat()
    assert len(retrainer.calls) == 1

    third = _decide(drifted, retrainer, state, now=NOW + timedelta(hours=6, seconds=1))
    assert third.outcome is Outcome.TRIGGERED
    assert len(retrainer.calls) == 2
    assert state.triggered_total("fraud") == 2


def test_no_drift_and_small_windows_are_skipped(tmp_path: Path) -> None:
    state = CooldownState(str(tmp_path / "state.json"))
    retrainer = FakeRetrainer()
    assert _decide(_result(3_000), retrainer, state).outcome is Outcome.NO_DRIFT
    small = _decide(_result(10, shift={"amount": 5.0}), retrainer, state)
    assert small.outcome is Outcome.INSUFFICIENT_SAMPLES
    assert "10 rows < min_samples 30" in small.reasons[0]
    assert retrainer.calls == []
    assert not (tmp_path / "state.json").exists()


def test_disabled_and_failed_retraining(drifted: DriftResult, tmp_path: Path) -> None:
    state = CooldownState(str(tmp_path / "state.json"))
    assert _decide(drifted, None, state).outcome is Outcome.DISABLED
    failed = _decide(drifted, FakeRetrainer(fail=True), state)
    assert failed.outcome is Outcome.FAILED
    assert failed.error == "ConnectionError: KFP API unreachable"
    assert state.triggered_total("fraud") == 0  # a failed submission does not start the cooldown


def test_decision_is_logged_as_json(drifted: DriftResult, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="mlops_workloads.monitoring"):
        _decide(drifted, None, CooldownState(str(tmp_path / "s.json")))
    record = json.loads(caplog.records[-1].getMessage())
    assert record["event"] == "retraining_decision"
    assert record["outcome"] == "skipped_retraining_disabled"
    assert record["model_version"] == "3"
    assert record["reasons"]


def test_the_retraining_runs_promotion_decision_is_part_of_the_decision(drifted: DriftResult, tmp_path: Path) -> None:
    class PromotingRetrainer(FakeRetrainer):
        def retrain(self, *, model_name: str, reasons: Sequence[str]) -> RetrainSubmission:
            super().retrain(model_name=model_name, reasons=reasons)
            promotion = {"policy": "manual", "promoted": False, "awaiting_approval": True, "challenger_version": "4"}
            return RetrainSubmission(self.backend, "run-1", completed=True, details={"promotion": promotion})

    decision = _decide(drifted, PromotingRetrainer(), CooldownState(str(tmp_path / "s.json")))
    assert decision.promotion == {
        "policy": "manual",
        "promoted": False,
        "awaiting_approval": True,
        "challenger_version": "4",
    }
    assert decision.to_dict()["promotion"]["awaiting_approval"] is True


@dataclass
class _RunResult:
    run_id: str


class FakeKfpClient:
    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}

    def create_run_from_pipeline_package(self, **kwargs: Any) -> _RunResult:
        self.kwargs = kwargs
        return _RunResult("kfp-run-42")


STACK_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme-ml/mlops-training:2.3.4"


GPU = {
    "nodeSelector": {"gpu-enabled": "true"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
}


def test_kfp_retrainer_submits_the_models_pipeline_with_the_stacks_image_placement_and_policy() -> None:
    import yaml
    from mlops_workloads.gates import parse_gates
    from mlops_workloads.images import TRAINING_IMAGE
    from mlops_workloads.release import ReleasePolicy
    from mlops_workloads.submission import TrainingRequest

    submitted: dict[str, Any] = {}

    class RecordingKfpClient(FakeKfpClient):
        def create_run_from_pipeline_package(self, **kwargs: Any) -> _RunResult:
            submitted["documents"] = list(yaml.safe_load_all(Path(kwargs["pipeline_file"]).read_text()))
            return super().create_run_from_pipeline_package(**kwargs)

    client = RecordingKfpClient()
    hosts: list[str] = []

    def factory(host: str) -> FakeKfpClient:
        hosts.append(host)
        return client

    policy = ReleasePolicy(parse_gates(["rmse<=7", "r2>=0.75"]), 0.03, "manual")
    request = TrainingRequest(
        pipeline_module="pipelines.delivery_time", parameters={"n_estimators": 12}, train_source="gs://data/inputs",
        training_image=STACK_IMAGE, accelerator="gpu", gpu_placement=json.dumps(GPU), release=policy,
    )  # fmt: skip
    retrainer = KfpApiRetrainer(
        "http://ml-pipeline.kubeflow:8888", request, tracking_uri="http://mlflow:5000", client_factory=factory
    )
    submission = retrainer.retrain(model_name="eta", reasons=["drift"])

    assert hosts == ["http://ml-pipeline.kubeflow:8888"]
    pipeline, platform = submitted["documents"]
    assert pipeline["pipelineInfo"]["name"] == "delivery-time-training-pipeline"
    images = {e["container"]["image"] for e in pipeline["deploymentSpec"]["executors"].values()}
    assert images == {STACK_IMAGE}  # no step keeps the package's default image
    assert TRAINING_IMAGE not in json.dumps(submitted["documents"])
    assert platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]["tolerations"]
    values = {k: v.get("defaultValue") for k, v in pipeline["root"]["inputDefinitions"]["parameters"].items()}
    expected = {
        "model_name": "eta", "source_uri": "gs://data/inputs", "tracking_uri": "http://mlflow:5000",
        "gates": '["rmse<=7", "r2>=0.75"]', "champion_tolerance": 0.03, "promotion": "manual", "n_estimators": 12,
    }  # fmt: skip
    assert {k: values[k] for k in expected} == expected
    assert client.kwargs["enable_caching"] is False
    assert client.kwargs["run_name"].startswith("retrain-eta-")
    assert (submission.backend, submission.run_id, submission.completed) == ("kfp", "kfp-run-42", False)
    assert submission.details["image"] == STACK_IMAGE
    assert submission.details["promotion"]["policy"] == "manual"


@pytest.mark.parametrize("image", ["mlops-training:0.1.0", "ghcr.io/acme/mlops-training:latest", "ghcr.io/acme/x"])
def test_an_unpinned_training_image_is_refused(image: str) -> None:
    from mlops_workloads.submission import TrainingRequest

    with pytest.raises(ValueError, match=r"is not a pinned image reference.*never a moving tag"):
        TrainingRequest(training_image=image)


def test_local_retrainer_passes_pipeline_params() -> None:
    calls: list[dict[str, Any]] = []

    def runner(**params: Any) -> _RunResult:
        calls.append(params)
        return _RunResult("mlflow-run-7")

    submission = LocalRetrainer({"source_uri": "/data", "tracking_uri": "sqlite:///x.db"}, runner=runner).retrain(
        model_name="fraud", reasons=["drift"]
    )
    assert calls == [{"model_name": "fraud", "source_uri": "/data", "tracking_uri": "sqlite:///x.db"}]
    assert (submission.backend, submission.run_id, submission.completed) == ("local", "mlflow-run-7", True)


def test_cooldown_rejects_negative_hours_and_corrupt_state(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cooldown hours must be >= 0, got -1"):
        CooldownState(str(tmp_path / "s.json"), hours=-1)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"not valid JSON.*delete it to reset"):
        CooldownState(str(tmp_path / "bad.json")).triggered_total("fraud")
