"""What the AWS layer and config validation know about AWS: regions, the pinned EC2 instance type catalog, AMIs.

`INSTANCE_TYPES` lists the EC2 types a platform team would put in a node pool: general purpose (m5, m5a, m6i,
m6a, m7i, m7a, t3, t3a), compute (c5, c6i, c6a, c7i, c7a), memory (r5, r6i, r6a, r7i, r7a), Graviton (m6g, m7g,
m8g, c6g, c7g, c8g, r6g, r7g, r8g, t4g) and NVIDIA GPU types (g4dn, g5, g6, g6e, p4d, p4de, p5, p5e). Bare-metal
and network/storage variants (`*n`, `*d`, `.metal`) are left out on purpose. A type missing here is refused with a
did-you-mean; add it (with its source) rather than bypassing the check.
"""

from __future__ import annotations

import re
from typing import Final

from components.machines import Architecture, InstanceType, closest, family, gpu_machine, ratio_sizes

__all__ = ["Architecture", "InstanceType"]

REGIONS: Final[frozenset[str]] = frozenset(
    {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1", "sa-east-1", "mx-central-1",
        "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
        "eu-south-2", "me-south-1", "me-central-1", "il-central-1", "af-south-1", "ap-east-1", "ap-south-1",
        "ap-south-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
        "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-7",
    }
)  # fmt: skip

# Amazon EC2 instance type specifications (general purpose gp.html, compute optimized co.html, memory optimized
# mo.html, accelerated computing ac.html under https://docs.aws.amazon.com/ec2/latest/instancetypes/), read
# 2026-12-01; GPU rows cross-checked against meta-pytorch/torchx torchx/specs/named_resources_aws.py @ 3297a6e.
CATALOG_SOURCE: Final[str] = "https://docs.aws.amazon.com/ec2/latest/instancetypes/ (gp, co, mo, ac pages)"
CATALOG_DATE: Final[str] = "2026-12-01"

