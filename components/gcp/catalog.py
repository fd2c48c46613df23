"""What config validation must know about GCP: regions, machine architectures, GPU machine families."""

from __future__ import annotations

import re
from typing import Final, Literal

Architecture = Literal["x86_64", "arm64"]

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

_MACHINE_TYPE = re.compile(r"^(?P<series>[a-z][a-z0-9]*)-(?P<shape>[a-z]+)(-(?P<size>\d+))?(-[a-z0-9]+)*$")
ARM_SERIES: Final[frozenset[str]] = frozenset({"t2a", "c4a", "n4a"})
# Series with attached GPUs: g2 (L4), a2 (A100), a3 (H100); n1 takes attachable T4/V100/P4 accelerators.
GPU_SERIES: Final[frozenset[str]] = frozenset({"g2", "a2", "a3", "n1"})
ACCELERATOR_TYPES: Final[frozenset[str]] = frozenset(
    {"nvidia-l4", "nvidia-tesla-t4", "nvidia-tesla-v100", "nvidia-tesla-a100", "nvidia-a100-80gb", "nvidia-h100-80gb"}
)
SQL_TIER = re.compile(r"^db-(custom-\d+-\d+|f1-micro|g1-small|perf-optimized-N-\d+)$")


def parse_machine_type(machine_type: str) -> re.Match[str] | None:
    return _MACHINE_TYPE.match(machine_type)


def architecture(machine_type: str) -> Architecture:
    match = _MACHINE_TYPE.match(machine_type)
    if match is None:
        raise ValueError(machine_type)
    return "arm64" if match["series"] in ARM_SERIES else "x86_64"


def is_gpu_machine(machine_type: str) -> bool:
    match = _MACHINE_TYPE.match(machine_type)
    return match is not None and match["series"] in GPU_SERIES


def zone_in_region(zone: str, region: str) -> bool:
    return re.fullmatch(rf"{re.escape(region)}-[a-z]", zone) is not None
