"""Tenancy and guard rails: namespaces with Pod Security labels, quotas, limit ranges and network policies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components.contract import CloudPlatform, MysqlServer
from components.k8s.common import (
    BOOTSTRAP_NS,
    FEAST_CONTAINER_PORT,
    FEAST_NS,
    GPU_NS,
    KFP_API_GRPC_PORT,
    KFP_API_HTTP_PORT,
    KUBEFLOW_NS,
    MLFLOW_NS,
    MLFLOW_PORT,
    MONITORING_NS,
    PUSHGATEWAY_PORT,
    WORKLOADS_NS,
    Manifest,
    labels,
)
from components.k8s.kubeflow.connector import connector_selector
from components.k8s.kubeflow.database import CLIENT_LABEL
from components.spec import PlatformSpec, QuotaSpec

PodSecurityLevel = Literal["restricted", "baseline", "privileged"]
POD_SECURITY_VERSION = "latest"
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")  # RFC 1918: where the databases and Redis live
POSTGRES_PORT = 5432
REDIS_PORT = 6379
HTTPS_PORT = 443
WEBHOOK_PORTS = {KUBEFLOW_NS: 8443, MONITORING_NS: 10250}  # admission webhooks called by the API server


@dataclass(frozen=True)
class NamespacePlan:
    name: str
    pod_security: PodSecurityLevel
    reason: str
    quota: QuotaSpec | None = None  # workload namespaces only: ResourceQuota + LimitRange
    needs_database: bool = False
    needs_online_store: bool = False
    needs_pipelines_database: bool = False  # KFP's MySQL, directly (its own clients are handled separately)
    extra_labels: dict[str, str] = field(default_factory=dict)


def namespace_plans(spec: PlatformSpec, cloud: CloudPlatform) -> list[NamespacePlan]:
    """Every namespace the platform creates, with the least permissive Pod Security level its pods tolerate."""
    services = spec.services
    plans = [
        NamespacePlan(
            BOOTSTRAP_NS,
            "restricted",
            "only the database bootstrap Jobs (non-root psql and mysql clients)",
            needs_database=True,
            needs_pipelines_database=cloud.pipelines_database is not None,
        ),
        NamespacePlan(
            WORKLOADS_NS,
            "restricted",
            "platform-built workload images run non-root",
            quota=QuotaSpec(),
            needs_database=True,
            needs_online_store=True,
        ),
    ]
    plans += [
        NamespacePlan(
            team.name,
            "restricted",
            f"team {team.name}: pipelines and notebooks run non-root",
            quota=team.quota,
            needs_database=True,
            needs_online_store=True,
        )
        for team in spec.workloads.teams
    ]
    if services.mlflow:
        plans.append(
            NamespacePlan(
                MLFLOW_NS, "restricted", "the MLflow chart runs as uid 1001, no capabilities", needs_database=True
            )
        )
    if services.kubeflow:
        # Upstream KFP/Argo pods (ml-pipeline-ui, the metadata writer, Argo executors of user steps) set no
        # seccompProfile and some no runAsNonRoot, so `restricted` would reject them; baseline still forbids
        # privileged pods, host namespaces and hostPath.
        plans.append(
            NamespacePlan(
                KUBEFLOW_NS,
                "baseline",
                "Argo/KFP pods lack restricted security contexts",
                needs_database=True,
                needs_online_store=True,
            )
        )
    if services.feast:
        plans.append(
            NamespacePlan(
                FEAST_NS,
                "restricted",
                "feature server and jobs run non-root",
                needs_database=True,
                needs_online_store=True,
            )
        )
    if services.monitoring:
        # prometheus-node-exporter needs hostNetwork, hostPID and hostPath mounts of /proc and /sys.
        plans.append(NamespacePlan(MONITORING_NS, "privileged", "node-exporter uses host namespaces and hostPath"))
    if cloud.gpu.pool_present and (cloud.gpu.install_device_plugin or cloud.gpu.dcgm_exporter):
        # The device plugin mounts the kubelet's device-plugin socket directory; DCGM runs with SYS_ADMIN.
        plans.append(NamespacePlan(GPU_NS, "privileged", "NVIDIA device plugin and DCGM need host access"))
    return plans


def client_namespaces(spec: PlatformSpec) -> list[str]:
    """Namespaces whose pods call MLflow, Feast, the KFP API and the Pushgateway (pipeline runs live in kubeflow)."""
    names = [WORKLOADS_NS, *(team.name for team in spec.workloads.teams)]
    if spec.services.kubeflow:
        names.append(KUBEFLOW_NS)
    return names


def _ns_selector(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def _ports(*ports: int, protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"protocol": protocol, "port": port} for port in ports]


def _private_peers() -> list[dict[str, Any]]:
    return [{"ipBlock": {"cidr": cidr}} for cidr in PRIVATE_RANGES]


def pipelines_database_egress(mysql: MysqlServer) -> Manifest:
    """Egress to KFP's MySQL from exactly the pods that dial it: the database clients the overlay labels, or the
    connector (which alone dials the instance; KFP's pods reach it inside the namespace)."""
    if mysql.connector is not None:
        selector, port = connector_selector(mysql.connector), mysql.connector.instance_port
    else:
        selector, port = CLIENT_LABEL, mysql.port
    return {
        "podSelector": {"matchLabels": selector},
        "policyTypes": ["Egress"],
        "egress": [{"to": _private_peers(), "ports": _ports(port)}],
    }


def network_policy_specs(plan: NamespacePlan, spec: PlatformSpec, cloud: CloudPlatform) -> dict[str, Manifest]:
    """Policy name -> NetworkPolicy spec for one namespace: default deny, then explicit allows."""
    everything: dict[str, Any] = {}
    policies: dict[str, Manifest] = {
        "default-deny-all": {"podSelector": everything, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {
            "podSelector": everything,
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{**_ns_selector("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                    "ports": _ports(53, protocol="UDP") + _ports(53, protocol="TCP"),
                }
            ],
        },
        "allow-same-namespace": {
            "podSelector": everything,
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": everything}]}],
            "egress": [{"to": [{"podSelector": everything}]}],
        },
        # Cloud APIs (S3/GCS, STS, the registry) and the Kubernetes API server are HTTPS endpoints without fixed IPs.
        "allow-https-egress": {
            "podSelector": everything,
            "policyTypes": ["Egress"],
            "egress": [{"ports": _ports(HTTPS_PORT)}],
        },
    }
    if spec.services.monitoring and plan.name != MONITORING_NS:
        policies["allow-prometheus-scrape"] = {
            "podSelector": everything,
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [_ns_selector(MONITORING_NS)]}],
        }
    store_ports = ([POSTGRES_PORT] if plan.needs_database else []) + ([REDIS_PORT] if plan.needs_online_store else [])
    mysql = cloud.pipelines_database
    if plan.needs_pipelines_database and mysql is not None:
        store_ports.append(mysql.port)
    if plan.name == KUBEFLOW_NS and mysql is not None:
        policies["allow-pipelines-database-egress"] = pipelines_database_egress(mysql)
    if store_ports:
        # Database and Redis addresses are cloud outputs unknown to the cluster: allow their ports to private ranges.
        policies["allow-data-stores-egress"] = {
            "podSelector": everything,
            "policyTypes": ["Egress"],
            "egress": [{"to": _private_peers(), "ports": _ports(*store_ports)}],
        }
    if plan.name in WEBHOOK_PORTS:
        policies["allow-api-server-webhooks"] = {
            "podSelector": everything,
            "policyTypes": ["Ingress"],
            "ingress": [{"from": _private_peers(), "ports": _ports(WEBHOOK_PORTS[plan.name])}],
        }
    if plan.name == MONITORING_NS:
        # Prometheus scrapes kubelets and node-exporters on node IPs and pods everywhere.
        policies["allow-scrape-egress"] = {
            "podSelector": everything,
            "policyTypes": ["Egress"],
            "egress": [{"to": _private_peers()}],
        }
    clients = client_namespaces(spec)
    service_ports = _service_ports(spec)
    if plan.name in clients:
        egress = [
            {"to": [_ns_selector(ns)], "ports": _ports(*ports)}
            for ns, ports in service_ports.items()
            if ns != plan.name
        ]
        if egress:
            policies["allow-platform-services-egress"] = {
                "podSelector": everything,
                "policyTypes": ["Egress"],
                "egress": egress,
            }
    if plan.name in service_ports:
        callers = [ns for ns in clients if ns != plan.name]
        if callers:
            policies["allow-clients-ingress"] = {
                "podSelector": everything,
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [_ns_selector(ns) for ns in callers], "ports": _ports(*service_ports[plan.name])}],
            }
    return policies


