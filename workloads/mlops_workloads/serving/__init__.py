"""Online inference for any registered model: FastAPI + ONNX Runtime, A/B split, hot reload, Prometheus metrics.

Exports resolve lazily so light modules (``routing``, ``metrics``) import without pulling in MLflow and FastAPI.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_workloads.serving.app import create_app
    from mlops_workloads.serving.metrics import METRIC_NAMES
    from mlops_workloads.serving.settings import ServingSettings

__all__ = ["METRIC_NAMES", "ServingSettings", "create_app"]
_HOMES = {"create_app": "app", "METRIC_NAMES": "metrics", "ServingSettings": "settings"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
