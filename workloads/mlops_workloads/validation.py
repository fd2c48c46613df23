"""Data validation against the feature contract: every problem is reported, not just the first one.

Rules: required columns present with contract-compatible types, more than ``min_rows`` rows, no column with more
than ``max_null_fraction`` nulls, the label present with both classes, every value within its contract range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mlops_workloads.features import ENTITY_KEY, EVENT_TIMESTAMP, FEATURES, LABEL, Feature

MIN_ROWS = 1000
MAX_NULL_FRACTION = 0.05


class DataValidationError(ValueError):
    """The data broke the contract; ``problems`` lists every rule it broke."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        self.problems = problems
        super().__init__(f"data validation failed with {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class ValidationReport:
    row_count: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        if self.problems:
            raise DataValidationError(self.problems)


def _type_problem(feature: Feature, column: pd.Series) -> str | None:
    """A contract type mismatch, or None. Nulls turn pandas int columns into floats, so integral floats pass."""
    values = column.dropna()
    if ptypes.is_bool_dtype(column):
        ok = feature.kind == "bool"
    elif ptypes.is_numeric_dtype(column):
        numbers = values.to_numpy(dtype=np.float64)
        integral = bool(np.all(np.mod(numbers, 1) == 0))
        ok = feature.kind == "float" or (integral and (feature.kind == "int" or bool(np.isin(numbers, (0, 1)).all())))
    else:
        ok = False
    if ok:
        return None
    return (
        f"{feature.name}: dtype {column.dtype} does not hold contract kind {feature.kind!r} "
        f"(expected {feature.pandas_dtype}); cast the column or fix the producer"
    )


def validate_frame(
    df: pd.DataFrame,
    *,
    min_rows: int = MIN_ROWS,
    max_null_fraction: float = MAX_NULL_FRACTION,
    require_label: bool = True,
) -> ValidationReport:
    """Check ``df`` against the contract and return every problem found (``report.ok`` when there is none)."""
    problems: list[str] = []
    rows = len(df)
    if rows <= min_rows:
        problems.append(f"rows: {rows} rows, more than {min_rows} are required to train and evaluate")

    required = [ENTITY_KEY, EVENT_TIMESTAMP, *(f.name for f in FEATURES)] + ([LABEL] if require_label else [])
    missing = [name for name in required if name not in df.columns]
    if missing:
        problems.append(f"columns: missing required column(s) {missing}")

    for name in [c for c in required if c in df.columns]:
        null_fraction = float(df[name].isna().mean()) if rows else 0.0
        if null_fraction > max_null_fraction:
            problems.append(f"{name}: {null_fraction:.1%} nulls, at most {max_null_fraction:.0%} allowed")

    if EVENT_TIMESTAMP in df.columns and not ptypes.is_datetime64_any_dtype(df[EVENT_TIMESTAMP]):
        problems.append(f"{EVENT_TIMESTAMP}: dtype {df[EVENT_TIMESTAMP].dtype} is not a timestamp; parse it to UTC")
    if ENTITY_KEY in df.columns and not ptypes.is_integer_dtype(df[ENTITY_KEY].dropna().convert_dtypes()):
        problems.append(f"{ENTITY_KEY}: dtype {df[ENTITY_KEY].dtype} is not an integer key")

    for feature in FEATURES:
        if feature.name not in df.columns:
            continue
        column = df[feature.name]
        type_problem = _type_problem(feature, column)
        if type_problem:
            problems.append(type_problem)
            continue
        values = column.dropna().astype(np.float64)
        outside = values[(values < feature.minimum) | (values > feature.maximum)]
        if len(outside):
            problems.append(
                f"{feature.name}: {len(outside)} value(s) outside the contract range "
                f"[{feature.minimum:g}, {feature.maximum:g}] (e.g. {outside.iloc[0]:g})"
            )

    if require_label and LABEL in df.columns:
        labels = df[LABEL].dropna()
        unexpected = sorted(set(labels.unique().tolist()) - {0, 1})
        if unexpected:
            problems.append(f"{LABEL}: values must be 0 or 1, found {unexpected[:5]}")
        elif labels.nunique() < 2:
            present = labels.unique().tolist()
            problems.append(f"{LABEL}: both classes must be present to train, found only {present}")

    return ValidationReport(row_count=rows, problems=tuple(problems))


# --- Value-level checks: what the batch and monitoring jobs apply to every row they read ----------------------

Problem = Literal["missing", "wrong_type", "not_integer", "not_boolean", "out_of_range"]
PROBLEMS: tuple[Problem, ...] = ("missing", "wrong_type", "not_integer", "not_boolean", "out_of_range")
_EXAMPLE_CHARS = 40


@dataclass(frozen=True)
class ColumnFinding:
    """``count`` values of ``column`` in ``source`` break the contract the same way (``problem``)."""

    column: str
    problem: Problem
    count: int
    example: str
    source: str = ""

    def describe(self) -> str:
        where = f" in {self.source}" if self.source else ""
        return f"{self.column}{where}: {self.count} value(s) {_PROBLEM_TEXT[self.problem]} (e.g. {self.example})"


_PROBLEM_TEXT: dict[Problem, str] = {
    "missing": "missing (null)",
    "wrong_type": "of the wrong type",
    "not_integer": "not integers",
    "not_boolean": "not booleans (true/false or 0/1)",
    "out_of_range": "outside the contract range",
}


@dataclass
class FeatureValues:
    """A feature column as float64 (NaN where the value is missing or breaks the contract) and why each row's value
    is unusable (None for a usable value)."""

    feature: Feature
    values: np.ndarray
    problems: dict[Problem, np.ndarray]  # problem -> boolean mask over the rows

    @property
    def unusable(self) -> np.ndarray:
        mask = np.zeros(len(self.values), dtype=bool)
        for rows in self.problems.values():
            mask |= rows
        return mask


def _example(column: pd.Series, mask: np.ndarray) -> str:
    value = column.to_numpy(dtype=object)[np.flatnonzero(mask)[0]]
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 1] + "…"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