def _service_ports(spec: PlatformSpec) -> dict[str, list[int]]:
    """Pod ports (NetworkPolicies match pod ports, not Service ports) of the services workloads call."""
    ports: dict[str, list[int]] = {}
    if spec.services.mlflow:
        ports[MLFLOW_NS] = [MLFLOW_PORT]
    if spec.services.feast:
        ports[FEAST_NS] = [FEAST_CONTAINER_PORT]
    if spec.services.kubeflow:
        ports[KUBEFLOW_NS] = [KFP_API_HTTP_PORT, KFP_API_GRPC_PORT]
    if spec.services.monitoring:
        ports[MONITORING_NS] = [PUSHGATEWAY_PORT]
    return ports


def limit_range_spec() -> Manifest:
    """Defaults for containers that declare nothing; never a GPU default (a GPU must be asked for explicitly)."""
    return {
        "limits": [
            {
                "type": "Container",
                "defaultRequest": {"cpu": "250m", "memory": "512Mi"},
                "default": {"cpu": "2", "memory": "2Gi"},
            }
        ]
    }


def quota_hard(quota: QuotaSpec, gpu_resource: str) -> dict[str, str]:
    """Requests only: extended resources (GPUs) can only be quota'd as `requests.<name>`."""
    return {
        "requests.cpu": quota.cpu,
        "requests.memory": quota.memory,
        f"requests.{gpu_resource}": str(quota.gpu),
        "pods": str(quota.pods),
    }


