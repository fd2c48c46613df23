"""The delivery-time training pipeline: the second reference model (regression, no feature store).

``prepare (read, check the contract, split) → train (RandomForestRegressor) → evaluate (rmse, mae, r2 against the
gates) → register (with the delivery contract) → promote``; the release steps are the shared ones
(:mod:`pipelines.steps`). Kept small: it is the proof that nothing in the platform assumes the fraud model.
"""

# No `from __future__ import annotations`: kfp reads the component annotations as real types.
from pathlib import Path
from typing import Any

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output
from mlops_workloads.delivery_time import DEFAULT_GATES, DEFAULT_PARAMS, DELIVERY_CONTRACT, MIN_ROWS, MODEL_NAME
from mlops_workloads.gates import DEFAULT_TOLERANCE
from mlops_workloads.registry import CHALLENGER, CHAMPION
from mlops_workloads.release import DEFAULT_PROMOTION

from pipelines.steps import CPU, LocalRunResult, Placement, component, gates_parameter, place_training, release
from pipelines.steps import run_locally as run_pipeline_locally

PIPELINE_NAME = "delivery-time-training-pipeline"


@component
def prepare(
    source_uri: str,
    min_rows: int,
    test_fraction: float,
    split_seed: int,
    validation_report: Output[Artifact],
    train_data: Output[Dataset],
    test_data: Output[Dataset],
) -> None:
    """Read the orders, check them against the contract (report first, then stop on any problem), split."""
    import json

    from mlops_workloads.data import read_transactions
    from mlops_workloads.delivery_time import contract_problems
    from sklearn.model_selection import train_test_split

    frame = read_transactions(source_uri)
    problems = contract_problems(frame, min_rows=min_rows)
    with open(validation_report.path, "w") as handle:
        json.dump({"passed": not problems, "rows": len(frame), "reasons": problems}, handle)
    if problems:
        raise ValueError("delivery data violates its contract: " + "; ".join(problems))
    train, test = train_test_split(frame, test_size=test_fraction, random_state=split_seed)
    train.to_parquet(train_data.path, index=False)
    test.to_parquet(test_data.path, index=False)


@component
def train(
    train_data: Input[Dataset],
    n_estimators: int,
    max_depth: int,
    min_samples_leaf: int,
    random_state: int,
    model: Output[Model],
) -> None:
    """Fit a RandomForestRegressor on the contract features (n_jobs=1 for serving)."""
    import pandas as pd
    from mlops_workloads.delivery_time import DELIVERY_CONTRACT
    from mlops_workloads.training import feature_matrix, save_model
    from sklearn.ensemble import RandomForestRegressor

    frame = pd.read_parquet(train_data.path)
    params = {
        "n_estimators": n_estimators,
        "max_depth": max_depth,
        "min_samples_leaf": min_samples_leaf,
        "random_state": random_state,
    }
    fitted = RandomForestRegressor(**params, n_jobs=-1).fit(
        feature_matrix(frame, DELIVERY_CONTRACT.feature_names), frame[DELIVERY_CONTRACT.label]
    )
    save_model(fitted.set_params(n_jobs=1), model.path)
    model.metadata.update({k: str(v) for k, v in params.items()})


def build(placement: Placement = CPU) -> Any:
    """The pipeline with its training step placed by ``placement``."""

    @dsl.pipeline(name=PIPELINE_NAME, description="Train, gate and register the delivery-time model")
    def pipeline(
        source_uri: str,
        tracking_uri: str,
        model_name: str = MODEL_NAME,
        experiment: str = MODEL_NAME,
        n_estimators: int = DEFAULT_PARAMS["n_estimators"],
        max_depth: int = DEFAULT_PARAMS["max_depth"],
        min_samples_leaf: int = DEFAULT_PARAMS["min_samples_leaf"],
        random_state: int = DEFAULT_PARAMS["random_state"],
        gates: str = gates_parameter(DEFAULT_GATES),
        champion_tolerance: float = DEFAULT_TOLERANCE,
        promotion: str = DEFAULT_PROMOTION,
        champion_alias: str = CHAMPION,
        challenger_alias: str = CHALLENGER,
        min_rows: int = MIN_ROWS,
        test_fraction: float = 0.25,
        split_seed: int = 7,
    ) -> None:
        prepared = prepare(
            source_uri=source_uri, min_rows=min_rows, test_fraction=test_fraction, split_seed=split_seed
        ).set_display_name("prepare")
        train_task = train(
            train_data=prepared.outputs["train_data"],
            n_estimators=n_estimators,
            max_depth=max_depth,
            min_samples_leaf=min_samples_leaf,
            random_state=random_state,
        )
        release(
            place_training(train_task, placement),
            prepared,
            DELIVERY_CONTRACT,
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
