"""Quality gates: inclusive boundaries, just-below failures, missing metrics, and the champion comparison."""

from __future__ import annotations

import math

import pytest
from mlops_workloads.gates import (
    DEFAULT_THRESHOLDS,
    QualityGateError,
    check_thresholds,
    compare_with_champion,
    evaluate_gates,
)

PASSING = {"accuracy": 0.99, "f1": 0.8, "precision": 0.8, "recall": 0.8, "roc_auc": 0.95}


def test_defaults_match_the_documented_gates() -> None:
    assert dict(DEFAULT_THRESHOLDS) == {"f1": 0.75, "precision": 0.70, "recall": 0.60, "roc_auc": 0.85}


@pytest.mark.parametrize("metric", sorted(DEFAULT_THRESHOLDS))
def test_exactly_at_threshold_passes(metric: str) -> None:
    assert check_thresholds({**PASSING, metric: DEFAULT_THRESHOLDS[metric]}) == []


@pytest.mark.parametrize("metric", sorted(DEFAULT_THRESHOLDS))
def test_just_below_threshold_fails_with_reason(metric: str) -> None:
    threshold = DEFAULT_THRESHOLDS[metric]
    reasons = check_thresholds({**PASSING, metric: threshold - 0.0001})
    assert reasons == [f"{metric}: {threshold - 0.0001:.4f} < threshold {threshold:.4f}"]


@pytest.mark.parametrize("metric", sorted(DEFAULT_THRESHOLDS))
def test_missing_or_nan_metric_fails(metric: str) -> None:
    missing = {k: v for k, v in PASSING.items() if k != metric}
    assert check_thresholds(missing) == [f"{metric}: metric missing (required >= {DEFAULT_THRESHOLDS[metric]:.4f})"]
    assert len(check_thresholds({**PASSING, metric: math.nan})) == 1


def test_custom_thresholds_replace_the_defaults() -> None:
    assert check_thresholds(PASSING, {"f1": 0.9}) == ["f1: 0.8000 < threshold 0.9000"]


def test_no_champion_means_nothing_to_beat() -> None:
    assert compare_with_champion(PASSING, None) == []


def test_champion_tolerance_is_inclusive() -> None:
    champion = {"f1": 0.85, "roc_auc": 0.95}
    assert compare_with_champion({"f1": 0.80, "roc_auc": 0.95}, champion, tolerance=0.05) == []
    reasons = compare_with_champion({"f1": 0.7999, "roc_auc": 0.90}, champion, tolerance=0.05)
    assert reasons == ["f1: 0.7999 is worse than the champion's 0.8500 by more than 0.0500"]


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
        champion_metrics={"f1": 0.9, "roc_auc": 0.99},
        tolerance=0.01,
    )
    assert not result.passed
    assert [r.split(":")[0] for r in result.reasons] == ["f1", "recall", "f1"]
    with pytest.raises(QualityGateError, match="quality gates failed") as caught:
        result.raise_if_failed()
    assert caught.value.reasons == result.reasons
    evaluate_gates(PASSING).raise_if_failed()