@dataclass
class TenancyArgs:
    spec: PlatformSpec
    cloud: CloudPlatform


class Tenancy(pulumi.ComponentResource):
    """Namespaces, then per namespace: network policies and, for workload namespaces, a quota and limit range."""

    def __init__(self, name: str, args: TenancyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:Tenancy", name, None, opts)
        spec, cloud = args.spec, args.cloud
        self.plans = namespace_plans(spec, cloud)
        self.namespaces: dict[str, k8s.core.v1.Namespace] = {}
        for plan in self.plans:
            pss: dict[str, str] = {
                f"pod-security.kubernetes.io/{mode}": plan.pod_security for mode in ("enforce", "audit", "warn")
            }
            pss |= {
                f"pod-security.kubernetes.io/{mode}-version": POD_SECURITY_VERSION
                for mode in ("enforce", "audit", "warn")
            }
            namespace = k8s.core.v1.Namespace(
                plan.name,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=plan.name,
                    labels={**labels(spec, "tenancy"), **pss, **plan.extra_labels},
                    annotations={"mlops.io/pod-security-reason": plan.reason},
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.namespaces[plan.name] = namespace
            child = pulumi.ResourceOptions(parent=namespace)
            for policy_name, policy_spec in network_policy_specs(plan, spec, cloud).items():
                k8s.networking.v1.NetworkPolicy(
                    f"{plan.name}-{policy_name}",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=policy_name, namespace=plan.name, labels=labels(spec, "network-policy")
                    ),
                    spec=policy_spec,
                    opts=child,
                )
            if plan.quota is not None:
                k8s.core.v1.ResourceQuota(
                    f"{plan.name}-quota",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name="compute", namespace=plan.name, labels=labels(spec, "quota")
                    ),
                    spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=quota_hard(plan.quota, cloud.gpu.resource_name)),
                    opts=child,
                )
                k8s.core.v1.LimitRange(
                    f"{plan.name}-limits",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name="defaults", namespace=plan.name, labels=labels(spec, "limits")
                    ),
                    spec=limit_range_spec(),
                    opts=child,
                )
        self.register_outputs({"namespaces": sorted(self.namespaces)})
