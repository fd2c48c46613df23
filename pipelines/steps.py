"""What every training pipeline shares: the component decorator, the GPU placement of the training step, the
release steps (evaluate against the gates → register with the model's contract → promote), compilation with
baked-in arguments and the local runner.

A pipeline module (``pipelines.fraud_detection``, ``pipelines.delivery_time``, a team's own) defines its data
steps and its training step, then calls :func:`release` and :func:`place_training`; it exposes ``build(placement)``
and ``pipeline = build(CPU)``. The placement is applied when the pipeline is built, since kfp records node
selectors, tolerations and accelerators in the compiled spec: the submitter builds the module at run time
(:func:`compile_pipeline`).
"""

# No `from __future__ import annotations`: kfp reads the component annotations as real types.
import json
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from kfp import compiler, dsl, kubernetes
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output
from mlops_workloads.contract import ModelContract
from mlops_workloads.images import TRAINING_IMAGE

component = dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)

Accelerator = Literal["cpu", "gpu"]
GPU_RESOURCE = "nvidia.com/gpu"
REPORT_FILE_NAMES = ("validation_report", "evaluation")
PROMOTION_REPORT = "promotion_report"
_TOLERATION_FIELDS = frozenset({"key", "operator", "value", "effect"})
# The pipeline parameters the platform sets on every run from its own flags (mlops_workloads/submission.py): a
# model's `training.parameters` may not set them. A literal, because the infra's stack validation reads it from this
# file's source (infra/config.py: platform_parameters), having no kfp to import it with.
PLATFORM_PARAMETERS = (
    "model_name",
    "source_uri",
    "tracking_uri",
    "experiment",
    "gates",
    "champion_tolerance",
    "promotion",
    "champion_alias",
    "challenger_alias",
)


@dataclass(frozen=True)
class Placement:
    """Where the training step runs. ``gpu``: it requests one ``nvidia.com/gpu``, selects every ``node_selector``
    label and tolerates every toleration (the GPU pool's, from the cloud layer); ``cpu``: none of them."""

    accelerator: Accelerator = "cpu"
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, str], ...] = ()

    @classmethod
    def parse(cls, accelerator: str, placement_json: str | None) -> "Placement":
        """``--accelerator`` and ``--gpu-placement`` (``{"nodeSelector": {...}, "tolerations": [...]}``)."""
        if accelerator not in get_args(Accelerator):
            raise ValueError(f"accelerator {accelerator!r} is not one of {list(get_args(Accelerator))}")
        if accelerator == "cpu":
            return cls()
        if not placement_json:
            raise ValueError("--accelerator gpu needs --gpu-placement (the GPU pool's nodeSelector and tolerations)")
        try:
            doc = json.loads(placement_json)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--gpu-placement is not valid JSON ({exc})") from exc
        if not isinstance(doc, dict) or set(doc) - {"nodeSelector", "tolerations"}:
            raise ValueError('--gpu-placement must be {"nodeSelector": {label: value}, "tolerations": [...]}')
        selector, tolerations = doc.get("nodeSelector") or {}, doc.get("tolerations") or []
        if not isinstance(selector, dict) or not all(isinstance(v, str) for v in selector.values()):
            raise ValueError(f"--gpu-placement nodeSelector must map label names to string values, got {selector!r}")
        for toleration in tolerations:
            if not isinstance(toleration, dict) or set(toleration) - _TOLERATION_FIELDS or "key" not in toleration:
                raise ValueError(
                    f"--gpu-placement toleration {toleration!r} must have a key and only {sorted(_TOLERATION_FIELDS)}"
                )
        return cls("gpu", dict(selector), tuple(dict(t) for t in tolerations))


CPU = Placement()


def place_training(task: dsl.PipelineTask, placement: Placement) -> dsl.PipelineTask:
    """Apply ``placement`` to the training step (kfp-kubernetes 2.17.0: kfp/kubernetes/node_selector.py line 21,
    kfp/kubernetes/toleration.py line 27; kfp 2.17.0: kfp/dsl/pipeline_task.py lines 478 and 651)."""
    if placement.accelerator == "gpu":
        task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(1)
        for label, value in placement.node_selector.items():
            kubernetes.add_node_selector(task, label_key=label, label_value=value)
        for toleration in placement.tolerations:
            kubernetes.add_toleration(
                task,
                key=toleration.get("key"),
                operator=toleration.get("operator", "Equal"),
                value=toleration.get("value"),
                effect=toleration.get("effect"),
            )
    return task.set_display_name("train (GPU node)" if placement.accelerator == "gpu" else "train")


