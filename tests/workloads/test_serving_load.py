"""A bounded loopback load test: real uvicorn on 127.0.0.1, concurrent clients, zero errors (no timing asserts)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
from typing import Any

import httpx
import uvicorn
from mlops_workloads.serving import ServingSettings, create_app
from prometheus_client.parser import text_string_to_metric_families
from test_serving_image import healthcheck_command

REQUESTS = 400
CONCURRENCY = 16


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _drive(base_url: str, rows: list[dict[str, Any]]) -> list[int]:
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:

        async def one(i: int) -> int:
            async with limit:
                if i % 10 == 0:
                    response = await client.post("/predict/batch", json={"instances": rows[:5]})
                else:
                    response = await client.post("/predict", json=rows[i % len(rows)])
                return response.status_code

        return list(await asyncio.gather(*(one(i) for i in range(REQUESTS))))


def test_concurrent_requests_over_loopback_all_succeed(serving_registry: Any, wait_for: Any) -> None:
    port = _free_port()
    settings = ServingSettings(
        tracking_uri=serving_registry.tracking_uri,
        model_name=serving_registry.model_name,
        challenger_weight=0.2,
        micro_batch_window_ms=1.0,
    )
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"

    def models_loaded() -> bool:
        try:
            ready = httpx.get(f"{base_url}/readyz", timeout=5.0)
        except httpx.TransportError:
            return False
        return ready.status_code == 200 and "challenger" in ready.json()["models"]

    try:
        wait_for(models_loaded, "uvicorn to serve both variants")
        statuses = asyncio.run(_drive(base_url, serving_registry.request_rows(50)))
        metrics_text = httpx.get(f"{base_url}/metrics", timeout=5.0).text
        healthcheck = subprocess.run(
            healthcheck_command(), env={**os.environ, "SERVING_PORT": str(port)}, capture_output=True, check=False
        )
    finally:
        server.should_exit = True
        thread.join(timeout=30)

    assert statuses == [200] * REQUESTS
    served: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "model_predictions_total":
                variant = sample.labels["variant"]
                served[variant] = served.get(variant, 0.0) + sample.value
    assert sum(served.values()) == REQUESTS - REQUESTS // 10 + 5 * (REQUESTS // 10)
    assert served.get("challenger", 0) > 0
    assert healthcheck.returncode == 0, healthcheck.stderr
    assert not thread.is_alive()
