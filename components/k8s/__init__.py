"""In-cluster layer, cloud-neutral: consumes `components.contract.CloudPlatform`, never an AWS or GCP type."""

from components.k8s.observability import AlertingSecrets
from components.k8s.platform import InClusterPlatform, InClusterPlatformArgs

__all__ = ["AlertingSecrets", "InClusterPlatform", "InClusterPlatformArgs"]
