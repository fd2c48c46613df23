"""AWS cloud layer: VPC, EKS, node groups, S3, RDS, ElastiCache, ECR, KMS, IRSA identities, budget."""

from components.aws.platform import AwsPlatform

__all__ = ["AwsPlatform"]
