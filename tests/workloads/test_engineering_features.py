"""Feature engineering: exact values after dedup, imputation, clipping, typing and the held-out split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlops_workloads.data import generate_transactions
from mlops_workloads.engineering import engineer_features, fit_fill_values, split_train_test
from mlops_workloads.features import EVENT_TIMESTAMP, FEATURE_NAMES, FEATURES, LABEL, TRANSACTION_ID


@pytest.fixture
def raw() -> pd.DataFrame:
    return generate_transactions(200, seed=11).sample(frac=1.0, random_state=0)  # shuffled on purpose


def test_output_is_ordered_typed_and_deterministic(raw: pd.DataFrame) -> None:
    out = engineer_features(raw)
    assert out[EVENT_TIMESTAMP].is_monotonic_increasing
    assert list(out.columns)[3:] == [*FEATURE_NAMES, LABEL]
    for feature in FEATURES:
        assert str(out[feature.name].dtype) == feature.pandas_dtype
    pd.testing.assert_frame_equal(out, engineer_features(raw.sample(frac=1.0, random_state=1)))


def test_duplicate_transactions_keep_the_last_version(raw: pd.DataFrame) -> None:
    first = raw.iloc[[0]]
    corrected = first.assign(amount=123.45)
    out = engineer_features(pd.concat([raw, corrected]))
    assert len(out) == len(raw)
    assert out.loc[out[TRANSACTION_ID] == first[TRANSACTION_ID].iloc[0], "amount"].tolist() == [123.45]


def test_missing_values_imputed_with_median_and_mode() -> None:
    frame = generate_transactions(20, seed=1)
    frame["amount"] = [10.0, 20.0, 30.0, 1000.0] + [np.nan] * 16
    frame["merchant_category"] = [4, 4, 9] + [np.nan] * 17
    frame["card_present"] = pd.Series([True, False, False] + [None] * 17, dtype=object)
    fill = fit_fill_values(frame)
    assert fill["amount"] == 25.0
    assert fill["merchant_category"] == 4.0
    assert fill["card_present"] == 0.0
    out = engineer_features(frame)
    assert sorted(out["amount"].tolist()) == [10.0, 20.0] + [25.0] * 16 + [30.0, 1000.0]
    assert out["merchant_category"].value_counts().to_dict() == {4: 19, 9: 1}
    assert out["card_present"].sum() == 1


def test_out_of_range_values_are_clipped_to_the_contract() -> None:
    frame = generate_transactions(5, seed=2)
    frame["merchant_risk_score"] = [-0.5, 0.25, 1.7, 0.5, 0.0]
    frame["hour_of_day"] = [25, 3, -1, 7, 12]
    out = engineer_features(frame).set_index(TRANSACTION_ID).loc[frame[TRANSACTION_ID]]
    assert out["merchant_risk_score"].tolist() == [0.0, 0.25, 1.0, 0.5, 0.0]
    assert out["hour_of_day"].tolist() == [23, 3, 0, 7, 12]


def test_rows_without_label_are_dropped(raw: pd.DataFrame) -> None:
    frame = raw.astype({LABEL: "float64"})
    frame.iloc[:5, frame.columns.get_loc(LABEL)] = np.nan
    out = engineer_features(frame)
    assert len(out) == len(raw) - 5
    assert out[LABEL].dtype == "int64"


def test_split_is_stratified_and_reproducible() -> None:
    data = engineer_features(generate_transactions(2000, seed=4))
    train, test = split_train_test(data, test_fraction=0.25, seed=42)
    assert (len(train), len(test)) == (1500, 500)
    assert abs(train[LABEL].mean() - test[LABEL].mean()) < 0.003
    assert set(train[TRANSACTION_ID]).isdisjoint(test[TRANSACTION_ID])
    again, _ = split_train_test(data, test_fraction=0.25, seed=42)
    pd.testing.assert_frame_equal(train, again)
    with pytest.raises(ValueError, match=r"test_fraction must be between 0 and 1 \(exclusive\), got 1\.5"):
        split_train_test(data, test_fraction=1.5)
