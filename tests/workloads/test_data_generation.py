"""The synthetic transaction generator: contract-shaped, deterministic, learnable, drift-injectable, partitioned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlops_workloads.data import generate_transactions, inject_drift, read_partition, write_partitions
from mlops_workloads.features import ENTITY_KEY, EVENT_TIMESTAMP, FEATURE_NAMES, FEATURES, LABEL, TRANSACTION_ID


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_transactions(3000, seed=42)


def test_columns_dtypes_and_ranges_follow_the_contract(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == [ENTITY_KEY, TRANSACTION_ID, EVENT_TIMESTAMP, *FEATURE_NAMES, LABEL]
    assert str(frame[EVENT_TIMESTAMP].dt.tz) == "UTC"
    for feature in FEATURES:
        assert str(frame[feature.name].dtype) == feature.pandas_dtype, feature.name
        assert frame[feature.name].between(feature.minimum, feature.maximum).all(), feature.name
    assert set(frame[LABEL].unique()) == {0, 1}
    assert frame[TRANSACTION_ID].is_unique
    assert not frame.isna().any().any()


def test_fraud_rate_is_realistic(frame: pd.DataFrame) -> None:
    assert 0.01 <= frame[LABEL].mean() <= 0.03


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    pd.testing.assert_frame_equal(generate_transactions(500, seed=7), generate_transactions(500, seed=7))
    assert not generate_transactions(500, seed=7)["amount"].equals(generate_transactions(500, seed=8)["amount"])


def test_time_window_and_calendar_features_are_consistent() -> None:
    df = generate_transactions(1000, start="2026-03-02", days=3, n_cards=10)
    assert df[EVENT_TIMESTAMP].min() >= pd.Timestamp("2026-03-02", tz="UTC")
    assert df[EVENT_TIMESTAMP].max() < pd.Timestamp("2026-03-05", tz="UTC")
    assert (df["hour_of_day"] == df[EVENT_TIMESTAMP].dt.hour).all()
    assert (df["day_of_week"] == df[EVENT_TIMESTAMP].dt.dayofweek).all()
    assert df[ENTITY_KEY].nunique() <= 10
    assert df[EVENT_TIMESTAMP].is_monotonic_increasing


def test_signal_is_learnable(frame: pd.DataFrame) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import f1_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        frame[list(FEATURE_NAMES)], frame[LABEL], test_size=0.3, stratify=frame[LABEL], random_state=42
    )
    model = RandomForestClassifier(n_estimators=50, max_depth=15, class_weight="balanced", random_state=42)
    model.fit(x_train, y_train)
    assert f1_score(y_test, model.predict(x_test)) >= 0.75
    assert roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]) >= 0.85


def test_bad_arguments_are_rejected_with_the_value() -> None:
    with pytest.raises(ValueError, match="n_rows must be at least 1, got 0"):
        generate_transactions(0)
    with pytest.raises(ValueError, match="days must be at least 1"):
        generate_transactions(10, days=0)


def test_inject_drift_shifts_in_std_units_and_respects_ranges(frame: pd.DataFrame) -> None:
    drifted = inject_drift(frame, shift={"merchant_risk_score": 1.0, "hour_of_day": 2.0}, scale={"amount": 2.0})
    std = frame["merchant_risk_score"].std(ddof=0)
    moved = drifted["merchant_risk_score"].mean() - frame["merchant_risk_score"].mean()
    assert 0.7 * std < moved <= 1.0 * std + 1e-9  # clipping at 1.0 can only reduce the shift
    assert drifted["amount"].std() > 1.8 * frame["amount"].std()
    assert drifted["hour_of_day"].mean() > frame["hour_of_day"].mean() + 2.0 * frame["hour_of_day"].std() * 0.7
    for feature in FEATURES:
        assert str(drifted[feature.name].dtype) == feature.pandas_dtype
        assert drifted[feature.name].between(feature.minimum, feature.maximum).all(), feature.name
    untouched = [n for n in FEATURE_NAMES if n not in {"merchant_risk_score", "hour_of_day", "amount"}]
    pd.testing.assert_frame_equal(drifted[untouched], frame[untouched])


def test_inject_drift_rejects_unknown_features_and_bad_scales(frame: pd.DataFrame) -> None:
    with pytest.raises(KeyError, match="unknown feature 'amnt'"):
        inject_drift(frame, shift={"amnt": 1.0})
    with pytest.raises(ValueError, match="scale for 'amount' must be positive, got -1"):
        inject_drift(frame, scale={"amount": -1.0})


def test_partitions_round_trip_by_event_date(tmp_path: Path) -> None:
    df = generate_transactions(600, days=3, start="2026-01-10")
    files = write_partitions(df, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        "date=2026-01-10/part-0.parquet",
        "date=2026-01-11/part-0.parquet",
        "date=2026-01-12/part-0.parquet",
    ]
    day = read_partition(tmp_path, "2026-01-11")
    expected = df[df[EVENT_TIMESTAMP].dt.strftime("%Y-%m-%d") == "2026-01-11"].reset_index(drop=True)
    pd.testing.assert_frame_equal(day, expected, check_dtype=False)
    assert np.array_equal(day[EVENT_TIMESTAMP].dt.day.unique(), [11])
    with pytest.raises(FileNotFoundError, match="no partition for 2026-02-01"):
        read_partition(tmp_path, "2026-02-01")
