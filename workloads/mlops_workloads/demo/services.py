"""The embedded services: an S3-compatible bucket (moto), the MLflow tracking server, the inference service, Feast.

Each is the same program the cluster runs, started on 127.0.0.1 with local defaults: ``mlflow server`` with a
sqlite backend and proxied artifacts in the bucket, ``python -m mlops_workloads.serving`` and the Feast repository
(file offline store, sqlite online store) applied in the demo's own directory.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from mlops_workloads.demo.config import ARTIFACT_BUCKET, DemoConfig
from mlops_workloads.demo.processes import ManagedProcess, ProcessSupervisor, ServiceStartError, wait_until_healthy
from mlops_workloads.feature_store import DEFAULT_REPO_PATH
from mlops_workloads.features import ENTITY_KEY, EVENT_TIMESTAMP

BIN = Path(sys.executable).parent
# Credentials of the local moto server only: it accepts any key. Never exported to anything but that server's client.
_MOTO_ENV = {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_DEFAULT_REGION": "us-east-1"}
_CLOUD_VARIABLES = ("AWS_", "MLFLOW_S3_", "GOOGLE_", "MLFLOW_TRACKING_", "MLFLOW_REGISTRY_")


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: ours without cloud credentials or tracking settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLOUD_VARIABLES)}
    env.update({"FEAST_USAGE": "False", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def launch_object_store(config: DemoConfig, supervisor: ProcessSupervisor) -> ManagedProcess:
    """``moto_server`` on 127.0.0.1 (started now; :func:`wait_object_store` waits for it and creates the bucket)."""
    argv = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(config.s3_port)]
    return supervisor.start("s3", argv, env=child_env())


def wait_object_store(config: DemoConfig, child: ManagedProcess) -> float:
    """Wait (bounded) until moto answers, then create the artifact bucket. Returns the seconds waited."""
    import boto3

    seconds = wait_until_healthy(
        f"{config.s3_endpoint}/moto-api/", child=child, timeout=config.service_timeout, service="S3 server (moto)"
    )
    client = boto3.client(
        "s3",
        endpoint_url=config.s3_endpoint,
        aws_access_key_id=_MOTO_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=_MOTO_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=_MOTO_ENV["AWS_DEFAULT_REGION"],
    )
    client.create_bucket(Bucket=ARTIFACT_BUCKET)
    return seconds


def launch_tracking_server(config: DemoConfig, supervisor: ProcessSupervisor) -> ManagedProcess:
    """``mlflow server``: sqlite backend, artifacts proxied to the moto bucket (clients never see S3 credentials).

    The server's job runner (GenAI jobs: a runner and seven huey consumers) is off: the demo has no use for it and
    it would double the server's start-up time and memory.
    """
    database = (config.mlflow_dir / "mlflow.db").resolve()
    hosts = f"127.0.0.1:{config.mlflow_port},localhost:{config.mlflow_port}"
    argv = [
        str(BIN / "mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{database}",
        "--serve-artifacts",
        "--artifacts-destination", f"s3://{ARTIFACT_BUCKET}/artifacts",
        "--host", "127.0.0.1",
        "--port", str(config.mlflow_port),
        "--workers", "1",
        "--allowed-hosts", hosts,
    ]  # fmt: skip
    env = child_env(
        {**_MOTO_ENV, "MLFLOW_S3_ENDPOINT_URL": config.s3_endpoint, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    )
    return supervisor.start("mlflow", argv, env=env, cwd=config.mlflow_dir)


def wait_tracking_server(config: DemoConfig, child: ManagedProcess) -> float:
    return wait_until_healthy(
        f"{config.tracking_uri}/health", child=child, timeout=config.service_timeout, service="MLflow tracking server"
    )


def start_inference_service(config: DemoConfig, supervisor: ProcessSupervisor) -> tuple[ManagedProcess, float]:
    """``python -m mlops_workloads.serving`` on the champion alias, polling the registry every few seconds."""
    env = child_env(
        {
            "MLFLOW_TRACKING_URI": config.tracking_uri,
            "SERVING_MODEL_NAME": config.model_name,
            "SERVING_RELOAD_INTERVAL_SECONDS": str(config.reload_interval_seconds),
            "SERVING_STARTUP_BACKOFF_MAX_SECONDS": "2",
        }
    )
    argv = [sys.executable, "-m", "mlops_workloads.serving", "--host", "127.0.0.1", "--port", str(config.serving_port)]
    child = supervisor.start("serving", argv, env=env, cwd=config.output)
    seconds = wait_until_healthy(
        f"{config.serving_url}/readyz", child=child, timeout=config.service_timeout, service="inference service"
    )
    return child, seconds


@dataclass(frozen=True)
class FeatureStoreResult:
    repo_path: Path
    feature_views: list[str]
    materialized_rows: int
    cards_online: int
    sample_lookup: dict[str, object]


def setup_feature_store(config: DemoConfig, transactions: pd.DataFrame) -> FeatureStoreResult:
    """Copy the Feast repository into the demo directory, write its offline source, apply and materialise."""
    from mlops_workloads.feature_store import materialize, online_features, open_store, write_offline_source

    repo = config.feature_repo
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    for name in ("feature_store.yaml", "definitions.py"):
        shutil.copy2(DEFAULT_REPO_PATH / name, repo / name)
    write_offline_source(transactions, repo)
    store = open_store(repo, apply=True)  # feast apply of the contract's entity, view and feature service
    timestamps = pd.to_datetime(transactions[EVENT_TIMESTAMP], utc=True)
    start = timestamps.min().to_pydatetime() - timedelta(seconds=1)
    end: datetime = timestamps.max().to_pydatetime() + timedelta(seconds=1)
    materialize(store, end=end, start=start)
    cards = sorted(int(c) for c in transactions[ENTITY_KEY].unique())
    online = online_features(store, cards)
    found = int(online.drop(columns=[ENTITY_KEY]).notna().all(axis=1).sum())
    if found == 0:
        raise ServiceStartError(f"Feast materialised nothing into the online store under {repo}")
    first = online.iloc[0].to_dict()
    return FeatureStoreResult(
        repo_path=repo,
        feature_views=[view.name for view in store.list_feature_views()],
        materialized_rows=len(transactions),
        cards_online=found,
        sample_lookup={k: (v.item() if hasattr(v, "item") else v) for k, v in first.items()},
    )
