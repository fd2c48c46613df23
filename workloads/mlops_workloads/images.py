"""Which container image the Kubeflow components run.

The stack builds the workload images from ``workloads/docker/*.Dockerfile`` (``components/images.py``). A compiled
pipeline names ``<registry>/mlops-training:<version>`` (the version being this package's, the one declaration of the
workload version, ``workloads/pyproject.toml``); the KFP retrainer points every step at the training image the stack
deployed, by digest, before it submits (``mlops_workloads.monitoring.retrain``), and local runs ignore the image.
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


TRAINING_IMAGE: Final[str] = workload_image("training")
