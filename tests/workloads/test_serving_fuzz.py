"""Schemathesis fuzzes the running service from its own OpenAPI document: every check, bounded in examples, going
on after failures. The service must give no server error and no response its document does not describe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

# Bounded: examples per operation (the run covers 5 operations, positive and negative data, stateful links).
MAX_EXAMPLES = 60
SEED = 14


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def service(serving_registry: Any, wait_for: Any) -> Any:
    """The real app under uvicorn on 127.0.0.1 (a thread of this process: no second import of MLflow)."""
    import threading

    import uvicorn
    from mlops_workloads.serving import ServingSettings, create_app

    port = _free_port()
    settings = ServingSettings(
        tracking_uri=serving_registry.tracking_uri, model_name=serving_registry.model_name, max_batch_size=16
    )
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, "the inference service to serve the champion", timeout=300.0)
        yield url, app.state.metrics
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_fuzzing_the_openapi_document_finds_no_server_error_and_no_undocumented_response(
    service: Any, tmp_path: Path
) -> None:
    url, metrics = service
    report = tmp_path / "schemathesis.json"
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"), "run", f"{url}/openapi.json",
            "--checks", "all", "--continue-on-failure", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
            "--workers", "1", "--request-timeout", "30", "--report", "ndjson", "--report-ndjson-path", str(report),
            "--no-color", "--generation-database", "none",
        ],
        capture_output=True, text=True, timeout=1200, check=False, cwd=tmp_path,  # its caches stay out of the repo
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]  # every check passed: no 5xx, every response documented
    statuses = [
        code for line in report.read_text().splitlines() if line.strip() for code in _statuses(json.loads(line))
    ]
    assert len(statuses) > 300, output[-2000:]  # the run really exercised the service
    assert [code for code in statuses if code >= 500] == []
    assert {200, 400, 415, 422} <= set(statuses)  # valid data scored; broken bodies refused with their own status
    assert (
        metrics.registry.get_sample_value(
            "model_request_errors_total",
            {"model": metrics.model, "endpoint": "/predict", "reason": "inference_error"},
        )
        is None
    )  # the model never failed on input the contract let through


def _statuses(event: Any) -> list[int]:
    """Every response status recorded in a schemathesis NDJSON event."""
    if isinstance(event, dict):
        found = [event["status_code"]] if isinstance(event.get("status_code"), int) else []
        return found + [code for value in event.values() for code in _statuses(value)]
    if isinstance(event, list):
        return [code for value in event for code in _statuses(value)]
    return []


def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read(service: Any) -> None:
    """No Content-Length, so the limit can only hold while reading: the service answers 413 long before the client
    has sent its 32 MB (the socket buffers on the way hold a few MB at most)."""
    import select
    import socket
    from urllib.parse import urlparse

    url, _ = service
    target = urlparse(url)
    chunk = b"[" + b"0," * 32_767 + b"0]"  # 64 KiB of JSON-ish bytes
    total = 32 * 1024 * 1024
    sent = 0
    with socket.create_connection((target.hostname, target.port), timeout=30) as sock:
        sock.sendall(
            b"POST /predict/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the service answered and closed: what we want
        response = sock.recv(65536).decode("latin-1")
    assert response.startswith("HTTP/1.1 413"), response[:300]
    assert "request body exceeds" in response
    assert sent < total // 4, f"the client could send {sent} bytes before the refusal"
