"""GCP cloud layer: VPC, GKE, node pools, GCS, Cloud SQL, Memorystore, Artifact Registry, KMS, Workload Identity."""

from components.gcp.platform import GcpPlatform

__all__ = ["GcpPlatform"]
