"""Check 7, network: every flow the platform needs is allowed by the NetworkPolicies of the set, nothing more is open
into the namespaces the platform creates, and the cluster enforces NetworkPolicies at all.

Policies are evaluated as the API defines them (kubernetes/api networking/v1 types.go): a pod is isolated for a
direction once any policy selects it with that policy type (policyTypes default to Ingress, plus Egress when the
policy has egress rules); an isolated pod accepts a connection when any rule of any policy selecting it allows it
(the union); a flow needs the source's egress and the destination's ingress. Peers: `podSelector` alone means pods of
the policy's namespace, `namespaceSelector` alone all pods of the matching namespaces, both together their
intersection; `ipBlock` (cidr minus `except`) is judged against addresses outside the pod network only - the API
reference reserves it for cluster-external addresses, and Cilium (GKE Dataplane V2) never matches pods with it - so
pod-to-pod flows must be allowed by selectors. Ports: number, name (resolved on the destination pod's container
ports), `endPort` ranges, protocol TCP by default. hostNetwork pods are not subject to NetworkPolicies.

Required flows, derived from the objects:
- DNS: every pod to the cluster DNS pods (SYSTEM_PODS) on 53/UDP and 53/TCP;
- Prometheus (the pods of each `Prometheus` resource) to every target port of every ServiceMonitor and PodMonitor it
  selects (pods of the set, the cloud's system pods, node IPs for hostNetwork pods and kubelets, the API server);
- every in-cluster Service a container names in env or args (MLflow, KFP, Feast, the Pushgateway, KFP's own
  WAIT_HOST/`*_HOST` hosts, ...), to the Service's pods on the target port;
- every Service URL in a ConfigMap no pod of the set reads (the `mlops-platform` settings of workload namespaces):
  any pod of that namespace - notebooks and pipelines - and KFP's pipeline-run pods may call it;
- Kubeflow Pipelines' own flows that no object spells out (KFP_FLOWS, each with its upstream source);
- the database and the online store, from every pod whose env, args, or mounted or referenced ConfigMaps and Secrets
  name their host, on the port named with it (else the plan's);
- the API server to every webhook Service of the set (and to KFP's cache webhook, created at run time);
- pods that mount a service-account token to the API server on 443, pods that name a bucket URL to the cloud's
  object store on 443;
- pods whose service account carries a cloud identity (IRSA role, GKE Workload Identity GSA), and pipeline steps when
  pipeline-runner does, to where that identity gets its credentials (TOKEN_ENDPOINTS: the GKE metadata address and
  server; STS over HTTPS on AWS).
Open too much: for every pod of a namespace the set creates, any connection from another namespace (or from the API
server, the nodes or the internet) that the policies admit but no required flow needs is a violation.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.plan.engine import Plan
from infra.verify.allowlists import SYSTEM_PODS
from infra.verify.checks.identity import GSA_ANNOTATION, IRSA_ANNOTATION, KFP_RUNNER
from infra.verify.checks.references import container_port, matches, monitor_namespaces, monitor_targets, service_pods
from infra.verify.cluster import NAME_LABEL, Cluster, PodTemplate, service_hosts
from infra.verify.model import Check, CheckResult, ObjectSet, Violation

NAME = "network"
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
INTERNET = "0.0.0.0/0"
SETTINGS_LABEL = ("app.kubernetes.io/component", "settings")  # components/k8s/workloads.py platform settings
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"  # argoproj/argo-workflows workflow/common/common.go LabelKeyWorkflow
# Kubeflow Pipelines 2.17.0 flows inside its namespace that no env var or arg of the manifests spells out:
# (source app label or "pipeline-run", Service, port, upstream source).
KFP_FLOWS = (
    (
        "ml-pipeline-persistenceagent",
        "ml-pipeline",
        8888,
        "backend/src/agent/persistence/main.go lines 172-174 (ml-pipeline, HTTP 8888, gRPC 8887)",
    ),
    ("ml-pipeline-persistenceagent", "ml-pipeline", 8887, "backend/src/agent/persistence/main.go line 174"),
    (
        "ml-pipeline-scheduledworkflow",
        "ml-pipeline",
        8887,
        "backend/src/crd/controller/scheduledworkflow/main.go lines 119 and 208-209",
    ),
    (
        "ml-pipeline-ui",
        "ml-pipeline",
        8888,
        "frontend/server/configs.ts lines 75-77 and 191-192 (ML_PIPELINE_SERVICE_*)",
    ),
    ("ml-pipeline-ui", "metadata-envoy-service", 9090, "frontend/server/configs.ts lines 89 and 185"),
    (
        "metadata-envoy",
        "metadata-grpc-service",
        8080,
        "manifests/kustomize/base/metadata/base/metadata-envoy-configmap.yaml lines 74-77",
    ),
    ("pipeline-run", "ml-pipeline", 8887, "backend/src/v2/config/env.go line 48 (driver and launcher, gRPC 8887)"),
    ("pipeline-run", "metadata-grpc-service", 8080, "backend/src/apiserver/common/const.go line 81 (ML Metadata)"),
)
# Where GKE pods under Workload Identity get tokens, independent of the platform's own list: client libraries ask the
# metadata address, and the GKE metadata server answering for it listens on 169.254.169.252:988; GKE's network policy
# guide requires egress to both (https://cloud.google.com/kubernetes-engine/docs/how-to/network-policy, "Workload
# Identity Federation for GKE"). On AWS, IRSA needs STS's regional endpoint over HTTPS (no fixed address).
TOKEN_ENDPOINTS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "gcp": (
        ("the metadata address (Workload Identity tokens)", "169.254.169.254/32", 80),
        ("the GKE metadata server (Workload Identity)", "169.254.169.252/32", 988),
    ),
}
KFP_WEBHOOK = ("cache-server", "backend/src/cache/deployer/cache-webhook-config.v1.yaml.template (created at run time)")


@dataclass(frozen=True)
class Endpoint:
    """One side of a flow: a pod (template, system or synthetic) or an address range outside the pod network."""

    name: str
    namespace: str = ""  # empty: outside the pod network
    labels: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    ports: tuple[tuple[str, int, str], ...] = ()  # (name, port, protocol) it listens on
    cidr: str = ""  # external endpoints
    host_network: bool = False
    any_pod: bool = False  # stands for every pod of its namespace

    @property
    def external(self) -> bool:
        return not self.namespace


@dataclass(frozen=True)
class Flow:
    source: Endpoint
    destination: Endpoint
    port: int
    protocol: str
    why: str

    def __str__(self) -> str:
        return f"{self.source.name} -> {self.destination.name}:{self.port}/{self.protocol} ({self.why})"


def pod_endpoint(pod: PodTemplate) -> Endpoint:
    ports = tuple(
        (str(p.get("name") or ""), int(p["containerPort"]), str(p.get("protocol") or "TCP"))
        for c in pod.containers(ephemeral=False)
        for p in c.get("ports") or []
        if "containerPort" in p
    )
    return Endpoint(
        pod.owner.ref, pod.namespace, dict(pod.labels), ports, host_network=bool(pod.spec.get("hostNetwork"))
    )


# --- the network the policies act in -------------------------------------------------------------------------------


@dataclass
class Network:
    """The addresses outside the pod network the stack talks to, from the plan."""

    api_server: Endpoint
    nodes: Endpoint
    stores: dict[str, tuple[Endpoint, list[str], int]]  # role -> (endpoint, hosts, port)
    internet: Endpoint = Endpoint("the internet (cloud APIs)", cidr=INTERNET)

    def token_endpoints(self, cloud: str) -> list[tuple[Endpoint, int, str]]:
        """Where a pod with a cloud identity gets its credentials (TOKEN_ENDPOINTS; on AWS, STS on the internet)."""
        if cloud == "aws":
            return [(self.internet, 443, "IRSA token exchange (STS AssumeRoleWithWebIdentity, regional endpoint)")]
        return [(Endpoint(name, cidr=cidr), port, name) for name, cidr, port in TOKEN_ENDPOINTS.get(cloud, ())]


def _cidr_of(plan: Plan | None, type_: str, field_: str) -> list[str]:
    return [str(r.inputs.get(field_)) for r in plan.of_type(type_) if r.inputs.get(field_)] if plan else []


def network_of(plan: Plan | None, cloud: str) -> Network:
    """AWS: the API server's ENIs, nodes, RDS and ElastiCache all live in the VPC. GCP: the control plane in its
    /28, nodes in the subnetwork, Cloud SQL and Memorystore in the private services access range."""
    stores: dict[str, tuple[Endpoint, list[str], int]] = {}
    if cloud == "gcp" and plan is not None:
        nodes = _cidr_of(plan, "gcp:compute/subnetwork:Subnetwork", "ipCidrRange") or ["10.0.0.0/8"]
        masters = [
            str((c.inputs.get("privateClusterConfig") or {}).get("masterIpv4CidrBlock") or "")
            for c in plan.of_type("gcp:container/cluster:Cluster")
        ]
        services = [
            f"{a.inputs['address']}/{int(a.inputs['prefixLength'])}"
            for a in plan.of_type("gcp:compute/globalAddress:GlobalAddress")
            if a.inputs.get("purpose") == "VPC_PEERING" and a.inputs.get("address")
        ]
        store_cidr = services[0] if services else "10.0.0.0/8"
        for instance in plan.of_type("gcp:sql/databaseInstance:DatabaseInstance"):
            host = str(instance.outputs.get("privateIpAddress") or "")
            stores["database"] = (Endpoint("the database (Cloud SQL)", cidr=store_cidr), [host] if host else [], 5432)
        for instance in plan.of_type("gcp:redis/instance:Instance"):
            host = str(instance.outputs.get("host") or "")
            port = int(instance.outputs.get("port") or 6379)
            stores["online store"] = (Endpoint("the online store (Memorystore)", cidr=store_cidr), [host], port)
        api = masters[0] if masters and masters[0] else nodes[0]
        return Network(Endpoint("the API server", cidr=api), Endpoint("the nodes", cidr=nodes[0]), stores)
    vpc = (_cidr_of(plan, "aws:ec2/vpc:Vpc", "cidrBlock") or ["10.0.0.0/8"])[0]
    if plan is not None:
        for instance in plan.of_type("aws:rds/instance:Instance"):
            hosts = [str(instance.outputs.get(k)) for k in ("address", "endpoint") if instance.outputs.get(k)]
            port = int(instance.inputs.get("port") or instance.outputs.get("port") or 5432)
            stores["database"] = (Endpoint("the database (RDS)", cidr=vpc), [h.split(":")[0] for h in hosts], port)
        for group in plan.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
            hosts = [
                str(group.outputs.get(k))
                for k in ("primaryEndpointAddress", "readerEndpointAddress")
                if group.outputs.get(k)
            ]
            port = int(group.inputs.get("port") or 6379)
            stores["online store"] = (Endpoint("the online store (ElastiCache)", cidr=vpc), hosts, port)
    return Network(Endpoint("the API server", cidr=vpc), Endpoint("the nodes", cidr=vpc), stores)


def enforcement_problem(plan: Plan | None, cloud: str) -> str | None:
    """Why the cluster would accept NetworkPolicies and ignore them (None: it enforces them)."""
    if plan is None:
        return None
    if cloud == "aws":
        for addon in plan.of_type("aws:eks/addon:Addon"):
            if addon.inputs.get("addonName") == "vpc-cni":
                config = json.loads(str(addon.inputs.get("configurationValues") or "{}"))
                if str(config.get("enableNetworkPolicy", "false")).lower() != "true":
                    return (
                        'the vpc-cni add-on does not set enableNetworkPolicy: "true" (off by default, aws/amazon-'
                        "vpc-cni-k8s v1.23.0 charts/aws-vpc-cni/values.yaml line 126): every NetworkPolicy is "
                        "accepted and ignored"
                    )
    if cloud == "gcp":
        for cluster in plan.of_type("gcp:container/cluster:Cluster"):
            dataplane_v2 = cluster.inputs.get("datapathProvider") == "ADVANCED_DATAPATH"
            calico = (cluster.inputs.get("networkPolicy") or {}).get("enabled")
            if not (dataplane_v2 or calico):
                return (
                    "the GKE cluster has neither Dataplane V2 (datapathProvider ADVANCED_DATAPATH) nor network "
                    "policy enforcement enabled: every NetworkPolicy is accepted and ignored"
                )
    return None


# --- NetworkPolicy semantics ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    name: str
    namespace: str
    spec: Mapping[str, Any]

    def types(self) -> set[str]:
        declared = self.spec.get("policyTypes")
        if declared:
            return set(declared)
        return {"Ingress", *(["Egress"] if self.spec.get("egress") else [])}

    def selects(self, endpoint: Endpoint) -> bool:
        return endpoint.namespace == self.namespace and matches(self.spec.get("podSelector"), endpoint.labels)


def _in(cidr: str, block: Mapping[str, Any]) -> bool:
    """Whether every address of `cidr` is inside the ipBlock (cidr minus except)."""
    inner = ipaddress.ip_network(cidr, strict=False)
    outer = ipaddress.ip_network(str(block.get("cidr")), strict=False)
    if inner.version != outer.version or not inner.subnet_of(outer):  # type: ignore[arg-type]
        return False
    return not any(inner.overlaps(ipaddress.ip_network(str(e), strict=False)) for e in block.get("except") or [])


class Judge:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.policies = [
            Policy(p.name, p.namespace, p.manifest.get("spec") or {}) for p in cluster.of_kind("NetworkPolicy")
        ]

    def peer_matches(self, peer: Mapping[str, Any], policy: Policy, endpoint: Endpoint) -> bool:
        if "ipBlock" in peer:
            return endpoint.external and _in(endpoint.cidr, peer["ipBlock"])
        if endpoint.external:
            return False
        if endpoint.host_network:
            return False
        if "namespaceSelector" in peer:
            labels = self.cluster.namespaces.get(endpoint.namespace, {NAME_LABEL: endpoint.namespace})
            if not matches(peer["namespaceSelector"], labels):
                return False
        elif endpoint.namespace != policy.namespace:
            return False
        return "podSelector" not in peer or matches(peer["podSelector"], endpoint.labels)

    @staticmethod
    def port_matches(
        rule_ports: list[Mapping[str, Any]] | None, destination: Endpoint, port: int, protocol: str
    ) -> bool:
        if not rule_ports:
            return True
        for rule_port in rule_ports:
            if (rule_port.get("protocol") or "TCP") != protocol:
                continue
            value = rule_port.get("port")
            if value is None:
                return True
            if isinstance(value, str) and not value.isdigit():
                if any(
                    name == value and number == port and proto == protocol for name, number, proto in destination.ports
                ):
                    return True
                continue
            low = int(value)
            if low <= port <= int(rule_port.get("endPort") or low):
                return True
        return False

    def isolated(self, endpoint: Endpoint, direction: str) -> bool:
        return any(direction in p.types() and p.selects(endpoint) for p in self.policies)

    def allows(self, direction: str, flow: Flow) -> tuple[bool, list[str]]:
        """Whether the policies let `flow` out of its source (Egress) or into its destination (Ingress)."""
        subject = flow.source if direction == "Egress" else flow.destination
        if subject.external or subject.host_network:
            return True, []
        isolating = [p for p in self.policies if direction in p.types() and p.selects(subject)]
        if not isolating:
            return True, []
        key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        other = flow.destination if direction == "Egress" else flow.source
        for policy in isolating:
            for rule in policy.spec.get(key) or []:
                peers = rule.get(peers_key)
                if peers and not any(self.peer_matches(peer, policy, other) for peer in peers):
                    continue
                if self.port_matches(rule.get("ports"), flow.destination, flow.port, flow.protocol):
                    return True, []
        return False, sorted(p.name for p in isolating)


# --- required flows -------------------------------------------------------------------------------------------------


class Flows:
    """Builds the endpoints and every required flow of a set."""

    def __init__(self, objects: ObjectSet) -> None:
        self.objects = objects
        self.cluster = objects.cluster
        self.network = network_of(objects.plan, objects.cloud)
        self.pods = {id(p): pod_endpoint(p) for p in self.cluster.pods}
        self.system = [
            Endpoint(
                f"{s.name} ({s.namespace}, the cloud's)",
                s.namespace,
                dict(s.labels),
                tuple((str(port), port, proto) for port, proto in s.ports),
                host_network=s.host_network,
            )
            for s in SYSTEM_PODS.get(objects.cloud, ())
        ]
        self.kfp = self.cluster.get("Deployment", "kubeflow", "ml-pipeline") is not None
        self.pipeline_run = Endpoint(
            "a Kubeflow pipeline-run pod",
            "kubeflow",
            {WORKFLOW_LABEL: "run", "pipelines.kubeflow.org/v2_component": "true"},
        )
        self.flows: list[Flow] = []

    def add(self, source: Endpoint, destination: Endpoint, port: int, protocol: str, why: str) -> None:
        self.flows.append(Flow(source, destination, port, protocol, why))

    def service_targets(self, namespace: str, name: str, port: int | None) -> Iterator[tuple[Endpoint, int, str]]:
        """(endpoint, target port, protocol) behind a Service port (every port when `port` is None)."""
        service = self.cluster.get("Service", namespace, name)
        if service is None:
            return
        pods, system = service_pods(self.cluster, service, self.objects.cloud)
        for service_port in (service.manifest.get("spec") or {}).get("ports") or []:
            if port is not None and int(service_port.get("port", 0)) != port:
                continue
            target = service_port.get("targetPort", service_port.get("port"))
            protocol = str(service_port.get("protocol") or "TCP")
            for pod in pods:
                number = container_port(pod, target) if isinstance(target, str) else int(target)
                if number is not None:
                    yield self._at_node_or_pod(self.pods[id(pod)]), number, protocol
            for system_pod in system:
                endpoint = next(
                    e for e in self.system if e.labels == dict(system_pod.labels) and e.namespace == namespace
                )
                if isinstance(target, int):
                    yield self._at_node_or_pod(endpoint), target, protocol

    def _at_node_or_pod(self, endpoint: Endpoint) -> Endpoint:
        return self.network.nodes if endpoint.host_network else endpoint

    def build(self) -> list[Flow]:
        dns = [e for e in self.system if any(port == 53 for _, port, _ in e.ports)]
        sources = [self.pods[id(p)] for p in self.cluster.pods if not self.pods[id(p)].host_network]
        for source in [*sources, *([self.pipeline_run] if self.kfp else [])]:
            for server in dns:
                self.add(source, server, 53, "UDP", "DNS")
                self.add(source, server, 53, "TCP", "DNS")
        self._scrapes()
        self._named_services()
        self._settings()
        self._kfp()
        self._stores()
        self._webhooks()
        self._cloud_apis()
        return self.flows

    def _scrapes(self) -> None:
        for prometheus in (p for p in self.cluster.pods if p.owner.kind == "Prometheus"):
            spec = prometheus.owner.manifest.get("spec") or {}
            scraper = self.pods[id(prometheus)]
            for monitor in self.cluster.of_kind("ServiceMonitor"):
                if not self._selected(spec, "serviceMonitor", monitor, prometheus.namespace):
                    continue
                services, system = monitor_targets(self.cluster, monitor)
                for endpoint in (monitor.manifest.get("spec") or {}).get("endpoints") or []:
                    why = f"scrape of ServiceMonitor {monitor.namespace}/{monitor.name}"
                    for service in services:
                        for service_port in (service.manifest.get("spec") or {}).get("ports") or []:
                            if service_port.get("name") == endpoint.get("port") or service_port.get(
                                "port"
                            ) == endpoint.get("targetPort"):
                                for target, number, protocol in self.service_targets(
                                    service.namespace, service.name, int(service_port["port"])
                                ):
                                    self.add(scraper, target, number, protocol, why)
                    for system_service in system:
                        target = (
                            self.network.api_server if system_service.endpoints == "api-server" else self.network.nodes
                        )
                        for name, number in system_service.ports:
                            if name == endpoint.get("port"):
                                self.add(scraper, target, number, "TCP", why)
            for monitor in self.cluster.of_kind("PodMonitor"):
                if not self._selected(spec, "podMonitor", monitor, prometheus.namespace):
                    continue
                selector = (monitor.manifest.get("spec") or {}).get("selector")
                namespaces = monitor_namespaces(self.cluster, monitor)
                for pod in (p for p in self.cluster.pods if p.namespace in namespaces and matches(selector, p.labels)):
                    for endpoint in (monitor.manifest.get("spec") or {}).get("podMetricsEndpoints") or []:
                        scraped = container_port(pod, str(endpoint.get("port")))
                        if scraped is not None:
                            self.add(
                                scraper,
                                self._at_node_or_pod(self.pods[id(pod)]),
                                scraped,
                                "TCP",
                                f"scrape of PodMonitor {monitor.namespace}/{monitor.name}",
                            )

    def _selected(self, spec: Mapping[str, Any], kind: str, monitor: Any, namespace: str) -> bool:
        """Whether a Prometheus selects this monitor: a missing selector selects nothing, a missing namespace
        selector means the Prometheus's own namespace (prometheus-operator's Prometheus API)."""
        selector = spec.get(f"{kind}Selector")
        if selector is None:
            return False
        namespace_selector = spec.get(f"{kind}NamespaceSelector")
        labels = (monitor.manifest.get("metadata") or {}).get("labels") or {}
        if not matches(selector, labels):
            return False
        if namespace_selector is None:
            return bool(monitor.namespace == namespace)
        return matches(namespace_selector, self.cluster.namespaces.get(monitor.namespace, {}))

    def _named_services(self) -> None:
        for pod in self.cluster.pods:
            source = self.pods[id(pod)]
            for container in pod.containers(ephemeral=False):
                for where, ref in self.cluster.service_refs(pod, container):
                    for target, number, protocol in self.service_targets(ref.namespace, ref.name, ref.port):
                        self.add(source, target, number, protocol, f"{container.get('name')} {where} names {ref.text}")

    def _settings(self) -> None:
        """Service URLs in the platform's settings ConfigMaps (app.kubernetes.io/component: settings, one per
        workload namespace): what notebooks and pipeline steps, pods the set does not template, call."""
        for config in self.cluster.of_kind("ConfigMap"):
            labels = (config.manifest.get("metadata") or {}).get("labels") or {}
            if labels.get(SETTINGS_LABEL[0]) != SETTINGS_LABEL[1]:
                continue
            sources = [Endpoint(f"any pod of namespace {config.namespace}", config.namespace, any_pod=True)]
            if self.kfp:
                sources.append(self.pipeline_run)
            for key, value in (config.manifest.get("data") or {}).items():
                for ref in service_hosts(str(value), config.namespace, set(self.cluster.namespaces)):
                    for target, number, protocol in self.service_targets(ref.namespace, ref.name, ref.port):
                        for source in sources:
                            self.add(
                                source,
                                target,
                                number,
                                protocol,
                                f"ConfigMap {config.namespace}/{config.name} key {key} names {ref.text}",
                            )

    def _kfp(self) -> None:
        if not self.kfp:
            return
        by_app = {
            p.labels.get("app") or p.labels.get("component") or "": self.pods[id(p)]
            for p in self.cluster.pods
            if p.namespace == "kubeflow"
        }
        for source_app, service, port, source in KFP_FLOWS:
            origin = self.pipeline_run if source_app == "pipeline-run" else by_app.get(source_app)
            if origin is None:
                continue
            for target, number, protocol in self.service_targets("kubeflow", service, port):
                self.add(origin, target, number, protocol, f"Kubeflow Pipelines 2.17.0 {source}")
        for target, number, protocol in self.service_targets("kubeflow", KFP_WEBHOOK[0], 443):
            self.add(self.network.api_server, target, number, protocol, f"cache webhook, {KFP_WEBHOOK[1]}")

    def _stores(self) -> None:
        for pod in self.cluster.pods:
            texts = list(_pod_texts(self.cluster, pod))
            for role, (endpoint, hosts, default_port) in self.network.stores.items():
                for where, text in texts:
                    for host in (h for h in hosts if h and h in text):
                        port = _port_after(text, host) or default_port
                        self.add(self.pods[id(pod)], endpoint, port, "TCP", f"{where} names {role} host {host}")
                        break

    def _webhooks(self) -> None:
        for config in self.cluster.of_kind("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            for hook in config.manifest.get("webhooks") or []:
                service = (hook.get("clientConfig") or {}).get("service")
                if not service:
                    continue
                port = int(service.get("port") or 443)
                for target, number, protocol in self.service_targets(
                    str(service.get("namespace")), str(service.get("name")), port
                ):
                    self.add(self.network.api_server, target, number, protocol, f"webhook {hook.get('name')}")

    def _cloud_apis(self) -> None:
        scheme = "gs://" if self.objects.cloud == "gcp" else "s3://"
        tokens = self.network.token_endpoints(self.objects.cloud)
        runner = self.cluster.get("ServiceAccount", "kubeflow", KFP_RUNNER)
        if self.kfp and runner is not None and _cloud_identity(runner.manifest):
            for endpoint, port, why in tokens:  # pipeline steps run as pipeline-runner
                self.add(self.pipeline_run, endpoint, port, "TCP", f"cloud identity: {why}")
        for pod in self.cluster.pods:
            source = self.pods[id(pod)]
            if source.host_network:
                continue
            account = self.cluster.get("ServiceAccount", pod.namespace, pod.service_account)
            if account is not None and _cloud_identity(account.manifest):
                for endpoint, port, why in tokens:
                    self.add(source, endpoint, port, "TCP", f"cloud identity: {why}")
            if _token_mounted(self.cluster, pod):
                self.add(source, self.network.api_server, 443, "TCP", "Kubernetes API (service-account token)")
            if any(scheme in text for _, text in _pod_texts(self.cluster, pod)):
                self.add(source, self.network.internet, 443, "TCP", "object store (bucket URL)")


def _config_maps_read(pod: PodTemplate) -> set[str]:
    names = {str((v.get("configMap") or {}).get("name")) for v in pod.volumes() if "configMap" in v}
    names |= {
        str((s.get("configMap") or {}).get("name"))
        for v in pod.volumes()
        for s in (v.get("projected") or {}).get("sources") or []
        if "configMap" in s
    }
    for container in pod.containers():
        names |= {str((s.get("configMapRef") or {}).get("name")) for s in container.get("envFrom") or []}
        names |= {
            str(((e.get("valueFrom") or {}).get("configMapKeyRef") or {}).get("name"))
            for e in container.get("env") or []
        }
    return names


def _decoded(obj_manifest: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for key, value in (obj_manifest.get("stringData") or {}).items():
        yield key, str(value)
    for key, value in (obj_manifest.get("data") or {}).items():
        if obj_manifest.get("kind") == "Secret":
            try:
                yield key, base64.b64decode(str(value), validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                continue
        else:
            yield key, str(value)


def _pod_texts(cluster: Cluster, pod: PodTemplate) -> Iterator[tuple[str, str]]:
    """Everything a pod is told: its containers' env and args (ConfigMap keys resolved), and the data of the
    ConfigMaps and Secrets it mounts or takes whole (`envFrom`), and of the Secret keys its env references."""
    for container in pod.containers(ephemeral=False):
        for where, text in cluster.strings(pod, container):
            yield f"container {container.get('name')} {where}", text
    whole: set[tuple[str, str]] = {
        ("ConfigMap", str((v.get("configMap") or {}).get("name"))) for v in pod.volumes() if "configMap" in v
    }
    whole |= {("Secret", str((v.get("secret") or {}).get("secretName"))) for v in pod.volumes() if "secret" in v}
    keys: set[tuple[str, str]] = set()
    for container in pod.containers():
        for source in container.get("envFrom") or []:
            whole |= {
                (kind, str((source.get(ref) or {}).get("name")))
                for ref, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret"))
                if ref in source
            }
        for variable in container.get("env") or []:
            ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                keys.add((str(ref.get("name")), str(ref.get("key"))))
    for kind, name in sorted(whole):
        obj = cluster.get(kind, pod.namespace, name)
        if obj is not None:
            for key, text in _decoded(obj.manifest):
                yield f"{kind} {name} key {key}", text
    for name, key in sorted(keys):
        obj = cluster.get("Secret", pod.namespace, name)
        if obj is not None:
            yield from ((f"Secret {name} key {k}", text) for k, text in _decoded(obj.manifest) if k == key)


def _port_after(text: str, host: str) -> int | None:
    index = text.find(host) + len(host)
    if text[index : index + 1] != ":":
        return None
    digits = ""
    for char in text[index + 1 :]:
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else None


def _cloud_identity(account: Mapping[str, Any]) -> bool:
    annotations = (account.get("metadata") or {}).get("annotations") or {}
    return bool(annotations.get(IRSA_ANNOTATION) or annotations.get(GSA_ANNOTATION))


def _token_mounted(cluster: Cluster, pod: PodTemplate) -> bool:
    if pod.spec.get("automountServiceAccountToken") is not None:
        return bool(pod.spec["automountServiceAccountToken"])
    account = cluster.get("ServiceAccount", pod.namespace, pod.service_account)
    return account is None or account.manifest.get("automountServiceAccountToken") is not False


def _external_sources(network: Network) -> list[Endpoint]:
    return [network.api_server, network.nodes, network.internet]


def _excess(
    judge: Judge, cluster: Cluster, endpoints: Iterable[Endpoint], required: list[Flow], network: Network
) -> list[Violation]:
    """Connections into the set's namespaces that the policies admit but no required flow needs."""
    needed: set[tuple[Endpoint, Endpoint, int, str]] = set()
    any_pod: set[tuple[str, Endpoint, int, str]] = set()
    by_address: list[tuple[str, Endpoint, int, str]] = []
    for flow in required:
        if flow.source.any_pod:
            any_pod.add((flow.source.namespace, flow.destination, flow.port, flow.protocol))
        elif flow.source.external:  # an address range: whatever shares it is the same caller to a policy
            by_address.append((flow.source.cidr, flow.destination, flow.port, flow.protocol))
        else:
            needed.add((flow.source, flow.destination, flow.port, flow.protocol))

    def covered(source: Endpoint, destination: Endpoint, port: int, protocol: str) -> bool:
        if (source, destination, port, protocol) in needed or (
            source.namespace,
            destination,
            port,
            protocol,
        ) in any_pod:
            return True
        return source.external and any(
            d == destination and p == port and proto == protocol and _in(source.cidr, {"cidr": cidr})
            for cidr, d, p, proto in by_address
        )

    created = set(cluster.created_namespaces)
    pods = [e for e in endpoints if not e.external and not e.host_network]
    outsider = Endpoint("a pod of a namespace the platform does not manage", "default")
    sources = [*pods, outsider, *_external_sources(network)]
    found: dict[Endpoint, dict[str, set[str]]] = {}
    for destination in (p for p in pods if p.namespace in created and not p.any_pod):
        if not judge.isolated(destination, "Ingress"):
            found[destination] = {"every pod and address (no NetworkPolicy isolates it)": set()}
            continue
        probes = {(port, protocol) for _, port, protocol in destination.ports} | {(1, "TCP")}  # 1: "any other port"
        for source in sources:
            if source.namespace == destination.namespace:
                continue
            for port, protocol in probes:
                if covered(source, destination, port, protocol):
                    continue
                allowed, _ = judge.allows("Ingress", Flow(source, destination, port, protocol, ""))
                if allowed:
                    caller = f"pods of namespace {source.namespace}" if source.namespace else source.name
                    found.setdefault(destination, {}).setdefault(caller, set()).add(
                        "any other port" if port == 1 else f"{port}/{protocol}"
                    )
    return [
        Violation(
            NAME,
            f"{destination.name} (namespace {destination.namespace})",
            "admits connections no required "
            "flow needs: "
            + "; ".join(
                f"{caller}" + (f" on {', '.join(sorted(ports))}" if ports else "")
                for caller, ports in sorted(callers.items())
            ),
        )
        for destination, callers in sorted(found.items(), key=lambda item: item[0].name)
    ]


