"""Realistic traffic for the inference service: bursts with latency percentiles, and a steady background stream
that watches which model version answers (the hot reload without a restart)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pandas as pd

from mlops_workloads.features import ENTITY_KEY, FEATURE_NAMES, TRANSACTION_ID


def request_rows(frame: pd.DataFrame, limit: int | None = None) -> list[dict[str, Any]]:
    """JSON-native /predict bodies (card id, transaction id, contract features) from generated transactions."""
    columns = [ENTITY_KEY, TRANSACTION_ID, *FEATURE_NAMES]
    subset = frame.loc[:, columns] if limit is None else frame.loc[:, columns].head(limit)
    return list(json.loads(subset.to_json(orient="records")))


@dataclass
class TrafficStats:
    """Client-side view of a burst: every request counted, failures with their first few reasons."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    versions: Counter[str] = field(default_factory=Counter)
    fraud_flagged: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    def record(self, started: float, response: httpx.Response | None, error: str | None) -> dict[str, Any] | None:
        self.sent += 1
        latency = (time.perf_counter() - started) * 1000.0
        if response is not None and response.status_code == 200:
            body: dict[str, Any] = response.json()
            self.ok += 1
            self.latencies_ms.append(latency)
            self.versions[str(body["model_version"])] += 1
            self.fraud_flagged += int(bool(body.get("is_fraud")))
            return body
        self.failed += 1
        reason = error or f"HTTP {response.status_code if response is not None else '?'}"
        if response is not None and error is None:
            reason += f": {response.text[:200]}"
        if len(self.errors) < 5:
            self.errors.append(reason)
        return None

    def summary(self) -> dict[str, Any]:
        latencies = np.array(self.latencies_ms) if self.latencies_ms else np.array([np.nan])
        p50, p95, p99 = (float(np.percentile(latencies, q)) for q in (50, 95, 99))
        return {
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "throughput_rps": round(self.ok / self.elapsed_seconds, 1) if self.elapsed_seconds > 0 else 0.0,
            "latency_ms": {
                "p50": round(p50, 2),
                "p95": round(p95, 2),
                "p99": round(p99, 2),
                "max": round(float(np.max(latencies)), 2),
            },
            "versions": dict(self.versions),
            "fraud_flagged": self.fraud_flagged,
            "errors": list(self.errors),
        }


async def _post(client: httpx.AsyncClient, stats: TrafficStats, row: dict[str, Any]) -> dict[str, Any] | None:
    started = time.perf_counter()
    try:
        response = await client.post("/predict", json=row)
    except httpx.HTTPError as exc:
        return stats.record(started, None, f"{type(exc).__name__}: {exc}")
    return stats.record(started, response, None)


async def _burst(base_url: str, rows: Sequence[dict[str, Any]], requests: int, concurrency: int) -> TrafficStats:
    stats = TrafficStats()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, limits=limits, trust_env=False) as client:
        await _post(client, stats, rows[0])  # warm-up: connection set-up stays out of the measurement
        stats = TrafficStats()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for i in range(requests):
            queue.put_nowait(rows[i % len(rows)])

        async def worker() -> None:
            while True:
                try:
                    row = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await _post(client, stats, row)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        stats.elapsed_seconds = time.perf_counter() - started
    return stats


def send_burst(base_url: str, rows: Sequence[dict[str, Any]], *, requests: int, concurrency: int) -> TrafficStats:
    """``requests`` single-row /predict calls (cycling over ``rows``) from ``concurrency`` concurrent clients."""
    if not rows:
        raise ValueError("send_burst needs at least one request row")
    if requests < 1 or concurrency < 1:
        raise ValueError(f"requests and concurrency must be >= 1, got {requests} and {concurrency}")
    return asyncio.run(_burst(base_url, rows, requests, concurrency))


class BackgroundTraffic:
    """A steady, rate-limited stream of /predict calls on a thread, recording which version answered when.

    Runs while the monitoring job retrains and promotes: it shows the service never fails a request during the swap
    and the moment the new champion starts answering.
    """

    def __init__(self, base_url: str, rows: Sequence[dict[str, Any]], *, rate_per_second: float = 10.0) -> None:
        if not rows:
            raise ValueError("BackgroundTraffic needs at least one request row")
        self.base_url = base_url
        self.rows = list(rows)
        self.interval = 1.0 / rate_per_second
        self.stats = TrafficStats()
        self.first_seen: dict[str, float] = {}  # version -> wall-clock time (epoch s) of its first answer
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._initial: str | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="background-traffic", daemon=True)
        self._started = 0.0

    def start(self) -> BackgroundTraffic:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30.0, trust_env=False) as client:
            i = 0
            while not self._stop.is_set():
                tick = time.monotonic()
                body = await _post(client, self.stats, self.rows[i % len(self.rows)])
                i += 1
                if body is not None:
                    version = str(body["model_version"])
                    self.first_seen.setdefault(version, time.time())
                    if self._initial is None:
                        self._initial = version
                    elif version != self._initial:
                        self._changed.set()
                await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - tick)))

    def wait_for_version_other_than(self, version: str, timeout: float) -> str | None:
        """Block until a response carries a version other than ``version``; that version, or None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            others = [v for v in self.first_seen if v != version]
            if others:
                return others[0]
            if not self._thread.is_alive():
                return None
            self._changed.wait(0.1)
        return None

    def stop(self) -> TrafficStats:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=35)
        self.stats.elapsed_seconds = time.perf_counter() - self._started
        return self.stats
