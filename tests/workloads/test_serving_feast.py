"""Online completion through the real Feast feature server: requests send the entity key and some features, the
upstream server (Feast's own FastAPI app, `feast.feature_server.get_app`, feature_server.py:498 of feast 0.67.0) on a
materialised sqlite online store, served by uvicorn on 127.0.0.1, supplies the rest."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from mlops_workloads.contract import Feature, ModelContract
from mlops_workloads.data import generate_transactions
from mlops_workloads.feature_store import (
    DEFAULT_REPO_PATH,
    FEATURE_VIEW_NAME,
    feature_definitions,
    materialize,
    open_store,
    write_offline_source,
)
from mlops_workloads.features import ENTITY_KEY, EVENT_TIMESTAMP, FEATURE_NAMES
from mlops_workloads.serving.app import ACCESS_LOGGER
from mlops_workloads.serving.online_features import FeastFeatureServer

TRANSACTION_FIELDS = {
    "amount": 912.5,
    "merchant_category": 7,
    "hour_of_day": 3,
    "day_of_week": 2,
    "international": True,
}
NARROW_VIEW = "card_spend"  # a second view of the same entity holding one contract feature only
NARROW_FEATURE = "avg_transaction_amount_30d"
# A model that is not the fraud model: its own entity (a courier), view and contract, on the same feature server.
COURIER_VIEW, COURIER_KEY = "courier_stats", "courier_id"
COURIER_CONTRACT = ModelContract(
    task="regression",
    features=(
        Feature("courier_rating", "float", 1.0, 5.0, "Average customer rating of the courier"),
        Feature("deliveries_7d", "int", 0, 1000, "Deliveries the courier made in the last 7 days"),
    ),
    label="delivery_minutes",
    id_column="order_id",
    entity_column=COURIER_KEY,
)
COURIERS = pd.DataFrame(
    {
        COURIER_KEY: [101, 102, 101],
        "courier_rating": [4.2, 3.1, 4.8],  # courier 101's newest value is its second row
        "deliveries_7d": [12, 40, 15],
    }
)


@dataclass(frozen=True)
class FeatureServer:
    url: str
    frame: pd.DataFrame  # the transactions materialised

    def latest(self, card: int) -> dict[str, Any]:
        row = self.frame[self.frame[ENTITY_KEY] == card].sort_values(EVENT_TIMESTAMP).iloc[-1]
        return {name: row[name].item() for name in FEATURE_NAMES}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def feature_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureServer]:
    import uvicorn
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.feature_server import get_app
    from feast.types import Float64, Int64

    repo = tmp_path_factory.mktemp("feast_repo")
    for name in ("feature_store.yaml", "definitions.py"):
        shutil.copy(DEFAULT_REPO_PATH / name, repo / name)
    start = (datetime.now(UTC) - timedelta(days=3)).date()  # inside the feature view's TTL
    frame = generate_transactions(300, seed=21, start=start, days=2, n_cards=10)
    write_offline_source(frame, repo)
    store = open_store(repo)
    defs = feature_definitions()
    narrow = FeatureView(
        name=NARROW_VIEW,
        entities=[defs.entity],
        ttl=defs.view.ttl,
        schema=[Field(name=NARROW_FEATURE, dtype=Float64)],
        source=defs.source,
        online=True,
    )
    courier = Entity(name="courier", join_keys=[COURIER_KEY], value_type=ValueType.INT64)
    courier_source = FileSource(name="couriers", path=str(repo / "couriers.parquet"), timestamp_field=EVENT_TIMESTAMP)
    hours = [timedelta(hours=h) for h in (30, 20, 10)]
    COURIERS.assign(**{EVENT_TIMESTAMP: [datetime.now(UTC) - h for h in hours]}).to_parquet(repo / "couriers.parquet")
    couriers = FeatureView(
        name=COURIER_VIEW,
        entities=[courier],
        ttl=timedelta(days=7),
        schema=[Field(name="courier_rating", dtype=Float64), Field(name="deliveries_7d", dtype=Int64)],
        source=courier_source,
        online=True,
    )
    store.apply([narrow, courier, courier_source, couriers])
    materialize(store, end=datetime.now(UTC), start=datetime.now(UTC) - timedelta(days=5))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(get_app(store), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if server.started:
                break
            thread.join(timeout=0.05)
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        yield FeatureServer(url, frame)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _payloads(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The rows scored, as completed, from the access log (``log_payloads``), in order."""
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOGGER]
    batches = [r["payload"] if r["endpoint"] == "/predict/batch" else [r["payload"]] for r in records]
    return [row for batch in batches for row in batch]


