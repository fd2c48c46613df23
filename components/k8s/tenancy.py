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
from components.k8s.gpu import DCGM_EXPORTER_PORT
from components.k8s.kubeflow.connector import connector_selector
from components.k8s.kubeflow.database import CLIENT_LABEL
from components.k8s.models.serving import SERVING_PORT
from components.spec import PlatformSpec, QuotaSpec

NAME_LABEL = "kubernetes.io/metadata.name"  # the API server sets it on every namespace
PodSecurityLevel = Literal["restricted", "baseline", "privileged"]
POD_SECURITY_VERSION = "latest"
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")  # RFC 1918: node IPs, database, Redis
HTTPS_PORT = 443
DNS_PEER = {
    "namespaceSelector": {"matchLabels": {NAME_LABEL: "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},  # CoreDNS (EKS) and kube-dns (GKE) alike
}
# The Prometheus pods prometheus-operator runs (pkg/prometheus/server/operator.go makeSelectorLabels at v0.93.0).
PROMETHEUS_PODS = {"app.kubernetes.io/name": "prometheus"}
# Argo labels every pod of a workflow with its name (argoproj/argo-workflows workflow/common/common.go,
# LabelKeyWorkflow): in the kubeflow namespace only pipeline steps call the platform services.
PIPELINE_STEP_PODS = {"matchExpressions": [{"key": "workflows.argoproj.io/workflow", "operator": "Exists"}]}
# Ports Prometheus scrapes on node IPs: node-exporter (hostNetwork), the kubelet, kube-proxy (EKS).
NODE_SCRAPE_PORTS = (9100, 10250, 10249)
METRICS_PORT_NAME = "metrics"  # a pod of a workload namespace exposes this named port to be scraped


@dataclass(frozen=True)
class PlatformService:
    """A service workloads call: its namespace, the labels of its pods, their ports."""

    name: str
    namespace: str
    pods: dict[str, str]
    ports: tuple[int, ...]


@dataclass(frozen=True)
class Webhook:
    """An admission webhook the API server calls: its pods and their port."""

    namespace: str
    pods: dict[str, str]
    port: int


@dataclass(frozen=True)
class NamespacePlan:
    name: str
    pod_security: PodSecurityLevel
    reason: str
    quota: QuotaSpec | None = None  # workload namespaces only: ResourceQuota + LimitRange
    needs_database: bool = False
    needs_online_store: bool = False
    needs_pipelines_database: bool = False  # KFP's MySQL, directly (its own clients are handled separately)
    cloud_identity: bool = False  # some of its pods run under a cloud identity (IRSA / Workload Identity)
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
            # its models' batch, monitoring and training jobs (components/k8s/models/identity.py)
            cloud_identity=team.name in model_teams(spec),
        )
        for team in spec.workloads.teams
    ]
    if services.mlflow:
        plans.append(
            NamespacePlan(
                MLFLOW_NS,
                "restricted",
                "the MLflow chart runs as uid 1001, no capabilities",
                needs_database=True,
                cloud_identity=True,
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
                cloud_identity=True,  # pipeline runs, the UI, the database connector
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
                cloud_identity=True,
            )
        )
    if services.monitoring:
        # prometheus-node-exporter needs hostNetwork, hostPID and hostPath mounts of /proc and /sys.
        plans.append(NamespacePlan(MONITORING_NS, "privileged", "node-exporter uses host namespaces and hostPath"))
    if cloud.gpu.pool_present and (cloud.gpu.install_device_plugin or cloud.gpu.dcgm_exporter):
        # The device plugin mounts the kubelet's device-plugin socket directory; DCGM runs with SYS_ADMIN.
        plans.append(NamespacePlan(GPU_NS, "privileged", "NVIDIA device plugin and DCGM need host access"))
    return plans


def workload_namespaces(spec: PlatformSpec) -> list[str]:
    """The shared workloads namespace, then one per team."""
    return [WORKLOADS_NS, *(team.name for team in spec.workloads.teams)]


def model_teams(spec: PlatformSpec) -> set[str]:
    """The teams whose namespaces host at least one model."""
    return {model.team for model in spec.models}


