"""Benchmark: the monitoring job's streaming drift computation versus Evidently's DataDriftPreset alone.

Each side runs in its own subprocess so its peak RSS (``resource.getrusage().ru_maxrss``) is its own. Data is
generated with numpy from the feature contract, in chunks, so the generator does not dominate memory; generation
time is excluded from the job's timing. Evidently needs the whole window in memory, so it only runs up to
``--evidently-max-rows``; above that the job is reported alone.

    workloads/.venv/bin/python benchmarks/monitoring_bench.py --rows 1000000 10000000
    workloads/.venv/bin/python benchmarks/monitoring_bench.py --rows 200000   # quick run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from mlops_workloads.features import FEATURE_NAMES, FEATURES

REFERENCE_ROWS = 100_000
DRIFTED = ("amount", "merchant_risk_score", "hour_of_day")  # the current window moves these, clearly
_SEED = 20_261_123


def _categorical_probs(n: int, drifted: bool) -> np.ndarray:
    weights = np.exp(-0.5 * ((np.arange(n) - n * 0.6) / (n * 0.25)) ** 2) + 0.05
    if drifted:
        weights = weights[::-1]  # the mass moves to the other end (e.g. daytime -> night)
    return weights / weights.sum()


def generate_chunk(rng: np.random.Generator, n: int, *, drift: bool) -> pd.DataFrame:
    """``n`` rows of every contract feature; with ``drift`` the :data:`DRIFTED` features change distribution."""
    columns: dict[str, np.ndarray] = {}
    for feature in FEATURES:
        moved = drift and feature.name in DRIFTED
        if feature.kind == "bool":
            values: np.ndarray = rng.random(n) < (0.7 if feature.name == "card_present" else 0.05)
        elif feature.is_categorical:
            size = int(feature.maximum - feature.minimum) + 1
            values = feature.minimum + rng.choice(size, size=n, p=_categorical_probs(size, moved))
        elif feature.name == "merchant_risk_score":
            values = rng.beta(4.0, 6.0, n) if moved else rng.beta(2.0, 8.0, n)
        elif feature.kind == "int":
            values = rng.poisson(40.0, n)
        else:
            scale = {"amount": 3.8, "avg_transaction_amount_30d": 3.8, "total_spend_90d": 8.0}.get(feature.name, 1.0)
            values = rng.lognormal(scale + (0.5 if moved else 0.0), 0.8, n)
        columns[feature.name] = np.clip(values, feature.minimum, feature.maximum)
    return pd.DataFrame(columns)


def window(rows: int, chunk_rows: int, *, drift: bool, seed: int) -> Iterator[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    for start in range(0, rows, chunk_rows):
        yield generate_chunk(rng, min(chunk_rows, rows - start), drift=drift)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _reference() -> pd.DataFrame:
    return pd.concat(window(REFERENCE_ROWS, REFERENCE_ROWS, drift=False, seed=_SEED))


def worker_job(rows: int, chunk_rows: int) -> dict[str, Any]:
    from mlops_workloads.monitoring.drift import DriftAccumulator, DriftPolicy
    from mlops_workloads.reference import build_reference_profile

    reference = _reference()
    profile = build_reference_profile(reference, np.zeros(len(reference)), None, {})
    del reference
    accumulator = DriftAccumulator(profile, DriftPolicy())
    busy = 0.0
    for chunk in window(rows, chunk_rows, drift=True, seed=_SEED + 1):
        started = time.perf_counter()
        accumulator.update(chunk)
        busy += time.perf_counter() - started
    started = time.perf_counter()
    result = accumulator.result()
    busy += time.perf_counter() - started
    return {
        "seconds": busy,
        "peak_rss_mb": _peak_rss_mb(),
        "verdicts": {f.feature: f.drifted for f in result.features},
    }


def worker_evidently(rows: int, chunk_rows: int) -> dict[str, Any]:
    from mlops_workloads.monitoring.drift import DriftPolicy
    from mlops_workloads.monitoring.report import evidently_verdicts, run_evidently

    reference = _reference()
    current = pd.concat(window(rows, chunk_rows, drift=True, seed=_SEED + 1), ignore_index=True)
    policy = DriftPolicy()
    started = time.perf_counter()
    snapshot = run_evidently(reference, current, policy)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "verdicts": {name: drifted for name, (_, drifted) in evidently_verdicts(snapshot, policy).items()},
    }


WORKERS = {"job": worker_job, "evidently": worker_evidently}


def _run_worker(side: str, rows: int, chunk_rows: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", side, "--rows", str(rows), "--chunk-rows", str(chunk_rows)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{side} worker failed at {rows} rows:\n{proc.stderr[-2000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _agreement(job: dict[str, Any], evidently: dict[str, Any]) -> int:
    return sum(job["verdicts"][n] == evidently["verdicts"][n] for n in FEATURE_NAMES)


def _row(*cells: str) -> str:
    widths = (12, 8, 8, 11, 8, 8, 6)
    return " | ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000], help="window sizes to run")
    parser.add_argument("--chunk-rows", type=int, default=500_000)
    parser.add_argument("--evidently-max-rows", type=int, default=1_000_000)
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if any(r < 1 for r in args.rows) or args.chunk_rows < 1:
        parser.error("--rows and --chunk-rows must be positive")
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.rows[0], args.chunk_rows)))
        return 0

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"# monitoring benchmark - {datetime.now(UTC):%Y-%m-%d %H:%M} UTC - {machine}")
    print(f"# {len(FEATURE_NAMES)} features, reference {REFERENCE_ROWS:,} rows, drifted: {', '.join(DRIFTED)}")
    print(_row("rows", "job s", "job MB", "evidently s", "evid. MB", "speed-up", "agree"))
    for rows in args.rows:
        job = _run_worker("job", rows, args.chunk_rows)
        expected = {name: name in DRIFTED for name in FEATURE_NAMES}
        correct = sum(job["verdicts"][n] == expected[n] for n in FEATURE_NAMES)
        ev = _run_worker("evidently", rows, args.chunk_rows) if rows <= args.evidently_max_rows else None
        print(
            _row(
                f"{rows:,}",
                f"{job['seconds']:.2f}",
                f"{job['peak_rss_mb']:.0f}",
                "-" if ev is None else f"{ev['seconds']:.2f}",
                "-" if ev is None else f"{ev['peak_rss_mb']:.0f}",
                "-" if ev is None else f"{ev['seconds'] / job['seconds']:.1f}x",
                "-" if ev is None else f"{_agreement(job, ev)}/{len(FEATURE_NAMES)}",
            )
        )
        print(f"#   job verdicts match the injected drift on {correct}/{len(FEATURE_NAMES)} features")
    return 0


if __name__ == "__main__":
    sys.exit(main())
