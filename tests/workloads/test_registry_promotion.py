"""Champion/challenger promotion, the manual (prod) policy, recorded decisions and rollback — on MLflow aliases."""

from __future__ import annotations

import json

import mlflow
import pytest
from mlops_workloads.registry import (
    CHALLENGER,
    CHAMPION,
    DECISION_TAG,
    PREVIOUS_CHAMPION,
    Aliases,
    alias_metrics,
    promote_challenger,
    rollback,
)

NAME = "fraud-test"


@pytest.fixture
def client(mlflow_fresh_uri: str, tmp_path) -> mlflow.MlflowClient:  # type: ignore[no-untyped-def]
    client = mlflow.MlflowClient(tracking_uri=mlflow_fresh_uri, registry_uri=mlflow_fresh_uri)
    client.create_experiment("registry-test", artifact_location=(tmp_path / "artifacts").as_uri())
    client.create_registered_model(NAME)
    return client


def _challenger(client: mlflow.MlflowClient, f1: float, roc_auc: float) -> str:
    """A registered version whose run carries the given metrics, aliased challenger (as the pipeline leaves it)."""
    experiment = client.get_experiment_by_name("registry-test")
    run = client.create_run(experiment.experiment_id)
    client.log_metric(run.info.run_id, "f1", f1)
    client.log_metric(run.info.run_id, "roc_auc", roc_auc)
    client.set_terminated(run.info.run_id)
    version = client.create_model_version(NAME, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    client.set_registered_model_alias(NAME, CHALLENGER, version.version)
    return str(version.version)


def _aliases(client: mlflow.MlflowClient) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model(NAME).aliases.items()}


def test_first_challenger_becomes_champion(client: mlflow.MlflowClient) -> None:
    _challenger(client, 0.8, 0.9)
    decision = promote_challenger(client, NAME, policy="auto")
    assert decision.promoted
    assert (decision.challenger_version, decision.champion_version, decision.previous_champion_version) == (
        "1",
        "1",
        None,
    )
    assert _aliases(client) == {CHAMPION: "1"}
    assert alias_metrics(client, NAME) == {"f1": 0.8, "roc_auc": 0.9}


def test_better_challenger_replaces_champion_which_keeps_previous_alias(client: mlflow.MlflowClient) -> None:
    _challenger(client, 0.8, 0.9)
    promote_challenger(client, NAME, policy="auto")
    _challenger(client, 0.82, 0.91)
    decision = promote_challenger(client, NAME, policy="auto", tolerance=0.0)
    assert decision.promoted
    assert _aliases(client) == {CHAMPION: "2", PREVIOUS_CHAMPION: "1"}
    recorded = json.loads(client.get_model_version(NAME, "2").tags[DECISION_TAG])
    assert recorded["promoted"] is True
    assert recorded["champion_metrics"] == {"f1": 0.8, "roc_auc": 0.9}


def test_worse_challenger_is_refused_with_reasons(client: mlflow.MlflowClient) -> None:
    _challenger(client, 0.9, 0.95)
    promote_challenger(client, NAME, policy="auto")
    _challenger(client, 0.8, 0.95)
    decision = promote_challenger(client, NAME, policy="auto", tolerance=0.05)
    assert not decision.promoted
    assert decision.reasons == ("f1: 0.8000 is worse than the champion's 0.9000 by more than 0.0500",)
    assert _aliases(client) == {CHAMPION: "1", CHALLENGER: "2"}
    assert json.loads(client.get_model_version(NAME, "2").tags[DECISION_TAG])["promoted"] is False


def test_within_tolerance_is_promoted(client: mlflow.MlflowClient) -> None:
    _challenger(client, 0.9, 0.95)
    promote_challenger(client, NAME, policy="auto")
    _challenger(client, 0.89, 0.95)
    assert promote_challenger(client, NAME, policy="auto", tolerance=0.01).promoted


def test_manual_policy_records_and_waits_for_approval(client: mlflow.MlflowClient) -> None:
    _challenger(client, 0.8, 0.9)
    pending = promote_challenger(client, NAME, policy="manual")
    assert not pending.promoted
    assert pending.awaiting_approval
    assert _aliases(client) == {CHALLENGER: "1"}
    assert json.loads(client.get_model_version(NAME, "1").tags[DECISION_TAG])["policy"] == "manual"
    approved = promote_challenger(client, NAME, policy="manual", approved=True)
    assert approved.promoted
    assert _aliases(client) == {CHAMPION: "1"}


def test_no_challenger_is_a_decision_not_a_crash(client: mlflow.MlflowClient) -> None:
    decision = promote_challenger(client, NAME, policy="auto")
    assert not decision.promoted
    assert decision.reasons == (
        f"no version of {NAME!r} has the {CHALLENGER!r} alias; run the training pipeline first",
    )
    with pytest.raises(ValueError, match="policy must be 'auto' or 'manual', got 'yolo'"):
        promote_challenger(client, NAME, policy="yolo")  # type: ignore[arg-type]


def test_rollback_restores_previous_champion(client: mlflow.MlflowClient) -> None:
    _challenger(client, 0.8, 0.9)
    promote_challenger(client, NAME, policy="auto")
    _challenger(client, 0.85, 0.92)
    promote_challenger(client, NAME, policy="auto")
    result = rollback(client, NAME)
    assert (result.from_version, result.to_version) == ("2", "1")
    assert _aliases(client) == {CHAMPION: "1"}
    assert "rolled_back_at" in client.get_model_version(NAME, "2").tags
    with pytest.raises(LookupError, match="no version has the 'previous-champion' alias"):
        rollback(client, NAME)


def test_promotion_and_rollback_move_the_models_own_aliases(client: mlflow.MlflowClient) -> None:
    """A model served as @production and A/B tested as @candidate: the default names are never read or set."""
    aliases = Aliases(champion="production", challenger="candidate")
    _challenger(client, 0.8, 0.9)
    client.set_registered_model_alias(NAME, aliases.challenger, "1")
    client.delete_registered_model_alias(NAME, CHALLENGER)
    assert promote_challenger(client, NAME, policy="auto", aliases=aliases).promoted
    _challenger(client, 0.82, 0.91)  # a default-named challenger: not this model's candidate
    assert not promote_challenger(client, NAME, policy="auto", aliases=aliases).promoted
    client.set_registered_model_alias(NAME, aliases.challenger, "2")
    client.delete_registered_model_alias(NAME, CHALLENGER)

    decision = promote_challenger(client, NAME, policy="auto", tolerance=0.0, aliases=aliases)

    assert (decision.promoted, decision.champion_version, decision.previous_champion_version) == (True, "2", "1")
    assert _aliases(client) == {"production": "2", PREVIOUS_CHAMPION: "1"}
    assert alias_metrics(client, NAME, aliases.champion) == {"f1": 0.82, "roc_auc": 0.91}
    assert rollback(client, NAME, aliases).to_version == "1"
    assert _aliases(client) == {"production": "1"}


@pytest.mark.parametrize(
    ("champion", "challenger", "message"),
    [
        ("production", "production", "the champion and challenger aliases are both 'production'"),
        ("Production", "production", "the champion and challenger aliases are both 'Production'"),
        ("production", PREVIOUS_CHAMPION, "the challenger alias 'previous-champion' is the alias rollback keeps"),
        ("", "candidate", "the champion alias is empty"),
    ],
)
def test_aliases_that_would_collide_are_refused(champion: str, challenger: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Aliases(champion, challenger)
