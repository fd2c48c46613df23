"""Deterministic synthetic card transactions for tests, demos and benchmarks.

Each card has a spending profile (typical amount, activity, home country); fraudulent transactions deviate from it
the way real fraud does — larger than usual amounts, risky merchants, night hours, card not present, abroad — but
with overlap, so a model has something to learn without the task being trivial. Same arguments, same frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_workloads.features import (
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    FEATURE_NAMES,
    FEATURES,
    FEATURES_BY_NAME,
    LABEL,
    TRANSACTION_ID,
)

FRAUD_RATE = 0.025
PARTITION_FILE = "part-0.parquet"
# Share of frauds generated like legitimate traffic: keeps the task realistic (no perfect separation).
_CAMOUFLAGED_FRAUD = 0.05


def generate_transactions(
    n_rows: int,
    *,
    seed: int = 42,
    start: str | date = "2026-01-01",
    days: int = 7,
    n_cards: int | None = None,
) -> pd.DataFrame:
    """Return ``n_rows`` transactions over ``days`` days from ``start`` (UTC), sorted by event time."""
    cards = _card_count(n_rows, days, n_cards)
    rng = np.random.default_rng(seed)  # the draws below run in a fixed order: same arguments, same frame
    typical_amount = rng.lognormal(mean=3.8, sigma=0.6, size=cards)  # median ≈ $45
    monthly_count = rng.integers(5, 120, size=cards)
    card_index = rng.integers(0, cards, size=n_rows)
    fraud = rng.random(n_rows) < FRAUD_RATE
    loud = fraud & (rng.random(n_rows) >= _CAMOUFLAGED_FRAUD)  # frauds that look like fraud
    base = typical_amount[card_index]
    transaction = _transaction_fields(rng, base, loud)
    history = _card_history(rng, base, monthly_count[card_index], loud)
    timestamps = _event_times(rng, start, days, transaction["hour_of_day"])
    frame = pd.DataFrame(
        {
            ENTITY_KEY: (card_index + 1).astype("int64"),
            TRANSACTION_ID: [f"tx-{seed}-{i:08d}" for i in range(n_rows)],
            EVENT_TIMESTAMP: timestamps,
            "amount": transaction["amount"],
            "merchant_category": transaction["merchant_category"],
            "hour_of_day": transaction["hour_of_day"],
            "day_of_week": timestamps.dayofweek,
            **history,
            "merchant_risk_score": transaction["merchant_risk_score"],
            "card_present": transaction["card_present"],
            "international": transaction["international"],
            LABEL: fraud.astype("int64"),
        }
    )
    frame = clip_to_contract(frame)
    return frame.sort_values([EVENT_TIMESTAMP, TRANSACTION_ID], kind="stable").reset_index(drop=True)


def _card_count(n_rows: int, days: int, n_cards: int | None) -> int:
    """The number of cards (one per 20 transactions by default), after checking the sizes."""
    if n_rows < 1:
        raise ValueError(f"n_rows must be at least 1, got {n_rows}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    cards = n_cards if n_cards is not None else max(1, n_rows // 20)
    if cards < 1:
        raise ValueError(f"n_cards must be at least 1, got {n_cards}")
    return cards


def _transaction_fields(rng: np.random.Generator, base: np.ndarray, loud: np.ndarray) -> dict[str, np.ndarray]:
    """What a transaction looks like; the ``loud`` frauds are larger, at risky merchants, at night, card not
    present, abroad."""
    n_rows, n_loud = len(base), int(loud.sum())
    amount = base * rng.lognormal(0.0, 0.45, size=n_rows)
    amount[loud] = base[loud] * rng.uniform(3.0, 15.0, size=n_loud)

    merchant_category = rng.integers(0, 20, size=n_rows)
    risky_categories = np.array([3, 7, 13, 18])
    merchant_category[loud] = rng.choice(risky_categories, size=n_loud)

    merchant_risk = rng.beta(2.0, 8.0, size=n_rows)
    merchant_risk[loud] = rng.beta(6.0, 3.0, size=n_loud)

    day_hours = np.arange(24)
    daytime = np.exp(-0.5 * ((day_hours - 14) / 4.0) ** 2) + 0.03
    hour = rng.choice(day_hours, size=n_rows, p=daytime / daytime.sum())
    night = np.array([0, 1, 2, 3, 4, 23])
    hour[loud] = np.where(rng.random(n_loud) < 0.7, rng.choice(night, size=n_loud), hour[loud])

    card_present = rng.random(n_rows) < 0.7
    card_present[loud] = rng.random(n_loud) < 0.1
    international = rng.random(n_rows) < 0.05
    international[loud] = rng.random(n_loud) < 0.55
    return {
        "amount": np.round(amount, 2),
        "merchant_category": merchant_category,
        "merchant_risk_score": np.round(merchant_risk, 4),
        "hour_of_day": hour,
        "card_present": card_present,
        "international": international,
    }


def _card_history(
    rng: np.random.Generator, base: np.ndarray, monthly: np.ndarray, loud: np.ndarray
) -> dict[str, np.ndarray]:
    """The card's recent history at each transaction (``monthly``: its card's monthly count); dormant cards get hit."""
    days_since_last = rng.exponential(30.0 / monthly)
    days_since_last[loud] = rng.exponential(8.0, size=int(loud.sum()))
    count_30d = rng.poisson(monthly)
    avg_30d = base * rng.lognormal(0.0, 0.1, size=len(base))
    total_90d = avg_30d * rng.poisson(3 * monthly).astype(float)
    return {
        "days_since_last_transaction": np.round(days_since_last, 3),
        "avg_transaction_amount_30d": np.round(avg_30d, 2),
        "transaction_count_30d": count_30d,
        "total_spend_90d": np.round(total_90d, 2),
    }


def _event_times(rng: np.random.Generator, start: str | date, days: int, hour: np.ndarray) -> pd.DatetimeIndex:
    """A day within ``days`` from ``start`` (UTC), at ``hour``, at a random second of that hour."""
    start_ts = pd.Timestamp(start, tz="UTC").normalize()
    day_offset = rng.integers(0, days, size=len(hour))
    seconds = rng.integers(0, 3600, size=len(hour))
    return (
        start_ts
        + pd.to_timedelta(day_offset, unit="D")
        + pd.to_timedelta(hour, unit="h")
        + pd.to_timedelta(seconds, unit="s")
    )


def clip_to_contract(df: pd.DataFrame) -> pd.DataFrame:
    """Clip every contract feature present in ``df`` to its valid range and cast it to its contract dtype."""
    out = df.copy()
    for feature in FEATURES:
        if feature.name not in out.columns:
            continue
        column = out[feature.name]
        if feature.kind == "bool":
            out[feature.name] = column.astype(float).round().clip(0, 1).astype(bool)
        elif feature.kind == "int":
            out[feature.name] = column.astype(float).round().clip(feature.minimum, feature.maximum).astype("int64")
        else:
            out[feature.name] = column.astype(float).clip(feature.minimum, feature.maximum).astype("float64")
    return out


def inject_drift(
    df: pd.DataFrame,
    *,
    shift: Mapping[str, float] | None = None,
    scale: Mapping[str, float] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Return a copy of ``df`` with features shifted (in units of their std) and/or rescaled, clipped to contract.

    Integer and boolean features get a stochastic rounding (seeded) so a fractional shift still moves their
    distribution instead of rounding back to the original values.
    """
    shift = dict(shift or {})
    scale = dict(scale or {})
    for name in (*shift, *scale):
        if name not in FEATURES_BY_NAME:
            raise KeyError(f"inject_drift: unknown feature {name!r}; choose one of {', '.join(FEATURE_NAMES)}")
        if name not in df.columns:
            raise KeyError(f"inject_drift: column {name!r} is not in the frame")
    for name, factor in scale.items():
        if factor <= 0:
            raise ValueError(f"inject_drift: scale for {name!r} must be positive, got {factor}")
    rng = np.random.default_rng(seed)
    out = df.copy()
    for name in sorted(set(shift) | set(scale)):
        feature = FEATURES_BY_NAME[name]
        values = out[name].astype(float).to_numpy()
        std = float(np.std(values)) or 1.0
        mean = float(np.mean(values))
        values = mean + (values - mean) * scale.get(name, 1.0) + shift.get(name, 0.0) * std
        if feature.kind != "float":
            floor = np.floor(values)
            values = floor + (rng.random(len(values)) < (values - floor))
        out[name] = values
    return clip_to_contract(out)


