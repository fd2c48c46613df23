"""Drift statistics of the monitoring job: known distributions, chunking, and agreement with Evidently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlops_workloads.data import generate_transactions, inject_drift
from mlops_workloads.features import FEATURE_NAMES, LABEL
from mlops_workloads.monitoring.drift import DriftAccumulator, DriftPolicy, MissingColumnsError, Severity
from mlops_workloads.monitoring.report import evidently_verdicts, run_evidently
from mlops_workloads.monitoring.stats import RowSample, psi
from mlops_workloads.reference import PREDICTION_COLUMN, ReferenceProfile, build_reference_profile

POLICY = DriftPolicy()


@pytest.fixture(scope="module")
def reference() -> tuple[pd.DataFrame, ReferenceProfile]:
    frame = generate_transactions(6_000, seed=1, n_cards=6_000)
    scores = np.clip(frame[LABEL] * 0.8 + np.random.default_rng(0).random(len(frame)) * 0.3, 0, 1)
    profile = build_reference_profile(
        frame[list(FEATURE_NAMES)], scores.to_numpy(), frame[LABEL].to_numpy(), {"f1": 0.8}
    )
    return frame, profile


def _window(seed: int = 2, rows: int = 6_000, **drift: dict[str, float]) -> pd.DataFrame:
    frame = generate_transactions(rows, seed=seed, n_cards=rows)
    return inject_drift(frame, **drift) if drift else frame


def _run(profile: ReferenceProfile, window: pd.DataFrame, policy: DriftPolicy = POLICY, chunk: int | None = None):
    acc = DriftAccumulator(profile, policy)
    step = chunk or max(len(window), 1)
    for start in range(0, max(len(window), 1), step):
        acc.update(window.iloc[start : start + step])
    return acc.result()


def test_identical_distribution_has_no_drift(reference: tuple[pd.DataFrame, ReferenceProfile]) -> None:
    result = _run(reference[1], _window(seed=2))
    assert result.drifted_features == []
    assert result.drift_share == 0.0
    assert not result.dataset_drift
    assert result.retraining_reasons() == []
    assert all(f.psi < POLICY.psi_threshold for f in result.features)


def test_shifted_features_drift_and_trigger(reference: tuple[pd.DataFrame, ReferenceProfile]) -> None:
    window = _window(shift={"amount": 0.5, "merchant_risk_score": 1.0, "hour_of_day": 1.5})
    result = _run(reference[1], window)
    assert set(result.drifted_features) == {"amount", "merchant_risk_score", "hour_of_day"}
    by_name = {f.feature: f for f in result.features}
    assert by_name["amount"].method == "wasserstein_norm"
    assert by_name["hour_of_day"].method == "psi"
    assert by_name["merchant_risk_score"].severity is Severity.SIGNIFICANT
    assert by_name["merchant_risk_score"].ks_drifted is True
    assert by_name["merchant_risk_score"].current_mean > by_name["merchant_risk_score"].reference_mean
    assert any("merchant_risk_score: PSI" in r for r in result.retraining_reasons())


def test_large_window_tiny_shift_fools_ks_but_not_the_verdict(reference: tuple[pd.DataFrame, ReferenceProfile]) -> None:
    # The reference sampled again with a 0.05-sigma shift: KS on 20k rows calls it drift, the effect size does not.
    frame, profile = reference
    window = inject_drift(pd.concat([frame] * 4, ignore_index=True), shift={"merchant_risk_score": 0.05})
    feature = next(f for f in _run(profile, window).features if f.feature == "merchant_risk_score")
    assert feature.ks_pvalue is not None
    assert feature.ks_pvalue < POLICY.ks_pvalue
    assert feature.wasserstein_norm is not None
    assert feature.wasserstein_norm < POLICY.wasserstein_threshold
    assert not feature.drifted


def test_fewer_than_min_samples_are_skipped_and_reported(reference: tuple[pd.DataFrame, ReferenceProfile]) -> None:
    result = _run(reference[1], _window(rows=20, shift={"amount": 3.0}))
    assert result.window_rows == 20
    assert not result.enough_samples
    assert result.drifted_features == []
    assert any("insufficient samples: 20 rows < min_samples 30" in s for s in result.skipped)
    amount = next(f for f in result.features if f.feature == "amount")
    assert amount.ks_pvalue is None
    assert amount.wasserstein_norm is None
    assert any("20 non-null values < min_samples 30" in s for s in amount.skipped)


def test_constant_reference_column_gives_finite_verdicts(reference: tuple[pd.DataFrame, ReferenceProfile]) -> None:
    frame = reference[0].copy()
    frame["merchant_risk_score"] = 0.2
    profile = build_reference_profile(frame[list(FEATURE_NAMES)], np.zeros(len(frame)), None, {})
    same = next(f for f in _run(profile, frame).features if f.feature == "merchant_risk_score")
    assert (same.psi, same.wasserstein_norm, same.drifted) == (0.0, 0.0, False)
    moved = next(
        f for f in _run(profile, frame.assign(merchant_risk_score=0.3)).features if f.feature == "merchant_risk_score"
    )
    assert np.isfinite(moved.psi)
    assert np.isfinite(moved.wasserstein_norm)
    assert moved.drifted
    assert moved.ks_pvalue is not None
    assert not np.isnan(moved.ks_pvalue)


def test_chunked_equals_one_shot(reference: tuple[pd.DataFrame, ReferenceProfile]) -> None:
    profile = reference[1]
    window = _window(rows=9_000, shift={"amount": 0.3}).assign(**{PREDICTION_COLUMN: 0.7})
    policy = DriftPolicy(sample_size=2_000)  # smaller than the window: the sample itself must be chunk-invariant
    whole = _run(profile, window, policy)
    chunked = _run(profile, window, policy, chunk=777)
    one, many = whole.to_dict(), chunked.to_dict()
    # Means are float sums: chunking changes the summation order, so only they are compared approximately.
    one_means = [f.pop("current_mean") for f in one["features"]]
    many_means = [f.pop("current_mean") for f in many["features"]]
    one_means.append(one["prediction"].pop("current_mean"))
    many_means.append(many["prediction"].pop("current_mean"))
    assert many == one
    assert many_means == pytest.approx(one_means, rel=1e-12)
    pd.testing.assert_frame_equal(chunked.sample, whole.sample)


def test_row_sample_is_uniform_and_bounded() -> None:
    sample = RowSample(["x"], size=1_000, seed=3)
    for start in range(0, 100_000, 10_000):
        sample.update(np.arange(start, start + 10_000, dtype=np.float64).reshape(-1, 1))
    values = sample.frame()["x"].to_numpy()
    assert values.size == 1_000
    assert len(np.unique(values)) == 1_000
    assert 40_000 < values.mean() < 60_000  # uniform over the whole stream, not the first or last chunk


def test_prediction_drift_and_f1(reference: tuple[pd.DataFrame, ReferenceProfile]) -> None:
    window = _window()
    flipped = window.assign(**{PREDICTION_COLUMN: 1.0 - window[LABEL].astype(float)})  # every prediction wrong
    result = _run(reference[1], flipped)
    assert result.prediction is not None
    assert result.prediction.severity is Severity.SIGNIFICANT
    assert result.prediction.current_positive_rate == pytest.approx(1.0 - window[LABEL].mean())
    assert result.performance is not None
    assert result.performance.f1 == 0.0
    assert result.performance.degraded
    assert any(r.startswith("F1 0.000 < 0.9 x reference F1 0.800") for r in result.retraining_reasons())


def test_missing_columns_are_named(reference: tuple[pd.DataFrame, ReferenceProfile]) -> None:
    acc = DriftAccumulator(reference[1])
    with pytest.raises(MissingColumnsError, match=r"missing feature columns \['amount', 'international'\]"):
        acc.update(_window(rows=50).drop(columns=["amount", "international"]))


def test_psi_of_empty_bins_on_both_sides_is_ignored() -> None:
    assert psi(np.array([0.5, 0.5, 0.0]), np.array([50, 50, 0])) == 0.0
    assert psi(np.array([1.0, 0.0]), np.array([0, 10])) > 10


@pytest.mark.parametrize(
    "drift",
    [
        {},
        {"shift": {"amount": 0.5, "merchant_risk_score": 1.0, "hour_of_day": 1.5, "international": 1.0}},
        {"scale": {"amount": 1.6, "days_since_last_transaction": 2.0, "total_spend_90d": 0.5}},
    ],
    ids=["identical", "shifted", "rescaled"],
)
def test_verdicts_agree_with_evidently(reference: tuple[pd.DataFrame, ReferenceProfile], drift: dict) -> None:
    profile = reference[1]
    window = _window(seed=5, **drift)
    result = _run(profile, window)
    evidently = evidently_verdicts(run_evidently(profile.sample, window, POLICY), POLICY)
    ours = {f.feature: f.drifted for f in result.features}
    assert ours == {name: verdict for name, (_, verdict) in evidently.items()}
    for f in result.features:
        if f.method == "wasserstein_norm":  # same samples, same statistic: the same number
            assert f.score == pytest.approx(evidently[f.feature][0], rel=1e-9)
    assert (len(result.drifted_features) > 0) == bool(drift)


def test_a_one_day_window_is_not_dataset_drift_through_its_calendar(
    reference: tuple[pd.DataFrame, ReferenceProfile],
) -> None:
    """A daily window holds one weekday against a week-long reference: reported, never a reason to retrain."""
    window = _window(seed=3)
    window["day_of_week"] = 2
    result = _run(reference[1], window)
    by_name = {f.feature: f for f in result.features}
    assert by_name["day_of_week"].drifted
    assert by_name["day_of_week"].severity is Severity.SIGNIFICANT
    assert result.drift_share == 0.0
    assert not result.dataset_drift
    assert result.retraining_reasons() == []


@pytest.mark.parametrize("share", [0.5, 0.999])
def test_missing_values_are_a_drift_signal_of_their_own(
    reference: tuple[pd.DataFrame, ReferenceProfile], share: float
) -> None:
    """Issue 14: a feature gone 50% (or 99.9%) null upstream was 'no drift' and retraining was skipped."""
    _, profile = reference
    window = _window(seed=5)
    missing = np.random.default_rng(0).random(len(window)) < share
    window.loc[missing, "merchant_risk_score"] = np.nan

    result = _run(profile, window)

    feature = next(f for f in result.features if f.feature == "merchant_risk_score")
    assert feature.missing_drift and feature.drifted
    assert feature.null_fraction == pytest.approx(share, abs=0.02)
    assert "merchant_risk_score" in result.drifted_features
    assert any("merchant_risk_score" in r and "missing or invalid" in r for r in result.retraining_reasons())
    others = [f for f in result.features if f.feature != "merchant_risk_score"]
    assert not any(f.missing_drift for f in others)


def test_a_few_missing_values_below_the_threshold_are_not_drift(
    reference: tuple[pd.DataFrame, ReferenceProfile],
) -> None:
    _, profile = reference
    window = _window(seed=5)
    window.loc[window.index[:60], "amount"] = np.nan  # 1%
    feature = next(f for f in _run(profile, window).features if f.feature == "amount")
    assert feature.null_fraction == pytest.approx(0.01) and not feature.missing_drift


def test_values_breaking_the_contract_are_counted_per_column_and_file_not_read_as_numbers(
    reference: tuple[pd.DataFrame, ReferenceProfile],
) -> None:
    _, profile = reference
    window = _window(seed=6).assign(**{PREDICTION_COLUMN: 0.1})
    window["days_since_last_transaction"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(window.index, unit="s")
    window["hour_of_day"] = window["hour_of_day"].astype(object)
    window.loc[window.index[:3], "hour_of_day"] = "noon"
    window.loc[window.index[3:5], "merchant_risk_score"] = 7.5

    accumulator = DriftAccumulator(profile, POLICY)
    accumulator.update(window, "s3://lake/predictions/date=2026-01-08/part-0.parquet")
    result = accumulator.result()

    found = {(v.column, v.problem): v for v in result.violations}
    assert found[("days_since_last_transaction", "wrong_type")].count == len(window)
    assert found[("hour_of_day", "wrong_type")].count == 3
    assert found[("merchant_risk_score", "out_of_range")].count == 2
    assert found[("hour_of_day", "wrong_type")].source.endswith("date=2026-01-08/part-0.parquet")
    assert "'noon'" in found[("hour_of_day", "wrong_type")].describe()
    timestamps = next(f for f in result.features if f.feature == "days_since_last_transaction")
    assert timestamps.invalid_fraction == 1.0 and timestamps.missing_drift  # a signal, not nanoseconds as "drift"
    assert timestamps.wasserstein_norm is None  # no statistic computed from timestamps read as numbers
    assert result.to_dict()["contract_violations"][0]["message"]
