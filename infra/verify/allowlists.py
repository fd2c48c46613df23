"""Every exception the checks accept, in one place, each with the reason it is safe.

An entry here is a decision someone reviewed: add one only with a reason a reviewer can check, and remove it when
the reason no longer holds.
"""

from __future__ import annotations

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
    "gcr.io/cloud-sql-connectors/cloud-sql-proxy": "Google's Cloud SQL Auth Proxy, the image upstream Kubeflow "
    "Pipelines' env/gcp runs to reach Cloud SQL (GoogleCloudPlatform/cloud-sql-proxy release images)",
    "gcr.io/tfx-oss-public/ml_metadata_store_server": "Google's ML Metadata server, the image Kubeflow Pipelines "
    "releases pin for metadata-grpc",
    "nvcr.io/nvidia": "NVIDIA's registry (device plugin, DCGM exporter)",
}
