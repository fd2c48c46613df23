"""The fraud-detection training pipeline (Kubeflow Pipelines v2).

``ingest → validate → engineer features → train → evaluate (quality gates) → register (MLflow, alias challenger)
→ promote (``promotion=auto``: champion; ``manual``: stays challenger, awaiting approval)``

Components are thin: each one calls a plain function from ``mlops_workloads`` (so the logic is unit-tested without
kfp) and runs in the pinned training image, which has every dependency baked in. ``use_gpu`` runs the training step
on a GPU node (toleration ``nvidia.com/gpu`` + node selector ``gpu-enabled=true``); kfp local ignores those settings.
``run_locally`` executes the same pipeline in subprocesses for tests, the demo and the monitoring job's retraining.
"""

# No `from __future__ import annotations`: kfp reads the component annotations as real types.
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfp import compiler, dsl, kubernetes
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output
from mlops_workloads.features import MODEL_NAME
from mlops_workloads.gates import DEFAULT_THRESHOLDS, DEFAULT_TOLERANCE
from mlops_workloads.images import TRAINING_IMAGE
from mlops_workloads.release import DEFAULT_PROMOTION
from mlops_workloads.training import DEFAULT_EXPERIMENT, DEFAULT_PARAMS
from mlops_workloads.validation import MAX_NULL_FRACTION, MIN_ROWS

PIPELINE_NAME = "fraud-training-pipeline"
GPU_TOLERATION_KEY = "nvidia.com/gpu"
GPU_NODE_LABEL = ("gpu-enabled", "true")
REPORT_FILE_NAMES = ("validation_report", "evaluation")
PROMOTION_REPORT = "promotion_report"

component = dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)


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


@component
def evaluate(
    model: Input[Model],
    test_data: Input[Dataset],
    min_f1: float,
    min_precision: float,
    min_recall: float,
    min_roc_auc: float,
    champion_tolerance: float,
    tracking_uri: str,
    model_name: str,
    metrics: Output[Metrics],
    evaluation: Output[Artifact],
) -> None:
    """Held-out metrics, threshold gates and the champion comparison; a failed gate stops the run with reasons."""
    import json

    import mlflow
    import pandas as pd
    from mlops_workloads.features import LABEL
    from mlops_workloads.gates import evaluate_gates
    from mlops_workloads.registry import alias_metrics
    from mlops_workloads.training import evaluate_model, feature_matrix, load_model

    frame = pd.read_parquet(test_data.path)
    values = evaluate_model(load_model(model.path), feature_matrix(frame), frame[LABEL])
    for name, value in values.items():
        metrics.log_metric(name, value)
    champion = alias_metrics(mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri), model_name)
    thresholds = {"f1": min_f1, "precision": min_precision, "recall": min_recall, "roc_auc": min_roc_auc}
    result = evaluate_gates(values, thresholds=thresholds, champion_metrics=champion, tolerance=champion_tolerance)
    with open(evaluation.path, "w") as handle:
        json.dump(
            {"passed": result.passed, "reasons": list(result.reasons), "metrics": values, "champion_metrics": champion},
            handle,
        )
    result.raise_if_failed()


@component
def register(
    model: Input[Model],
    train_data: Input[Dataset],
    test_data: Input[Dataset],
    evaluation: Input[Artifact],
    tracking_uri: str,
    model_name: str,
    experiment: str,
) -> str:
    """Log model, ONNX variant, reference profile and fingerprint to MLflow; new version gets alias challenger."""
    import json

    import pandas as pd
    from mlops_workloads.features import LABEL
    from mlops_workloads.reference import build_reference_profile
    from mlops_workloads.training import data_fingerprint, feature_matrix, load_model, register_model

    with open(evaluation.path) as handle:
        values = json.load(handle)["metrics"]
    fitted = load_model(model.path)
    train_frame = pd.read_parquet(train_data.path)
    # The reference is the held-out set: the model's scores on its own training rows are overconfident and would
    # make prediction drift fire on any production window.
    holdout = pd.read_parquet(test_data.path)
    features = feature_matrix(holdout)
    profile = build_reference_profile(features, fitted.predict_proba(features)[:, 1], holdout[LABEL].to_numpy(), values)
    version = register_model(
        fitted,
        features,
        values,
        fitted.get_params(),
        data_fingerprint=data_fingerprint(train_frame),
        profile=profile,
        tracking_uri=tracking_uri,
        model_name=model_name,
        experiment=experiment,
    )
    return str(version.version)


