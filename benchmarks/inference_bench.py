"""Inference benchmark: this service versus ``mlflow models serve`` on one registered model (``make bench``).

Trains and registers the default fraud model (RandomForest, 200 trees, depth 15) in a throw-away MLflow store,
starts both servers with one worker each on 127.0.0.1, then drives each at concurrency 1, 8 and 32 from a bounded
keep-alive asyncio client (a fixed request budget and a time cap per scenario). Prints throughput and p50/p99
latency per server and the ratios. Every process it starts is stopped on exit, also on errors and Ctrl-C.

    workloads/.venv/bin/python benchmarks/inference_bench.py [--seconds 8] [--max-requests 4000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
CONCURRENCY = (1, 8, 32)
WARMUP_REQUESTS = 50
TARGET_RATIO_AT_8 = 10.0
TARGET_P99_MS = 50.0


@dataclass(frozen=True)
class Result:
    server: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    throughput: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def register_default_model(tracking_uri: str, rows: int) -> str:
    """Train the default model on synthetic transactions, register it, alias it champion; return the version."""
    import mlflow
    from mlflow import MlflowClient
    from mlops_workloads.data import generate_transactions
    from mlops_workloads.features import LABEL, MODEL_NAME
    from mlops_workloads.reference import build_reference_profile
    from mlops_workloads.registry import CHAMPION
    from mlops_workloads.training import (
        DEFAULT_PARAMS,
        data_fingerprint,
        evaluate_model,
        feature_matrix,
        register_model,
        train_model,
    )

    frame = generate_transactions(rows, seed=5)
    features, labels = feature_matrix(frame), frame[LABEL]
    model = train_model(features, labels)
    metrics = evaluate_model(model, features, labels)
    profile = build_reference_profile(features, model.predict_proba(features)[:, 1], labels.to_numpy(), metrics)
    mlflow.set_tracking_uri(tracking_uri)  # the registry resolves the new logged model through the global URI
    version = register_model(
        model,
        features.head(50),
        metrics,
        dict(DEFAULT_PARAMS),
        data_fingerprint=data_fingerprint(frame),
        profile=profile,
        tracking_uri=tracking_uri,
    )
    MlflowClient(tracking_uri, tracking_uri).set_registered_model_alias(MODEL_NAME, CHAMPION, version.version)
    return str(version.version)


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` in its own process group; always stop the whole group afterwards."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=15)


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("server closed the connection")
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
        elif name.lower() == "transfer-encoding":
            raise ValueError("chunked responses are not supported by this load generator")
    await reader.readexactly(length)
    return int(status_line.split()[1])


def _raw_post(port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def _phase(port: int, requests: list[bytes], connections: int, budget: int, seconds: float) -> list[float]:
    """Latencies (seconds) of up to ``budget`` requests sent within ``seconds``; non-200 answers count as errors."""
    latencies: list[float] = []
    statuses: list[int] = []
    deadline = time.perf_counter() + seconds
    issued = 0

    async def worker() -> None:
        nonlocal issued
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while issued < budget and time.perf_counter() < deadline:
                raw = requests[issued % len(requests)]
                issued += 1
                started = time.perf_counter()
                statuses.append(await _request(reader, writer, raw))
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    failed = sum(status != 200 for status in statuses)
    if failed:
        raise RuntimeError(f"{failed} of {len(statuses)} requests failed (statuses {sorted(set(statuses))})")
    return latencies


async def drive(port: int, path: str, bodies: list[bytes], concurrency: int, budget: int, seconds: float) -> Result:
    """Warm up, then send up to ``budget`` requests (or for ``seconds``) over ``concurrency`` keep-alive connections."""
    requests = [_raw_post(port, path, body) for body in bodies]
    await _phase(port, requests, concurrency, WARMUP_REQUESTS, 60.0)
    started = time.perf_counter()
    latencies = await _phase(port, requests, concurrency, budget, seconds)
    elapsed = time.perf_counter() - started
    millis = np.array(latencies) * 1000.0
    return Result(
        server="",
        concurrency=concurrency,
        requests=len(latencies),
        errors=0,
        seconds=round(elapsed, 3),
        throughput=round(len(latencies) / elapsed, 1),
        p50_ms=round(float(np.percentile(millis, 50)), 2),
        p99_ms=round(float(np.percentile(millis, 99)), 2),
    )


def wait_http(port: int, path: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 300.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; log:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2.0).status_code == 200:
                return
        time.sleep(0.5)
    raise TimeoutError(f"http://127.0.0.1:{port}{path} not ready after {timeout:.0f}s; log:\n{log.read_text()[-3000:]}")


def request_bodies(n: int) -> tuple[list[bytes], list[bytes]]:
    """The same transactions as this service's JSON and as MLflow's ``dataframe_split`` payload."""
    from mlops_workloads.data import generate_transactions
    from mlops_workloads.features import ENTITY_KEY, FEATURE_NAMES

    frame = generate_transactions(n, seed=99)
    rows = json.loads(frame[[ENTITY_KEY, *FEATURE_NAMES]].to_json(orient="records"))
    ours = [json.dumps(row).encode() for row in rows]
    theirs = [
        json.dumps(
            {"dataframe_split": {"columns": list(FEATURE_NAMES), "data": [[row[f] for f in FEATURE_NAMES]]}}
        ).encode()
        for row in rows
    ]
    return ours, theirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="time cap per scenario")
    parser.add_argument("--max-requests", type=int, default=4000, help="request budget per scenario")
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--micro-batch-window-ms", type=float, default=1.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    from mlops_workloads.features import MODEL_NAME

    with tempfile.TemporaryDirectory(prefix="inference-bench-") as scratch:
        workdir = Path(scratch)
        tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
        print(f"registering the default model ({args.train_rows} training rows)...", flush=True)
        version = register_default_model(tracking_uri, args.train_rows)
        env = {
            **os.environ,
            "PATH": f"{PYTHON.parent}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow execs `uvicorn` from PATH
            "MLFLOW_TRACKING_URI": tracking_uri,
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "SERVING_LOG_LEVEL": "WARNING",
            "SERVING_MICRO_BATCH_WINDOW_MS": str(args.micro_batch_window_ms),
        }
        ours_bodies, mlflow_bodies = request_bodies(500)
        servers = {
            "service": (
                [str(PYTHON), "-m", "mlops_workloads.serving", "--host", "127.0.0.1", "--port", "{port}"],
                "/readyz",
                "/predict",
                ours_bodies,
            ),
            "mlflow": (
                [str(PYTHON.parent / "mlflow"), "models", "serve", "-m", f"models:/{MODEL_NAME}@champion",
                 "--env-manager", "local", "--host", "127.0.0.1", "--port", "{port}", "--workers", "1"],
                "/ping",
                "/invocations",
                mlflow_bodies,
            ),
        }  # fmt: skip
        results: list[Result] = []
        for name, (template, ready_path, path, bodies) in servers.items():
            port = free_port()
            command = [part.replace("{port}", str(port)) for part in template]
            log = workdir / f"{name}.log"
            with running(command, env, log) as process:
                wait_http(port, ready_path, process, log)
                for concurrency in CONCURRENCY:
                    result = asyncio.run(drive(port, path, bodies, concurrency, args.max_requests, args.seconds))
                    results.append(Result(**{**asdict(result), "server": name}))
                    print(f"  {name:8s} c={concurrency:<3d} {result.throughput:8.1f} req/s  "
                          f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  errors {result.errors}",
                          flush=True)  # fmt: skip

    by_key = {(r.server, r.concurrency): r for r in results}
    print()
    print(f"model {MODEL_NAME} v{version} (RandomForest 200 trees, depth 15), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"{'concurrency':>11} | {'service req/s':>13} {'p50':>7} {'p99':>7} | {'mlflow req/s':>12} {'p50':>7} "
          f"{'p99':>7} | {'throughput x':>12} {'p99 ratio':>9}")  # fmt: skip
    for concurrency in CONCURRENCY:
        ours, theirs = by_key[("service", concurrency)], by_key[("mlflow", concurrency)]
        print(f"{concurrency:>11} | {ours.throughput:>13.1f} {ours.p50_ms:>7.2f} {ours.p99_ms:>7.2f} | "
              f"{theirs.throughput:>12.1f} {theirs.p50_ms:>7.2f} {theirs.p99_ms:>7.2f} | "
              f"{ours.throughput / theirs.throughput:>12.1f} {theirs.p99_ms / ours.p99_ms:>9.1f}")  # fmt: skip
    at8 = by_key[("service", 8)], by_key[("mlflow", 8)]
    ratio = at8[0].throughput / at8[1].throughput
    met = ratio >= TARGET_RATIO_AT_8 and at8[0].p99_ms < TARGET_P99_MS
    print(f"target (>= {TARGET_RATIO_AT_8:.0f}x mlflow at c=8, p99 < {TARGET_P99_MS:.0f} ms): "
          f"{'met' if met else 'NOT met'} ({ratio:.1f}x, p99 {at8[0].p99_ms:.2f} ms)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"model_version": version, "results": [asdict(r) for r in results]}, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