def client_namespaces(spec: PlatformSpec) -> list[str]:
    """Namespaces whose pods call MLflow, Feast, the KFP API and the Pushgateway (pipeline runs live in kubeflow)."""
    names = workload_namespaces(spec)
    if spec.services.kubeflow:
        names.append(KUBEFLOW_NS)
    return names


def platform_services(spec: PlatformSpec) -> list[PlatformService]:
    """The services workloads call, with the pod labels their charts and manifests set and their pod ports
    (NetworkPolicies match pods and pod ports, not Services)."""
    found = []
    if spec.services.mlflow:  # community-charts/mlflow 1.11.5 selector labels
        found.append(PlatformService("mlflow", MLFLOW_NS, {"app.kubernetes.io/name": "mlflow"}, (MLFLOW_PORT,)))
    if spec.services.feast:  # feast-feature-server 0.66.0 selector labels
        found.append(
            PlatformService(
                "feast", FEAST_NS, {"app.kubernetes.io/name": "feast-feature-server"}, (FEAST_CONTAINER_PORT,)
            )
        )
    if spec.services.kubeflow:  # KFP 2.17.0 base/pipeline/ml-pipeline-apiserver-deployment.yaml; clients use the
        # REST port (kfp.Client); gRPC (8887) serves KFP's own agents and pipeline steps inside the namespace.
        found.append(PlatformService("kfp-api", KUBEFLOW_NS, {"app": "ml-pipeline"}, (KFP_API_HTTP_PORT,)))
    if spec.services.monitoring:  # prometheus-pushgateway 3.8.0 selector labels
        found.append(
            PlatformService(
                "pushgateway", MONITORING_NS, {"app.kubernetes.io/name": "prometheus-pushgateway"}, (PUSHGATEWAY_PORT,)
            )
        )
    return found


def webhooks(spec: PlatformSpec) -> list[Webhook]:
    found = []
    if spec.services.kubeflow:  # the cache server (KFP 2.17.0 base/cache/cache-deployment.yaml, port 8443)
        found.append(Webhook(KUBEFLOW_NS, {"app": "cache-server"}, 8443))
    if spec.services.monitoring:  # prometheus-operator's admission webhook (kube-prometheus-stack 88.5.3, 10250)
        found.append(Webhook(MONITORING_NS, {"app": "kube-prometheus-stack-operator"}, 10250))
    return found


def scrape_ports(plan: NamespacePlan, spec: PlatformSpec) -> list[int | str]:
    """Pod ports Prometheus scrapes in a namespace (ServiceMonitors of the platform and of its teams)."""
    if plan.name == MLFLOW_NS:
        return [MLFLOW_PORT]
    if plan.name == GPU_NS:
        return [DCGM_EXPORTER_PORT]
    if plan.name in workload_namespaces(spec):
        serving = [SERVING_PORT] if plan.name in model_teams(spec) else []
        return [*serving, METRICS_PORT_NAME]
    return []


def _ns_selector(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NAME_LABEL: name}}}


def _ports(*ports: int | str, protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"protocol": protocol, "port": port} for port in ports]


def _private_peers(*cidrs: str) -> list[dict[str, Any]]:
    return [{"ipBlock": {"cidr": cidr}} for cidr in cidrs or PRIVATE_RANGES]


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


def _client_pods(namespace: str) -> dict[str, Any]:
    """Which pods of a client namespace call the platform services: in kubeflow only pipeline steps."""
    return PIPELINE_STEP_PODS if namespace == KUBEFLOW_NS else {}


def api_server_cidr(spec: PlatformSpec, cloud: CloudPlatform) -> str:
    """Where the API server's webhook calls come from: GKE's private control plane range; on EKS the control plane's
    cross-account ENIs in the cluster's subnets, inside the VPC (with an existing VPC, vpcCidr must be its range)."""
    return str(spec.network.control_plane_cidr if cloud.cloud == "gcp" else spec.network.vpc_cidr)