_VCPUS: Final[dict[str, int]] = {
    "medium": 1, "large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "9xlarge": 36,
    "12xlarge": 48, "16xlarge": 64, "18xlarge": 72, "24xlarge": 96, "32xlarge": 128, "48xlarge": 192,
}  # fmt: skip
_UP_TO_24 = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")
_GRAVITON = ("medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
# Families sharing a size ladder, by memory per vCPU: general purpose 4 GiB, compute 2 GiB, memory 8 GiB.
_LADDERS: Final[dict[str, tuple[str, ...]]] = {
    "5": _UP_TO_24,
    "6i": (*_UP_TO_24, "32xlarge"),
    "6a": (*_UP_TO_24, "32xlarge", "48xlarge"),
    "7i": (*_UP_TO_24, "48xlarge"),
    "7a": ("medium", *_UP_TO_24, "32xlarge", "48xlarge"),
    "6g": _GRAVITON,
    "7g": _GRAVITON,
    "8g": (*_GRAVITON, "24xlarge", "48xlarge"),
}
_C5 = ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge")


def _standard_families() -> dict[str, InstanceType]:
    types: dict[str, InstanceType] = {}
    for letter, gib in (("m", 4.0), ("c", 2.0), ("r", 8.0)):
        for generation, sizes in _LADDERS.items():
            if letter == "c" and generation == "5":
                sizes = _C5
            architecture: Architecture = "arm64" if generation.endswith("g") else "x86_64"
            types |= family(f"{letter}{generation}", ratio_sizes(_VCPUS, sizes, gib), architecture, ".")
    types |= family("m5a", ratio_sizes(_VCPUS, _UP_TO_24, 4.0), "x86_64", ".")
    burstable = [("nano", 2, 0.5), ("micro", 2, 1), ("small", 2, 2), ("medium", 2, 4), ("large", 2, 8),
                 ("xlarge", 4, 16), ("2xlarge", 8, 32)]  # fmt: skip
    types |= family("t3", burstable, "x86_64", ".") | family("t3a", burstable, "x86_64", ".")
    return types | family("t4g", burstable, "arm64", ".")


GPU_INSTANCE_TYPES: Final[dict[str, InstanceType]] = dict(
    [
        # g4dn: NVIDIA T4 (16 GB)
        gpu_machine("g4dn.xlarge", 4, 16, 1, "nvidia-tesla-t4"),
        gpu_machine("g4dn.2xlarge", 8, 32, 1, "nvidia-tesla-t4"),
        gpu_machine("g4dn.4xlarge", 16, 64, 1, "nvidia-tesla-t4"),
        gpu_machine("g4dn.8xlarge", 32, 128, 1, "nvidia-tesla-t4"),
        gpu_machine("g4dn.16xlarge", 64, 256, 1, "nvidia-tesla-t4"),
        gpu_machine("g4dn.12xlarge", 48, 192, 4, "nvidia-tesla-t4"),
        # g5: NVIDIA A10G (24 GB)
        gpu_machine("g5.xlarge", 4, 16, 1, "nvidia-a10g"),
        gpu_machine("g5.2xlarge", 8, 32, 1, "nvidia-a10g"),
        gpu_machine("g5.4xlarge", 16, 64, 1, "nvidia-a10g"),
        gpu_machine("g5.8xlarge", 32, 128, 1, "nvidia-a10g"),
        gpu_machine("g5.16xlarge", 64, 256, 1, "nvidia-a10g"),
        gpu_machine("g5.12xlarge", 48, 192, 4, "nvidia-a10g"),
        gpu_machine("g5.24xlarge", 96, 384, 4, "nvidia-a10g"),
        gpu_machine("g5.48xlarge", 192, 768, 8, "nvidia-a10g"),
        # g6: NVIDIA L4 (24 GB)
        gpu_machine("g6.xlarge", 4, 16, 1, "nvidia-l4"),
        gpu_machine("g6.2xlarge", 8, 32, 1, "nvidia-l4"),
        gpu_machine("g6.4xlarge", 16, 64, 1, "nvidia-l4"),
        gpu_machine("g6.8xlarge", 32, 128, 1, "nvidia-l4"),
        gpu_machine("g6.16xlarge", 64, 256, 1, "nvidia-l4"),
        gpu_machine("g6.12xlarge", 48, 192, 4, "nvidia-l4"),
        gpu_machine("g6.24xlarge", 96, 384, 4, "nvidia-l4"),
        gpu_machine("g6.48xlarge", 192, 768, 8, "nvidia-l4"),
        # g6e: NVIDIA L40S (48 GB)
        gpu_machine("g6e.xlarge", 4, 32, 1, "nvidia-l40s"),
        gpu_machine("g6e.2xlarge", 8, 64, 1, "nvidia-l40s"),
        gpu_machine("g6e.4xlarge", 16, 128, 1, "nvidia-l40s"),
        gpu_machine("g6e.8xlarge", 32, 256, 1, "nvidia-l40s"),
        gpu_machine("g6e.16xlarge", 64, 512, 1, "nvidia-l40s"),
        gpu_machine("g6e.12xlarge", 48, 384, 4, "nvidia-l40s"),
        gpu_machine("g6e.24xlarge", 96, 768, 4, "nvidia-l40s"),
        gpu_machine("g6e.48xlarge", 192, 1536, 8, "nvidia-l40s"),
        # p4d / p4de: NVIDIA A100 40 GB / 80 GB; p5: H100 (80 GB); p5e: H200 (141 GB)
        gpu_machine("p4d.24xlarge", 96, 1152, 8, "nvidia-tesla-a100"),
        gpu_machine("p4de.24xlarge", 96, 1152, 8, "nvidia-a100-80gb"),
        gpu_machine("p5.4xlarge", 16, 256, 1, "nvidia-h100-80gb"),
        gpu_machine("p5.48xlarge", 192, 2048, 8, "nvidia-h100-80gb"),
        gpu_machine("p5e.48xlarge", 192, 2048, 8, "nvidia-h200-141gb"),
    ]
)

INSTANCE_TYPES: Final[dict[str, InstanceType]] = _standard_families() | GPU_INSTANCE_TYPES
GPU_TYPES: Final[frozenset[str]] = frozenset(t.gpu_type for t in GPU_INSTANCE_TYPES.values() if t.gpu_type)


def instance_type(name: str) -> InstanceType | None:
    """The catalog record of an EC2 instance type, or None when the catalog does not know it."""
    return INSTANCE_TYPES.get(name)


def suggest(name: str) -> str | None:
    """The closest known instance type, for a did-you-mean."""
    return closest(name, INSTANCE_TYPES)


def allowed_accelerators(instance: InstanceType) -> dict[str, tuple[int, ...]]:
    """EC2 GPUs are part of the instance type: exactly its GPU model and count, nothing can be attached."""
    return {instance.gpu_type: (instance.gpus,)} if instance.gpu_type else {}


RDS_CLASS = re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$")
CACHE_NODE_TYPE = re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$")


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
