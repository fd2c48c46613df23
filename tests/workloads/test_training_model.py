"""Training, evaluation, fingerprinting, ONNX parity and MLflow registration of the fraud model."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlops_workloads.data import generate_transactions
from mlops_workloads.features import FEATURE_NAMES, LABEL, MODEL_NAME
from mlops_workloads.reference import ARTIFACT_PATH, ReferenceProfile, build_reference_profile
from mlops_workloads.registry import CHALLENGER
from mlops_workloads.training import (
    FINGERPRINT_TAG,
    OnnxParityError,
    check_onnx_parity,
    data_fingerprint,
    evaluate_model,
    feature_matrix,
    load_model,
    onnx_probabilities,
    register_model,
    save_model,
    to_onnx,
    train_model,
)
from sklearn.metrics import f1_score, roc_auc_score

SMALL = {"n_estimators": 30}


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = generate_transactions(3000, seed=42)
    return frame.iloc[:2200].reset_index(drop=True), frame.iloc[2200:].reset_index(drop=True)


@pytest.fixture(scope="module")
def model(data: tuple[pd.DataFrame, pd.DataFrame]):  # type: ignore[no-untyped-def]
    train, _ = data
    return train_model(feature_matrix(train), train[LABEL], SMALL)


def test_train_uses_seed_params_and_serves_single_threaded(model) -> None:  # type: ignore[no-untyped-def]
    params = model.get_params()
    assert params["n_estimators"] == 30
    assert (params["max_depth"], params["min_samples_split"], params["min_samples_leaf"]) == (15, 10, 4)
    assert (params["class_weight"], params["random_state"], params["n_jobs"]) == ("balanced", 42, 1)
    assert list(model.feature_names_in_) == list(FEATURE_NAMES)


def test_training_is_reproducible(data, model) -> None:  # type: ignore[no-untyped-def]
    train, test = data
    again = train_model(feature_matrix(train), train[LABEL], SMALL)
    x = feature_matrix(test)
    np.testing.assert_array_equal(model.predict_proba(x), again.predict_proba(x))


def test_bad_params_and_missing_features_are_named(data) -> None:  # type: ignore[no-untyped-def]
    train, _ = data
    with pytest.raises(ValueError, match=r"unknown RandomForestClassifier params \['n_trees'\]"):
        train_model(feature_matrix(train), train[LABEL], {"n_trees": 10})
    with pytest.raises(KeyError, match=r"missing contract features \['amount'\]"):
        train_model(train.drop(columns=["amount"]), train[LABEL], SMALL)


def test_evaluate_reports_held_out_metrics(data, model) -> None:  # type: ignore[no-untyped-def]
    _, test = data
    metrics = evaluate_model(model, feature_matrix(test), test[LABEL])
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    x = feature_matrix(test)
    assert metrics["f1"] == pytest.approx(f1_score(test[LABEL], model.predict(x)))
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(test[LABEL], model.predict_proba(x)[:, 1]))
    assert metrics["f1"] >= 0.75
    assert metrics["roc_auc"] >= 0.85
    with pytest.raises(ValueError, match="only one class"):
        evaluate_model(model, x, np.zeros(len(x)))


def test_fingerprint_ignores_row_order_and_sees_any_change(data) -> None:  # type: ignore[no-untyped-def]
    train, _ = data
    print_ = data_fingerprint(train)
    assert len(print_) == 64
    assert data_fingerprint(train.sample(frac=1.0, random_state=3)) == print_
    changed = train.copy()
    changed.loc[0, "amount"] += 0.01
    assert data_fingerprint(changed) != print_


def test_skops_round_trip(tmp_path: Path, data, model) -> None:  # type: ignore[no-untyped-def]
    _, test = data
    save_model(model, tmp_path / "model.skops")
    x = feature_matrix(test)
    np.testing.assert_array_equal(load_model(tmp_path / "model.skops").predict_proba(x), model.predict_proba(x))


def test_onnx_matches_sklearn_probabilities(data, model) -> None:  # type: ignore[no-untyped-def]
    _, test = data
    onnx_bytes = to_onnx(model)
    x = feature_matrix(test)
    diff = check_onnx_parity(model, onnx_bytes, x)
    assert diff < 1e-4
    assert np.abs(onnx_probabilities(onnx_bytes, x) - model.predict_proba(x)[:, 1]).max() == pytest.approx(diff)


def test_onnx_parity_refuses_a_diverging_export(data, model) -> None:  # type: ignore[no-untyped-def]
    train, test = data
    other = train_model(feature_matrix(train), train[LABEL], {"n_estimators": 3, "random_state": 7})
    with pytest.raises(OnnxParityError, match=r"ONNX probabilities differ from sklearn by .* refusing to log"):
        check_onnx_parity(model, to_onnx(other), feature_matrix(test))


def test_register_model_logs_everything_and_sets_challenger(mlflow_fresh_uri: str, data, model) -> None:  # type: ignore[no-untyped-def]
    train, test = data
    x = feature_matrix(test)
    metrics = evaluate_model(model, x, test[LABEL])
    profile = build_reference_profile(x, model.predict_proba(x)[:, 1], test[LABEL].to_numpy(), metrics)
    fingerprint = data_fingerprint(train)
    version = register_model(
        model, x.head(20), metrics, model.get_params(), data_fingerprint=fingerprint, profile=profile,
        tracking_uri=mlflow_fresh_uri,
    )  # fmt: skip
    assert (version.name, str(version.version), list(version.aliases)) == (MODEL_NAME, "1", [CHALLENGER])
    assert version.tags[FINGERPRINT_TAG] == fingerprint

    client = mlflow.MlflowClient(tracking_uri=mlflow_fresh_uri, registry_uri=mlflow_fresh_uri)
    run = client.get_run(version.run_id)
    assert run.data.metrics["f1"] == pytest.approx(metrics["f1"])
    assert run.data.metrics["onnx_max_abs_diff"] < 1e-4
    assert run.data.params["n_estimators"] == "30"
    assert run.data.tags[FINGERPRINT_TAG] == fingerprint

    assert mlflow.get_tracking_uri() != mlflow_fresh_uri  # the caller's process-wide setting is left alone
    mlflow.set_tracking_uri(mlflow_fresh_uri)
    mlflow.set_registry_uri(mlflow_fresh_uri)
    try:
        loaded = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}@{CHALLENGER}")
        pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{CHALLENGER}")
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
    assert loaded.n_jobs == 1
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert pyfunc.metadata.get_input_schema().input_names() == list(FEATURE_NAMES)

    onnx_path = client.download_artifacts(version.run_id, "onnx/model.onnx")
    assert check_onnx_parity(model, Path(onnx_path).read_bytes(), x) < 1e-4
    reference = ReferenceProfile.load(client.download_artifacts(version.run_id, ARTIFACT_PATH))
    assert reference.row_count == len(x)
    assert reference.metrics["f1"] == pytest.approx(metrics["f1"])


def test_register_model_needs_exactly_one_reference(mlflow_fresh_uri: str, model) -> None:  # type: ignore[no-untyped-def]
    x = feature_matrix(generate_transactions(10))
    with pytest.raises(ValueError, match="exactly one of reference_dir= or profile="):
        register_model(model, x, {}, {}, data_fingerprint="x", tracking_uri=mlflow_fresh_uri)
