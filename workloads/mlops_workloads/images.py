"""Which container image the Kubeflow components run.

The stack builds the workload images from ``workloads/docker/*.Dockerfile`` (``components/images.py``) and compiles
the training pipeline inside the monitoring image with the training image's digest reference as
``MLOPS_TRAINING_IMAGE``: every step then runs exactly the image the stack deployed. Without it (local runs, where
kfp ignores the image) the reference is ``<registry>/mlops-training:<version>``, the version being this package's,
the one declaration of the workload version (``workloads/pyproject.toml``).
"""

from __future__ import annotations

import os
from importlib.metadata import version
from typing import Final

WORKLOADS_VERSION: Final[str] = version("mlops-workloads")
DEFAULT_IMAGE_REGISTRY: Final[str] = "ghcr.io/mlops-platform"


def workload_image(name: str, *, registry: str | None = None) -> str:
    """``<registry>/mlops-<name>:<version>`` for one of the workload images (training, serving, monitoring, mlflow)."""
    if not name or "/" in name or ":" in name:
        raise ValueError(f"image name must be a bare repository name like 'training', got {name!r}")
    base = (registry or os.environ.get("MLOPS_IMAGE_REGISTRY") or DEFAULT_IMAGE_REGISTRY).rstrip("/")
    return f"{base}/mlops-{name}:{WORKLOADS_VERSION}"


TRAINING_IMAGE: Final[str] = os.environ.get("MLOPS_TRAINING_IMAGE") or workload_image("training")