@component
def evaluate(
    model: Input[Model],
    test_data: Input[Dataset],
    contract: str,
    gates: str,
    champion_tolerance: float,
    tracking_uri: str,
    model_name: str,
    champion_alias: str,
    metrics: Output[Metrics],
    evaluation: Output[Artifact],
) -> None:
    """Held-out metrics of the contract's task, the gates and the champion comparison; a failed gate (or a gate on a
    metric this step does not report) stops the run with reasons."""
    import json

    import mlflow
    import pandas as pd
    from mlops_workloads.contract import ModelContract
    from mlops_workloads.gates import evaluate_gates, parse_gates
    from mlops_workloads.registry import alias_metrics
    from mlops_workloads.training import holdout_metrics, load_model

    spec = ModelContract.from_json(contract)
    values = holdout_metrics(load_model(model.path), pd.read_parquet(test_data.path), spec)
    for name, value in values.items():
        metrics.log_metric(name, value)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    champion = alias_metrics(client, model_name, champion_alias)
    result = evaluate_gates(
        values,
        gates=parse_gates(json.loads(gates)),
        task=spec.task,
        champion_metrics=champion,
        tolerance=champion_tolerance,
    )
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
    contract: str,
    tracking_uri: str,
    model_name: str,
    experiment: str,
    challenger_alias: str,
) -> str:
    """Log the model with its contract, reference profile and fingerprint to MLflow; the new version gets the
    challenger alias."""
    import json

    import pandas as pd
    from mlops_workloads.contract import ModelContract
    from mlops_workloads.reference import build_reference_profile
    from mlops_workloads.training import (
        data_fingerprint,
        feature_matrix,
        load_model,
        model_outputs,
        register_model,
    )

    spec = ModelContract.from_json(contract)
    with open(evaluation.path) as handle:
        values = json.load(handle)["metrics"]
    fitted = load_model(model.path)
    # The reference is the held-out set: the model's outputs on its own training rows are overconfident and would
    # make prediction drift fire on any production window.
    holdout = pd.read_parquet(test_data.path)
    features = feature_matrix(holdout, spec.feature_names)
    profile = build_reference_profile(
        features, model_outputs(fitted, features, spec), holdout[spec.label].to_numpy(), values, contract=spec
    )
    version = register_model(
        fitted,
        features,
        values,
        fitted.get_params(),
        data_fingerprint=data_fingerprint(pd.read_parquet(train_data.path)),
        profile=profile,
        tracking_uri=tracking_uri,
        model_name=model_name,
        experiment=experiment,
        contract=spec,
        challenger_alias=challenger_alias,
    )
    return str(version.version)


@component
def promote(
    registered_version: str,
    tracking_uri: str,
    model_name: str,
    promotion: str,
    champion_tolerance: float,
    task: str,
    champion_alias: str,
    challenger_alias: str,
    metrics: Output[Metrics],
    promotion_report: Output[Artifact],
) -> str:
    """Apply the release policy to the version just registered: ``auto`` makes it champion when it is not worse than
    the champion beyond the tolerance; ``manual`` records the decision and leaves it challenger, awaiting approval."""
    import json
    from dataclasses import asdict

    import mlflow
    from mlops_workloads.registry import Aliases, alias_version, promote_challenger

    aliases = Aliases(champion_alias, challenger_alias)
    client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    challenger = alias_version(client, model_name, aliases.challenger)
    current = None if challenger is None else str(challenger.version)
    if current != registered_version:  # another run registered (or promoted) a challenger meanwhile
        raise RuntimeError(
            f"{model_name}@{aliases.challenger} is version {current}, not the version {registered_version} this run "
            "registered; decide about it with registry.promote_challenger"
        )
    decision = promote_challenger(
        client,
        model_name,
        policy=promotion,  # type: ignore[arg-type]
        tolerance=champion_tolerance,
        task=task,  # type: ignore[arg-type]
        aliases=aliases,
    )
    status = "promoted" if decision.promoted else "awaiting_approval" if decision.awaiting_approval else "refused"
    metrics.log_metric("promoted", int(decision.promoted))
    metrics.log_metric("awaiting_approval", int(decision.awaiting_approval))
    with open(promotion_report.path, "w") as handle:
        json.dump({**asdict(decision), "status": status, "awaiting_approval": decision.awaiting_approval}, handle)
    return status