def run(objects: ObjectSet) -> CheckResult:
    cluster = objects.cluster
    if not cluster.of_kind("NetworkPolicy"):
        return CheckResult(NAME, 0, "flows", notes=("the set has no NetworkPolicy: nothing is isolated",))
    violations = []
    problem = enforcement_problem(objects.plan, objects.cloud)
    if problem:
        violations.append(Violation(NAME, f"the {objects.cloud} cluster", problem))
    builder = Flows(objects)
    required = builder.build()
    judge = Judge(cluster)
    seen = set()
    for flow in required:
        key = (flow.source, flow.destination, flow.port, flow.protocol)
        if key in seen:
            continue
        seen.add(key)
        for direction in ("Egress", "Ingress"):
            allowed, isolating = judge.allows(direction, flow)
            if not allowed:
                side = flow.source if direction == "Egress" else flow.destination
                violations.append(
                    Violation(
                        NAME,
                        str(flow),
                        (
                            f"denied: the {direction.lower()} of {side.name} is isolated by NetworkPolicies "
                            f"{', '.join(isolating)} of namespace {side.namespace} and none allows it"
                        ),
                    )
                )
    endpoints = [*builder.pods.values(), *builder.system, *([builder.pipeline_run] if builder.kfp else [])]
    violations += _excess(judge, cluster, endpoints, required, builder.network)
    return CheckResult(NAME, len(seen), "required flows", tuple(violations))


CHECK = Check(
    7,
    NAME,
    "NetworkPolicies allow every required flow (DNS, scrapes, services, stores, webhooks) and open nothing more",
    run,
)
