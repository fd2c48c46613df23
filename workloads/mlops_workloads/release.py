"""A model's release policy: the quality gates a trained version must pass, what happens to a version that
passes them (``auto``: it becomes champion; ``manual``: it stays challenger awaiting approval) and the registry
aliases those roles have for this model (``serving.aliases`` of its stack entry).

One object carries both, so every job that trains, gates or promotes is configured the same way from the same
values: the monitoring job reads it from its command line (set by the platform from the stack's
``workloads.qualityGates`` and ``workloads.promotion``) and hands it to the retraining run as pipeline arguments.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import Any, get_args

from mlops_workloads.gates import DEFAULT_TOLERANCE, Gate, parse_gates
from mlops_workloads.registry import CHALLENGER, CHAMPION, Aliases, PromotionPolicy

DEFAULT_PROMOTION: PromotionPolicy = "manual"  # nothing replaces a champion unless a stack asks for it


@dataclass(frozen=True)
class ReleasePolicy:
    """``gates`` empty: the pipeline module's own default gates apply."""

    gates: tuple[Gate, ...] = ()
    champion_tolerance: float = DEFAULT_TOLERANCE
    promotion: PromotionPolicy = DEFAULT_PROMOTION
    aliases: Aliases = field(default_factory=Aliases)

    def __post_init__(self) -> None:
        problems = []
        if not self.champion_tolerance >= 0.0:  # NaN fails too
            problems.append(f"champion tolerance {self.champion_tolerance} is negative; use 0 or more")
        if self.promotion not in get_args(PromotionPolicy):
            problems.append(f"promotion {self.promotion!r} is not one of {list(get_args(PromotionPolicy))}")
        if problems:
            raise ValueError("invalid release policy: " + "; ".join(problems))

    def pipeline_arguments(self) -> dict[str, Any]:
        """The training pipeline's parameters for this policy (``gates`` as a JSON list, ``champion_tolerance``,
        ``promotion``, ``champion_alias``, ``challenger_alias``)."""
        gates = {"gates": json.dumps([str(g) for g in self.gates])} if self.gates else {}
        return {
            **gates,
            "champion_tolerance": float(self.champion_tolerance),
            "promotion": self.promotion,
            "champion_alias": self.aliases.champion,
            "challenger_alias": self.aliases.challenger,
        }

    def command_line(self) -> list[str]:
        """The same policy as the job's command-line flags (what the platform writes into the CronJob)."""
        flags = [item for gate in self.gates for item in ("--gate", str(gate))]
        return [
            *flags,
            "--champion-tolerance", f"{self.champion_tolerance:g}",
            "--promotion", self.promotion,
            "--champion-alias", self.aliases.champion,
            "--challenger-alias", self.aliases.challenger,
        ]  # fmt: skip

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("release policy (the stack's qualityGates and promotion of the model)")
        group.add_argument("--gate", action="append", default=[], metavar="METRIC>=X|METRIC<=X",
                           help="a quality gate on a metric the evaluate step reports (repeatable; default: the "
                                "pipeline's own gates)")  # fmt: skip
        group.add_argument("--champion-tolerance", type=float, default=DEFAULT_TOLERANCE,
                           help="how much worse than the champion a challenger may be")  # fmt: skip
        group.add_argument("--promotion", choices=get_args(PromotionPolicy), default=DEFAULT_PROMOTION,
                           help="auto: a passing challenger becomes champion; manual: it awaits approval")  # fmt: skip
        group.add_argument("--champion-alias", default=CHAMPION,
                           help="registry alias of the released version (serving.aliases.champion)")  # fmt: skip
        group.add_argument("--challenger-alias", default=CHALLENGER,
                           help="registry alias of a new version (serving.aliases.challenger)")  # fmt: skip

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> ReleasePolicy:
        try:
            aliases = Aliases(args.champion_alias, args.challenger_alias)
        except ValueError as exc:
            raise ValueError(f"--champion-alias/--challenger-alias: {exc}") from exc
        return cls(parse_gates(args.gate), args.champion_tolerance, args.promotion, aliases)
