"""A model's CronJobs and their command lines (the flags of MODELS_INTERFACE.md, exactly):

- batch scoring: `python -m mlops_workloads.batch` (serving image), `<data>/<m>/inputs` -> `<data>/<m>/predictions`;
- monitoring: `python -m mlops_workloads.monitoring` (monitoring image), retraining through KFP on drift;
- training, when `training.schedule` is set: `python -m mlops_workloads.submit` (monitoring image: kfp and the
  pipeline modules) submits the model's pipeline to KFP.

Monitoring's retraining and the submitter share the TRAINING FLAGS, built once here (`training_flags`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.k8s.common import resources
from components.k8s.models.names import ModelNames
from components.k8s.models.pods import container, cron_job, pod
from components.spec import ModelSpec, PlatformSpec


@dataclass(frozen=True)
class Urls:
    """Resolved URLs a model's jobs name: its buckets and the platform services (None: service disabled)."""

    data: str  # s3://bucket or gs://bucket
    monitoring: str
    training_image: str
    kfp: str | None
    pushgateway: str | None


def _push(urls: Urls) -> list[str]:
    return ["--pushgateway", urls.pushgateway] if urls.pushgateway else []


def release_flags(model: ModelSpec) -> list[str]:
    """The release policy: one `--gate <metric><op><value>` per gate, the champion tolerance, the promotion mode and
    the registry aliases promotion moves (`serving.aliases`)."""
    gates, aliases = model.quality_gates, model.serving.aliases
    flags = [arg for metric, value in sorted(gates.min.items()) for arg in ("--gate", f"{metric}>={value}")]
    flags += [arg for metric, value in sorted(gates.max.items()) for arg in ("--gate", f"{metric}<={value}")]
    return [
        *flags,
        "--champion-tolerance", str(gates.champion_tolerance),
        "--promotion", model.promotion,
        "--champion-alias", aliases.champion,
        "--challenger-alias", aliases.challenger,
    ]  # fmt: skip


def _under(bucket_url: str, prefix: str) -> str:
    """The URL of ``prefix`` (``<model>/inputs/``) in the bucket at ``bucket_url``, without a trailing slash."""
    return f"{bucket_url}/{prefix.rstrip('/')}"


def training_flags(model: ModelSpec, names: ModelNames, urls: Urls, gpu_placement: Mapping[str, Any]) -> list[str]:
    """What the pipeline runs and on what: module, parameters, source, image, accelerator, experiment, release."""
    training = model.training
    flags = [
        "--pipeline-module", training.pipeline,
        "--pipeline-parameters", json.dumps(training.parameters, sort_keys=True),
        "--train-source", _under(urls.data, names.inputs_prefix),
        "--training-image", urls.training_image,
        "--accelerator", training.accelerator,
    ]  # fmt: skip
    if training.accelerator == "gpu":
        flags += ["--gpu-placement", json.dumps(dict(gpu_placement), sort_keys=True)]
    return [*flags, "--experiment", model.name, *release_flags(model)]


def batch_args(model: ModelSpec, names: ModelNames, urls: Urls) -> list[str]:
    return [
        "--model-name", model.name,
        "--alias", model.serving.aliases.champion,
        "--data-root", _under(urls.data, names.inputs_prefix),
        "--output-root", _under(urls.data, names.predictions_prefix),
        *_push(urls),
    ]  # fmt: skip


def monitoring_args(model: ModelSpec, names: ModelNames, urls: Urls, gpu_placement: Mapping[str, Any]) -> list[str]:
    monitoring = model.monitoring
    args = [
        "--model-name", model.name,
        "--alias", model.serving.aliases.champion,
        "--current", _under(urls.data, names.predictions_prefix),
        "--report-dir", f"{urls.monitoring}/{names.model_prefix}reports",
        "--cooldown-hours", str(monitoring.retraining_cooldown_hours),
        "--drift-share", str(monitoring.drift_share),
        "--missing-share", str(monitoring.missing_share),
        *_push(urls),
    ]  # fmt: skip
    if urls.kfp:
        return [*args, "--retrain", "kfp", "--kfp-host", urls.kfp, *training_flags(model, names, urls, gpu_placement)]
    return [*args, "--retrain", "none"]


def submit_args(model: ModelSpec, names: ModelNames, urls: Urls, gpu_placement: Mapping[str, Any]) -> list[str]:
    if urls.kfp is None:
        raise ValueError(f"model {model.name!r} has a training schedule but Kubeflow Pipelines is off")
    return ["--model-name", model.name, "--kfp-host", urls.kfp, *training_flags(model, names, urls, gpu_placement)]


@dataclass(frozen=True)
class JobsArgs:
    spec: PlatformSpec
    model: ModelSpec
    names: ModelNames
    urls: pulumi.Output[Urls]
    images: Mapping[str, pulumi.Input[str]]  # serving and monitoring image refs
    env: list[dict[str, Any]]
    placement: dict[str, Any]  # the CPU pool's: the jobs themselves never need a GPU
    gpu_placement: Mapping[str, Any]  # what a GPU training step gets (`placement_fields` of the GPU pool)
    meta: dict[str, str]


def create_jobs(args: JobsArgs, parent: pulumi.Resource, depends_on: list[pulumi.Resource]) -> None:
    """Batch scoring and monitoring always; the recurring training run when the model has a schedule."""
    model, names, urls, gpu = args.model, args.names, args.urls, args.gpu_placement
    opts = pulumi.ResourceOptions(parent=parent, depends_on=depends_on)
    heavy = resources("1", "4Gi", memory_limit="8Gi")
    jobs = [
        ("batch", names.batch, model.batch.schedule, "serving", "mlops_workloads.batch", heavy,
         urls.apply(lambda u: batch_args(model, names, u))),
        ("monitoring", names.monitoring, model.monitoring.schedule, "monitoring", "mlops_workloads.monitoring", heavy,
         urls.apply(lambda u: monitoring_args(model, names, u, gpu))),
    ]  # fmt: skip
    if model.training.schedule is not None:
        jobs.append(
            ("training", names.training, model.training.schedule, "monitoring", "mlops_workloads.submit",
             resources("100m", "512Mi", memory_limit="1Gi"), urls.apply(lambda u: submit_args(model, names, u, gpu)))
        )  # fmt: skip
    for kind, name, schedule, image, module, requests, job_args in jobs:
        job = container(
            kind, args.images[image], args.env, command=["python", "-m", module], args=job_args, resources=requests
        )
        meta = args.meta | {"app.kubernetes.io/name": name}
        cron_job(
            names.resource(kind), name, names.namespace, meta, schedule, pod(name, [job], args.placement, "Never"), opts
        )