def test_missing_features_are_the_materialised_values(
    serving_app: Any, feature_server: FeatureServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = serving_app(
        challenger_weight=0.0, log_payloads=True, feast_url=feature_server.url, feast_feature_view=FEATURE_VIEW_NAME
    )
    cards = sorted(int(c) for c in feature_server.frame[ENTITY_KEY].unique())[:3]

    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        single = client.post("/predict", json={ENTITY_KEY: cards[0], **TRANSACTION_FIELDS})
        instances = [{ENTITY_KEY: card, **TRANSACTION_FIELDS} for card in cards]
        batch = client.post("/predict/batch", json={"instances": instances})
    full = {**feature_server.latest(cards[0]), ENTITY_KEY: cards[0], **TRANSACTION_FIELDS}
    explicit = client.post("/predict", json=full)

    assert single.status_code == 200, single.text
    assert batch.status_code == 200, batch.text
    assert single.json()["fraud_probability"] == pytest.approx(explicit.json()["fraud_probability"], abs=1e-12)
    scored = _payloads(caplog)
    assert [row[ENTITY_KEY] for row in scored] == [cards[0], *cards]
    for row in scored:
        store_values = {k: v for k, v in feature_server.latest(row[ENTITY_KEY]).items() if k not in TRANSACTION_FIELDS}
        assert {k: row[k] for k in store_values} == store_values  # the server's values, typed as the contract says
        assert {k: row[k] for k in TRANSACTION_FIELDS} == TRANSACTION_FIELDS  # the request's own values win


def test_an_entity_the_store_does_not_know_gets_the_documented_422(
    serving_app: Any, feature_server: FeatureServer
) -> None:
    client = serving_app(challenger_weight=0.0, feast_url=feature_server.url, feast_feature_view=FEATURE_VIEW_NAME)

    response = client.post("/predict", json={ENTITY_KEY: 987_654, **TRANSACTION_FIELDS})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert f"{ENTITY_KEY} 987654: no value for" in detail
    assert "avg_transaction_amount_30d" in detail
    assert "amount," not in detail  # sent in the request, so never reported missing


@pytest.mark.parametrize(
    ("view", "says"),
    [
        ("card_featurez", "Feature view card_featurez does not exist"),
        # The view has one contract feature: the first use asks for all of them, even though the request lacks
        # only that one, so the missing ones are named instead of coming back as nulls later.
        (NARROW_VIEW, f"not found in projection {NARROW_VIEW}"),
    ],
)
def test_a_view_that_cannot_serve_the_contract_is_a_clear_503(
    serving_app: Any, feature_server: FeatureServer, view: str, says: str
) -> None:
    client = serving_app(challenger_weight=0.0, feast_url=feature_server.url, feast_feature_view=view)
    card = int(feature_server.frame[ENTITY_KEY].iloc[0])
    row = {**feature_server.latest(card), ENTITY_KEY: card, NARROW_FEATURE: None}

    response = client.post("/predict", json=row)

    assert response.status_code == 503, response.text
    detail = response.json()["detail"]
    assert f"view {view!r}" in detail
    assert says in detail
    assert "SERVING_FEAST_FEATURE_VIEW" in detail


def test_a_feature_server_that_is_down_is_a_503(serving_app: Any) -> None:
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    client = serving_app(challenger_weight=0.0, feast_url=url, feast_feature_view=FEATURE_VIEW_NAME)

    response = client.post("/predict", json={ENTITY_KEY: 1, **TRANSACTION_FIELDS})

    assert response.status_code == 503
    assert response.json()["detail"].startswith(f"online feature store unavailable: Feast feature server {url}")


def test_any_models_features_are_looked_up_by_its_own_contracts_entity_and_view(
    feature_server: FeatureServer,
) -> None:
    """Nothing fraud-specific in the lookup: a courier model's contract, keyed by its courier_id, reads its own view
    (the first use asks for every contract feature, later ones only for what the request lacks)."""
    lookup = FeastFeatureServer(feature_server.url, COURIER_VIEW, timeout_seconds=10)
    try:
        first = lookup(COURIER_CONTRACT, [101], ["deliveries_7d"])
        rows = lookup(COURIER_CONTRACT, [101, 102, 999], ["courier_rating", "deliveries_7d"])
        lacking_one = lookup(COURIER_CONTRACT, [102], ["deliveries_7d"])
    finally:
        lookup.close()
    assert first == [{"courier_rating": 4.8, "deliveries_7d": 15}]
    assert lacking_one == [{"deliveries_7d": 40}]
    assert rows == [
        {"courier_rating": 4.8, "deliveries_7d": 15},  # the newest materialised row of courier 101
        {"courier_rating": 3.1, "deliveries_7d": 40},
        {"courier_rating": None, "deliveries_7d": None},  # a courier the store does not know
    ]


def test_the_shipped_stacks_name_the_view_the_repository_defines() -> None:
    """Every stack file's fraud-detection `features.featureView` is the view `feast apply` creates."""
    import yaml

    root = Path(__file__).resolve().parents[2]
    views = {}
    for stack in sorted(root.glob("Pulumi.*.yaml")):
        for model in yaml.safe_load(stack.read_text())["config"].get("mlops:models", []):
            if model.get("features"):
                views[stack.name, model["name"]] = model["features"]["featureView"]
    assert views, "no shipped stack has a model with features"
    defined = {feature_definitions().view.name}
    assert {key: view for key, view in views.items() if view not in defined} == {}
