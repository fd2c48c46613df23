"""Quality gates: parsing ``METRIC>=X`` / ``METRIC<=X``, inclusive boundaries in both directions, unknown and NaN
metrics, and the champion comparison of each task."""

from __future__ import annotations

import math

import pytest
from mlops_workloads.gates import (
    Gate,
    QualityGateError,
    check_gates,
    compare_with_champion,
    evaluate_gates,
    parse_gates,
)
from mlops_workloads.release import ReleasePolicy

from pipelines.fraud_detection import DEFAULT_GATES

PASSING = {"accuracy": 0.99, "f1": 0.8, "precision": 0.8, "recall": 0.8, "roc_auc": 0.95}
FRAUD_GATES = parse_gates(DEFAULT_GATES)


def test_gates_parse_both_directions_and_print_back() -> None:
    assert parse_gates(["f1>=0.75", " rmse <= 12.5 "]) == (Gate("f1", ">=", 0.75), Gate("rmse", "<=", 12.5))
    assert [str(g) for g in parse_gates(["f1>=0.75", "rmse<=1e3"])] == ["f1>=0.75", "rmse<=1000"]


@pytest.mark.parametrize("text", ["f1>0.7", "f1=>0.7", ">=0.7", "f1>=", "f1>=abc", "f1>=0.7;rm", "1f>=0.7"])
def test_malformed_gates_are_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not METRIC>=NUMBER or METRIC<=NUMBER \(e\.g\. f1>=0\.75"):
        Gate.parse(text)


def test_a_metric_gated_twice_in_one_direction_is_refused() -> None:
    with pytest.raises(ValueError, match=r"gates \['f1>='\] are given more than once"):
        parse_gates(["f1>=0.7", "f1>=0.8"])
    assert len(parse_gates(["r2>=0.5", "r2<=0.99"])) == 2  # a band is two directions


@pytest.mark.parametrize("gate", FRAUD_GATES, ids=str)
def test_exactly_at_threshold_passes_and_just_beyond_fails(gate: Gate) -> None:
    assert check_gates({**PASSING, gate.metric: gate.threshold}, FRAUD_GATES) == []
    reasons = check_gates({**PASSING, gate.metric: gate.threshold - 0.0001}, FRAUD_GATES)
    assert reasons == [f"{gate.metric}: {gate.threshold - 0.0001:.4f} < threshold {gate.threshold:.4f}"]


def test_an_upper_gate_fails_above_its_threshold() -> None:
    gates = parse_gates(["rmse<=12.5"])
    assert check_gates({"rmse": 12.5}, gates) == []
    assert check_gates({"rmse": 12.6}, gates) == ["rmse: 12.6000 > threshold 12.5000"]


def test_an_unknown_metric_fails_naming_it_and_the_metrics_reported() -> None:
    (reason,) = check_gates({"rmse": 3.0, "mae": 2.0, "r2": 0.9}, parse_gates(["f1>=0.75"]))
    assert reason == "f1: unknown metric in gate f1>=0.75; this model's evaluate step reports mae, r2, rmse"


def test_a_nan_metric_fails() -> None:
    assert check_gates({**PASSING, "f1": math.nan}, FRAUD_GATES) == ["f1: metric is NaN (required >= 0.7500)"]


def test_no_champion_means_nothing_to_beat() -> None:
    assert compare_with_champion(PASSING, None) == []


def test_champion_tolerance_is_inclusive() -> None:
    champion = {"f1": 0.85, "roc_auc": 0.95}
    assert compare_with_champion({"f1": 0.80, "roc_auc": 0.95}, champion, tolerance=0.05) == []
    reasons = compare_with_champion({"f1": 0.7999, "roc_auc": 0.90}, champion, tolerance=0.05)
    assert reasons == ["f1: 0.7999 is worse than the champion's 0.8500 by more than 0.0500"]


def test_an_error_metric_is_worse_when_larger() -> None:
    champion = {"rmse": 4.0, "r2": 0.9}
    compare = ("rmse", "r2")
    assert compare_with_champion({"rmse": 3.0, "r2": 0.9}, champion, tolerance=0.1, metrics=compare) == []
    assert compare_with_champion({"rmse": 4.2, "r2": 0.9}, champion, tolerance=0.1, metrics=compare) == [
        "rmse: 4.2000 is worse than the champion's 4.0000 by more than 0.1000"
    ]


def test_challenger_missing_a_compared_metric_fails() -> None:
    assert compare_with_champion({"roc_auc": 0.95}, {"f1": 0.8, "roc_auc": 0.9}, tolerance=0.0) == [
        "f1: metric missing on the challenger (champion has 0.8000)"
    ]


def test_negative_tolerance_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"tolerance must be >= 0, got -0\.1"):
        compare_with_champion(PASSING, PASSING, tolerance=-0.1)


def test_evaluate_gates_collects_every_reason_and_raises() -> None:
    result = evaluate_gates(
        {"f1": 0.5, "precision": 0.9, "roc_auc": 0.99},
        gates=FRAUD_GATES,
        champion_metrics={"f1": 0.9, "roc_auc": 0.99},
        tolerance=0.01,
    )
    assert not result.passed
    assert [r.split(":")[0] for r in result.reasons] == ["f1", "recall", "f1"]
    with pytest.raises(QualityGateError, match="quality gates failed") as caught:
        result.raise_if_failed()
    assert caught.value.reasons == result.reasons
    evaluate_gates(PASSING, gates=FRAUD_GATES).raise_if_failed()


def test_a_regression_model_is_compared_with_its_champion_on_regression_metrics() -> None:
    result = evaluate_gates(
        {"rmse": 5.0, "mae": 4.0, "r2": 0.8}, gates=parse_gates(["rmse<=8"]), task="regression",
        champion_metrics={"rmse": 4.0, "r2": 0.8, "f1": 0.9}, tolerance=0.5,
    )  # fmt: skip
    assert result.reasons == ("rmse: 5.0000 is worse than the champion's 4.0000 by more than 0.5000",)


def test_the_release_policy_round_trips_through_its_flags() -> None:
    import argparse

    policy = ReleasePolicy(parse_gates(["f1>=0.8", "rmse<=12.5"]), 0.01, "auto")
    parser = argparse.ArgumentParser()
    ReleasePolicy.add_arguments(parser)
    assert ReleasePolicy.from_arguments(parser.parse_args(policy.command_line())) == policy
    assert policy.pipeline_arguments()["gates"] == '["f1>=0.8", "rmse<=12.5"]'
    assert "gates" not in ReleasePolicy().pipeline_arguments()  # no flag: the pipeline's own gates apply
