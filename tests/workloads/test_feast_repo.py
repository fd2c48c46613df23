"""The Feast repository: contract-derived definitions, point-in-time historical reads, online lookups."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlops_workloads.data import generate_transactions
from mlops_workloads.feature_store import (
    DEFAULT_REPO_PATH,
    FEATURE_TTL,
    feature_definitions,
    historical_features,
    materialize,
    online_features,
    open_store,
    write_offline_source,
)
from mlops_workloads.features import ENTITY_KEY, EVENT_TIMESTAMP, FEATURE_NAMES, FEATURE_SERVICE, FEATURES, LABEL


def test_definitions_follow_the_contract() -> None:
    defs = feature_definitions()
    assert defs.entity.join_key == ENTITY_KEY
    assert defs.view.ttl == FEATURE_TTL
    kinds = {"Float64": "float", "Int64": "int", "Bool": "bool"}
    assert {f.name: kinds[str(f.dtype)] for f in defs.view.features} == {f.name: f.kind for f in FEATURES}
    assert defs.service.name == FEATURE_SERVICE
    assert defs.source.timestamp_field == EVENT_TIMESTAMP


def test_local_config_uses_relative_file_and_sqlite_stores() -> None:
    config = yaml.safe_load((DEFAULT_REPO_PATH / "feature_store.yaml").read_text())
    assert config["offline_store"]["type"] == "file"
    assert config["online_store"]["type"] == "sqlite"
    for path in (config["registry"], config["online_store"]["path"]):
        assert not Path(path).is_absolute()


@pytest.fixture(scope="module")
def store_and_data(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    repo = tmp_path_factory.mktemp("feature_repo")
    for name in ("feature_store.yaml", "definitions.py"):
        shutil.copy(DEFAULT_REPO_PATH / name, repo / name)
    frame = generate_transactions(400, seed=5, start="2026-01-01", days=3, n_cards=20)
    write_offline_source(frame, repo)
    return open_store(repo), frame


def test_historical_features_are_point_in_time_correct(store_and_data) -> None:  # type: ignore[no-untyped-def]
    store, frame = store_and_data
    card = int(frame[ENTITY_KEY].iloc[0])
    history = frame[frame[ENTITY_KEY] == card].reset_index(drop=True)
    first, second = history.iloc[0], history.iloc[1]
    between = first[EVENT_TIMESTAMP] + (second[EVENT_TIMESTAMP] - first[EVENT_TIMESTAMP]) / 2
    entity_df = pd.DataFrame(
        {
            ENTITY_KEY: [card, card, card],
            EVENT_TIMESTAMP: [first[EVENT_TIMESTAMP], between, first[EVENT_TIMESTAMP] - pd.Timedelta(seconds=1)],
            LABEL: [1, 0, 0],
        }
    )
    result = historical_features(store, entity_df)
    too_early = result[result[EVENT_TIMESTAMP] < first[EVENT_TIMESTAMP]]
    # No feature row existed yet: Feast drops the row or leaves it empty, but never fills it from the future.
    assert too_early.empty or too_early["amount"].isna().all()
    at_first = result[result[EVENT_TIMESTAMP] == first[EVENT_TIMESTAMP]].iloc[0]
    in_between = result[result[EVENT_TIMESTAMP] == between].iloc[0]
    assert at_first["amount"] == first["amount"]
    assert in_between["amount"] == first["amount"]  # the second transaction is still in the future
    assert (at_first[LABEL], in_between[LABEL]) == (1, 0)  # entity_df columns are carried through
    assert set(FEATURE_NAMES) <= set(result.columns)


def test_online_features_after_materialisation(store_and_data) -> None:  # type: ignore[no-untyped-def]
    store, frame = store_and_data
    end = frame[EVENT_TIMESTAMP].max().to_pydatetime() + pd.Timedelta(seconds=1)
    materialize(store, end=end, start=end - FEATURE_TTL)
    cards = [int(c) for c in frame[ENTITY_KEY].unique()[:3]]
    online = online_features(store, cards)
    assert list(online[ENTITY_KEY]) == cards
    for _, row in online.iterrows():
        latest = frame[frame[ENTITY_KEY] == row[ENTITY_KEY]].iloc[-1]
        assert row["amount"] == latest["amount"]
        assert row["merchant_category"] == latest["merchant_category"]
        assert bool(row["card_present"]) == bool(latest["card_present"])


def test_offline_source_requires_contract_columns(tmp_path: Path) -> None:
    frame = generate_transactions(10).drop(columns=["amount"])
    with pytest.raises(KeyError, match=r"offline source needs columns \['amount'\]"):
        write_offline_source(frame, tmp_path)
