"""Each pipeline component's function, called in-process on small data: the same code the kfp steps run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from kfp import dsl
from mlops_workloads.contract import load_contract
from mlops_workloads.data import generate_transactions, write_partitions
from mlops_workloads.feature_store import DEFAULT_REPO_PATH, open_store, write_offline_source
from mlops_workloads.features import ENTITY_KEY, EVENT_TIMESTAMP, FRAUD_CONTRACT, LABEL, TRANSACTION_ID
from mlops_workloads.gates import QualityGateError
from mlops_workloads.registry import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, Aliases
from mlops_workloads.validation import DataValidationError

from pipelines.fraud_detection import DEFAULT_GATES, engineer_features, ingest, train, validate
from pipelines.steps import evaluate, promote, register

CONTRACT = FRAUD_CONTRACT.to_json()
GATES = {
    "gates": json.dumps(DEFAULT_GATES), "champion_tolerance": 0.02, "contract": CONTRACT, "champion_alias": CHAMPION
}  # fmt: skip


def _artifact(kind: type, tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    return kind(name=name, uri=str(tmp_path / name))


@pytest.fixture
def ingested(tmp_path: Path):  # type: ignore[no-untyped-def]
    write_partitions(generate_transactions(2500, seed=42, days=3), tmp_path / "raw")
    out = _artifact(dsl.Dataset, tmp_path, "transactions")
    rows = ingest.python_func(source_uri=str(tmp_path / "raw"), feature_repo="", transactions=out)
    return out, rows


def test_ingest_reads_the_partitioned_directory(ingested) -> None:  # type: ignore[no-untyped-def]
    out, rows = ingested
    frame = pd.read_parquet(out.path)
    assert rows == len(frame) == 2500
    assert "date" not in frame.columns
    assert frame["event_timestamp"].is_monotonic_increasing


def test_ingest_names_a_missing_source(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no transactions at .*nowhere"):
        ingest.python_func(
            source_uri=str(tmp_path / "nowhere"), feature_repo="", transactions=_artifact(dsl.Dataset, tmp_path, "t")
        )


def test_ingest_can_read_point_in_time_features_from_feast(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(DEFAULT_REPO_PATH / "feature_store.yaml", repo / "feature_store.yaml")
    frame = generate_transactions(300, seed=9, days=2, n_cards=15)
    write_offline_source(frame, repo)
    open_store(repo)  # feast apply
    events = frame[[ENTITY_KEY, EVENT_TIMESTAMP, TRANSACTION_ID, LABEL]]
    events.to_parquet(tmp_path / "events.parquet")
    out = _artifact(dsl.Dataset, tmp_path, "joined")
    rows = ingest.python_func(source_uri=str(tmp_path / "events.parquet"), feature_repo=str(repo), transactions=out)
    joined = pd.read_parquet(out.path).set_index(TRANSACTION_ID).loc[frame[TRANSACTION_ID]]
    assert rows == 300
    assert joined["amount"].tolist() == frame["amount"].tolist()
    assert joined[LABEL].tolist() == frame[LABEL].tolist()


def test_validate_writes_every_problem_then_stops(tmp_path: Path, ingested) -> None:  # type: ignore[no-untyped-def]
    out, _ = ingested
    frame = pd.read_parquet(out.path)
    frame.loc[:10, "amount"] = -1.0
    bad = _artifact(dsl.Dataset, tmp_path, "bad")
    frame.drop(columns=["international"]).to_parquet(bad.path)
    report = _artifact(dsl.Artifact, tmp_path, "validation_report")
    with pytest.raises(DataValidationError):
        validate.python_func(transactions=bad, min_rows=1000, max_null_fraction=0.05, validation_report=report)
    doc = json.loads(Path(report.path).read_text())
    assert doc["passed"] is False
    assert [r.split(":")[0] for r in doc["reasons"]] == ["columns", "amount"]


def test_train_evaluate_register_chain(tmp_path: Path, ingested, mlflow_fresh_uri: str) -> None:  # type: ignore[no-untyped-def]
    transactions, _ = ingested
    report = _artifact(dsl.Artifact, tmp_path, "validation_report")
    validate.python_func(transactions=transactions, min_rows=1000, max_null_fraction=0.05, validation_report=report)
    assert json.loads(Path(report.path).read_text()) == {"passed": True, "rows": 2500, "reasons": []}

    train_data, test_data = _artifact(dsl.Dataset, tmp_path, "train"), _artifact(dsl.Dataset, tmp_path, "test")
    engineer_features.python_func(
        transactions=transactions, test_fraction=0.25, split_seed=42, train_data=train_data, test_data=test_data
    )
    assert (train_data.metadata["rows"], test_data.metadata["rows"]) == (1875, 625)

    model = _artifact(dsl.Model, tmp_path, "model")
    train.python_func(
        train_data=train_data, n_estimators=40, max_depth=15, min_samples_split=10, min_samples_leaf=4,
        class_weight="balanced", random_state=42, model=model,
    )  # fmt: skip
    assert model.metadata["n_estimators"] == "40"

    metrics, evaluation = _artifact(dsl.Metrics, tmp_path, "metrics"), _artifact(dsl.Artifact, tmp_path, "evaluation")
    evaluate.python_func(
        model=model, test_data=test_data, tracking_uri=mlflow_fresh_uri, model_name="fraud-components",
        metrics=metrics, evaluation=evaluation, **GATES,
    )  # fmt: skip
    doc = json.loads(Path(evaluation.path).read_text())
    assert doc["passed"] is True
    assert doc["champion_metrics"] is None
    assert metrics.metadata["f1"] == doc["metrics"]["f1"] >= 0.75

    version = register.python_func(
        model=model, train_data=train_data, test_data=test_data, evaluation=evaluation,
        tracking_uri=mlflow_fresh_uri, model_name="fraud-components", experiment="components", contract=CONTRACT,
        challenger_alias=CHALLENGER,
    )  # fmt: skip
    client = mlflow.MlflowClient(tracking_uri=mlflow_fresh_uri, registry_uri=mlflow_fresh_uri)
    registered = client.get_model_version_by_alias("fraud-components", CHALLENGER)
    assert str(registered.version) == version == "1"
    assert client.get_run(registered.run_id).data.metrics["f1"] == pytest.approx(doc["metrics"]["f1"])
    assert load_contract(client, "fraud-components", version) == FRAUD_CONTRACT  # the contract travels with it
    assert registered.tags["task"] == "classification"

    impossible = {**GATES, "gates": json.dumps(["f1>=0.9999", "roc_auc>=1.01", "recall>=0.1"])}
    failed = _artifact(dsl.Artifact, tmp_path, "evaluation-failed")
    with pytest.raises(QualityGateError, match="quality gates failed") as caught:
        evaluate.python_func(
            model=model, test_data=test_data, tracking_uri=mlflow_fresh_uri, model_name="fraud-components",
            metrics=_artifact(dsl.Metrics, tmp_path, "m2"), evaluation=failed, **impossible,
        )  # fmt: skip
    assert [r.split(":")[0] for r in caught.value.reasons] == ["f1", "roc_auc"]
    assert json.loads(Path(failed.path).read_text())["reasons"] == list(caught.value.reasons)

    misspelt = {**GATES, "gates": json.dumps(["f1_score>=0.5"])}
    with pytest.raises(QualityGateError) as caught:
        evaluate.python_func(
            model=model, test_data=test_data, tracking_uri=mlflow_fresh_uri, model_name="fraud-components",
            metrics=_artifact(dsl.Metrics, tmp_path, "m3"), evaluation=_artifact(dsl.Artifact, tmp_path, "e3"),
            **misspelt,
        )  # fmt: skip
    (reason,) = caught.value.reasons
    assert "f1_score: unknown metric in gate f1_score>=0.5" in reason
    assert "reports accuracy, f1, precision, recall, roc_auc" in reason


def _promote(
    tmp_path: Path, uri: str, version: str, promotion: str, name: str, aliases: Aliases | None = None
) -> tuple[str, dict, dict]:  # type: ignore[type-arg]
    aliases = aliases or Aliases()
    metrics, report = _artifact(dsl.Metrics, tmp_path, f"m-{name}"), _artifact(dsl.Artifact, tmp_path, f"p-{name}")
    status = promote.python_func(
        registered_version=version, tracking_uri=uri, model_name="fraud-components", promotion=promotion,
        champion_tolerance=0.01, task="classification", champion_alias=aliases.champion,
        challenger_alias=aliases.challenger, metrics=metrics, promotion_report=report,
    )  # fmt: skip
    return status, dict(metrics.metadata), json.loads(Path(report.path).read_text())


def _registered(uri: str, challenger_alias: str, seed: int = 3) -> str:
    """A small fraud model registered as the register step does, under ``challenger_alias``; its version."""
    from mlops_workloads.reference import build_reference_profile
    from mlops_workloads.training import data_fingerprint, evaluate_model, feature_matrix, register_model, train_model

    frame = generate_transactions(1_500, seed=seed)
    X, y = feature_matrix(frame), frame[LABEL]
    model = train_model(X, y, {"n_estimators": 10, "max_depth": 5})
    values = evaluate_model(model, X, y)
    profile = build_reference_profile(X, model.predict_proba(X)[:, 1], y.to_numpy(), values)
    registered = register_model(
        model, X.head(10), values, {}, data_fingerprint=data_fingerprint(frame), profile=profile,
        tracking_uri=uri, model_name="fraud-components", challenger_alias=challenger_alias,
    )  # fmt: skip
    return str(registered.version)


def test_promote_step_applies_the_release_policy(tmp_path: Path, ingested, mlflow_fresh_uri: str) -> None:  # type: ignore[no-untyped-def]
    """manual: the registered version stays challenger, awaiting approval; auto: it becomes champion."""
    version = _registered(mlflow_fresh_uri, CHALLENGER)
    client = mlflow.MlflowClient(tracking_uri=mlflow_fresh_uri, registry_uri=mlflow_fresh_uri)

    status, metrics, report = _promote(tmp_path, mlflow_fresh_uri, version, "manual", "manual")
    assert (status, metrics, report["awaiting_approval"]) == (
        "awaiting_approval",
        {"promoted": 0, "awaiting_approval": 1},
        True,
    )
    assert str(client.get_model_version_by_alias("fraud-components", CHALLENGER).version) == version
    assert [m.name for m in client.search_registered_models()] and not client.get_registered_model(
        "fraud-components"
    ).aliases.get(CHAMPION)

    status, metrics, report = _promote(tmp_path, mlflow_fresh_uri, version, "auto", "auto")
    assert (status, metrics, report["promoted"]) == ("promoted", {"promoted": 1, "awaiting_approval": 0}, True)
    assert str(client.get_model_version_by_alias("fraud-components", CHAMPION).version) == version


def _aliases(client: mlflow.MlflowClient) -> dict[str, str]:
    return {alias: str(v) for alias, v in client.get_registered_model("fraud-components").aliases.items()}


def test_the_release_steps_move_the_models_own_aliases(tmp_path: Path, mlflow_fresh_uri: str) -> None:
    """A model whose stack names its aliases production/candidate: the candidate is registered and promoted under
    those names, the replaced version keeps previous-champion, and the default names are never set."""
    aliases = Aliases(champion="production", challenger="candidate")
    client = mlflow.MlflowClient(tracking_uri=mlflow_fresh_uri, registry_uri=mlflow_fresh_uri)

    first = _registered(mlflow_fresh_uri, aliases.challenger)
    assert _promote(tmp_path, mlflow_fresh_uri, first, "auto", "first", aliases)[0] == "promoted"
    second = _registered(mlflow_fresh_uri, aliases.challenger, seed=3)  # same data: not worse than the champion
    assert _aliases(client) == {"production": first, "candidate": second}
    status, _, report = _promote(tmp_path, mlflow_fresh_uri, second, "auto", "second", aliases)

    assert (status, report["previous_champion_version"], report["champion_version"]) == ("promoted", first, second)
    assert _aliases(client) == {"production": second, PREVIOUS_CHAMPION: first}
