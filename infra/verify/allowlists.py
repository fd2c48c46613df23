"""Every exception the checks accept, in one place, each with the reason it is safe.

An entry here is a decision someone reviewed: add one only with a reason a reviewer can check, and remove it when
the reason no longer holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

# Check 1 (schemas): custom resources whose CustomResourceDefinition the platform does not create itself, keyed by
# "<group>/<Kind>". Their objects cannot be validated offline; the cluster must already serve the API.
CRDS_OUTSIDE_THE_SET: Final[dict[str, str]] = {}

# Check 9 (images): where container images may come from, keyed by a registry or repository prefix (matched on whole
# path segments, after Docker Hub's implicit `docker.io/library/`). The stack's own registry (the plan's
# `registryUrl` output: ECR or Artifact Registry) is always allowed: the platform builds and scans those images.
IMAGE_SOURCES: Final[dict[str, str]] = {
    "registry.k8s.io": "the Kubernetes project's registry (cluster-autoscaler, kube-state-metrics, kubectl), signed "
    "releases of kubernetes/* repositories",
    "quay.io/prometheus": "the Prometheus project's images (Prometheus, Alertmanager, node-exporter, Pushgateway)",
    "quay.io/prometheus-operator": "the prometheus-operator project (operator and config reloader)",
    "quay.io/thanos": "the Thanos project (the operator's default Thanos sidecar image)",
    "quay.io/kiwigrid/k8s-sidecar": "the dashboard/datasource sidecar the grafana chart pins",
    "quay.io/argoproj": "the Argo Workflows project (workflow controller, executor) that Kubeflow Pipelines runs on",
    "quay.io/feastdev": "the Feast project's feature server image",
    "docker.io/grafana": "Grafana Labs' official images",
    "docker.io/library": "Docker Official Images (busybox, alpine, postgres), built and reviewed by Docker",
    "ghcr.io/kubeflow": "the Kubeflow Pipelines project's release images",
    "ghcr.io/jkroepke/kube-webhook-certgen": "the admission webhook certificate generator kube-prometheus-stack pins "
    "(maintained by a prometheus-community chart maintainer)",
    "gcr.io/tfx-oss-public/ml_metadata_store_server": "Google's ML Metadata server, the image Kubeflow Pipelines "
    "releases pin for metadata-grpc",
    "nvcr.io/nvidia": "NVIDIA's registry (device plugin, DCGM exporter)",
}


# Check 3 (references): objects the set names that something outside the set creates, keyed "Kind namespace/name";
# each reason says what creates it and where in its source.
OBJECTS_OUTSIDE_THE_SET: Final[dict[str, str]] = {
    "Secret monitoring/kube-prometheus-stack-admission": "the operator's webhook TLS Secret, created at install and "
    "upgrade by the chart's `admission-create` hook Job (`kube-webhook-certgen create --secret-name=...`, "
    "kube-prometheus-stack 88.5.3 templates/prometheus-operator/admission-webhooks/job-patch/job-createSecret.yaml)",
    "Secret kubeflow/webhook-server-tls": "the cache server's webhook TLS Secret, created at run time by KFP's "
    "cache-deployer (kubeflow/pipelines 2.17.0 backend/src/cache/deployer/webhook-create-signed-cert.sh line 63, "
    "deploy-cache-service.sh line 29)",
}


@dataclass(frozen=True)
class SystemPod:
    """Pods the cloud runs in every cluster (managed add-ons), outside the set: selected by Services and
    ServiceMonitors of the set (checks 3 and 7) and the destination of every pod's DNS traffic."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    ports: tuple[tuple[int, str], ...]  # (port, protocol) they listen on
    host_network: bool
    reason: str


_CORE_DNS = (
    "CoreDNS, the EKS `coredns` add-on: labels and ports of kubernetes/kubernetes "
    "cluster/addons/dns/coredns/coredns.yaml.base (k8s-app: kube-dns; dns 53, metrics 9153)"
)
SYSTEM_PODS: Final[dict[str, tuple[SystemPod, ...]]] = {
    "aws": (
        SystemPod("coredns", "kube-system", {"k8s-app": "kube-dns"},
                  ((53, "UDP"), (53, "TCP"), (9153, "TCP")), False, _CORE_DNS),
        SystemPod("kube-proxy", "kube-system", {"k8s-app": "kube-proxy"}, ((10249, "TCP"),), True,
                  "the EKS `kube-proxy` add-on DaemonSet (hostNetwork; metrics 10249)"),
    ),
    "gcp": (
        SystemPod("kube-dns", "kube-system", {"k8s-app": "kube-dns"},
                  ((53, "UDP"), (53, "TCP"), (10054, "TCP"), (10055, "TCP")), False,
                  "GKE's kube-dns: kubernetes/kubernetes cluster/addons/dns/kube-dns/kube-dns.yaml.base (k8s-app: "
                  "kube-dns; dns 53, metrics 10054 and 10055). Dataplane V2 clusters run no kube-proxy."),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class SystemService:
    """A Service created outside the set whose endpoints are not pods: the API server or the nodes' kubelets."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    ports: tuple[tuple[str, int], ...]  # (name, port)
    endpoints: str  # "api-server" or "nodes": who answers
    reason: str


SYSTEM_SERVICES: Final[tuple[SystemService, ...]] = (
    SystemService("kubernetes", "default", {"component": "apiserver", "provider": "kubernetes"},
                  (("https", 443),), "api-server",
                  "the API server's own Service, created and kept by the API server (kubernetes/kubernetes "
                  "pkg/controlplane/controller/kubernetesservice)"),
    SystemService("kube-prometheus-stack-kubelet", "kube-system",
                  {"k8s-app": "kubelet", "app.kubernetes.io/name": "kubelet",
                   "app.kubernetes.io/managed-by": "prometheus-operator"},
                  (("https-metrics", 10250), ("http-metrics", 10255), ("cadvisor", 4194)), "nodes",
                  "the kubelet Service prometheus-operator keeps for `--kubelet-service=kube-system/"
                  "kube-prometheus-stack-kubelet` (prometheus-operator v0.93.0 pkg/kubelet/controller.go lines 46-51 "
                  "and 436-444)"),
)  # fmt: skip


# Check 6 (scheduling): DaemonSets that by design run only on nodes another controller labels, keyed
# "namespace/name"; on this platform no node carries that label, so they run nowhere.
DAEMONSETS_FOR_LABELLED_NODES: Final[dict[str, str]] = {
    "nvidia-gpu/nvidia-device-plugin-mps-control-daemon": "the device plugin chart's MPS control daemon runs only on "
    "nodes labelled nvidia.com/mps.capable=true (nvidia-device-plugin 0.20.0 "
    "templates/daemonset-mps-control-daemon.yml "
    "line 212: 'We only deploy this pod if the following sharing label is applied'), which only GPU Feature Discovery "
    "sets when MPS sharing is configured; the platform gives each pod whole GPUs, so it stays at zero pods",
}