def feature_values(feature: Feature, column: pd.Series) -> FeatureValues:
    """Check one column against its contract feature: type, integrality/booleanness and range, value by value."""
    rows = len(column)
    missing = column.isna().to_numpy(dtype=bool)
    values = np.full(rows, np.nan)
    wrong_type = np.zeros(rows, dtype=bool)
    if ptypes.is_bool_dtype(column):
        wrong_type = ~missing if feature.kind != "bool" else wrong_type
        values[~missing] = column[~missing].astype(np.float64).to_numpy()
    elif ptypes.is_numeric_dtype(column) and not ptypes.is_complex_dtype(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    elif ptypes.is_object_dtype(column):
        objects = column.to_numpy(dtype=object)
        booleans = np.fromiter((isinstance(v, bool | np.bool_) for v in objects), dtype=bool, count=rows)
        numbers = np.fromiter((_is_number(v) for v in objects), dtype=bool, count=rows) & ~missing
        usable = numbers | (booleans if feature.kind == "bool" else np.zeros(rows, dtype=bool))
        wrong_type = ~missing & ~usable
        values[usable] = objects[usable].astype(np.float64)
    else:  # timestamps, durations, text, categories: never a contract number
        wrong_type = ~missing
    checked = ~missing & ~wrong_type
    finite = checked & np.isfinite(values)
    problems: dict[Problem, np.ndarray] = {"missing": missing, "wrong_type": wrong_type}
    if feature.kind == "int":
        problems["not_integer"] = finite & (np.mod(np.where(finite, values, 0.0), 1) != 0)
    elif feature.kind == "bool":
        problems["not_boolean"] = checked & ~np.isin(values, (0.0, 1.0))
    flagged = problems.get("not_integer", problems.get("not_boolean", np.zeros(rows, dtype=bool)))
    inside = (values >= feature.minimum) & (values <= feature.maximum)
    problems["out_of_range"] = checked & ~flagged & ~inside
    result = FeatureValues(feature, values, problems)
    result.values = np.where(result.unusable, np.nan, values)
    return result


def check_features(
    frame: pd.DataFrame, source: str = "", features: Sequence[Feature] = FEATURES
) -> tuple[dict[str, FeatureValues], list[ColumnFinding]]:
    """Every contract feature of ``frame`` (``features``: a model contract's, the fraud model's by default) checked
    value by value; the findings count each problem per column."""
    checked: dict[str, FeatureValues] = {}
    findings: list[ColumnFinding] = []
    for feature in features:
        if feature.name not in frame.columns:
            continue
        column = frame[feature.name]
        result = feature_values(feature, column)
        checked[feature.name] = result
        for problem, mask in result.problems.items():
            count = int(mask.sum())
            if count:
                example = "null" if problem == "missing" else _example(column, mask)
                findings.append(ColumnFinding(feature.name, problem, count, example, source))
    return checked, findings
