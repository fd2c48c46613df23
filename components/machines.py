"""The shape of one VM type, shared by the AWS and GCP catalogs (`components/{aws,gcp}/catalog.py`).

Each catalog pins, per cloud, the instance or machine types a platform team would use (general purpose, compute,
memory, Arm, GPU) with their architecture, vCPUs, memory and attached GPUs, plus its source and date. Config
validation looks types up there (unknown names get a did-you-mean); scheduling checks and cost estimates read the
same records.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Architecture = Literal["x86_64", "arm64"]


@dataclass(frozen=True)
class InstanceType:
    """One VM type. `gpu_type` is spelled as `nodePools.<pool>.accelerator.type` spells it (nvidia-l4, nvidia-a10g)."""

    name: str
    architecture: Architecture
    vcpus: int
    memory_gib: float
    gpus: int = 0
    gpu_type: str | None = None


def family(
    prefix: str, sizes: Iterable[tuple[str, int, float]], architecture: Architecture, separator: str
) -> dict[str, InstanceType]:
    """`family("m6i", [("large", 2, 8), ...], "x86_64", ".")` -> {"m6i.large": InstanceType(...), ...}."""
    types = (InstanceType(f"{prefix}{separator}{size}", architecture, vcpus, memory) for size, vcpus, memory in sizes)
    return {t.name: t for t in types}


def gpu_machine(name: str, vcpus: int, memory_gib: float, gpus: int, gpu_type: str) -> tuple[str, InstanceType]:
    """A (name, record) pair of an x86_64 type with built-in NVIDIA GPUs (every GPU type in both catalogs)."""
    return name, InstanceType(name, "x86_64", vcpus, memory_gib, gpus, gpu_type)


def ratio_sizes(
    vcpus_by_size: Mapping[str, int], sizes: Iterable[str], gib_per_vcpu: float
) -> list[tuple[str, int, float]]:
    """Sizes of a family whose memory is a fixed multiple of its vCPUs (m6i: 4 GiB per vCPU)."""
    return [(size, vcpus_by_size[size], vcpus_by_size[size] * gib_per_vcpu) for size in sizes]


def closest(name: str, known: Iterable[str]) -> str | None:
    """The most similar known name, for a did-you-mean (None when nothing is close)."""
    matches = difflib.get_close_matches(name.strip().lower(), sorted(known), n=1, cutoff=0.6)
    return matches[0] if matches else None