def release(
    train_task: dsl.PipelineTask,
    split_task: dsl.PipelineTask,
    contract: ModelContract,
    *,
    gates: Any,
    champion_tolerance: Any,
    promotion: Any,
    champion_alias: Any,
    challenger_alias: Any,
    tracking_uri: Any,
    model_name: Any,
    experiment: Any,
) -> dsl.PipelineTask:
    """evaluate → register → promote for ``train_task``'s model (output ``model``) on ``split_task``'s
    ``train_data``/``test_data``; returns the promote task."""
    document = contract.to_json()
    evaluate_task = evaluate(
        model=train_task.outputs["model"],
        test_data=split_task.outputs["test_data"],
        contract=document,
        gates=gates,
        champion_tolerance=champion_tolerance,
        tracking_uri=tracking_uri,
        model_name=model_name,
        champion_alias=champion_alias,
    ).set_display_name("evaluate")
    register_task = register(
        model=train_task.outputs["model"],
        train_data=split_task.outputs["train_data"],
        test_data=split_task.outputs["test_data"],
        evaluation=evaluate_task.outputs["evaluation"],
        contract=document,
        tracking_uri=tracking_uri,
        model_name=model_name,
        experiment=experiment,
        challenger_alias=challenger_alias,
    ).set_display_name("register")
    return promote(
        registered_version=register_task.output,
        tracking_uri=tracking_uri,
        model_name=model_name,
        promotion=promotion,
        champion_tolerance=champion_tolerance,
        task=contract.task,
        champion_alias=champion_alias,
        challenger_alias=challenger_alias,
    ).set_display_name("promote")


def gates_parameter(gates: tuple[str, ...]) -> str:
    """A pipeline's default gates as its ``gates`` parameter (a JSON list of ``METRIC>=X`` / ``METRIC<=X``)."""
    return json.dumps(list(gates))


def pipeline_parameter_names(pipeline: Any) -> frozenset[str]:
    return frozenset(pipeline.component_spec.inputs or {})


def compile_pipeline(pipeline: Any, path: str | Path, arguments: Mapping[str, Any] | None = None) -> Path:
    """Compile ``pipeline`` to the IR YAML Kubeflow Pipelines runs; ``arguments`` become the parameters' values
    (the spec's defaults), so the file holds the whole run. An argument the pipeline lacks is refused by name."""
    unknown = sorted(set(arguments or {}) - pipeline_parameter_names(pipeline))
    if unknown:
        raise ValueError(
            f"pipeline {pipeline.name!r} has no parameter(s) {unknown}; its parameters are "
            f"{sorted(pipeline_parameter_names(pipeline))}"
        )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline, str(target), pipeline_parameters=dict(arguments or {}))
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


def run_locally(pipeline: Any, *, pipeline_root: str | Path | None = None, **params: Any) -> LocalRunResult:
    """Run ``pipeline`` with the kfp local subprocess runner (no cluster, no Docker); parameters as the pipeline's.

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
        pipeline(**params)
    except RuntimeError as error:
        raise PipelineRunError(f"training pipeline failed: {error}", _failure_reasons(root)) from error

    model_name = str(params.get("model_name", pipeline.component_spec.inputs["model_name"].default))
    promotion = _promotion_report(root, started)
    client = mlflow.MlflowClient(tracking_uri=params["tracking_uri"], registry_uri=params["tracking_uri"])
    version = client.get_model_version(model_name, str(promotion["challenger_version"]))
    run = client.get_run(str(version.run_id))
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
