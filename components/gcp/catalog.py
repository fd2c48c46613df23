"""What the GCP layer and config validation know about GCP: regions and the pinned Compute Engine machine catalog.

`MACHINE_TYPES` lists the machine types a platform team would put in a GKE node pool: general purpose (e2, n2, n2d,
n1), compute (c3, c4), Arm (t2a, c4a) and accelerator-optimized (g2: L4, a2: A100, a3: H100/H200). G2/A2/A3 come
with their GPUs built in (the node pool must name exactly that accelerator and count); only N1 takes attachable
GPUs (T4, V100, P4), each model with its allowed counts and a vCPU ceiling per count. Local-SSD (`-lssd`), bare-metal
and custom machine types are left out on purpose. A type missing here is refused with a did-you-mean.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from components.machines import Architecture, InstanceType, closest, family, gpu_machine

__all__ = ["Architecture", "InstanceType"]

REGIONS: Final[frozenset[str]] = frozenset(
    {
        "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west2", "us-west3",
        "us-west4", "northamerica-northeast1", "northamerica-northeast2", "southamerica-east1", "europe-west1",
        "europe-west2", "europe-west3", "europe-west4", "europe-west6", "europe-west8", "europe-west9",
        "europe-west10", "europe-west12", "europe-north1", "europe-central2", "europe-southwest1", "asia-east1",
        "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3", "asia-south1", "asia-south2",
        "asia-southeast1", "asia-southeast2", "australia-southeast1", "australia-southeast2", "me-west1",
        "me-central1", "africa-south1",
    }
)  # fmt: skip

# Compute Engine machine families (general-purpose-machines, compute-optimized-machines, accelerator-optimized-
# machines) and the N1 GPU table of https://cloud.google.com/compute/docs/gpus, read 2026-12-01.
CATALOG_SOURCE: Final[str] = "https://cloud.google.com/compute/docs/machine-resource and /compute/docs/gpus"
CATALOG_DATE: Final[str] = "2026-12-01"


def _ladder(
    series: str, shape: str, vcpus: tuple[int, ...], gib_per_vcpu: float, arch: Architecture = "x86_64"
) -> dict[str, InstanceType]:
    return family(f"{series}-{shape}", [(str(n), n, n * gib_per_vcpu) for n in vcpus], arch, "-")


_N2 = (2, 4, 8, 16, 32, 48, 64, 80, 96)
_C3 = (4, 8, 22, 44, 88, 176)
_C4 = (2, 4, 8, 16, 32, 48, 96, 144, 192, 288)
_C4A = (1, 2, 4, 8, 16, 32, 48, 64, 72)
_N1 = (2, 4, 8, 16, 32, 64, 96)


def _general_purpose() -> dict[str, InstanceType]:
    shared_core = family("e2", [("micro", 2, 1), ("small", 2, 2), ("medium", 2, 4)], "x86_64", "-")
    return (
        shared_core
        | _ladder("e2", "standard", (2, 4, 8, 16, 32), 4)
        | _ladder("e2", "highmem", (2, 4, 8, 16), 8)
        | _ladder("e2", "highcpu", (2, 4, 8, 16, 32), 1)
        | _ladder("n2", "standard", (*_N2, 128), 4)
        | _ladder("n2", "highmem", _N2, 8)
        | family("n2-highmem", [("128", 128, 864)], "x86_64", "-")
        | _ladder("n2", "highcpu", _N2, 1)
        | _ladder("n2d", "standard", (*_N2, 128, 224), 4)
        | _ladder("n2d", "highmem", _N2, 8)
        | _ladder("n2d", "highcpu", (*_N2, 128, 224), 1)
        | _ladder("n1", "standard", (1, *_N1), 3.75)
        | _ladder("n1", "highmem", _N1, 6.5)
        | _ladder("n1", "highcpu", _N1, 0.9)
        | _ladder("c3", "standard", _C3, 4)
        | _ladder("c3", "highmem", _C3, 8)
        | _ladder("c3", "highcpu", _C3, 2)
        | _ladder("c4", "standard", _C4, 3.75)
        | _ladder("c4", "highmem", _C4, 7.75)
        | _ladder("c4", "highcpu", _C4, 2)
        | _ladder("t2a", "standard", (1, 2, 4, 8, 16, 32, 48), 4, "arm64")
        | _ladder("c4a", "standard", _C4A, 4, "arm64")
        | _ladder("c4a", "highmem", _C4A, 8, "arm64")
        | _ladder("c4a", "highcpu", _C4A, 2, "arm64")
    )


ACCELERATOR_OPTIMIZED: Final[dict[str, InstanceType]] = dict(
    [
        gpu_machine("g2-standard-4", 4, 16, 1, "nvidia-l4"),
        gpu_machine("g2-standard-8", 8, 32, 1, "nvidia-l4"),
        gpu_machine("g2-standard-12", 12, 48, 1, "nvidia-l4"),
        gpu_machine("g2-standard-16", 16, 64, 1, "nvidia-l4"),
        gpu_machine("g2-standard-24", 24, 96, 2, "nvidia-l4"),
        gpu_machine("g2-standard-32", 32, 128, 1, "nvidia-l4"),
        gpu_machine("g2-standard-48", 48, 192, 4, "nvidia-l4"),
        gpu_machine("g2-standard-96", 96, 384, 8, "nvidia-l4"),
        gpu_machine("a2-highgpu-1g", 12, 85, 1, "nvidia-tesla-a100"),
        gpu_machine("a2-highgpu-2g", 24, 170, 2, "nvidia-tesla-a100"),
        gpu_machine("a2-highgpu-4g", 48, 340, 4, "nvidia-tesla-a100"),
        gpu_machine("a2-highgpu-8g", 96, 680, 8, "nvidia-tesla-a100"),
        gpu_machine("a2-megagpu-16g", 96, 1360, 16, "nvidia-tesla-a100"),
        gpu_machine("a2-ultragpu-1g", 12, 170, 1, "nvidia-a100-80gb"),
        gpu_machine("a2-ultragpu-2g", 24, 340, 2, "nvidia-a100-80gb"),
        gpu_machine("a2-ultragpu-4g", 48, 680, 4, "nvidia-a100-80gb"),
        gpu_machine("a2-ultragpu-8g", 96, 1360, 8, "nvidia-a100-80gb"),
        gpu_machine("a3-highgpu-1g", 26, 234, 1, "nvidia-h100-80gb"),
        gpu_machine("a3-highgpu-2g", 52, 468, 2, "nvidia-h100-80gb"),
        gpu_machine("a3-highgpu-4g", 104, 936, 4, "nvidia-h100-80gb"),
        gpu_machine("a3-highgpu-8g", 208, 1872, 8, "nvidia-h100-80gb"),
        gpu_machine("a3-megagpu-8g", 208, 1872, 8, "nvidia-h100-mega-80gb"),
        gpu_machine("a3-ultragpu-8g", 224, 2952, 8, "nvidia-h200-141gb"),
    ]
)

MACHINE_TYPES: Final[dict[str, InstanceType]] = _general_purpose() | ACCELERATOR_OPTIMIZED

# N1 only: attachable GPU model -> {GPU count: the most vCPUs an N1 machine may have with that many GPUs}.
N1_ATTACHABLE_GPUS: Final[Mapping[str, Mapping[int, int]]] = {
    "nvidia-tesla-t4": {1: 48, 2: 48, 4: 96},
    "nvidia-tesla-v100": {1: 12, 2: 24, 4: 48, 8: 96},
    "nvidia-tesla-p4": {1: 24, 2: 48, 4: 96},
}
ACCELERATOR_TYPES: Final[frozenset[str]] = frozenset(
    {t.gpu_type for t in ACCELERATOR_OPTIMIZED.values() if t.gpu_type} | set(N1_ATTACHABLE_GPUS)
)


def machine_type(name: str) -> InstanceType | None:
    """The catalog record of a Compute Engine machine type, or None when the catalog does not know it."""
    return MACHINE_TYPES.get(name)


def suggest(name: str) -> str | None:
    """The closest known machine type, for a did-you-mean."""
    return closest(name, MACHINE_TYPES)


def series(machine: InstanceType) -> str:
    return machine.name.split("-", 1)[0]


def allowed_accelerators(machine: InstanceType) -> dict[str, tuple[int, ...]]:
    """What a GKE node pool of this machine type may declare as guest accelerator: the built-in GPUs of G2/A2/A3
    (exactly that model and count), the N1 attachable GPUs whose count allows the machine's vCPUs, nothing else."""
    if machine.gpu_type:
        return {machine.gpu_type: (machine.gpus,)}
    if series(machine) != "n1":
        return {}
    return {
        model: tuple(count for count, max_vcpus in sorted(limits.items()) if machine.vcpus <= max_vcpus)
        for model, limits in N1_ATTACHABLE_GPUS.items()
    }


SQL_TIER = re.compile(r"^db-(custom-\d+-\d+|f1-micro|g1-small|perf-optimized-N-\d+)$")


def zone_in_region(zone: str, region: str) -> bool:
    return re.fullmatch(rf"{re.escape(region)}-[a-z]", zone) is not None
