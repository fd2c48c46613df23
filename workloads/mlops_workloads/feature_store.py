"""Feast definitions derived from the feature contract, and the few calls training and inference make.

The repository in ``workloads/feature_repo`` only imports :func:`feature_definitions`, so the Feast schema can never
drift from the contract. Training reads point-in-time-correct rows with :func:`historical_features`; the demo checks
the latest values per card with :func:`online_features` after :func:`materialize`. The inference service reads the
online store through the Feast feature server instead (mlops_workloads/serving/online_features.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_workloads.features import (
    ENTITY_KEY,
    ENTITY_NAME,
    EVENT_TIMESTAMP,
    FEATURE_NAMES,
    FEATURE_SERVICE,
    FEATURES,
    FeatureKind,
)

os.environ.setdefault("FEAST_USAGE", "False")  # no telemetry from any process that touches Feast

# The name the shipped stacks give as the fraud model's `features.featureView` (serving reads this view).
FEATURE_VIEW_NAME = "card_features"
SOURCE_NAME = "card_transactions"
# Relative paths resolve against the repository directory (feature_store.yaml's location).
SOURCE_PATH = "data/transactions.parquet"
FEATURE_TTL = timedelta(days=7)
DEFAULT_REPO_PATH = Path(__file__).resolve().parents[1] / "feature_repo"


@dataclass(frozen=True)
class FeatureDefinitions:
    entity: Any
    source: Any
    view: Any
    service: Any

    def objects(self) -> list[Any]:
        return [self.entity, self.source, self.view, self.service]


def _feast_type(kind: FeatureKind) -> Any:
    from feast.types import Bool, Float64, Int64

    return {"float": Float64, "int": Int64, "bool": Bool}[kind]


def feature_definitions(source_path: str = SOURCE_PATH) -> FeatureDefinitions:
    """Entity ``card`` (join key ``card_id``), one feature view over the Parquet source, service fraud_detection_v1."""
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType

    card = Entity(name=ENTITY_NAME, join_keys=[ENTITY_KEY], value_type=ValueType.INT64, description="A payment card")
    source = FileSource(name=SOURCE_NAME, path=source_path, timestamp_field=EVENT_TIMESTAMP)
    view = FeatureView(
        name=FEATURE_VIEW_NAME,
        entities=[card],
        ttl=FEATURE_TTL,
        schema=[Field(name=f.name, dtype=_feast_type(f.kind), description=f.description) for f in FEATURES],
        source=source,
        online=True,
    )
    service = FeatureService(name=FEATURE_SERVICE, features=[view])
    return FeatureDefinitions(card, source, view, service)


def write_offline_source(df: pd.DataFrame, repo_path: str | Path = DEFAULT_REPO_PATH) -> Path:
    """Write the offline source file the feature view reads (entity key, event time, contract features)."""
    target = Path(repo_path) / SOURCE_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    columns = [ENTITY_KEY, EVENT_TIMESTAMP, *FEATURE_NAMES]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"offline source needs columns {missing}; pass transactions with the contract features")
    df.loc[:, columns].to_parquet(target, index=False)
    return target


def open_store(repo_path: str | Path = DEFAULT_REPO_PATH, *, apply: bool = True) -> Any:
    """A ``FeatureStore`` on ``repo_path``; with ``apply`` the contract definitions are registered first."""
    from feast import FeatureStore

    store = FeatureStore(repo_path=str(repo_path))
    if apply:
        store.apply(feature_definitions().objects())
    return store


def historical_features(store: Any, entity_df: pd.DataFrame) -> pd.DataFrame:
    """Point-in-time join: for each (card_id, event_timestamp) row the newest feature values at or before it.

    Extra columns of ``entity_df`` (transaction id, label) are carried through; rows whose features are older than
    the view's TTL come back with nulls (validation then counts them).
    """
    missing = [c for c in (ENTITY_KEY, EVENT_TIMESTAMP) if c not in entity_df.columns]
    if missing:
        raise KeyError(f"entity_df needs columns {missing} for a point-in-time join")
    job = store.get_historical_features(entity_df=entity_df, features=store.get_feature_service(FEATURE_SERVICE))
    frame = job.to_df()
    return frame.sort_values([EVENT_TIMESTAMP, ENTITY_KEY], kind="stable").reset_index(drop=True)


def materialize(store: Any, end: datetime, start: datetime | None = None) -> None:
    """Load the online store with the latest values up to ``end`` (incrementally when ``start`` is None)."""
    if start is None:
        store.materialize_incremental(end_date=end)
    else:
        store.materialize(start_date=start, end_date=end)


def online_features(store: Any, card_ids: Iterable[int]) -> pd.DataFrame:
    """The latest materialised contract features per card, one row per id in the given order."""
    rows = [{ENTITY_KEY: int(card_id)} for card_id in card_ids]
    response = store.get_online_features(features=store.get_feature_service(FEATURE_SERVICE), entity_rows=rows)
    return response.to_df().loc[:, [ENTITY_KEY, *FEATURE_NAMES]]


def training_frame(repo_path: str | Path, events: pd.DataFrame) -> pd.DataFrame:
    """Labelled events (card_id, event_timestamp, transaction_id, is_fraud) joined point-in-time with the features.

    The repository must already be applied (``feast apply`` at deploy time, or :func:`open_store` locally). Feature
    columns already in ``events`` are replaced by the store's values.
    """
    keep = [c for c in events.columns if c not in FEATURE_NAMES]
    return historical_features(open_store(repo_path, apply=False), events.loc[:, keep])
