"""The whole pipeline under the kfp local runner (subprocesses, no cluster): a registered run and a gated run.

Each step is a fresh Python process importing pandas, scikit-learn and MLflow, so one run takes about a minute on
two shared cores; test_pipeline_components.py covers the same step functions in-process for the fast selection.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlops_workloads.data import generate_transactions, write_partitions
from mlops_workloads.registry import CHALLENGER

from pipelines.fraud_detection import run_locally
from pipelines.steps import PipelineRunError

pytestmark = pytest.mark.slow


def test_local_run_registers_a_challenger_then_a_failing_gate_stops_the_next(
    tmp_path: Path, mlflow_fresh_uri: str
) -> None:
    write_partitions(generate_transactions(3000, seed=42, days=4), tmp_path / "raw")
    common = {"source_uri": str(tmp_path / "raw"), "tracking_uri": mlflow_fresh_uri, "n_estimators": 50}

    result = run_locally(pipeline_root=tmp_path / "run-1", promotion="manual", **common)
    assert (result.version, result.aliases) == ("1", (CHALLENGER,))  # manual: it waits for an approval
    assert (result.promotion["status"], result.promotion["awaiting_approval"]) == ("awaiting_approval", True)
    for metric, minimum in {"f1": 0.75, "precision": 0.70, "recall": 0.60, "roc_auc": 0.85}.items():
        assert result.metrics[metric] >= minimum
    client = mlflow.MlflowClient(tracking_uri=mlflow_fresh_uri, registry_uri=mlflow_fresh_uri)
    run = client.get_run(result.run_id)
    assert run.data.params["n_estimators"] == "50"
    assert {a.path for a in client.list_artifacts(result.run_id)} >= {"onnx", "reference"}

    with pytest.raises(PipelineRunError, match="training pipeline failed") as caught:
        run_locally(pipeline_root=tmp_path / "run-2", gates='["f1>=0.9999", "roc_auc>=1.01"]', **common)
    assert [reason.split(":")[0] for reason in caught.value.reasons] == ["f1", "roc_auc"]
    assert "< threshold 1.0100" in str(caught.value)
    # The gated run registered nothing: version 1 is still the only one, still the challenger.
    versions = client.search_model_versions("name='fraud-detection'")
    assert [str(v.version) for v in versions] == ["1"]


def test_the_delivery_time_model_trains_registers_its_contract_and_is_promoted(
    tmp_path: Path, mlflow_fresh_uri: str
) -> None:
    """The second reference model (regression, no Feast) through the same runner, release steps and registry."""
    from mlops_workloads.contract import load_contract
    from mlops_workloads.delivery_time import DELIVERY_CONTRACT, MODEL_NAME, generate_deliveries
    from mlops_workloads.registry import CHAMPION

    from pipelines.delivery_time import run_locally as run_delivery

    generate_deliveries(1_200).to_parquet(tmp_path / "orders.parquet")
    result = run_delivery(
        pipeline_root=tmp_path / "run", source_uri=str(tmp_path / "orders.parquet"), tracking_uri=mlflow_fresh_uri,
        promotion="auto", n_estimators=30,
    )  # fmt: skip
    assert (result.model_name, result.aliases, result.promotion["status"]) == (MODEL_NAME, (CHAMPION,), "promoted")
    assert result.metrics["rmse"] <= 8 and result.metrics["r2"] >= 0.7
    assert not {"f1", "roc_auc"} & set(result.metrics)  # regression metrics, not the fraud model's
    client = mlflow.MlflowClient(tracking_uri=mlflow_fresh_uri, registry_uri=mlflow_fresh_uri)
    assert load_contract(client, MODEL_NAME, result.version) == DELIVERY_CONTRACT
    source = client.get_model_version(MODEL_NAME, result.version).source
    mlflow.set_tracking_uri(mlflow_fresh_uri)  # a `models:/m-…` source resolves through the process-wide store
    try:
        signature = mlflow.models.get_model_info(source).signature
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    assert signature is not None and signature.inputs.input_names() == list(DELIVERY_CONTRACT.feature_names)
