"""Requests with only the card id and the transaction fields: the rest comes from the Feast online store."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mlops_workloads.data import generate_transactions
from mlops_workloads.feature_store import DEFAULT_REPO_PATH, materialize, open_store, write_offline_source
from mlops_workloads.features import ENTITY_KEY, EVENT_TIMESTAMP, FEATURE_NAMES

TRANSACTION_FIELDS = {
    "amount": 912.5,
    "merchant_category": 7,
    "hour_of_day": 3,
    "day_of_week": 2,
    "international": True,
}


@pytest.fixture(scope="module")
def feast_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    repo = tmp_path_factory.mktemp("feast_repo")
    for name in ("feature_store.yaml", "definitions.py"):
        shutil.copy(DEFAULT_REPO_PATH / name, repo / name)
    start = (datetime.now(UTC) - timedelta(days=3)).date()  # inside the feature view's TTL
    frame = generate_transactions(300, seed=21, start=start, days=2, n_cards=10)
    write_offline_source(frame, repo)
    store = open_store(repo)
    materialize(store, end=datetime.now(UTC), start=datetime.now(UTC) - timedelta(days=5))
    return repo, frame


def test_missing_features_are_read_from_the_online_store(serving_app: Any, feast_repo: tuple[Path, Any]) -> None:
    repo, frame = feast_repo
    client = serving_app(challenger_weight=0.0, feast_repo_path=str(repo))
    card = int(frame[ENTITY_KEY].iloc[0])
    latest = frame[frame[ENTITY_KEY] == card].sort_values(EVENT_TIMESTAMP).iloc[-1]
    full = {ENTITY_KEY: card, **{n: latest[n].item() for n in FEATURE_NAMES}, **TRANSACTION_FIELDS}

    partial = client.post("/predict", json={ENTITY_KEY: card, **TRANSACTION_FIELDS})
    explicit = client.post("/predict", json=full)

    assert partial.status_code == 200, partial.text
    assert partial.json()["fraud_probability"] == pytest.approx(explicit.json()["fraud_probability"], abs=1e-9)


def test_unknown_card_without_features_gets_a_clear_422(serving_app: Any, feast_repo: tuple[Path, Any]) -> None:
    repo, _ = feast_repo
    client = serving_app(challenger_weight=0.0, feast_repo_path=str(repo))

    response = client.post("/predict", json={ENTITY_KEY: 987_654, **TRANSACTION_FIELDS})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "card_id 987654: no value for" in detail
    assert "avg_transaction_amount_30d" in detail
