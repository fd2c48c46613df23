"""The demo's sizes, ports and output layout."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_workloads.features import MODEL_NAME

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_OUTPUT = REPO_ROOT / ".demo"
DEFAULT_MLFLOW_PORT = 5050
DEFAULT_SERVING_PORT = 8085
DEFAULT_S3_PORT = 5055
ARTIFACT_BUCKET = "mlflow-artifacts"

# What a default (non --reset) run wipes (paths under the output directory): everything tied to this run's
# registry and services. The generated frames in data/cache are kept and reused when seed and size match.
FRESH_EACH_RUN = (
    "mlflow", "feature_repo", "pipelines", "predictions", "monitoring", "logs", "infra", "summary.json",
    "data/transactions", "data/monitoring_window", "data/training.parquet",
)  # fmt: skip
DATA_MANIFEST = "manifest.json"

# The drift the demo injects into the live traffic: bigger baskets, shopping later at night, cards used less often.
DRIFT_SHIFT: dict[str, float] = {"amount": 0.6, "hour_of_day": -1.0}
DRIFT_SCALE: dict[str, float] = {"days_since_last_transaction": 2.0}


@dataclass(frozen=True)
class Size:
    """How much the demo does: ``fast`` for CI (a minute or two on 2 cores), ``normal`` for a first look."""

    name: str
    training_rows: int  # the first training window (7 days)
    window_rows: int  # the live day and the drifted day
    requests: int  # the traffic burst on the first champion
    concurrency: int
    n_estimators: int
    max_depth: int

    def pipeline_params(self) -> dict[str, Any]:
        return {"n_estimators": self.n_estimators, "max_depth": self.max_depth}


FAST = Size("fast", training_rows=3_000, window_rows=3_000, requests=400, concurrency=8, n_estimators=40, max_depth=10)
NORMAL = Size(
    "normal", training_rows=20_000, window_rows=10_000, requests=3_000, concurrency=8, n_estimators=200, max_depth=15
)


@dataclass(frozen=True)
class DemoConfig:
    output: Path
    size: Size
    mlflow_port: int
    serving_port: int
    s3_port: int
    seed: int = 42
    infra: bool = True
    keep_running: bool = False
    model_name: str = MODEL_NAME
    reload_interval_seconds: float = 2.0
    service_timeout: float = 600.0  # bounded wait for a service to become healthy
    reload_timeout: float = 120.0  # bounded wait for the running service to serve the new champion
    infra_timeout: float = 600.0

    @property
    def logs(self) -> Path:
        return self.output / "logs"

    @property
    def data(self) -> Path:
        return self.output / "data"

    @property
    def transactions(self) -> Path:
        return self.data / "transactions"

    @property
    def predictions(self) -> Path:
        return self.output / "predictions"

    @property
    def reports(self) -> Path:
        return self.output / "monitoring"

    @property
    def feature_repo(self) -> Path:
        return self.output / "feature_repo"

    @property
    def mlflow_dir(self) -> Path:
        return self.output / "mlflow"

    @property
    def pipelines(self) -> Path:
        return self.output / "pipelines"

    @property
    def infra_dir(self) -> Path:
        return self.output / "infra"

    @property
    def summary_path(self) -> Path:
        return self.output / "summary.json"

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def serving_url(self) -> str:
        return f"http://127.0.0.1:{self.serving_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"


def prepare_output(output: Path, *, reset: bool) -> list[str]:
    """Create ``output``; wipe it entirely with ``reset``, else only what must be fresh. Returns what was removed."""
    removed: list[str] = []
    if reset and output.exists():
        shutil.rmtree(output)
        removed.append(str(output))
    output.mkdir(parents=True, exist_ok=True)
    if not reset:
        for name in FRESH_EACH_RUN:
            path = output / name
            if path.is_dir():
                shutil.rmtree(path)
                removed.append(str(path))
            elif path.exists():
                path.unlink()
                removed.append(str(path))
    for directory in ("logs", "data", "mlflow", "monitoring", "predictions", "pipelines"):
        (output / directory).mkdir(parents=True, exist_ok=True)
    return removed
