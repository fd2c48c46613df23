"""A model's online inference: Deployment, Service, HPA (autoscaling/v2), PDB and ServiceMonitor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.common import resources, service_monitor
from components.k8s.models.names import ModelNames
from components.k8s.models.pods import container, pod
from components.spec import ModelSpec, PlatformSpec

SERVING_PORT = 8080


@dataclass(frozen=True)
class ServingArgs:
    spec: PlatformSpec
    model: ModelSpec
    names: ModelNames
    image: pulumi.Input[str]
    env: list[dict[str, Any]]  # the platform endpoints the container needs (MLflow, Feast)
    placement: dict[str, Any]
    meta: dict[str, str]  # labels of every object of the model
    monitoring: list[pulumi.Resource] | None  # the release installing the ServiceMonitor CRD; None: no Prometheus


def feature_source_env(model: ModelSpec, feast_url: str | None) -> list[dict[str, Any]]:
    """Where serving completes a request's missing features (mlops_workloads/serving/settings.py): the platform's
    Feast feature server and the model's feature view; nothing for a model without `features`."""
    if model.features is None:
        return []
    if feast_url is None:  # infra/config.py refuses `features` without services.feast before anything is planned
        raise ValueError(f"model {model.name!r} names a Feast feature source, but the Feast feature server is off")
    return [
        {"name": "SERVING_FEAST_URL", "value": feast_url},
        {"name": "SERVING_FEAST_FEATURE_VIEW", "value": model.features.feature_view},
    ]


def serving_container(args: ServingArgs) -> dict[str, Any]:
    serving, probe = args.model.serving, {"periodSeconds": 10, "timeoutSeconds": 2}
    env = [
        *args.env,
        {"name": "SERVING_MODEL_NAME", "value": args.model.name},
        {"name": "SERVING_CHAMPION_ALIAS", "value": serving.aliases.champion},
        {"name": "SERVING_CHALLENGER_ALIAS", "value": serving.aliases.challenger},
        {"name": "SERVING_CHALLENGER_WEIGHT", "value": str(serving.challenger_weight)},
        {"name": "SERVING_PORT", "value": str(SERVING_PORT)},
    ]
    return container(
        "serving",
        args.image,
        env,
        ports=[{"name": "http", "containerPort": SERVING_PORT, "protocol": "TCP"}],
        readinessProbe={"httpGet": {"path": "/readyz", "port": "http"}, "failureThreshold": 3, **probe},
        livenessProbe={"httpGet": {"path": "/healthz", "port": "http"}, "failureThreshold": 3, **probe},
        # The model loads from MLflow at start-up: allow up to 5 minutes before liveness applies.
        startupProbe={"httpGet": {"path": "/healthz", "port": "http"}, "failureThreshold": 30, **probe},
        resources=resources(serving.cpu, serving.memory, memory_limit=serving.memory_limit),
    )


def create_serving(args: ServingArgs, parent: pulumi.Resource, depends_on: list[pulumi.Resource]) -> None:
    names, serving = args.names, args.model.serving
    selector, name, ns = names.serving_selector, names.serving, names.namespace
    meta = args.meta | selector
    child = pulumi.ResourceOptions(parent=parent, depends_on=depends_on)
    metadata = k8s.meta.v1.ObjectMetaArgs(name=name, namespace=ns, labels=meta)
    pod_spec = pod(name, [serving_container(args)], args.placement)
    pod_spec["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector},
        }
    ]
    deployment = k8s.apps.v1.Deployment(
        names.resource("serving"),
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=ns,
            labels=meta,
            # Readiness needs a registered @champion model, which the first training run creates: a fresh
            # platform must deploy without waiting for it. Alerts watch unavailable replicas instead.
            annotations={"pulumi.com/skipAwait": "true"},
        ),
        # No `replicas`: the HPA owns the replica count (a fixed value would fight it on every update).
        spec={
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": meta}, "spec": pod_spec},
        },
        opts=child,
    )
    service = k8s.core.v1.Service(
        names.resource("serving"),
        metadata=metadata,
        spec={"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
        opts=child,
    )
    utilization = {"type": "Utilization", "averageUtilization": serving.target_cpu_utilization}
    k8s.autoscaling.v2.HorizontalPodAutoscaler(
        names.resource("serving"),
        metadata=metadata,
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": serving.min_replicas,
            "maxReplicas": serving.max_replicas,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": utilization}}],
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[deployment]),
    )
    k8s.policy.v1.PodDisruptionBudget(
        names.resource("serving"),
        metadata=metadata,
        spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}},
        opts=child,
    )
    if args.monitoring is not None:
        service_monitor(
            name,
            ns,
            selector,
            "http",
            "/metrics",
            args.spec,
            pulumi.ResourceOptions(parent=parent, depends_on=[*args.monitoring, service]),
        )
