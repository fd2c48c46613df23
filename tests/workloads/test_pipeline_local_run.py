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

from pipelines.training import PipelineRunError, run_locally

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
        run_locally(pipeline_root=tmp_path / "run-2", min_f1=0.9999, min_roc_auc=1.01, **common)
    assert [reason.split(":")[0] for reason in caught.value.reasons] == ["f1", "roc_auc"]
    assert "< threshold 1.0100" in str(caught.value)
    # The gated run registered nothing: version 1 is still the only one, still the challenger.
    versions = client.search_model_versions("name='fraud-detection'")
    assert [str(v.version) for v in versions] == ["1"]
