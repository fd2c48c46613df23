"""Quality gates a trained model must pass before it may be registered, and the champion comparison.

Thresholds are inclusive (a metric exactly at its threshold passes); a missing or NaN metric fails. The pipeline's
evaluate step, the registry's promotion and the monitoring job's retraining all decide through these functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_THRESHOLDS: Mapping[str, float] = {"f1": 0.75, "precision": 0.70, "recall": 0.60, "roc_auc": 0.85}
# The metrics a challenger may not lose (beyond the tolerance) against the current champion.
CHAMPION_METRICS: tuple[str, ...] = ("f1", "roc_auc")
DEFAULT_TOLERANCE = 0.02
# Absorbs float representation error so that "exactly at the boundary" passes (e.g. 0.80 - 0.05 vs 0.75).
_EPSILON = 1e-9


class QualityGateError(RuntimeError):
    """A model failed its quality gates; ``reasons`` lists every failed gate."""

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("quality gates failed:\n  - " + "\n  - ".join(self.reasons))


@dataclass(frozen=True)
class GateResult:
    """The outcome of every gate: ``passed`` only when ``reasons`` is empty."""

    reasons: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.reasons

    def raise_if_failed(self) -> None:
        if self.reasons:
            raise QualityGateError(self.reasons)


def _value(metrics: Mapping[str, float], name: str) -> float | None:
    value = metrics.get(name)
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def check_thresholds(metrics: Mapping[str, float], thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS) -> list[str]:
    """Return one reason per metric below its (inclusive) threshold or missing."""
    reasons = []
    for name, threshold in thresholds.items():
        value = _value(metrics, name)
        if value is None:
            reasons.append(f"{name}: metric missing (required >= {threshold:.4f})")
        elif value < threshold - _EPSILON:
            reasons.append(f"{name}: {value:.4f} < threshold {threshold:.4f}")
    return reasons


def compare_with_champion(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    metrics: Sequence[str] = CHAMPION_METRICS,
) -> list[str]:
    """Return one reason per metric where the challenger is worse than the champion by more than ``tolerance``.

    No champion yet means nothing to compare against: the challenger passes. A champion without a metric cannot be
    compared on it and is skipped; a challenger without it fails.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if champion is None:
        return []
    reasons = []
    for name in metrics:
        reference = _value(champion, name)
        if reference is None:
            continue
        value = _value(challenger, name)
        if value is None:
            reasons.append(f"{name}: metric missing on the challenger (champion has {reference:.4f})")
        elif value < reference - tolerance - _EPSILON:
            reasons.append(
                f"{name}: {value:.4f} is worse than the champion's {reference:.4f} by more than {tolerance:.4f}"
            )
    return reasons


def evaluate_gates(
    metrics: Mapping[str, float],
    *,
    thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS,
    champion_metrics: Mapping[str, float] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> GateResult:
    """Every threshold gate plus the champion comparison, all reasons collected."""
    return GateResult(
        tuple(
            check_thresholds(metrics, thresholds)
            + compare_with_champion(metrics, champion_metrics, tolerance=tolerance)
        )
    )
