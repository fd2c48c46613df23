"""The database connector a cloud may put in front of Kubeflow Pipelines' MySQL (GCP: the Cloud SQL Auth Proxy).

Run the way upstream's env/gcp runs it (manifests/kustomize/env/gcp/cloudsql-proxy/@2.17.0): a Deployment listening
for MySQL on its port, a Service in front of it and a service account of its own, here with the cloud identity the
cloud layer grants for `database_connector` (on GCP: `roles/cloudsql.client` on this instance, nothing else).
Non-root under the `restricted` Pod Security level, probes on the connector's health endpoints, spread and
protected by a disruption budget when the database is highly available.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.contract import CloudPlatform, DatabaseConnector, IdentityRequest
from components.k8s.common import (
    KUBEFLOW_NS,
    labels,
    placement_fields,
    resources,
    restricted_container_security,
    restricted_pod_security,
    service_account,
)
from components.renames import formerly
from components.spec import PlatformSpec

IDENTITY_NAME = "sql-proxy"


def connector_selector(connector: DatabaseConnector) -> dict[str, str]:
    """The pod labels of a connector (its Service and the egress policy to the instance select them)."""
    return {"app.kubernetes.io/name": connector.name}


@dataclass(frozen=True)
class ConnectorArgs:
    spec: PlatformSpec
    cloud: CloudPlatform
    connector: DatabaseConnector
    namespace: k8s.core.v1.Namespace


def proxy_container(connector: DatabaseConnector) -> dict[str, Any]:
    """The connector's one container: its listener, its health endpoints as the three probes, restricted."""
    probe = {"port": connector.health_port}
    return {
        "name": "proxy",
        "image": connector.image,
        "args": list(connector.args),
        "ports": [
            {"name": "mysql", "containerPort": connector.port},
            {"name": "health", "containerPort": connector.health_port},
        ],
        "startupProbe": {
            "httpGet": {**probe, "path": connector.probe_paths["startup"]},
            "periodSeconds": 1,
            "failureThreshold": 20,
        },
        "livenessProbe": {
            "httpGet": {**probe, "path": connector.probe_paths["liveness"]},
            "periodSeconds": 60,
            "timeoutSeconds": 30,
            "failureThreshold": 5,
        },
        "readinessProbe": {
            "httpGet": {**probe, "path": connector.probe_paths["readiness"]},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
        },
        "securityContext": restricted_container_security(connector.uid),
        "resources": resources("50m", "64Mi", memory_limit="256Mi"),
    }


class ConnectorDeployment(pulumi.ComponentResource):
    service: k8s.core.v1.Service
    deployment: k8s.apps.v1.Deployment

    def __init__(self, name: str, args: ConnectorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:ConnectorDeployment", name, None, formerly(opts, "mlops:k8s:DatabaseConnector"))
        spec, connector = args.spec, args.connector
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[args.namespace])
        identity = args.cloud.grant_workload_identity(
            IdentityRequest(IDENTITY_NAME, KUBEFLOW_NS, connector.name, database_connector=True),
            pulumi.ResourceOptions(parent=self),
        )
        account = service_account(connector.name, KUBEFLOW_NS, identity.service_account_annotations, spec, in_ns)
        selector = connector_selector(connector)
        pod_labels = {**labels(spec, connector.name), **selector}
        replicas = 2 if spec.pipelines_database.high_availability else 1
        self.deployment = k8s.apps.v1.Deployment(
            f"{KUBEFLOW_NS}-{connector.name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=connector.name, namespace=KUBEFLOW_NS, labels=pod_labels),
            spec={
                "replicas": replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {
                        "serviceAccountName": connector.name,
                        "automountServiceAccountToken": False,  # GKE's metadata server maps the pod to its KSA
                        "securityContext": restricted_pod_security(connector.uid),
                        **placement_fields(args.cloud.placements.get("system")),
                        "topologySpreadConstraints": [
                            {
                                "maxSkew": 1,
                                "topologyKey": "topology.kubernetes.io/zone",
                                "whenUnsatisfiable": "ScheduleAnyway",
                                "labelSelector": {"matchLabels": selector},
                            }
                        ],
                        "containers": [proxy_container(connector)],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        self.service = k8s.core.v1.Service(
            f"{KUBEFLOW_NS}-{connector.name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=connector.name, namespace=KUBEFLOW_NS, labels=pod_labels),
            spec={
                "selector": selector,
                "ports": [{"name": "mysql", "port": connector.port, "targetPort": "mysql", "protocol": "TCP"}],
            },
            opts=in_ns,
        )
        if replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{KUBEFLOW_NS}-{connector.name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=connector.name, namespace=KUBEFLOW_NS, labels=pod_labels),
                spec={"minAvailable": 1, "selector": {"matchLabels": selector}},
                opts=in_ns,
            )
        self.register_outputs({"service": self.service.metadata.name})
