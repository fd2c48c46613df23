"""The ML workloads the platform hosts: one `Model` component per entry of `mlops:models` (components/k8s/models/),
and in every workload namespace the `mlops-platform` settings pipelines and notebooks read."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.contract import CloudPlatform
from components.images import ImageRefs
from components.k8s.common import labels, placement_fields
from components.k8s.models import Model, ModelArgs
from components.k8s.models.model import PlatformEndpoints
from components.spec import PlatformSpec

__all__ = ["PlatformEndpoints", "Workloads", "WorkloadsArgs"]


@dataclass
class WorkloadsArgs:
    spec: PlatformSpec
    cloud: CloudPlatform
    endpoints: PlatformEndpoints
    images: ImageRefs
    namespaces: dict[str, pulumi.Resource]  # the workload namespaces by name (ml-workloads and the teams')
    monitoring: list[pulumi.Resource] | None


def platform_settings(
    cloud: CloudPlatform, endpoints: PlatformEndpoints, images: ImageRefs
) -> dict[str, pulumi.Input[str]]:
    """What pipelines and notebooks need to know about the platform, in one place per workload namespace."""
    gpu = cloud.placements.get("gpu")
    return {
        "MLFLOW_TRACKING_URI": endpoints.mlflow or "",
        "KFP_HOST": endpoints.kfp or "",
        "FEAST_FEATURE_SERVER_URL": endpoints.feast or "",
        "PUSHGATEWAY_URL": endpoints.pushgateway or "",
        "DATA_URI": cloud.bucket_url("data"),
        "TRAINING_IMAGE": images["training"],
        "CPU_PLACEMENT": json.dumps(placement_fields(cloud.placements.get("cpu")), sort_keys=True),
        "GPU_PLACEMENT": json.dumps(placement_fields(gpu), sort_keys=True) if gpu else "{}",
    }


class Workloads(pulumi.ComponentResource):
    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:Workloads", name, None, opts)
        spec = args.spec
        settings = platform_settings(args.cloud, args.endpoints, args.images)
        for namespace, resource in args.namespaces.items():
            k8s.core.v1.ConfigMap(
                f"{namespace}-platform-settings",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name="mlops-platform", namespace=namespace, labels=labels(spec, "settings")
                ),
                data=settings,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[resource]),
            )
        for model in spec.models:
            Model(
                model.name,
                ModelArgs(
                    spec,
                    model,
                    args.cloud,
                    args.endpoints,
                    args.images,
                    [args.namespaces[model.team]],
                    args.monitoring,
                ),
                pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})
