"""The one place workload container images are pinned.

Every workload Dockerfile starts ``FROM`` :data:`PYTHON_BASE_IMAGE` (tests compare them), and the Kubeflow
components run in :data:`TRAINING_IMAGE`, built from ``workloads/docker/training.Dockerfile`` with every Python
dependency from ``workloads/uv.lock`` baked in — nothing is pip-installed when a pipeline step starts.
"""

from __future__ import annotations

import os
from typing import Final

# Exact patch release of the slim Debian bookworm image: never a floating tag.
PYTHON_BASE_IMAGE: Final[str] = "python:3.11.14-slim-bookworm"
# The uv binary copied into the build stages (same version that wrote workloads/uv.lock).
UV_IMAGE: Final[str] = "ghcr.io/astral-sh/uv:0.13.9"

# Workload images are tagged with the workloads package version; the registry can be redirected (e.g. to a
# private ECR/Artifact Registry mirror) with MLOPS_IMAGE_REGISTRY when the pipeline is compiled.
WORKLOADS_VERSION: Final[str] = "0.1.0"
DEFAULT_IMAGE_REGISTRY: Final[str] = "ghcr.io/mlops-platform"


def workload_image(name: str, *, registry: str | None = None) -> str:
    """``<registry>/<name>:<version>`` for one of the workload images (training, serving, monitoring)."""
    if not name or "/" in name or ":" in name:
        raise ValueError(f"image name must be a bare repository name like 'training', got {name!r}")
    base = (registry or os.environ.get("MLOPS_IMAGE_REGISTRY") or DEFAULT_IMAGE_REGISTRY).rstrip("/")
    return f"{base}/mlops-{name}:{WORKLOADS_VERSION}"


TRAINING_IMAGE: Final[str] = workload_image("training")
