"""The in-cluster side of the ML workloads: online inference, the batch-scoring and the model-monitoring CronJobs.

Images and entry points come from the workloads package (`python -m mlops_workloads.serving|batch|monitoring`).
Each workload has its own service account and only the cloud access it needs; the inference service reads model
artifacts through MLflow's artifact proxy, so it has no bucket access at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.contract import CloudPlatform, IdentityRequest
from components.images import ImageRefs
from components.k8s.alerts import INFERENCE_DEPLOYMENT
from components.k8s.common import (
    TMP_MOUNT,
    TMP_VOLUME,
    WORKLOADS_NS,
    labels,
    placement_fields,
    resources,
    restricted_container_security,
    restricted_pod_security,
    service_monitor,
)
from components.spec import PlatformSpec, QualityGatesSpec, WorkloadsSpec

MODEL_NAME = "fraud-detection"
SERVING_PORT = 8080
# The training pipeline compiled into the monitoring image at build time, its steps pinned to the training image's
# digest (build argument TRAINING_IMAGE, components/images.py).
TRAINING_PIPELINE_PACKAGE = "/app/pipelines/training.yaml"
PREDICTIONS_PREFIX = "predictions"


@dataclass(frozen=True)
class PlatformEndpoints:
    """In-cluster URLs the workloads call; None when the service is disabled."""

    mlflow: str | None
    kfp: str | None
    feast: str | None
    pushgateway: str | None


def _container(name: str, image: pulumi.Input[str], env: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "env": env,
        "securityContext": restricted_container_security(),
        "volumeMounts": [TMP_MOUNT],
        **extra,
    }


def _pod(
    service_account: str, containers: list[dict[str, Any]], placement: dict[str, Any], restart: str | None = None
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "securityContext": restricted_pod_security(),
        "containers": containers,
        "volumes": [TMP_VOLUME],
        **placement,
    }
    if restart:
        pod["restartPolicy"] = restart
    return pod


@dataclass(frozen=True)
class ModelRelease:
    """A model's release policy (quality gates + promotion mode) as the arguments of the jobs that gate and promote.

    The monitoring job passes them to the retraining pipeline, whose evaluate step gates and whose promote step
    promotes (`mlops_workloads.release.ReleasePolicy` reads the same flags).
    """

    gates: QualityGatesSpec
    promotion: str

    @classmethod
    def of(cls, workloads: WorkloadsSpec) -> ModelRelease:
        return cls(workloads.quality_gates, workloads.promotion)

    def args(self) -> list[str]:
        gates = self.gates
        return [
            "--min-f1", str(gates.f1),
            "--min-precision", str(gates.precision),
            "--min-recall", str(gates.recall),
            "--min-roc-auc", str(gates.roc_auc),
            "--champion-tolerance", str(gates.champion_tolerance),
            "--promotion", self.promotion,
        ]  # fmt: skip


def monitoring_args(
    spec: PlatformSpec, data_url: str, monitoring_url: str, endpoints: PlatformEndpoints, training_image: str
) -> list[str]:
    """Arguments of `python -m mlops_workloads.monitoring`: retrain through KFP with a cooldown and the stack's
    release policy, every pipeline step in the training image the stack deployed; push metrics."""
    args = [
        "--current",
        f"{data_url}/{PREDICTIONS_PREFIX}",
        "--report-dir",
        f"{monitoring_url}/reports",
        "--model-name",
        MODEL_NAME,
        "--cooldown-hours",
        str(spec.workloads.retraining_cooldown_hours),
        "--drift-share",
        str(spec.monitoring.drift_share_threshold),
    ]
    if endpoints.kfp:
        args += ["--retrain", "kfp", "--kfp-host", endpoints.kfp, "--pipeline-package", TRAINING_PIPELINE_PACKAGE]
        args += ["--training-image", training_image, *ModelRelease.of(spec.workloads).args()]
    else:
        args += ["--retrain", "none"]
    if endpoints.pushgateway:
        args += ["--pushgateway", endpoints.pushgateway]
    return args


@dataclass
class WorkloadsArgs:
    spec: PlatformSpec
    cloud: CloudPlatform
    endpoints: PlatformEndpoints
    images: ImageRefs
    depends_on: list[pulumi.Resource]
    monitoring: list[pulumi.Resource] | None


class Workloads(pulumi.ComponentResource):
    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:Workloads", name, None, opts)
        spec, cloud, endpoints, images = args.spec, args.cloud, args.endpoints, args.images
        child = pulumi.ResourceOptions(parent=self, depends_on=args.depends_on)
        cpu = placement_fields(cloud.placements.get("cpu"))
        mlflow_env = [{"name": "MLFLOW_TRACKING_URI", "value": endpoints.mlflow}] if endpoints.mlflow else []

        def account(sa: str, request: IdentityRequest | None) -> None:
            annotations = {}
            if request is not None:
                annotations = dict(
                    cloud.grant_workload_identity(
                        request, pulumi.ResourceOptions(parent=self)
                    ).service_account_annotations
                )
            k8s.core.v1.ServiceAccount(
                f"{WORKLOADS_NS}-{sa}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=sa, namespace=WORKLOADS_NS, labels=labels(spec, sa), annotations=annotations
                ),
                automount_service_account_token=False,
                opts=child,
            )

        # Inference: artifacts through the MLflow proxy, so no cloud identity at all.
        account("inference", None)
        account(
            "batch-inference",
            IdentityRequest(
                "batch-inference",
                WORKLOADS_NS,
                "batch-inference",
                {"data": "readwrite"},
                bucket_prefixes={"data": f"{PREDICTIONS_PREFIX}/"},  # writes only under predictions/
            ),
        )
        account(
            "model-monitoring",
            IdentityRequest(
                "monitoring",
                WORKLOADS_NS,
                "model-monitoring",
                {"data": "read", "monitoring": "readwrite"},
            ),
        )

        app = {"app.kubernetes.io/name": INFERENCE_DEPLOYMENT}
        inference = spec.workloads.inference
        serving_env = [
            *mlflow_env,
            {"name": "SERVING_MODEL_NAME", "value": MODEL_NAME},
            {"name": "SERVING_CHALLENGER_WEIGHT", "value": str(inference.challenger_weight)},
            {"name": "SERVING_PORT", "value": str(SERVING_PORT)},
        ]
        probe = {"periodSeconds": 10, "timeoutSeconds": 2}
        container = _container(
            "inference",
            images["serving"],
            serving_env,
            ports=[{"name": "http", "containerPort": SERVING_PORT, "protocol": "TCP"}],
            readinessProbe={"httpGet": {"path": "/readyz", "port": "http"}, "failureThreshold": 3, **probe},
            livenessProbe={"httpGet": {"path": "/healthz", "port": "http"}, "failureThreshold": 3, **probe},
            # The model loads from MLflow at start-up: allow up to 5 minutes before liveness applies.
            startupProbe={"httpGet": {"path": "/healthz", "port": "http"}, "failureThreshold": 30, **probe},
            resources=resources("500m", "1Gi", memory_limit="2Gi"),
        )
        pod = _pod("inference", [container], cpu)
        pod["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": app},
            }
        ]
        meta = labels(spec, "inference") | app
        deployment = k8s.apps.v1.Deployment(
            "inference",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=INFERENCE_DEPLOYMENT,
                namespace=WORKLOADS_NS,
                labels=meta,
                # Readiness needs a registered @champion model, which the first training run creates: a fresh
                # platform must deploy without waiting for it. Alerts watch unavailable replicas instead.
                annotations={"pulumi.com/skipAwait": "true"},
            ),
            # No `replicas`: the HPA owns the replica count (a fixed value would fight it on every update).
            spec={
                "selector": {"matchLabels": app},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {"metadata": {"labels": meta}, "spec": pod},
            },
            opts=child,
        )
        service = k8s.core.v1.Service(
            "inference",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=INFERENCE_DEPLOYMENT, namespace=WORKLOADS_NS, labels=meta),
            spec={"selector": app, "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
            opts=child,
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            "inference",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=INFERENCE_DEPLOYMENT, namespace=WORKLOADS_NS, labels=meta),
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": INFERENCE_DEPLOYMENT},
                "minReplicas": inference.min_replicas,
                "maxReplicas": inference.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": inference.target_cpu_utilization},
                        },
                    }
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
        )
        k8s.policy.v1.PodDisruptionBudget(
            "inference",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=INFERENCE_DEPLOYMENT, namespace=WORKLOADS_NS, labels=meta),
            spec={"maxUnavailable": 1, "selector": {"matchLabels": app}},
            opts=child,
        )
        if args.monitoring is not None:
            service_monitor(
                INFERENCE_DEPLOYMENT,
                WORKLOADS_NS,
                app,
                "http",
                "/metrics",
                spec,
                pulumi.ResourceOptions(parent=self, depends_on=[*args.monitoring, service]),
            )

        data_url, monitoring_url = cloud.bucket_url("data"), cloud.bucket_url("monitoring")
        push = ["--pushgateway", endpoints.pushgateway] if endpoints.pushgateway else []
        batch_command = data_url.apply(
            lambda url: [
                "python",
                "-m",
                "mlops_workloads.batch",
                "--data-root",
                f"{url}/transactions",
                "--output-root",
                f"{url}/{PREDICTIONS_PREFIX}",
                "--model-name",
                MODEL_NAME,
                *push,
            ]
        )
        self._cron(
            spec,
            "batch-inference",
            spec.workloads.batch_schedule,
            _pod(
                "batch-inference",
                [
                    _container(
                        "batch-inference",
                        images["serving"],
                        mlflow_env,
                        command=batch_command,
                        resources=resources("1", "4Gi", memory_limit="8Gi"),
                    )
                ],
                cpu,
                "Never",
            ),
            child,
        )
        monitor_args = pulumi.Output.all(data_url, monitoring_url, images["training"]).apply(
            lambda values: monitoring_args(spec, values[0], values[1], endpoints, values[2])
        )
        self._cron(
            spec,
            "model-monitoring",
            spec.workloads.monitoring_schedule,
            _pod(
                "model-monitoring",
                [
                    _container(
                        "model-monitoring",
                        images["monitoring"],
                        mlflow_env,
                        command=["python", "-m", "mlops_workloads.monitoring"],
                        args=monitor_args,
                        resources=resources("1", "4Gi", memory_limit="8Gi"),
                    )
                ],
                cpu,
                "Never",
            ),
            child,
        )

        # What pipelines and notebooks need to know about the platform, in one place per workload namespace.
        gpu = cloud.placements.get("gpu")
        settings: dict[str, pulumi.Input[str]] = {
            "MLFLOW_TRACKING_URI": endpoints.mlflow or "",
            "KFP_HOST": endpoints.kfp or "",
            "FEAST_FEATURE_SERVER_URL": endpoints.feast or "",
            "PUSHGATEWAY_URL": endpoints.pushgateway or "",
            "DATA_URI": data_url,
            "TRAINING_IMAGE": images["training"],
            "CPU_PLACEMENT": json.dumps(placement_fields(cloud.placements.get("cpu")), sort_keys=True),
            "GPU_PLACEMENT": json.dumps(placement_fields(gpu), sort_keys=True) if gpu else "{}",
        }
        for namespace in [WORKLOADS_NS, *(team.name for team in spec.workloads.teams)]:
            k8s.core.v1.ConfigMap(
                f"{namespace}-platform-settings",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name="mlops-platform", namespace=namespace, labels=labels(spec, "settings")
                ),
                data=settings,
                opts=child,
            )
        self.register_outputs({})

    def _cron(
        self, spec: PlatformSpec, name: str, schedule: str, pod: dict[str, Any], opts: pulumi.ResourceOptions
    ) -> k8s.batch.v1.CronJob:
        meta = labels(spec, name)
        return k8s.batch.v1.CronJob(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=WORKLOADS_NS, labels=meta),
            spec={
                "schedule": schedule,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {"spec": {"backoffLimit": 2, "template": {"metadata": {"labels": meta}, "spec": pod}}},
            },
            opts=opts,
        )
