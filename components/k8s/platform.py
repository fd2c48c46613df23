"""The in-cluster platform: one component composed of small ones, all built on the cloud contract alone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components.contract import CloudPlatform
from components.images import ImageRefs
from components.k8s.common import BOOTSTRAP_NS, FEAST_NS, GPU_NS, KUBEFLOW_NS, MLFLOW_NS, MONITORING_NS
from components.k8s.database import DatabaseBootstrap, DatabaseBootstrapArgs
from components.k8s.feast import Feast, FeastArgs
from components.k8s.gpu import GpuArgs, GpuPlumbing
from components.k8s.kubeflow import KubeflowArgs, KubeflowPipelines
from components.k8s.mlflow import Mlflow, MlflowArgs
from components.k8s.observability import AlertingSecrets, Observability, ObservabilityArgs
from components.k8s.rbac import PlatformRbac, RbacArgs
from components.k8s.tenancy import Tenancy, TenancyArgs, workload_namespaces
from components.k8s.workloads import PlatformEndpoints, Workloads, WorkloadsArgs
from components.renames import formerly
from components.spec import PlatformSpec


@dataclass
class InClusterPlatformArgs:
    spec: PlatformSpec
    cloud: CloudPlatform
    alerting: AlertingSecrets
    images: ImageRefs  # one `<repository>:<tag>@<digest>` per workload image (components/images.py)


class InClusterPlatform(pulumi.ComponentResource):
    """Tenancy, RBAC, database bootstrap, MLflow, Kubeflow Pipelines, Feast, observability, GPU plumbing and the
    platform-deployed workloads; each service only when `spec.services` enables it."""

    def __init__(self, name: str, args: InClusterPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:InClusterPlatform", name, None, formerly(opts, "mlops:k8s:Platform"))
        spec, cloud = args.spec, args.cloud
        services = spec.services
        parent = pulumi.ResourceOptions(parent=self)
        self.tenancy = Tenancy("tenancy", TenancyArgs(spec, cloud), parent)
        ns = self.tenancy.namespaces
        PlatformRbac("rbac", RbacArgs(spec, cloud, workload_namespaces(spec), list(ns.values())), parent)

        database = DatabaseBootstrap("database", DatabaseBootstrapArgs(spec, cloud, ns[BOOTSTRAP_NS]), parent)
        db_ready: list[pulumi.Resource] = [database.job]

        self.observability: Observability | None = None
        monitoring_ready: list[pulumi.Resource] | None = None
        if services.monitoring:
            self.observability = Observability(
                "observability", ObservabilityArgs(spec, cloud, args.alerting, [ns[MONITORING_NS]]), parent
            )
            monitoring_ready = [self.observability.release]

        self.mlflow: Mlflow | None = None
        if services.mlflow:
            self.mlflow = Mlflow(
                "mlflow",
                MlflowArgs(
                    spec, cloud, database.logins["mlflow"], args.images, [ns[MLFLOW_NS], *db_ready], monitoring_ready
                ),
                parent,
            )
        self.kubeflow: KubeflowPipelines | None = None
        if services.kubeflow:
            self.kubeflow = KubeflowPipelines(
                "kubeflow", KubeflowArgs(spec, cloud, ns[KUBEFLOW_NS], ns[BOOTSTRAP_NS]), parent
            )
        self.feast: Feast | None = None
        if services.feast:
            self.feast = Feast(
                "feast",
                FeastArgs(spec, cloud, database.logins["feast"], args.images, [ns[FEAST_NS], *db_ready]),
                parent,
            )
        if GPU_NS in ns:
            GpuPlumbing("gpu", GpuArgs(spec, cloud, [ns[GPU_NS]], monitoring_ready), parent)

        self.endpoints = PlatformEndpoints(
            mlflow=self.mlflow.url if self.mlflow else None,
            kfp=self.kubeflow.api_url if self.kubeflow else None,
            feast=self.feast.url if self.feast else None,
            pushgateway=self.observability.pushgateway_url if self.observability else None,
        )
        Workloads(
            "workloads",
            WorkloadsArgs(
                spec,
                cloud,
                self.endpoints,
                args.images,
                {name: ns[name] for name in workload_namespaces(spec)},
                monitoring_ready,
            ),
            parent,
        )
        self.register_outputs(dict(self.stack_outputs()))

    def stack_outputs(self) -> Mapping[str, pulumi.Input[object]]:
        """In-cluster service URLs (reach them with `kubectl port-forward`) and the namespaces created."""
        outputs: dict[str, pulumi.Input[object]] = {"namespaces": sorted(self.tenancy.namespaces)}
        endpoints = {
            "mlflowUrl": self.endpoints.mlflow,
            "kfpApiUrl": self.endpoints.kfp,
            "feastUrl": self.endpoints.feast,
            "pushgatewayUrl": self.endpoints.pushgateway,
            "grafanaUrl": self.observability.grafana_url if self.observability else None,
        }
        outputs |= {key: value for key, value in endpoints.items() if value is not None}
        return outputs