@component
def promote(
    registered_version: str,
    tracking_uri: str,
    model_name: str,
    promotion: str,
    champion_tolerance: float,
    metrics: Output[Metrics],
    promotion_report: Output[Artifact],
) -> str:
    """Apply the release policy to the version just registered: ``auto`` makes it champion when it is not worse than
    the champion beyond the tolerance; ``manual`` records the decision and leaves it challenger, awaiting approval."""
    import json
    from dataclasses import asdict

    import mlflow
    from mlops_workloads.registry import CHALLENGER, alias_version, promote_challenger

    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    challenger = alias_version(client, model_name, CHALLENGER)
    current = None if challenger is None else str(challenger.version)
    if current != registered_version:  # another run registered (or promoted) a challenger meanwhile
        raise RuntimeError(
            f"{model_name}@{CHALLENGER} is version {current}, not the version {registered_version} this run "
            "registered; decide about it with registry.promote_challenger"
        )
    decision = promote_challenger(client, model_name, policy=promotion, tolerance=champion_tolerance)  # type: ignore[arg-type]
    status = "promoted" if decision.promoted else "awaiting_approval" if decision.awaiting_approval else "refused"
    metrics.log_metric("promoted", int(decision.promoted))
    metrics.log_metric("awaiting_approval", int(decision.awaiting_approval))
    with open(promotion_report.path, "w") as handle:
        json.dump({**asdict(decision), "status": status, "awaiting_approval": decision.awaiting_approval}, handle)
    return status


def _train_evaluate_register(
    engineered: dsl.PipelineTask, params: dict[str, Any], *, gpu: bool
) -> tuple[dsl.PipelineTask, dsl.PipelineTask]:
    """The train → evaluate → register chain; called once per branch of the GPU condition."""
    train_task = train(
        train_data=engineered.outputs["train_data"],
        n_estimators=params["n_estimators"],
        max_depth=params["max_depth"],
        min_samples_split=params["min_samples_split"],
        min_samples_leaf=params["min_samples_leaf"],
        class_weight=params["class_weight"],
        random_state=params["random_state"],
    ).set_display_name("train (GPU node)" if gpu else "train")
    if gpu:
        kubernetes.add_toleration(train_task, key=GPU_TOLERATION_KEY, operator="Exists", effect="NoSchedule")
        kubernetes.add_node_selector(train_task, label_key=GPU_NODE_LABEL[0], label_value=GPU_NODE_LABEL[1])
        train_task.set_accelerator_type(GPU_TOLERATION_KEY).set_accelerator_limit(1)
    evaluate_task = evaluate(
        model=train_task.outputs["model"],
        test_data=engineered.outputs["test_data"],
        min_f1=params["min_f1"],
        min_precision=params["min_precision"],
        min_recall=params["min_recall"],
        min_roc_auc=params["min_roc_auc"],
        champion_tolerance=params["champion_tolerance"],
        tracking_uri=params["tracking_uri"],
        model_name=params["model_name"],
    ).set_display_name("evaluate")
    register_task = register(
        model=train_task.outputs["model"],
        train_data=engineered.outputs["train_data"],
        test_data=engineered.outputs["test_data"],
        evaluation=evaluate_task.outputs["evaluation"],
        tracking_uri=params["tracking_uri"],
        model_name=params["model_name"],
        experiment=params["experiment"],
    ).set_display_name("register")
    promote(
        registered_version=register_task.output,
        tracking_uri=params["tracking_uri"],
        model_name=params["model_name"],
        promotion=params["promotion"],
        champion_tolerance=params["champion_tolerance"],
    ).set_display_name("promote")
    return train_task, register_task


