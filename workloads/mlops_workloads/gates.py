"""Quality gates a trained model must pass before it may be registered, and the champion comparison.

Thresholds are inclusive (a metric exactly at its threshold passes); a missing or NaN metric fails. The pipeline's
evaluate step, the registry's promotion and the monitoring job's retraining all decide through these functions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from mlops_workloads.contract import Task

Comparison = Literal[">=", "<="]
# The metrics a challenger may not lose (beyond the tolerance) against the current champion, per task.
CHAMPION_METRICS: Mapping[Task, tuple[str, ...]] = {"classification": ("f1", "roc_auc"), "regression": ("rmse", "r2")}
# Error metrics: smaller is better (every other metric the evaluate steps report is a score: larger is better).
LOWER_IS_BETTER = frozenset({"rmse", "mae"})
DEFAULT_TOLERANCE = 0.02
# Absorbs float representation error so that "exactly at the boundary" passes (e.g. 0.80 - 0.05 vs 0.75).
_EPSILON = 1e-9
_GATE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Gate:
    """One release gate: ``metric >= threshold`` or ``metric <= threshold`` (inclusive)."""

    metric: str
    comparison: Comparison
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Gate:
        """``"f1>=0.75"`` or ``"rmse<=12.5"``; anything else is refused with the expected form."""
        match = _GATE.match(text)
        if match is None:
            raise ValueError(f"gate {text!r} is not METRIC>=NUMBER or METRIC<=NUMBER (e.g. f1>=0.75, rmse<=12.5)")
        metric, comparison, threshold = match.groups()
        if not math.isfinite(float(threshold)):
            raise ValueError(f"gate {text!r} has a threshold that is not a finite number")
        return cls(metric, ">=" if comparison == ">=" else "<=", float(threshold))

    def __str__(self) -> str:
        return f"{self.metric}{self.comparison}{self.threshold:g}"

    def failure(self, value: float) -> str | None:
        """Why ``value`` fails this gate, or None when it passes."""
        if self.comparison == ">=" and value < self.threshold - _EPSILON:
            return f"{self.metric}: {value:.4f} < threshold {self.threshold:.4f}"
        if self.comparison == "<=" and value > self.threshold + _EPSILON:
            return f"{self.metric}: {value:.4f} > threshold {self.threshold:.4f}"
        return None


def parse_gates(texts: Sequence[str]) -> tuple[Gate, ...]:
    """Every gate of ``texts``; a metric gated twice in the same direction is refused (which one would hold?)."""
    gates = tuple(Gate.parse(text) for text in texts)
    keys = [(g.metric, g.comparison) for g in gates]
    repeated = sorted({f"{m}{c}" for m, c in keys if keys.count((m, c)) > 1})
    if repeated:
        raise ValueError(f"gates {repeated} are given more than once; keep one threshold per metric and direction")
    return gates


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


def check_gates(metrics: Mapping[str, float], gates: Sequence[Gate]) -> list[str]:
    """One reason per failed gate. A gate on a metric the evaluate step does not report is a reason naming the
    metrics it does report (a misspelt gate must not pass silently); a NaN metric fails."""
    reasons = []
    for gate in gates:
        if gate.metric not in metrics:
            reasons.append(
                f"{gate.metric}: unknown metric in gate {gate}; this model's evaluate step reports "
                f"{', '.join(sorted(metrics))}"
            )
            continue
        value = _value(metrics, gate.metric)
        if value is None:
            reasons.append(f"{gate.metric}: metric is NaN (required {gate.comparison} {gate.threshold:.4f})")
        elif (reason := gate.failure(value)) is not None:
            reasons.append(reason)
    return reasons


def compare_with_champion(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    metrics: Sequence[str] = CHAMPION_METRICS["classification"],
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
        elif (reference - value if name not in LOWER_IS_BETTER else value - reference) > tolerance + _EPSILON:
            reasons.append(
                f"{name}: {value:.4f} is worse than the champion's {reference:.4f} by more than {tolerance:.4f}"
            )
    return reasons


def evaluate_gates(
    metrics: Mapping[str, float],
    *,
    gates: Sequence[Gate],
    task: Task = "classification",
    champion_metrics: Mapping[str, float] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> GateResult:
    """Every gate plus the champion comparison on the task's champion metrics, all reasons collected."""
    return GateResult(
        tuple(
            check_gates(metrics, gates)
            + compare_with_champion(metrics, champion_metrics, tolerance=tolerance, metrics=CHAMPION_METRICS[task])
        )
    )
