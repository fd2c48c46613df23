"""AWS cloud layer: VPC, EKS, node groups, S3, RDS, ElastiCache, ECR, KMS, IRSA identities, budget."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.aws.platform import AwsPlatform

__all__ = ["AwsPlatform"]


def __getattr__(name: str) -> Any:
    """`AwsPlatform` on first use: importing the package for its catalog (config validation) stays cheap."""
    if name == "AwsPlatform":
        from components.aws.platform import AwsPlatform

        return AwsPlatform
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
