"""GCP cloud layer: VPC, GKE, node pools, GCS, Cloud SQL, Memorystore, Artifact Registry, KMS, Workload Identity."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.gcp.platform import GcpPlatform

__all__ = ["GcpPlatform"]


def __getattr__(name: str) -> Any:
    """`GcpPlatform` on first use: importing the package for its catalog (config validation) stays cheap."""
    if name == "GcpPlatform":
        from components.gcp.platform import GcpPlatform

        return GcpPlatform
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
