"""Readiness, hot reload through registry aliases, refusal of broken or incompatible models, start-up backoff."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import sklearn
from mlops_workloads.registry import CHAMPION, PREVIOUS_CHAMPION, rollback
from mlops_workloads.serving.manager import ModelManager
from mlops_workloads.serving.metrics import ServingMetrics
from mlops_workloads.serving.model import ModelLoadError, ModelSource
from mlops_workloads.serving.settings import ServingSettings
from prometheus_client.parser import text_string_to_metric_families


def metric(client: Any, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def served_version(client: Any, row: dict[str, Any]) -> str:
    response = client.post("/predict", json=row)
    assert response.status_code == 200, response.text
    return str(response.json()["model_version"])


def test_unready_until_the_champion_alias_exists_then_ready(
    serving_app: Any, serving_registry: Any, wait_for: Any
) -> None:
    name, copies = serving_registry.fresh_name("good")
    client = serving_app(model_name=name, wait_ready=False)
    row = serving_registry.request_rows(1)[0]

    assert client.get("/healthz").status_code == 200
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert f"models:/{name}@champion" in not_ready.json()["detail"]
    unavailable = client.post("/predict", json=row)
    assert unavailable.status_code == 503
    assert metric(client, "model_request_errors_total", endpoint="/predict", reason="model_not_loaded") == 1

    serving_registry.client().set_registered_model_alias(name, CHAMPION, copies["good"])
    wait_for(lambda: client.get("/readyz").status_code == 200, "readiness once the alias exists")
    assert served_version(client, row) == copies["good"]


def test_moving_the_alias_is_served_without_restart_and_rollback_too(
    serving_app: Any, serving_registry: Any, wait_for: Any
) -> None:
    name, copies = serving_registry.fresh_name("good", "other")
    registry = serving_registry.client()
    registry.set_registered_model_alias(name, CHAMPION, copies["good"])
    client = serving_app(model_name=name)
    row = serving_registry.request_rows(1)[0]
    assert served_version(client, row) == copies["good"]

    registry.set_registered_model_alias(name, PREVIOUS_CHAMPION, copies["good"])
    registry.set_registered_model_alias(name, CHAMPION, copies["other"])
    wait_for(lambda: served_version(client, row) == copies["other"], "the new champion to be served")
    assert metric(client, "model_info", model_version=copies["other"], variant="champion") == 1
    assert metric(client, "model_info", model_version=copies["good"]) == 0
    assert metric(client, "model_reloads_total") == 2

    rollback(registry, name)
    wait_for(lambda: served_version(client, row) == copies["good"], "the rolled-back champion to be served")


def test_broken_model_is_refused_reported_and_the_current_one_keeps_serving(
    serving_app: Any, serving_registry: Any, wait_for: Any
) -> None:
    name, copies = serving_registry.fresh_name("good", "broken")
    registry = serving_registry.client()
    registry.set_registered_model_alias(name, CHAMPION, copies["good"])
    client = serving_app(model_name=name)
    row = serving_registry.request_rows(1)[0]

    registry.set_registered_model_alias(name, CHAMPION, copies["broken"])
    wait_for(lambda: client.get("/readyz").json().get("refused"), "the broken version to be refused and reported")

    assert served_version(client, row) == copies["good"]
    ready = client.get("/readyz")
    assert ready.status_code == 200  # still serving the previous champion...
    assert ready.json()["models"]["champion"]["model_version"] == copies["good"]
    refused = ready.json()["refused"]["champion"]  # ...and saying the alias points at a version it refuses
    assert (refused["model_version"], refused["reason"]) == (copies["broken"], "load_failed")
    assert metric(client, "model_refused_version", variant="champion", model_version=copies["broken"]) == 1
    assert metric(client, "model_info", model_version=copies["good"], variant="champion") == 1
    assert metric(client, "model_reloads_total") == 1

    rollback_target = copies["good"]
    registry.set_registered_model_alias(name, CHAMPION, rollback_target)
    wait_for(lambda: not client.get("/readyz").json().get("refused"), "the refusal to clear once the alias moves back")
    assert metric(client, "model_refused_version", variant="champion") == 0


def test_a_model_whose_signature_is_not_the_contract_is_refused(
    serving_app: Any, serving_registry: Any, wait_for: Any
) -> None:
    source = ModelSource(serving_registry.tracking_uri)
    version = serving_registry.versions["renamed"]
    run_id = serving_registry.client().get_model_version(serving_registry.model_name, version).run_id

    with pytest.raises(ModelLoadError) as refused:
        source.load(serving_registry.model_name, version, run_id)

    assert refused.value.reason == "signature_mismatch"
    assert "'amount_eur'" in str(refused.value) and "missing ['amount']" in str(refused.value)

    name, copies = serving_registry.fresh_name("good", "renamed")
    registry = serving_registry.client()
    registry.set_registered_model_alias(name, CHAMPION, copies["good"])
    client = serving_app(model_name=name)
    row = serving_registry.request_rows(1)[0]
    registry.set_registered_model_alias(name, CHAMPION, copies["renamed"])
    wait_for(
        lambda: metric(client, "model_reload_failures_total", reason="signature_mismatch") >= 1,
        "the renamed model to be refused",
    )
    assert {served_version(client, row) for _ in range(20)} == {copies["good"]}


def test_a_fresh_start_on_a_corrupt_champion_reports_the_refusal_not_loading(
    serving_app: Any, serving_registry: Any, wait_for: Any
) -> None:
    name, copies = serving_registry.fresh_name("broken")
    serving_registry.client().set_registered_model_alias(name, CHAMPION, copies["broken"])
    client = serving_app(model_name=name, wait_ready=False)

    wait_for(lambda: client.get("/readyz").json()["status"] == "refused", "the refusal to show in /readyz")
    body = client.get("/readyz").json()
    assert client.get("/readyz").status_code == 503
    assert f"points at version {copies['broken']}, which was refused (load_failed)" in body["detail"]
    assert body["refused"]["champion"]["model_version"] == copies["broken"]


class _CountingSource:
    """A model source that records every download."""

    def __init__(self, source: ModelSource) -> None:
        self.source, self.loads = source, 0

    def resolve(self, name: str, alias: str) -> tuple[str, str]:
        return self.source.resolve(name, alias)

    def load(self, *args: Any) -> Any:
        self.loads += 1
        return self.source.load(*args)


def test_a_refused_version_is_retried_with_backoff_not_on_every_poll(serving_registry: Any) -> None:
    name, copies = serving_registry.fresh_name("broken")
    serving_registry.client().set_registered_model_alias(name, CHAMPION, copies["broken"])
    now = [1000.0]
    settings = ServingSettings(
        tracking_uri=serving_registry.tracking_uri, model_name=name, reload_interval_seconds=10,
        refused_backoff_max_seconds=40,
    )  # fmt: skip
    source = _CountingSource(ModelSource(serving_registry.tracking_uri))
    manager = ModelManager(settings, ServingMetrics(settings.model_name), source, clock=lambda: now[0])  # type: ignore[arg-type]

    attempts = []
    for _ in range(12):  # two minutes of polls every 10 s
        manager.refresh()
        attempts.append(source.loads)
        now[0] += 10
    # Downloaded at t=0, then after 10, 20, 40, 40 s of back-off: not 12 times.
    assert attempts == [1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5]
    assert manager.refused["champion"].attempts == 5
    assert not manager.ready


def test_model_trained_with_another_sklearn_is_refused_with_a_clear_error(
    serving_app: Any, serving_registry: Any, wait_for: Any
) -> None:
    source = ModelSource(serving_registry.tracking_uri)
    version = serving_registry.versions["mismatched"]
    run_id = serving_registry.client().get_model_version(serving_registry.model_name, version).run_id

    with pytest.raises(ModelLoadError) as refused:
        source.load(serving_registry.model_name, version, run_id)

    assert refused.value.reason == "sklearn_version_mismatch"
    assert f"trained with scikit-learn 0.24.2 but this runtime has {sklearn.__version__}" in str(refused.value)

    name, copies = serving_registry.fresh_name("mismatched")
    serving_registry.client().set_registered_model_alias(name, CHAMPION, copies["mismatched"])
    client = serving_app(model_name=name, wait_ready=False)
    wait_for(
        lambda: metric(client, "model_reload_failures_total", reason="sklearn_version_mismatch") >= 1,
        "the mismatched model to be refused",
    )
    assert client.get("/readyz").status_code == 503


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_startup_without_registry_retries_with_capped_exponential_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    settings = ServingSettings(
        tracking_uri=f"http://127.0.0.1:{_closed_port()}",
        startup_backoff_initial_seconds=0.5,
        startup_backoff_max_seconds=3.0,
    )
    delays: list[float] = []

    async def record(delay: float) -> None:  # stands in for asyncio.sleep: no real waiting
        delays.append(delay)
        if len(delays) == 5:
            raise asyncio.CancelledError

    metrics = ServingMetrics("fraud-detection")
    manager = ModelManager(settings, metrics, sleep=record)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(manager.run())

    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert not manager.ready
    labels = {"model": metrics.model, "variant": "champion", "reason": "registry_unreachable"}
    assert metrics.registry.get_sample_value("model_reload_failures_total", labels) == 5
