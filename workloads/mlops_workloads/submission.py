"""Submitting a training run: the TRAINING FLAGS (one parser for ``python -m mlops_workloads.submit`` and the
monitoring job's retraining), compiling the model's pipeline module with its placement and arguments, and the run
on the Kubeflow Pipelines API.

The pipeline is compiled at run time: kfp records the GPU request, node selector and tolerations of the training
step in the compiled spec, and the stack decides them (``--accelerator``, ``--gpu-placement``). The arguments are
baked into the spec as its parameters' values, so ``--compile-only`` writes exactly what is submitted.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic.alias_generators import to_snake

from mlops_workloads.release import ReleasePolicy

if TYPE_CHECKING:
    from pipelines.steps import Placement

DEFAULT_PIPELINE_MODULE = "pipelines.fraud_detection"

# An image reference the cluster can pull reproducibly: a registry path with a version tag or a digest.
_IMAGE_REFERENCE = re.compile(
    r"^[a-z0-9][a-z0-9.-]*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+"
    r"(:(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64}|:(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}@sha256:[0-9a-f]{64})$"
)
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def check_image_reference(image: str) -> str:
    """``image`` when it names a registry, a repository and a version tag or digest (never a moving tag)."""
    if not _IMAGE_REFERENCE.match(image):
        raise ValueError(
            f"training image {image!r} is not a pinned image reference: use <registry>/<repository>:<version> or "
            "<registry>/<repository>@sha256:<digest> (the image the stack deployed), never a moving tag"
        )
    return image


def with_executor_image(package: Path, image: str, target: Path) -> Path:
    """Write ``package`` (a compiled pipeline) to ``target`` with every executor's container running ``image``.

    Pipelines are compiled with the workloads package's default training image; the stack deploys its own (its
    registry, its tag or digest), so every container executor of the IR is rewritten
    (``deploymentSpec.executors.<label>.container.image``: kfp 2.17.0, kfp/compiler/pipeline_spec_builder.py
    lines 745-746 and 1411). The platform-specific document (node selectors, tolerations) holds no image and is
    kept as it is.
    """
    import yaml

    check_image_reference(image)
    documents = list(yaml.safe_load_all(package.read_text()))
    if not documents or "deploymentSpec" not in documents[0]:
        raise ValueError(f"{package} is not a compiled KFP pipeline (no deploymentSpec)")
    executors = documents[0]["deploymentSpec"].get("executors", {})
    containers = [e["container"] for e in executors.values() if "container" in e]
    if not containers:
        raise ValueError(f"{package} has no container executor to run {image}")
    for container in containers:
        container["image"] = image
    target.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return target


def _parameters(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"--pipeline-parameters is not valid JSON ({exc}); pass an object, e.g. '{{\"nEstimators\": 300}}'"
        ) from exc
    if not isinstance(doc, dict):
        raise ValueError(f"--pipeline-parameters must be a JSON object, got {type(doc).__name__}")
    return {to_snake(str(key)): value for key, value in doc.items()}


@dataclass(frozen=True)
class TrainingRequest:
    """What one training run of a model needs, from the TRAINING FLAGS."""

    pipeline_module: str = DEFAULT_PIPELINE_MODULE
    parameters: Mapping[str, Any] = field(default_factory=dict)
    train_source: str | None = None
    training_image: str | None = None
    accelerator: str = "cpu"
    gpu_placement: str | None = None
    experiment: str | None = None
    release: ReleasePolicy = field(default_factory=ReleasePolicy)

    def __post_init__(self) -> None:
        if not _MODULE.match(self.pipeline_module):
            raise ValueError(
                f"--pipeline-module {self.pipeline_module!r} is not a module path (e.g. pipelines.fraud_detection)"
            )
        if self.training_image is not None:
            check_image_reference(self.training_image)
        self.placement()  # refuses a bad --accelerator / --gpu-placement before anything is compiled

    def placement(self) -> Placement:
        from pipelines.steps import Placement

        return Placement.parse(self.accelerator, self.gpu_placement)

    def arguments(self, *, model_name: str, tracking_uri: str | None) -> dict[str, Any]:
        """The pipeline's parameter values: the module's own parameters, then the platform's (source, tracking,
        model, experiment, release policy), which a module parameter of the same name may not override."""
        from pipelines.steps import PLATFORM_PARAMETERS

        platform: dict[str, Any] = {"model_name": model_name, **self.release.pipeline_arguments()}
        if self.train_source:
            platform["source_uri"] = self.train_source
        if tracking_uri:
            platform["tracking_uri"] = tracking_uri
        if self.experiment:
            platform["experiment"] = self.experiment
        clashes = sorted(set(self.parameters) & set(PLATFORM_PARAMETERS))
        if clashes:
            raise ValueError(
                f"--pipeline-parameters sets {clashes}, which the platform sets from its own flags; remove them"
            )
        return {**self.parameters, **platform}

    def compile(self, target: Path, *, model_name: str, tracking_uri: str | None) -> Path:
        """Compile the module's pipeline for this request to ``target`` (with the stack's image when given)."""
        from pipelines.steps import compile_pipeline

        try:
            module = importlib.import_module(self.pipeline_module)
        except ModuleNotFoundError as exc:
            raise ValueError(f"--pipeline-module {self.pipeline_module!r} cannot be imported ({exc})") from exc
        build = getattr(module, "build", None)
        if not callable(build):
            raise ValueError(
                f"--pipeline-module {self.pipeline_module!r} has no build(placement) function; a pipeline module "
                "exposes build(placement) and pipeline = build() (see pipelines/steps.py)"
            )
        arguments = self.arguments(model_name=model_name, tracking_uri=tracking_uri)
        compiled = compile_pipeline(build(self.placement()), target, arguments)
        if self.training_image:
            with_executor_image(compiled, self.training_image, compiled)
        return compiled


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The TRAINING FLAGS (MODELS_INTERFACE.md), shared by ``mlops_workloads.submit`` and the monitoring job."""
    group = parser.add_argument_group("training run (the stack's training entry of the model)")
    group.add_argument("--pipeline-module", default=DEFAULT_PIPELINE_MODULE,
                       help="module exposing build(placement) and pipeline, e.g. pipelines.delivery_time")  # fmt: skip
    group.add_argument("--pipeline-parameters", default="{}",
                       help="JSON object of the pipeline's own parameters (camelCase or snake_case names)")  # fmt: skip
    group.add_argument("--train-source", help="data the training pipeline reads (file, directory or bucket prefix)")
    group.add_argument("--training-image", help="image of every pipeline step (the stack's training image, pinned)")
    group.add_argument("--accelerator", choices=["cpu", "gpu"], default="cpu",
                       help="gpu: the training step requests nvidia.com/gpu 1 on the GPU pool")  # fmt: skip
    group.add_argument("--gpu-placement", help='GPU pool placement: {"nodeSelector": {...}, "tolerations": [...]}')
    group.add_argument("--experiment", help="KFP and MLflow experiment of the runs (default: the model name)")
    ReleasePolicy.add_arguments(parser)


