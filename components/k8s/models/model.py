"""The component of one model: its identities, serving and jobs, in the owning team's namespace."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.contract import CloudPlatform
from components.images import ImageRefs
from components.k8s.common import labels, placement_fields
from components.k8s.models.identity import Workload, model_service_accounts
from components.k8s.models.jobs import JobsArgs, Urls, create_jobs
from components.k8s.models.names import MODEL_LABEL, ModelNames
from components.k8s.models.serving import ServingArgs, create_serving, feature_source_env
from components.spec import ModelSpec, PlatformSpec


@dataclass(frozen=True)
class PlatformEndpoints:
    """In-cluster URLs the workloads call; None when the service is disabled."""

    mlflow: str | None
    kfp: str | None
    feast: str | None
    pushgateway: str | None


@dataclass
class ModelArgs:
    spec: PlatformSpec
    model: ModelSpec
    cloud: CloudPlatform
    endpoints: PlatformEndpoints
    images: ImageRefs
    depends_on: list[pulumi.Resource]  # the team's namespace (and its quota and policies)
    monitoring: list[pulumi.Resource] | None  # the release installing the ServiceMonitor CRD; None: no Prometheus


class Model(pulumi.ComponentResource):
    def __init__(self, name: str, args: ModelArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:Model", name, None, opts)
        spec, model, cloud, endpoints = args.spec, args.model, args.cloud, args.endpoints
        names = ModelNames.of(model)
        meta = labels(spec, "model") | {MODEL_LABEL: model.name}
        child = pulumi.ResourceOptions(parent=self, depends_on=args.depends_on)
        workloads: tuple[Workload, ...] = ("serving", "batch", "monitoring")
        if model.training.schedule is not None:
            workloads += ("training",)
        accounts = list(model_service_accounts(spec, cloud, names, workloads, self, child).values())
        env = [{"name": "MLFLOW_TRACKING_URI", "value": endpoints.mlflow}] if endpoints.mlflow else []
        cpu = placement_fields(cloud.placements.get("cpu"))
        ready = [*args.depends_on, *accounts]
        serving_env = [*env, *feature_source_env(model, endpoints.feast)]
        create_serving(
            ServingArgs(spec, model, names, args.images["serving"], serving_env, cpu, meta, args.monitoring),
            self,
            ready,
        )
        urls = pulumi.Output.all(
            cloud.bucket_url("data"), cloud.bucket_url("monitoring"), args.images["training"]
        ).apply(lambda values: Urls(values[0], values[1], values[2], endpoints.kfp, endpoints.pushgateway))
        jobs = JobsArgs(
            spec,
            model,
            names,
            urls,
            {"serving": args.images["serving"], "monitoring": args.images["monitoring"]},
            env,
            cpu,
            placement_fields(cloud.placements.get("gpu")),
            meta,
        )
        create_jobs(jobs, self, ready)
        self.register_outputs({})
