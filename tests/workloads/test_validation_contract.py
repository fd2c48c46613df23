"""Contract-driven data validation: every rule has a failing case, and every problem is reported at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlops_workloads.data import generate_transactions
from mlops_workloads.features import EVENT_TIMESTAMP, FEATURES, LABEL
from mlops_workloads.validation import DataValidationError, validate_frame


@pytest.fixture(scope="module")
def good() -> pd.DataFrame:
    return generate_transactions(1500, seed=3)


def test_generated_data_passes(good: pd.DataFrame) -> None:
    report = validate_frame(good)
    assert report.ok, report.problems
    assert report.row_count == 1500
    report.raise_for_problems()


def test_more_than_min_rows_required(good: pd.DataFrame) -> None:
    report = validate_frame(good.head(1000))
    assert report.problems == ("rows: 1000 rows, more than 1000 are required to train and evaluate",)
    assert validate_frame(good.head(1001)).ok


def test_missing_columns_are_named(good: pd.DataFrame) -> None:
    report = validate_frame(good.drop(columns=["amount", LABEL]))
    assert report.problems == ("columns: missing required column(s) ['amount', 'is_fraud']",)


@pytest.mark.parametrize("feature", FEATURES, ids=lambda f: f.name)
def test_each_feature_range_is_enforced(good: pd.DataFrame, feature) -> None:  # type: ignore[no-untyped-def]
    bad = good.copy()
    if feature.kind == "bool":
        bad[feature.name] = bad[feature.name].astype("int64")
        bad.loc[bad.index[:3], feature.name] = 2  # an integer flag outside {0, 1}
    else:
        bad.loc[bad.index[:3], feature.name] = feature.maximum + 1
    problems = validate_frame(bad).problems
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{feature.name}: ")
    expected = (
        "does not hold contract kind 'bool'" if feature.kind == "bool" else "3 value(s) outside the contract range"
    )
    assert expected in problems[0]


def test_below_minimum_is_reported_with_the_value(good: pd.DataFrame) -> None:
    bad = good.copy()
    bad.loc[bad.index[0], "amount"] = -5.0
    assert validate_frame(bad).problems == ("amount: 1 value(s) outside the contract range [0, 50000] (e.g. -5)",)


def test_types_come_from_the_contract(good: pd.DataFrame) -> None:
    bad = good.copy()
    bad["amount"] = bad["amount"].astype(str)
    bad["merchant_category"] = bad["merchant_category"] + 0.5
    bad[EVENT_TIMESTAMP] = bad[EVENT_TIMESTAMP].astype(str)
    problems = validate_frame(bad).problems
    assert any(p.startswith("amount: dtype object does not hold contract kind 'float'") for p in problems)
    assert any(p.startswith("merchant_category: dtype float64 does not hold contract kind 'int'") for p in problems)
    assert any(p.startswith(f"{EVENT_TIMESTAMP}: dtype object is not a timestamp") for p in problems)


def test_integer_column_with_a_few_nulls_is_still_an_integer(good: pd.DataFrame) -> None:
    frame = good.copy()
    frame.loc[frame.index[:10], "transaction_count_30d"] = np.nan  # pandas turns the column into float64
    assert validate_frame(frame).ok


def test_null_fraction_over_five_percent_fails_at_five_passes(good: pd.DataFrame) -> None:
    at_limit = good.copy()
    at_limit.loc[at_limit.index[:75], "merchant_risk_score"] = np.nan  # exactly 5 % of 1500
    assert validate_frame(at_limit).ok
    over = good.copy()
    over.loc[over.index[:76], "merchant_risk_score"] = np.nan
    assert validate_frame(over).problems == ("merchant_risk_score: 5.1% nulls, at most 5% allowed",)


def test_label_needs_both_classes_and_binary_values(good: pd.DataFrame) -> None:
    one_class = good.assign(**{LABEL: 0})
    assert validate_frame(one_class).problems == ("is_fraud: both classes must be present to train, found only [0]",)
    not_binary = good.copy()
    not_binary.loc[not_binary.index[0], LABEL] = 7
    assert validate_frame(not_binary).problems == ("is_fraud: values must be 0 or 1, found [7]",)


def test_every_problem_is_reported_together(good: pd.DataFrame) -> None:
    bad = good.head(500).drop(columns=["international"]).copy()
    bad.loc[bad.index[:100], "amount"] = np.nan
    bad.loc[bad.index[200], "hour_of_day"] = 24
    bad[LABEL] = 0
    with pytest.raises(DataValidationError) as caught:
        validate_frame(bad).raise_for_problems()
    problems = caught.value.problems
    assert len(problems) == 5
    assert [p.split(":")[0] for p in problems] == ["rows", "columns", "amount", "hour_of_day", "is_fraud"]
    assert "data validation failed with 5 problem(s)" in str(caught.value)
