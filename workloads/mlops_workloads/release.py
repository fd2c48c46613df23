"""A model's release policy: the quality gates a trained version must pass and what happens to a version that
passes them (``auto``: it becomes champion; ``manual``: it stays challenger awaiting approval).

One object carries both, so every job that trains, gates or promotes is configured the same way from the same
values: the monitoring job reads it from its command line (set by the platform from the stack's
``workloads.qualityGates`` and ``workloads.promotion``) and hands it to the retraining run as pipeline arguments.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from mlops_workloads.gates import DEFAULT_THRESHOLDS, DEFAULT_TOLERANCE
from mlops_workloads.registry import PromotionPolicy

# Gate metric -> command-line flag / pipeline parameter stem ("min_<metric>").
_FLAGS = {"f1": "--min-f1", "precision": "--min-precision", "recall": "--min-recall", "roc_auc": "--min-roc-auc"}
DEFAULT_PROMOTION: PromotionPolicy = "manual"  # nothing replaces a champion unless a stack asks for it


@dataclass(frozen=True)
class ReleasePolicy:
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    champion_tolerance: float = DEFAULT_TOLERANCE
    promotion: PromotionPolicy = DEFAULT_PROMOTION

    def __post_init__(self) -> None:
        problems = [f"{name} gate {value} is not within [0, 1]" for name, value in self.thresholds.items()
                    if not 0.0 <= value <= 1.0]  # fmt: skip
        unknown = sorted(set(self.thresholds) - set(_FLAGS))
        if unknown:
            problems.append(f"unknown gate metric(s) {unknown}; gates exist for {sorted(_FLAGS)}")
        if not 0.0 <= self.champion_tolerance <= 1.0:
            problems.append(f"champion tolerance {self.champion_tolerance} is not within [0, 1]")
        if self.promotion not in get_args(PromotionPolicy):
            problems.append(f"promotion {self.promotion!r} is not one of {list(get_args(PromotionPolicy))}")
        if problems:
            raise ValueError("invalid release policy: " + "; ".join(problems))

    def pipeline_arguments(self) -> dict[str, Any]:
        """The training pipeline's parameters for this policy (``min_f1``, …, ``champion_tolerance``, ``promotion``)."""
        return {
            **{f"min_{metric}": float(value) for metric, value in self.thresholds.items()},
            "champion_tolerance": float(self.champion_tolerance),
            "promotion": self.promotion,
        }

    def command_line(self) -> list[str]:
        """The same policy as the job's command-line flags (what the platform writes into the CronJob)."""
        flags = [item for metric, value in self.thresholds.items() for item in (_FLAGS[metric], f"{value:g}")]
        return [*flags, "--champion-tolerance", f"{self.champion_tolerance:g}", "--promotion", self.promotion]

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("release policy (the stack's workloads.qualityGates and promotion)")
        for metric, flag in _FLAGS.items():
            group.add_argument(flag, type=float, default=DEFAULT_THRESHOLDS[metric], help=f"minimum {metric}")
        group.add_argument("--champion-tolerance", type=float, default=DEFAULT_TOLERANCE,
                           help="how much worse than the champion a challenger may be")  # fmt: skip
        group.add_argument("--promotion", choices=get_args(PromotionPolicy), default=DEFAULT_PROMOTION,
                           help="auto: a passing challenger becomes champion; manual: it awaits approval")  # fmt: skip

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> ReleasePolicy:
        thresholds = {
            metric: getattr(args, flag.removeprefix("--").replace("-", "_")) for metric, flag in _FLAGS.items()
        }
        return cls(thresholds, args.champion_tolerance, args.promotion)