def network_policy_specs(plan: NamespacePlan, spec: PlatformSpec, cloud: CloudPlatform) -> dict[str, Manifest]:
    """Policy name -> NetworkPolicy spec for one namespace: default deny, then explicit allows. Pods are selected by
    labels, never by address (Cilium, GKE Dataplane V2, never matches pods with ipBlock); `make verify` (check 7)
    proves every flow the platform needs is allowed and nothing else is open into the namespace."""
    everything: dict[str, Any] = {}
    policies = baseline_policies()
    ports = scrape_ports(plan, spec)
    if spec.services.monitoring and ports:
        policies["allow-prometheus-scrape"] = {
            "podSelector": everything,
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{**_ns_selector(MONITORING_NS), "podSelector": {"matchLabels": PROMETHEUS_PODS}}],
                    "ports": _ports(*ports),
                }
            ],
        }
    for hook in (h for h in webhooks(spec) if h.namespace == plan.name):
        policies["allow-api-server-webhooks"] = {
            "podSelector": {"matchLabels": hook.pods},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": _private_peers(api_server_cidr(spec, cloud)), "ports": _ports(hook.port)}],
        }
    if plan.name == MONITORING_NS:
        # Prometheus scrapes pods in every namespace, and node-exporter, kubelets and kube-proxy on node IPs.
        policies["allow-prometheus-scrape-egress"] = {
            "podSelector": {"matchLabels": PROMETHEUS_PODS},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"namespaceSelector": everything}]},
                {"to": _private_peers(), "ports": _ports(*NODE_SCRAPE_PORTS)},
            ],
        }
    policies |= cloud_identity_policies(plan, cloud)
    policies |= data_store_policies(plan, cloud)
    policies |= platform_service_policies(plan, spec)
    return policies


def baseline_policies() -> dict[str, Manifest]:
    """Every namespace: deny all, then DNS, traffic inside the namespace and HTTPS egress."""
    everything: dict[str, Any] = {}
    return {
        "default-deny-all": {"podSelector": everything, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {
            "podSelector": everything,
            "policyTypes": ["Egress"],
            "egress": [{"to": [DNS_PEER], "ports": _ports(53, protocol="UDP") + _ports(53, protocol="TCP")}],
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


def cloud_identity_policies(plan: NamespacePlan, cloud: CloudPlatform) -> dict[str, Manifest]:
    """Egress to the cloud's token endpoints, for the namespaces that host pods with a cloud identity."""
    if not (plan.cloud_identity and cloud.identity_endpoints):
        return {}
    # NetworkPolicies select pods by label, not by service account, so the namespaces that host identity pods open
    # the cloud's token endpoints to their pods; a pod without a binding gets no token there (the GKE metadata
    # server answers each pod for its own service account only).
    return {
        "allow-cloud-identity-egress": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": _private_peers(endpoint.cidr), "ports": _ports(endpoint.port)}
                for endpoint in cloud.identity_endpoints
            ],
        }
    }


def data_store_policies(plan: NamespacePlan, cloud: CloudPlatform) -> dict[str, Manifest]:
    """Egress to the managed databases and the online store, for the namespaces whose workloads use them."""
    everything: dict[str, Any] = {}
    policies: dict[str, Manifest] = {}
    store_ports = ([cloud.database.port] if plan.needs_database else []) + (
        [cloud.online_store.port] if plan.needs_online_store else []
    )
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
            "egress": [{"to": _private_peers(), "ports": _ports(*sorted(set(store_ports)))}],
        }
    return policies


def platform_service_policies(plan: NamespacePlan, spec: PlatformSpec) -> dict[str, Manifest]:
    """Client namespaces reach the platform services (MLflow, Feast, the Pushgateway, KFP) and nothing else."""
    policies: dict[str, Manifest] = {}
    clients = client_namespaces(spec)
    services = platform_services(spec)
    if plan.name in clients:
        egress = [
            {"to": [{**_ns_selector(s.namespace), "podSelector": {"matchLabels": s.pods}}], "ports": _ports(*s.ports)}
            for s in services
            if s.namespace != plan.name
        ]
        if egress:
            policies["allow-platform-services-egress"] = {
                "podSelector": _client_pods(plan.name),
                "policyTypes": ["Egress"],
                "egress": egress,
            }
    for service in (s for s in services if s.namespace == plan.name):
        callers = [ns for ns in clients if ns != plan.name]
        if callers:
            policies[f"allow-{service.name}-clients"] = {
                "podSelector": {"matchLabels": service.pods},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{**_ns_selector(ns), "podSelector": _client_pods(ns)} for ns in callers],
                        "ports": _ports(*service.ports),
                    }
                ],
            }
    return policies


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
