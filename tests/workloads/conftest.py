"""Fixtures shared by the workload tests: everything local, nothing leaves 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("FEAST_USAGE", "False")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture
def mlflow_tracking(mlflow_fresh_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private MLflow tracking store (sqlite + local artifacts), also set process-wide, for one test."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_fresh_uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", mlflow_fresh_uri)
    mlflow.set_tracking_uri(mlflow_fresh_uri)
    mlflow.set_registry_uri(mlflow_fresh_uri)
    yield mlflow_fresh_uri
    mlflow.set_tracking_uri(None)


# --- Serving and batch inference -------------------------------------------------------------------------------


class ServingRegistry:
    """A session-wide MLflow registry with small fraud models registered by ``training.register_model``.

    ``model_name`` versions: ``good`` (champion) and ``other`` (a second, different model: challenger), ``broken``
    (artifacts overwritten with garbage), ``mismatched`` (MLmodel claims another scikit-learn) and ``renamed`` (same
    width, but its signature names another input than the contract's). Tests that move
    aliases call :meth:`fresh_name` to get their own registered model holding copies of these versions.
    """

    def __init__(self, tracking_uri: str, model_name: str, versions: dict[str, str], rows: object) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.versions = versions  # role -> version in model_name
        self.rows = rows  # a pandas frame of contract rows (card_id + features) for requests
        self._copies = 0

    def client(self) -> object:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def fresh_name(self, *roles: str) -> tuple[str, dict[str, str]]:
        """A new registered model with copies of ``roles`` (in order); returns its name and role -> version."""
        self._copies += 1
        name = f"{self.model_name}-copy-{self._copies}"
        client = self.client()
        copied = {}
        for role in roles:
            version = client.copy_model_version(f"models:/{self.model_name}/{self.versions[role]}", name)  # type: ignore[attr-defined]
            copied[role] = str(version.version)
        return name, copied

    def request_rows(self, n: int) -> list[dict[str, object]]:
        import json

        from mlops_workloads.features import ENTITY_KEY, FEATURE_NAMES

        frame = self.rows.head(n)[[ENTITY_KEY, *FEATURE_NAMES]]  # type: ignore[attr-defined]
        return list(json.loads(frame.to_json(orient="records")))  # JSON-native ints, floats and bools


def _local_path(uri: str) -> Path:
    from urllib.parse import unquote, urlparse

    return Path(unquote(urlparse(uri).path))


@pytest.fixture(scope="session")
def serving_registry(tmp_path_factory: pytest.TempPathFactory) -> ServingRegistry:
    import mlflow
    import sklearn
    from mlflow import MlflowClient
    from mlops_workloads.data import generate_transactions
    from mlops_workloads.features import LABEL, MODEL_NAME
    from mlops_workloads.reference import build_reference_profile
    from mlops_workloads.registry import CHALLENGER, CHAMPION
    from mlops_workloads.training import data_fingerprint, evaluate_model, feature_matrix, register_model, train_model

    root = tmp_path_factory.mktemp("serving-registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    frame = generate_transactions(2_000, seed=7, start="2026-01-01", days=2)
    X, y = feature_matrix(frame), frame[LABEL]
    versions: dict[str, str] = {}
    # The registry resolves a new version's logged model through the process-wide URI: point it here meanwhile.
    mlflow.set_tracking_uri(uri)
    for role, seed in (("good", 1), ("other", 2), ("broken", 3), ("mismatched", 4), ("renamed", 5)):
        params = {"n_estimators": 20, "max_depth": 6 + seed, "random_state": seed}
        model = train_model(X, y, params)
        metrics = evaluate_model(model, X, y)
        profile = build_reference_profile(X, model.predict_proba(X)[:, 1], y.to_numpy(), metrics)
        registered = register_model(
            model, X.head(20), metrics, params, data_fingerprint=data_fingerprint(frame), profile=profile,
            tracking_uri=uri, model_name=MODEL_NAME,
        )  # fmt: skip
        versions[role] = str(registered.version)
    mlflow.set_tracking_uri(None)  # other tests must not inherit this store
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for role in ("broken", "mismatched", "renamed"):
        version = client.get_model_version(MODEL_NAME, versions[role])
        model_dir = _local_path(client.get_model_version_download_uri(MODEL_NAME, versions[role]))
        if role == "broken":
            for artifact in model_dir.glob("model.*"):
                artifact.write_bytes(b"not a model")
            onnx = _local_path(client.get_run(version.run_id).info.artifact_uri) / "onnx" / "model.onnx"
            onnx.write_bytes(b"not an onnx graph")
        elif role == "mismatched":
            mlmodel = model_dir / "MLmodel"
            trained = f"sklearn_version: {sklearn.__version__}"
            mlmodel.write_text(mlmodel.read_text().replace(trained, "sklearn_version: 0.24.2"))
        else:  # a model of the same width whose first input means something else
            mlmodel = model_dir / "MLmodel"
            text = mlmodel.read_text()
            assert '"name": "amount",' in text, text
            mlmodel.write_text(text.replace('"name": "amount",', '"name": "amount_eur",', 1))
    client.set_registered_model_alias(MODEL_NAME, CHAMPION, versions["good"])
    client.set_registered_model_alias(MODEL_NAME, CHALLENGER, versions["other"])
    return ServingRegistry(uri, MODEL_NAME, versions, frame)


class DeliveryRegistry:
    """A session-wide MLflow registry with the second reference model, delivery-time (regression): ``regressor`` is
    its champion; ``fraud`` is a fraud-contract classifier registered under the same name (another schema)."""

    def __init__(self, tracking_uri: str, model_name: str, versions: dict[str, str], rows: object) -> None:
        self.tracking_uri, self.model_name, self.versions, self.rows = tracking_uri, model_name, versions, rows

    def request_rows(self, n: int) -> list[dict[str, object]]:
        import json

        from mlops_workloads.delivery_time import DELIVERY_CONTRACT

        frame = self.rows.head(n)[[DELIVERY_CONTRACT.id_column, *DELIVERY_CONTRACT.feature_names]]  # type: ignore[attr-defined]
        return list(json.loads(frame.to_json(orient="records")))


@pytest.fixture(scope="session")
def delivery_registry(tmp_path_factory: pytest.TempPathFactory) -> DeliveryRegistry:
    import mlflow
    from mlflow import MlflowClient
    from mlops_workloads.contract import ModelContract
    from mlops_workloads.data import generate_transactions
    from mlops_workloads.delivery_time import DELIVERY_CONTRACT, MODEL_NAME, generate_deliveries
    from mlops_workloads.features import FRAUD_CONTRACT
    from mlops_workloads.reference import build_reference_profile
    from mlops_workloads.registry import CHAMPION
    from mlops_workloads.training import data_fingerprint, evaluate_model, feature_matrix, model_outputs, register_model
    from sklearn.ensemble import RandomForestRegressor

    root = tmp_path_factory.mktemp("delivery-registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    deliveries = generate_deliveries(600, seed=3, days=2)
    fraud = generate_transactions(600, seed=3, start="2026-01-01", days=2)
    versions: dict[str, str] = {}
    mlflow.set_tracking_uri(uri)
    for role, frame, contract in (("regressor", deliveries, DELIVERY_CONTRACT), ("fraud", fraud, FRAUD_CONTRACT)):
        spec: ModelContract = contract
        X, y = feature_matrix(frame, spec.feature_names), frame[spec.label]
        params = {"n_estimators": 10, "max_depth": 6, "random_state": 1}
        if spec.task == "regression":
            model = RandomForestRegressor(**params, n_jobs=1).fit(X, y)
            metrics = {"rmse": float(((model.predict(X) - y) ** 2).mean() ** 0.5)}
        else:
            from mlops_workloads.training import train_model

            model = train_model(X, y, params)
            metrics = evaluate_model(model, X, y)
        profile = build_reference_profile(X, model_outputs(model, X, spec), y.to_numpy(), metrics, contract=spec)
        registered = register_model(
            model, X.head(20), metrics, params, data_fingerprint=data_fingerprint(frame), profile=profile,
            tracking_uri=uri, model_name=MODEL_NAME, contract=spec,
        )  # fmt: skip
        versions[role] = str(registered.version)
    mlflow.set_tracking_uri(None)
    MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(
        MODEL_NAME, CHAMPION, versions["regressor"]
    )
    return DeliveryRegistry(uri, MODEL_NAME, versions, deliveries)


def _wait_for(predicate: object, what: str, timeout: float = 90.0) -> None:
    """Poll ``predicate`` until true; a generous deadline that only guards against hanging, never a benchmark."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def wait_for() -> object:
    return _wait_for


@pytest.fixture
def serving_app(serving_registry: ServingRegistry) -> Iterator[object]:
    """Factory starting the inference app (lifespan running) on the session registry; returns a TestClient.

    ``start(model_name=..., wait_ready=True, **settings)``: fast polling and backoff so reloads show up quickly.
    """
    from contextlib import ExitStack

    from fastapi.testclient import TestClient
    from mlops_workloads.serving import ServingSettings, create_app

    stack = ExitStack()

    def start(*, wait_ready: bool = True, **overrides: object) -> TestClient:
        options: dict[str, object] = {
            "tracking_uri": serving_registry.tracking_uri,
            "model_name": serving_registry.model_name,
            "reload_interval_seconds": 0.2,
            "startup_backoff_initial_seconds": 0.1,
            "startup_backoff_max_seconds": 0.4,
            **overrides,
        }
        client = stack.enter_context(TestClient(create_app(ServingSettings(**options))))  # type: ignore[arg-type]
        if wait_ready:
            _wait_for(lambda: client.get("/readyz").status_code == 200, "the inference service to become ready")
        return client

    yield start
    stack.close()


# --- Training pipeline and registry -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mlflow_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, fully migrated MLflow sqlite database, built once: migrations take seconds, copying does not."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_fresh_uri(tmp_path: Path, mlflow_db_template: Path) -> str:
    """A private, already migrated sqlite tracking/registry URI for one test (no process-wide settings)."""
    import shutil

    target = tmp_path / "mlflow.db"
    shutil.copyfile(mlflow_db_template, target)
    return f"sqlite:///{target}"


# --- Object stores: an S3 emulator (moto) and a GCS emulator, each in its own process on 127.0.0.1 ---------------
# Separate processes, not threads: pyarrow's GCS reader blocks inside C++ while holding the GIL, which would stall an
# emulator served by a thread of the test process.


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(argv: list[str], port: int, what: str) -> Iterator[str]:
    import subprocess
    import urllib.request

    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the {what} exited with {process.returncode}")
        try:
            urllib.request.urlopen(endpoint, timeout=1).close()
        except urllib.error.HTTPError:
            return True  # it answers, even if not with 200
        except OSError:
            return False
        return True

    try:
        _wait_for(answering, f"the {what} on {endpoint}", timeout=60.0)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_emulator() -> Iterator[str]:
    import sys

    port = _free_port()
    moto = Path(sys.executable).parent / "moto_server"
    yield from _serve([str(moto), "-H", "127.0.0.1", "-p", str(port)], port, "moto S3 server")


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    import sys

    port = _free_port()
    argv = [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1", "--port", str(port),
            "--in-memory", "--quiet"]  # fmt: skip
    yield from _serve(argv, port, "GCS emulator (gcp-storage-emulator)")


class ObjectStore:
    """A fresh bucket on one emulator, reached by the workloads through the environment (as in a pod), and by the
    cloud's own client library (boto3 or google-cloud-storage) to seed and inspect it independently."""

    def __init__(self, scheme: str, bucket: str, client: object) -> None:
        self.scheme, self.bucket, self._client = scheme, bucket, client

    def uri(self, *parts: str) -> str:
        return "/".join([f"{self.scheme}://{self.bucket}", *parts])

    def put(self, key: str, data: bytes) -> None:
        if self.scheme == "s3":
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data)  # type: ignore[attr-defined]
        else:
            self._client.bucket(self.bucket).blob(key).upload_from_string(data)  # type: ignore[attr-defined]

    def get(self, key: str) -> bytes:
        if self.scheme == "s3":
            return bytes(self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read())  # type: ignore[attr-defined]
        return bytes(self._client.bucket(self.bucket).blob(key).download_as_bytes())  # type: ignore[attr-defined]

    def keys(self, prefix: str = "") -> list[str]:
        if self.scheme == "s3":
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)  # type: ignore[attr-defined]
            return sorted(o["Key"] for page in pages for o in page.get("Contents", []))
        return sorted(b.name for b in self._client.list_blobs(self.bucket, prefix=prefix))  # type: ignore[attr-defined]


_BUCKETS = iter(range(1, 1_000_000))


@pytest.fixture(params=["s3", "gs"])
def object_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    """A new bucket on the S3 emulator, then (second parametrisation) on the GCS emulator."""
    import os

    bucket = f"lake-{os.getpid()}-{next(_BUCKETS)}"
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_emulator")
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        import boto3

        client: object = boto3.client("s3")
        client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    else:
        endpoint = request.getfixturevalue("gcs_emulator")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage as gcs

        client = gcs.Client(project="test", credentials=AnonymousCredentials())
        client.create_bucket(bucket)  # type: ignore[attr-defined]
    return ObjectStore(request.param, bucket, client)
