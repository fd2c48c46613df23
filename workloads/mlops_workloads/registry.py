"""Model promotion through MLflow aliases — the one place that moves the champion alias.

The training pipeline registers each new version under the challenger alias. A model's two aliases are its
:class:`Aliases` (``champion``/``challenger`` unless its stack names others, e.g. ``production``/``candidate``).
:func:`promote_challenger` decides whether the challenger replaces the champion (the demo, the monitoring job's
retraining and operators all call it): the challenger must not be worse than the champion by more than a tolerance;
with the ``manual`` policy (production) it only records the decision unless explicitly approved. The replaced
champion keeps the ``previous-champion`` alias so that :func:`rollback` can restore it in one call. Every decision
is recorded as tags on the challenger version.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from mlops_workloads.contract import Task
from mlops_workloads.features import MODEL_NAME
from mlops_workloads.gates import CHAMPION_METRICS, DEFAULT_TOLERANCE, compare_with_champion

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"
DECISION_TAG = "promotion_decision"
ROLLED_BACK_TAG = "rolled_back_at"

PromotionPolicy = Literal["auto", "manual"]


@dataclass(frozen=True)
class Aliases:
    """The registry aliases of a model's released version (``champion``) and of its candidate (``challenger``).

    The roles are fixed (serving's ``variant`` label says champion/challenger); the names are the model's own.
    ``previous-champion`` is the platform's (:func:`rollback`), so neither may take it.
    """

    champion: str = CHAMPION
    challenger: str = CHALLENGER

    def __post_init__(self) -> None:
        for role, alias in (("champion", self.champion), ("challenger", self.challenger)):
            if not alias:
                raise ValueError(f"the {role} alias is empty; name a registry alias")
            if alias.lower() == PREVIOUS_CHAMPION:
                raise ValueError(f"the {role} alias {alias!r} is the alias rollback keeps; choose another name")
        if self.champion.lower() == self.challenger.lower():
            raise ValueError(
                f"the champion and challenger aliases are both {self.champion!r}; a candidate would replace the "
                "released version at registration: give them different names"
            )


@dataclass(frozen=True)
class PromotionDecision:
    """What :func:`promote_challenger` decided and why."""

    model_name: str
    policy: PromotionPolicy
    promoted: bool
    challenger_version: str | None
    previous_champion_version: str | None
    champion_version: str | None  # the champion after the decision
    reasons: tuple[str, ...]
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    decided_at: str

    @property
    def awaiting_approval(self) -> bool:
        return not self.promoted and self.policy == "manual" and self.reasons == (_APPROVAL_REASON,)


@dataclass(frozen=True)
class RollbackResult:
    model_name: str
    from_version: str
    to_version: str


_APPROVAL_REASON = "manual policy: passed the comparison, awaiting explicit approval (approved=True)"


def alias_version(client: Any, model_name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None


def _run_metrics(client: Any, version: Any) -> dict[str, float]:
    return {k: float(v) for k, v in client.get_run(version.run_id).data.metrics.items()} if version.run_id else {}


def promote_challenger(
    client: Any,
    model_name: str = MODEL_NAME,
    *,
    policy: PromotionPolicy,
    tolerance: float = DEFAULT_TOLERANCE,
    approved: bool = False,
    task: Task = "classification",
    aliases: Aliases = Aliases(),
) -> PromotionDecision:
    """Promote the challenger version to champion (``aliases``) if allowed; always return (and record) the decision.

    ``policy="auto"`` (dev) promotes whenever the challenger is not worse than the champion by more than
    ``tolerance`` on the task's champion metrics. ``policy="manual"`` (prod) promotes only when ``approved=True``
    as well.
    """
    if policy not in ("auto", "manual"):
        raise ValueError(f"policy must be 'auto' or 'manual', got {policy!r}")
    challenger = alias_version(client, model_name, aliases.challenger)
    champion = alias_version(client, model_name, aliases.champion)
    champion_version = None if champion is None else str(champion.version)
    now = datetime.now(UTC).isoformat()
    if challenger is None:
        return PromotionDecision(
            model_name, policy, False, None, champion_version, champion_version,
            (f"no version of {model_name!r} has the {aliases.challenger!r} alias; run the training pipeline first",),
            {}, None, now,
        )  # fmt: skip
    challenger_metrics = _run_metrics(client, challenger)
    champion_metrics = None if champion is None else _run_metrics(client, champion)
    reasons = list(
        compare_with_champion(challenger_metrics, champion_metrics, tolerance=tolerance, metrics=CHAMPION_METRICS[task])
    )
    if champion is not None and str(champion.version) == str(challenger.version):
        reasons.append(f"version {challenger.version} is already the champion")
    if not reasons and policy == "manual" and not approved:
        reasons.append(_APPROVAL_REASON)
    promoted = not reasons
    if promoted:
        if champion is not None:
            client.set_registered_model_alias(model_name, PREVIOUS_CHAMPION, champion.version)
        client.set_registered_model_alias(model_name, aliases.champion, challenger.version)
        client.delete_registered_model_alias(model_name, aliases.challenger)
    decision = PromotionDecision(
        model_name=model_name,
        policy=policy,
        promoted=promoted,
        challenger_version=str(challenger.version),
        previous_champion_version=champion_version,
        champion_version=str(challenger.version) if promoted else champion_version,
        reasons=tuple(reasons),
        challenger_metrics=challenger_metrics,
        champion_metrics=champion_metrics,
        decided_at=now,
    )
    client.set_model_version_tag(model_name, challenger.version, DECISION_TAG, json.dumps(asdict(decision)))
    return decision


def rollback(client: Any, model_name: str = MODEL_NAME, aliases: Aliases = Aliases()) -> RollbackResult:
    """Give the champion alias back to the ``previous-champion`` version (which loses that alias)."""
    previous = alias_version(client, model_name, PREVIOUS_CHAMPION)
    if previous is None:
        raise LookupError(
            f"cannot roll back {model_name!r}: no version has the {PREVIOUS_CHAMPION!r} alias "
            "(it is set when a challenger replaces a champion)"
        )
    current = alias_version(client, model_name, aliases.champion)
    client.set_registered_model_alias(model_name, aliases.champion, previous.version)
    client.delete_registered_model_alias(model_name, PREVIOUS_CHAMPION)
    from_version = "" if current is None else str(current.version)
    if current is not None:
        client.set_model_version_tag(model_name, current.version, ROLLED_BACK_TAG, datetime.now(UTC).isoformat())
    return RollbackResult(model_name, from_version, str(previous.version))


def alias_metrics(client: Any, model_name: str = MODEL_NAME, alias: str = CHAMPION) -> dict[str, float] | None:
    """The run metrics of the version holding ``alias``, or None when no version holds it (e.g. no champion yet)."""
    version = alias_version(client, model_name, alias)
    return None if version is None else _run_metrics(client, version)