@dsl.pipeline(name=PIPELINE_NAME, description="Train, gate and register the card-fraud model")
def fraud_training_pipeline(
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
    min_f1: float = DEFAULT_THRESHOLDS["f1"],
    min_precision: float = DEFAULT_THRESHOLDS["precision"],
    min_recall: float = DEFAULT_THRESHOLDS["recall"],
    min_roc_auc: float = DEFAULT_THRESHOLDS["roc_auc"],
    champion_tolerance: float = DEFAULT_TOLERANCE,
    promotion: str = DEFAULT_PROMOTION,
    min_rows: int = MIN_ROWS,
    max_null_fraction: float = MAX_NULL_FRACTION,
    test_fraction: float = 0.25,
    split_seed: int = 42,
    use_gpu: bool = False,
    feature_repo: str = "",
) -> None:
    params = dict(locals())
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
    with dsl.If(use_gpu == True, name="gpu"):  # noqa: E712 — kfp builds the condition from the comparison
        _train_evaluate_register(engineered, params, gpu=True)
    with dsl.Else(name="cpu"):
        _train_evaluate_register(engineered, params, gpu=False)


def compile_pipeline(path: str | Path) -> Path:
    """Compile the pipeline to the IR YAML that Kubeflow Pipelines uploads."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(fraud_training_pipeline, str(target))
    return target


class PipelineRunError(RuntimeError):
    """A local pipeline run failed; ``reasons`` holds the validation problems or failed gates that stopped it."""

    def __init__(self, message: str, reasons: tuple[str, ...]) -> None:
        self.reasons = reasons
        detail = "\n  - ".join(reasons) if reasons else "(no gate or validation report; see the task logs above)"
        super().__init__(f"{message}\n  - {detail}")


@dataclass(frozen=True)
class LocalRunResult:
    model_name: str
    version: str
    run_id: str
    aliases: tuple[str, ...]
    metrics: dict[str, float]
    pipeline_root: Path
    promotion: dict[str, Any]  # the promote step's decision: status promoted / awaiting_approval / refused


def _failure_reasons(pipeline_root: Path) -> tuple[str, ...]:
    """Collect the reasons written by the validate/evaluate steps before they stopped the run."""
    reasons: list[str] = []
    for name in REPORT_FILE_NAMES:
        for report in sorted(pipeline_root.rglob(name)):
            if report.is_file():
                doc = json.loads(report.read_text())
                if not doc.get("passed", True):
                    reasons.extend(doc.get("reasons", []))
    return tuple(reasons)


def run_locally(*, pipeline_root: str | Path | None = None, **params: Any) -> LocalRunResult:
    """Run the pipeline with the kfp local subprocess runner (no cluster, no Docker); parameters as the pipeline's.

    Returns the registered version with the promote step's decision (``promotion=auto`` makes it champion);
    raises :class:`PipelineRunError` with every validation problem or failed gate when the run stops.
    """
    import mlflow
    from kfp import local

    for required in ("source_uri", "tracking_uri"):
        if not params.get(required):
            raise ValueError(f"run_locally needs {required}= (e.g. a Parquet path and a sqlite:/// or http URI)")
    root = Path(pipeline_root) if pipeline_root else Path(tempfile.mkdtemp(prefix="kfp-local-"))
    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    started = time.time() - 1.0  # file times have a coarse resolution on some filesystems
    try:
        fraud_training_pipeline(**params)
    except RuntimeError as error:
        raise PipelineRunError(f"training pipeline failed: {error}", _failure_reasons(root)) from error

    model_name = params.get("model_name", MODEL_NAME)
    promotion = _promotion_report(root, started)
    client = mlflow.MlflowClient(tracking_uri=params["tracking_uri"], registry_uri=params["tracking_uri"])
    version = client.get_model_version(model_name, str(promotion["challenger_version"]))
    run = client.get_run(version.run_id)
    return LocalRunResult(
        model_name=model_name,
        version=str(version.version),
        run_id=str(version.run_id),
        aliases=tuple(version.aliases),
        metrics={k: float(v) for k, v in run.data.metrics.items()},
        pipeline_root=root,
        promotion=promotion,
    )


def _promotion_report(pipeline_root: Path, since: float) -> dict[str, Any]:
    """The promote step's decision of the run that started at ``since`` (a pipeline root may hold earlier runs)."""
    reports = [p for p in pipeline_root.rglob(PROMOTION_REPORT) if p.is_file() and p.stat().st_mtime >= since]
    if not reports:
        raise PipelineRunError("the training pipeline finished without a promotion decision", ())
    return dict(json.loads(max(reports, key=lambda p: p.stat().st_mtime).read_text()))
