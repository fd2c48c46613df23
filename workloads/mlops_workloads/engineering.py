"""Deterministic feature engineering between validation and training.

Validated raw rows become the model's training frame: duplicates (same transaction id) keep their last version,
rows without a label are dropped, missing feature values are imputed with values fitted on the frame (median for
continuous features, most frequent value for categorical ones), values are clipped to the contract and cast to its
dtypes, and rows are ordered by event time so the same input always gives the same output.
"""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split

from mlops_workloads.data import clip_to_contract
from mlops_workloads.features import ENTITY_KEY, EVENT_TIMESTAMP, FEATURE_NAMES, FEATURES, LABEL, TRANSACTION_ID


def fit_fill_values(df: pd.DataFrame) -> dict[str, float]:
    """Imputation values per feature: median (continuous) or most frequent value (categorical, ties → smallest)."""
    fill: dict[str, float] = {}
    for feature in FEATURES:
        values = df[feature.name].dropna().astype(float)
        if values.empty:
            raise ValueError(f"{feature.name}: every value is null, nothing to impute from")
        fill[feature.name] = float(values.mode().min()) if feature.is_categorical else float(values.median())
    return fill


def engineer_features(df: pd.DataFrame, fill_values: dict[str, float] | None = None) -> pd.DataFrame:
    """Return the training frame: key, time, transaction id, contract features (imputed, clipped, typed), label."""
    columns = [ENTITY_KEY, EVENT_TIMESTAMP, *([TRANSACTION_ID] if TRANSACTION_ID in df.columns else [])]
    out = df.loc[:, [*columns, *FEATURE_NAMES, LABEL]].copy()
    out[EVENT_TIMESTAMP] = pd.to_datetime(out[EVENT_TIMESTAMP], utc=True)
    out = out.dropna(subset=[LABEL])
    order = [EVENT_TIMESTAMP, TRANSACTION_ID] if TRANSACTION_ID in out.columns else [EVENT_TIMESTAMP, ENTITY_KEY]
    out = out.sort_values(order, kind="stable")
    if TRANSACTION_ID in out.columns:
        out = out.drop_duplicates(subset=[TRANSACTION_ID], keep="last")
    fill = fill_values if fill_values is not None else fit_fill_values(out)
    out = out.fillna({name: fill[name] for name in FEATURE_NAMES})
    out = clip_to_contract(out)
    out[LABEL] = out[LABEL].astype(int)
    return out.reset_index(drop=True)


def split_train_test(
    df: pd.DataFrame, *, test_fraction: float = 0.25, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified held-out split (fraud is rare: both halves keep the fraud rate); deterministic for a seed."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    train, test = train_test_split(df, test_size=test_fraction, stratify=df[LABEL], random_state=seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)
