"""The reference profile logged with every model: its contents and its save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlops_workloads.features import FEATURE_NAMES, FEATURES, LABEL
from mlops_workloads.reference import (
    PREDICTION_COLUMN,
    PROFILE_FILE,
    SAMPLE_FILE,
    ReferenceProfile,
    build_reference_profile,
)


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {}
    for f in FEATURES:
        if f.is_categorical:
            cols[f.name] = rng.integers(int(f.minimum), int(f.maximum) + 1, n)
        else:
            cols[f.name] = rng.gamma(2.0, 50.0, n).clip(f.minimum, f.maximum)
    return pd.DataFrame(cols)


def test_profile_holds_bins_proportions_sample_and_metrics() -> None:
    frame = _frame(8_000)
    preds = np.random.default_rng(1).random(8_000)
    labels = (preds > 0.9).astype(int)
    profile = build_reference_profile(frame, preds, labels, {"f1": 0.8})

    amount = profile.features["amount"]
    assert not amount.categorical
    assert len(amount.proportions) == amount.n_bins
    assert sum(amount.proportions) == pytest.approx(1.0)
    # Decile bins: the ten inner bins each hold ~10 %, the two outer (outside the training range) none.
    assert amount.proportions[0] == 0.0
    assert amount.proportions[-1] == 0.0
    assert amount.proportions[1:-1] == pytest.approx([0.1] * 10, abs=0.002)
    hour = profile.features["hour_of_day"]
    assert hour.categorical
    assert hour.categories == [float(h) for h in range(24)]
    assert len(hour.proportions) == 25  # 24 hours + "other"
    assert profile.prediction.positive_rate == pytest.approx((preds >= 0.5).mean())
    assert profile.label_rate == pytest.approx(labels.mean())
    assert profile.row_count == 8_000
    assert len(profile.sample) == 5_000
    assert list(profile.sample.columns) == [*FEATURE_NAMES, PREDICTION_COLUMN, LABEL]


def test_save_load_round_trip(tmp_path: Path) -> None:
    frame = _frame(300)
    profile = build_reference_profile(frame, np.zeros(300), None, {"f1": 0.75, "auc": 0.9})
    out = profile.save(tmp_path / "reference")
    assert (out / PROFILE_FILE).is_file()
    assert (out / SAMPLE_FILE).is_file()

    loaded = ReferenceProfile.load(out)
    assert loaded.features == profile.features
    assert loaded.prediction == profile.prediction
    assert loaded.metrics == {"f1": 0.75, "auc": 0.9}
    assert loaded.label_rate is None
    assert loaded.row_count == 300
    pd.testing.assert_frame_equal(loaded.sample, profile.sample)


def test_constant_column_gets_bins_on_both_sides() -> None:
    frame = _frame(500)
    frame["merchant_risk_score"] = 0.5
    ref = build_reference_profile(frame, np.zeros(500), None, {}).features["merchant_risk_score"]
    assert ref.std == 0.0
    assert ref.proportions == [0.0, 1.0, 0.0]
    assert ref.bin_counts(np.array([0.4, 0.5, 0.6, np.nan])).tolist() == [1, 1, 1]


def test_bad_input_is_named() -> None:
    frame = _frame(50).drop(columns=["amount"])
    with pytest.raises(ValueError, match=r"missing contract columns \['amount'\]"):
        build_reference_profile(frame, np.zeros(50), None, {})
    with pytest.raises(ValueError, match="predictions has 3 values but features has 50 rows"):
        build_reference_profile(_frame(50), np.zeros(3), None, {})
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        build_reference_profile(_frame(50), np.full(50, 3.0), None, {})


def test_load_missing_profile_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="register_model"):
        ReferenceProfile.load(tmp_path)
