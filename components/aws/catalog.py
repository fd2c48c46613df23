"""What config validation must know about AWS: regions, instance architectures, GPU instance families."""

from __future__ import annotations

import re
from typing import Final, Literal

Architecture = Literal["x86_64", "arm64"]

REGIONS: Final[frozenset[str]] = frozenset(
    {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1", "sa-east-1", "mx-central-1",
        "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
        "eu-south-2", "me-south-1", "me-central-1", "il-central-1", "af-south-1", "ap-east-1", "ap-south-1",
        "ap-south-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
        "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-7",
    }
)  # fmt: skip

# family letters, generation digit, attribute letters: m6i, m7gd, c6gn, g5g, t4g, p4de, inf2, trn1
_INSTANCE_TYPE = re.compile(r"^(?P<family>[a-z]+)(?P<generation>\d+)(?P<attributes>[a-z-]*)\.(?P<size>[a-z0-9]+)$")
GPU_FAMILIES: Final[frozenset[str]] = frozenset({"g4dn", "g5", "g6", "g6e", "gr6", "p3", "p4d", "p4de", "p5", "p5e"})
RDS_CLASS = re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$")
CACHE_NODE_TYPE = re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$")


def parse_instance_type(instance_type: str) -> re.Match[str] | None:
    return _INSTANCE_TYPE.match(instance_type)


def architecture(instance_type: str) -> Architecture:
    """Graviton types carry a `g` attribute right after the generation (m7g, c6gn, r8gd, t4g, g5g)."""
    match = _INSTANCE_TYPE.match(instance_type)
    if match is None:
        raise ValueError(instance_type)
    return "arm64" if match["attributes"].startswith("g") else "x86_64"


def is_gpu_instance(instance_type: str) -> bool:
    match = _INSTANCE_TYPE.match(instance_type)
    if match is None:
        return False
    family = f"{match['family']}{match['generation']}{match['attributes']}"
    return family in GPU_FAMILIES and architecture(instance_type) == "x86_64"


# SHA-1 of the root CA (Starfield Services Root G2) behind every regional `oidc.eks.<region>.amazonaws.com` issuer.
# IAM verifies EKS issuers against its own trust store; the API still requires one thumbprint.
EKS_OIDC_ROOT_CA_THUMBPRINT: Final[str] = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"

# Managed node group AMI types (Amazon Linux 2023) by CPU architecture; GPU pools use the NVIDIA variant.
NODE_AMI_TYPES: Final[dict[Architecture, str]] = {"x86_64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}
GPU_AMI_TYPE: Final[str] = "AL2023_x86_64_NVIDIA"
NODE_ROOT_DEVICE: Final[str] = "/dev/xvda"  # root device name of the AL2023 EKS AMIs

# AWS-managed policies the layer attaches; each is scoped to its service (no *FullAccess policy anywhere).
MANAGED_POLICIES: Final[dict[str, str]] = {
    "eks-cluster": "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
    "eks-worker": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "ecr-pull": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
    "vpc-cni": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "ebs-csi": "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
}
EKS_CLUSTER_ADMIN_POLICY: Final[str] = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