def training_request(args: argparse.Namespace) -> TrainingRequest:
    return TrainingRequest(
        pipeline_module=args.pipeline_module,
        parameters=_parameters(args.pipeline_parameters),
        train_source=args.train_source,
        training_image=args.training_image,
        accelerator=args.accelerator,
        gpu_placement=args.gpu_placement,
        experiment=args.experiment,
        release=ReleasePolicy.from_arguments(args),
    )


@dataclass(frozen=True)
class SubmittedRun:
    run_id: str
    run_name: str
    experiment: str


def submit_run(
    request: TrainingRequest,
    *,
    host: str,
    model_name: str,
    tracking_uri: str | None,
    run_prefix: str = "train",
    client_factory: Callable[[str], Any] | None = None,
) -> SubmittedRun:
    """Compile the request and create one run of it on the KFP API at ``host`` (caching off: a run must read the
    current data, not replay a cached step)."""
    if not request.training_image:
        raise ValueError("a Kubeflow run needs --training-image: the image the stack deployed")
    client = (client_factory or _kfp_client)(host)
    run_name = f"{run_prefix}-{model_name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    experiment = request.experiment or model_name
    with tempfile.TemporaryDirectory(prefix="pipeline-") as scratch:
        package = request.compile(Path(scratch) / "pipeline.yaml", model_name=model_name, tracking_uri=tracking_uri)
        result = client.create_run_from_pipeline_package(
            pipeline_file=str(package),
            arguments={},  # every value is in the package (compile bakes them in)
            run_name=run_name,
            experiment_name=experiment,
            enable_caching=False,
        )
    return SubmittedRun(str(result.run_id), run_name, experiment)


def _kfp_client(host: str) -> Any:
    import kfp

    return kfp.Client(host=host)
