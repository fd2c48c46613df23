"""The fraud-detection training pipeline (Kubeflow Pipelines v2), the platform's first reference model.

``ingest (Feast when a feature repo is given) → validate → engineer features → train → evaluate (gates) → register
(MLflow, with the fraud contract; alias challenger) → promote (``auto``: champion; ``manual``: awaits approval)``

Components are thin: each one calls a plain function from ``mlops_workloads`` (so the logic is unit-tested without
kfp) and runs in the pinned training image, which has every dependency baked in. The release steps are shared
(:mod:`pipelines.steps`); ``build(placement)`` puts the training step on a GPU node with a GPU (kfp local ignores
placement). :func:`run_locally` executes the same pipeline in subprocesses for tests, the demo and the monitoring
job's local retraining.
"""

# No `from __future__ import annotations`: kfp reads the component annotations as real types.
from pathlib import Path
from typing import Any

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output
from mlops_workloads.features import FRAUD_CONTRACT, MODEL_NAME
from mlops_workloads.gates import DEFAULT_TOLERANCE
from mlops_workloads.registry import CHALLENGER, CHAMPION
from mlops_workloads.release import DEFAULT_PROMOTION
from mlops_workloads.training import DEFAULT_EXPERIMENT, DEFAULT_PARAMS
from mlops_workloads.validation import MAX_NULL_FRACTION, MIN_ROWS

from pipelines.steps import CPU, LocalRunResult, Placement, component, gates_parameter, place_training, release
from pipelines.steps import run_locally as run_pipeline_locally

PIPELINE_NAME = "fraud-training-pipeline"
DEFAULT_GATES = ("f1>=0.75", "precision>=0.7", "recall>=0.6", "roc_auc>=0.85")


@component
def ingest(source_uri: str, feature_repo: str, transactions: Output[Dataset]) -> int:
    """Read transactions (Parquet file or date-partitioned directory; local, s3:// or gs://).

    With ``feature_repo`` set, the source only needs the labelled events and the features come from Feast's
    point-in-time-correct historical retrieval.
    """
    from mlops_workloads.data import read_transactions
    from mlops_workloads.feature_store import training_frame

    frame = read_transactions(source_uri)
    if feature_repo:
        frame = training_frame(feature_repo, frame)
    frame.to_parquet(transactions.path, index=False)
    transactions.metadata["rows"] = len(frame)
    return len(frame)


@component
def validate(
    transactions: Input[Dataset], min_rows: int, max_null_fraction: float, validation_report: Output[Artifact]
) -> None:
    """Check the contract; write the full report, then stop the run if anything is wrong."""
    import json

    import pandas as pd
    from mlops_workloads.validation import validate_frame

    report = validate_frame(pd.read_parquet(transactions.path), min_rows=min_rows, max_null_fraction=max_null_fraction)
    with open(validation_report.path, "w") as handle:
        json.dump({"passed": report.ok, "rows": report.row_count, "reasons": list(report.problems)}, handle)
    report.raise_for_problems()


@component
def engineer_features(
    transactions: Input[Dataset],
    test_fraction: float,
    split_seed: int,
    train_data: Output[Dataset],
    test_data: Output[Dataset],
) -> None:
    """Impute, clip and type the contract features; stratified held-out split."""
    import pandas as pd
    from mlops_workloads.engineering import engineer_features as engineer
    from mlops_workloads.engineering import split_train_test

    train, test = split_train_test(
        engineer(pd.read_parquet(transactions.path)), test_fraction=test_fraction, seed=split_seed
    )
    train.to_parquet(train_data.path, index=False)
    test.to_parquet(test_data.path, index=False)
    train_data.metadata["rows"] = len(train)
    test_data.metadata["rows"] = len(test)


@component
def train(
    train_data: Input[Dataset],
    n_estimators: int,
    max_depth: int,
    min_samples_split: int,
    min_samples_leaf: int,
    class_weight: str,
    random_state: int,
    model: Output[Model],
) -> None:
    """Fit the RandomForest (the returned model has n_jobs=1 for serving)."""
    import pandas as pd
    from mlops_workloads.features import LABEL
    from mlops_workloads.training import feature_matrix, save_model, train_model

    frame = pd.read_parquet(train_data.path)
    params = {
        "n_estimators": n_estimators,
        "max_depth": max_depth,
        "min_samples_split": min_samples_split,
        "min_samples_leaf": min_samples_leaf,
        "class_weight": class_weight or None,
        "random_state": random_state,
    }
    save_model(train_model(feature_matrix(frame), frame[LABEL], params), model.path)
    model.metadata.update({k: str(v) for k, v in params.items()})


def build(placement: Placement = CPU) -> Any:
    """The pipeline with its training step placed by ``placement`` (kfp records placement at build time)."""

    @dsl.pipeline(name=PIPELINE_NAME, description="Train, gate and register the card-fraud model")
    def pipeline(
        source_uri: str,
        tracking_uri: str,
        model_name: str = MODEL_NAME,
        experiment: str = DEFAULT_EXPERIMENT,
        n_estimators: int = DEFAULT_PARAMS["n_estimators"],
        max_depth: int = DEFAULT_PARAMS["max_depth"],
        min_samples_split: int = DEFAULT_PARAMS["min_samples_split"],
        min_samples_leaf: int = DEFAULT_PARAMS["min_samples_leaf"],
        class_weight: str = DEFAULT_PARAMS["class_weight"],
        random_state: int = DEFAULT_PARAMS["random_state"],
        gates: str = gates_parameter(DEFAULT_GATES),
        champion_tolerance: float = DEFAULT_TOLERANCE,
        promotion: str = DEFAULT_PROMOTION,
        champion_alias: str = CHAMPION,
        challenger_alias: str = CHALLENGER,
        min_rows: int = MIN_ROWS,
        max_null_fraction: float = MAX_NULL_FRACTION,
        test_fraction: float = 0.25,
        split_seed: int = 42,
        feature_repo: str = "",
    ) -> None:
        ingest_task = ingest(source_uri=source_uri, feature_repo=feature_repo).set_display_name("ingest")
        validate_task = validate(
            transactions=ingest_task.outputs["transactions"], min_rows=min_rows, max_null_fraction=max_null_fraction
        ).set_display_name("validate")
        engineered = (
            engineer_features(
                transactions=ingest_task.outputs["transactions"], test_fraction=test_fraction, split_seed=split_seed
            )
            .set_display_name("engineer features")
            .after(validate_task)
        )
        train_task = train(
            train_data=engineered.outputs["train_data"],
            n_estimators=n_estimators,
            max_depth=max_depth,
            min_samples_split=min_samples_split,
            min_samples_leaf=min_samples_leaf,
            class_weight=class_weight,
            random_state=random_state,
        )
        release(
            place_training(train_task, placement),
            engineered,
            FRAUD_CONTRACT,
            gates=gates,
            champion_tolerance=champion_tolerance,
            promotion=promotion,
            champion_alias=champion_alias,
            challenger_alias=challenger_alias,
            tracking_uri=tracking_uri,
            model_name=model_name,
            experiment=experiment,
        )

    return pipeline


pipeline = build()


def run_locally(*, pipeline_root: str | Path | None = None, **params: Any) -> LocalRunResult:
    """:func:`pipelines.steps.run_locally` of this pipeline."""
    return run_pipeline_locally(pipeline, pipeline_root=pipeline_root, **params)