def write_partitions(df: pd.DataFrame, root: str | Path) -> list[Path]:
    """Write ``df`` as Parquet under ``root/date=YYYY-MM-DD/part-0.parquet`` by event date (UTC); return the files."""
    if EVENT_TIMESTAMP not in df.columns:
        raise KeyError(f"write_partitions: the frame has no {EVENT_TIMESTAMP!r} column")
    root = Path(root)
    dates = pd.to_datetime(df[EVENT_TIMESTAMP], utc=True).dt.strftime("%Y-%m-%d")
    written: list[Path] = []
    for day, part in df.groupby(dates, sort=True):
        path = root / f"date={day}" / PARTITION_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        part.reset_index(drop=True).to_parquet(path, index=False)
        written.append(path)
    return written


def read_partition(root: str | Path, day: str | date | datetime) -> pd.DataFrame:
    """Read one day's partition written by :func:`write_partitions`."""
    day_text = pd.Timestamp(day).strftime("%Y-%m-%d")
    path = Path(root) / f"date={day_text}" / PARTITION_FILE
    if not path.exists():
        raise FileNotFoundError(f"no partition for {day_text} under {root} (expected {path})")
    return pd.read_parquet(path)


def read_transactions(uri: str | Path) -> pd.DataFrame:
    """Read transactions from a Parquet file or a ``date=`` partitioned directory: local, ``s3://`` or ``gs://``.

    The location resolves through :mod:`mlops_workloads.storage` (cloud credentials come from the environment:
    workload identity, never keys in code); the hive ``date`` partition column is dropped as the event timestamp
    already holds it.
    """
    import pyarrow.dataset as ds
    from pyarrow import fs

    from mlops_workloads.storage import resolve

    text = str(uri)
    location = resolve(text)
    info = location.filesystem.get_file_info(location.path)
    if info.type == fs.FileType.NotFound:
        raise FileNotFoundError(f"no transactions at {text}: expected a Parquet file or a date=YYYY-MM-DD directory")
    dataset = ds.dataset(location.path, filesystem=location.filesystem, format="parquet", partitioning="hive")
    frame = dataset.to_table().to_pandas()
    frame = frame.drop(columns=[c for c in ("date",) if c in frame.columns])
    if EVENT_TIMESTAMP in frame.columns:
        frame = frame.sort_values(EVENT_TIMESTAMP, kind="stable").reset_index(drop=True)
    return frame
