"""The second reference model: how many minutes a food delivery takes (regression, no feature store).

It shares nothing model-specific with the fraud model (another task, other features, another label), which is
the point: it proves the platform's generic jobs work from the contract stored with a model version. Its own
deterministic synthetic data generator and contract checks live here; its pipeline is ``pipelines.delivery_time``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mlops_workloads.contract import Feature, ModelContract

MODEL_NAME = "delivery-time"
ORDER_ID = "order_id"
ORDERED_AT = "ordered_at"
LABEL = "delivery_minutes"

DELIVERY_CONTRACT = ModelContract(
    task="regression",
    features=(
        Feature("distance_km", "float", 0.0, 50.0, "Road distance from restaurant to customer"),
        Feature("items", "int", 1, 30, "Items in the order"),
        Feature("prep_minutes", "float", 0.0, 120.0, "Restaurant's announced preparation time"),
        Feature("hour_of_day", "int", 0, 23, "Local hour of the order", categorical=True),
        Feature("day_of_week", "int", 0, 6, "Day of week, Monday = 0", categorical=True, seasonal=True),
        Feature("raining", "bool", 0, 1, "Rain at the restaurant when the order was placed"),
        Feature("courier_rating", "float", 1.0, 5.0, "Courier's average rating"),
    ),
    label=LABEL,
    id_column=ORDER_ID,
    timestamp_column=ORDERED_AT,
)
DEFAULT_PARAMS: Mapping[str, Any] = {"n_estimators": 60, "max_depth": 10, "min_samples_leaf": 3, "random_state": 7}
DEFAULT_GATES = ("rmse<=8", "mae<=6", "r2>=0.7")
MIN_ROWS = 200


def generate_deliveries(n_rows: int, *, seed: int = 7, start: str = "2026-01-01", days: int = 7) -> pd.DataFrame:
    """``n_rows`` orders over ``days`` days from ``start`` (UTC) with their delivery time; same arguments, same
    frame. The time grows with distance, preparation, rain and rush hours, less with better couriers, plus noise."""
    if n_rows < 1:
        raise ValueError(f"n_rows must be at least 1, got {n_rows}")
    rng = np.random.default_rng(seed)
    ordered_at = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(rng.uniform(0, days * 86_400, n_rows), unit="s")
    hour = ordered_at.hour.to_numpy()
    frame = pd.DataFrame(
        {
            ORDER_ID: [f"order-{seed}-{i}" for i in range(n_rows)],
            ORDERED_AT: ordered_at,
            "distance_km": np.round(np.clip(rng.gamma(2.0, 2.5, n_rows), 0.2, 50.0), 2),
            "items": np.clip(rng.poisson(3, n_rows) + 1, 1, 30).astype("int64"),
            "prep_minutes": np.round(np.clip(rng.normal(15, 6, n_rows), 2.0, 120.0), 1),
            "hour_of_day": hour.astype("int64"),
            "day_of_week": ordered_at.dayofweek.to_numpy().astype("int64"),
            "raining": rng.random(n_rows) < 0.2,
            "courier_rating": np.round(rng.uniform(3.0, 5.0, n_rows), 2),
        }
    )
    rush = np.isin(hour, [12, 13, 19, 20]).astype(float)
    minutes = (
        8.0
        + 2.8 * frame["distance_km"]
        + 0.9 * frame["prep_minutes"]
        + 0.6 * frame["items"]
        + 6.0 * frame["raining"]
        + 7.0 * rush
        - 2.0 * (frame["courier_rating"] - 4.0)
        + rng.normal(0.0, 3.0, n_rows)
    )
    frame[LABEL] = np.round(np.clip(minutes, 5.0, None), 1)
    return frame.sort_values(ORDERED_AT, kind="stable").reset_index(drop=True)


def contract_problems(frame: pd.DataFrame, *, min_rows: int = MIN_ROWS) -> list[str]:
    """Why ``frame`` cannot train the model: missing columns, too few rows, nulls, values outside the contract."""
    contract = DELIVERY_CONTRACT
    required = [contract.id_column, *contract.feature_names, contract.label]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        return [f"missing columns {missing}; training data needs {required}"]
    problems = [] if len(frame) >= min_rows else [f"{len(frame)} rows, fewer than the minimum {min_rows}"]
    for feature in contract.features:
        values = pd.to_numeric(frame[feature.name], errors="coerce")
        if values.isna().any():
            problems.append(f"{feature.name}: {int(values.isna().sum())} null or non-numeric values")
        outside = values[(values < feature.minimum) | (values > feature.maximum)]
        if len(outside):
            problems.append(
                f"{feature.name}: {len(outside)} values outside [{feature.minimum:g}, {feature.maximum:g}], "
                f"e.g. {outside.iloc[0]:g}"
            )
    labels = pd.to_numeric(frame[contract.label], errors="coerce")
    if labels.isna().any() or (labels <= 0).any():
        problems.append(f"{contract.label}: every order needs a positive delivery time in minutes")
    return problems
