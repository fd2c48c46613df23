"""Property-based: windows and partitions that break the feature contract in every way it names (a missing column,
nulls, a wrong type, a non-integer, a non-boolean, a value out of range, broken identifiers) drive the monitoring
job's reading and drift path and the batch job. Each breakage must surface as a named error, a quarantine entry or
a drift signal naming its column — never a traceback, never a silent pass. Bounded and derandomised for CI."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlops_workloads.batch import OUTPUT_FILE, QUARANTINE_DIR, RejectedShareError, score_partition
from mlops_workloads.data import generate_transactions
from mlops_workloads.features import ENTITY_KEY, EVENT_TIMESTAMP, FEATURE_NAMES, FEATURES, LABEL, TRANSACTION_ID
from mlops_workloads.monitoring import storage
from mlops_workloads.monitoring.drift import DriftPolicy, MissingColumnsError
from mlops_workloads.monitoring.job import compute_drift
from mlops_workloads.reference import build_reference_profile
from mlops_workloads.serving.model import ModelSource

ROWS = 120
DAY = date(2026, 1, 1)
PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
KINDS = {f.name: f.kind for f in FEATURES}
# Cell-level breakages (some rows) and column-level ones (a producer wrote the whole column with another type).
CELL_BREAKAGES = ("missing", "out_of_range", "not_integer", "not_boolean")
COLUMN_BREAKAGES = ("text", "timestamp", "boolean")
EXPECTED_PROBLEM = {
    "missing": "missing",
    "out_of_range": "out_of_range",
    "not_integer": "not_integer",
    "not_boolean": "not_boolean",
    "text": "wrong_type",
    "timestamp": "wrong_type",
    "boolean": "wrong_type",
}


def _applicable(feature: str, breakage: str) -> bool:
    kind = KINDS[feature]
    if breakage == "not_integer":
        return kind == "int"
    if breakage == "not_boolean":
        return kind == "bool"
    if breakage in ("out_of_range", "boolean"):
        return kind != "bool"
    return True


@st.composite
def breakages(draw: st.DrawFn) -> list[tuple[str, str, list[int]]]:
    """Distinct features, each broken one applicable way, in some rows (all rows for a column-level breakage)."""
    features = draw(st.lists(st.sampled_from(FEATURE_NAMES), min_size=1, max_size=4, unique=True))
    chosen = []
    for feature in features:
        breakage = draw(st.sampled_from([b for b in (*CELL_BREAKAGES, *COLUMN_BREAKAGES) if _applicable(feature, b)]))
        if breakage in COLUMN_BREAKAGES:
            rows = list(range(ROWS))
        else:
            rows = sorted(draw(st.sets(st.integers(0, ROWS - 1), min_size=1, max_size=ROWS)))
        chosen.append((feature, breakage, rows))
    return chosen


def _break(frame: pd.DataFrame, plan: list[tuple[str, str, list[int]]]) -> pd.DataFrame:
    broken = frame.copy()
    for feature, breakage, rows in plan:
        spec = next(f for f in FEATURES if f.name == feature)
        if breakage == "text":
            broken[feature] = broken[feature].astype(str)
        elif breakage == "timestamp":
            broken[feature] = pd.Timestamp("2026-01-01") + pd.to_timedelta(broken[feature].astype(float), unit="s")
        elif breakage == "boolean":
            broken[feature] = broken[feature].astype(float) > broken[feature].astype(float).median()
        else:
            column = broken[feature].astype("float64")
            value = {
                "missing": np.nan,
                "out_of_range": spec.maximum + 1 + spec.maximum * 0.5,
                "not_integer": 2.5,
                "not_boolean": 2.0,
            }[breakage]
            column.iloc[rows] = value
            broken[feature] = column
    return broken


@pytest.fixture(scope="module")
def window_frame() -> pd.DataFrame:
    return generate_transactions(ROWS, seed=21, n_cards=ROWS, start=DAY.isoformat(), days=1)


@pytest.fixture(scope="module")
def profile() -> Any:
    frame = generate_transactions(2_000, seed=1, n_cards=2_000)
    return build_reference_profile(frame[list(FEATURE_NAMES)], np.full(len(frame), 0.1), frame[LABEL].to_numpy(), {})


@PROPERTY_SETTINGS
@given(plan=breakages(), drop=st.one_of(st.none(), st.sampled_from(FEATURE_NAMES)))
def test_monitoring_names_every_breakage_as_an_error_a_violation_or_a_drift_signal(
    window_frame: pd.DataFrame, profile: Any, plan: list[tuple[str, str, list[int]]], drop: str | None
) -> None:
    broken = _break(window_frame, plan).assign(prediction=0.1)
    if drop is not None:
        broken = broken.drop(columns=[drop])
    policy = DriftPolicy(min_samples=30, sample_size=1_000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "date=2026-01-01" / "part-0.parquet"
        path.parent.mkdir()
        broken.to_parquet(path)
        chunks = storage.iter_window_chunks(tmp, chunk_rows=50)
        if drop is not None:
            with pytest.raises(MissingColumnsError, match=drop):
                compute_drift(chunks, profile, policy)
            return
        result = compute_drift(chunks, profile, policy)
    features = {f.feature: f for f in result.features}
    violations = {(v.column, v.problem): v for v in result.violations}
    for feature, breakage, rows in plan:
        share = len(rows) / ROWS
        drift = features[feature]
        if breakage == "missing":
            assert drift.null_fraction == pytest.approx(share)
        else:
            problem = EXPECTED_PROBLEM[breakage]
            assert violations[(feature, problem)].count == len(rows), (feature, breakage)
            assert violations[(feature, problem)].source.endswith("part-0.parquet")
            assert drift.invalid_fraction == pytest.approx(share)
        assert drift.missing_drift == (share - drift.reference_null_fraction > policy.missing_share)
        if drift.missing_drift:
            assert feature in result.drifted_features
            assert any(feature in reason for reason in result.retraining_reasons())


@pytest.fixture(scope="module")
def champion(serving_registry: Any) -> Any:
    return ModelSource(serving_registry.tracking_uri).load_alias(serving_registry.model_name, "champion")


KEY_BREAKAGES = ("transaction_id", "card_id", "event_timestamp")


@PROPERTY_SETTINGS
@given(
    plan=breakages(),
    keys=st.lists(st.tuples(st.sampled_from(KEY_BREAKAGES), st.integers(0, ROWS - 1)), max_size=4),
    drop=st.one_of(st.none(), st.sampled_from([*FEATURE_NAMES, TRANSACTION_ID])),
    limit=st.sampled_from([0.05, 0.5, 1.0]),
)
def test_batch_quarantines_every_broken_row_with_its_reason_and_scores_the_rest(
    window_frame: pd.DataFrame,
    champion: Any,
    plan: list[tuple[str, str, list[int]]],
    keys: list[tuple[str, int]],
    drop: str | None,
    limit: float,
) -> None:
    broken = _break(window_frame, plan).astype({TRANSACTION_ID: object, ENTITY_KEY: "float64"})
    reasons: dict[int, set[str]] = {}
    for feature, breakage, rows in plan:
        for row in rows:
            reasons.setdefault(row, set()).add(f"{feature}: {EXPECTED_PROBLEM[breakage]}")
    for column, row in keys:
        broken.loc[row, column] = {TRANSACTION_ID: None, ENTITY_KEY: -1.0, EVENT_TIMESTAMP: pd.NaT}[column]
        reasons.setdefault(row, set()).add(column)
    if drop is not None:
        broken = broken.drop(columns=[drop])
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "transactions", Path(tmp) / "predictions"
        (data / f"date={DAY}").mkdir(parents=True)
        broken.to_parquet(data / f"date={DAY}" / "part-0.parquet", index=False)
        if drop is not None:
            with pytest.raises(KeyError, match=drop):
                score_partition(champion, str(data), str(out), DAY, max_rejected_share=limit)
            return
        try:
            result = score_partition(champion, str(data), str(out), DAY, max_rejected_share=limit)
        except RejectedShareError as refused:
            result = refused.result
            assert result.rejected_share > limit
            assert not (out / f"date={DAY}").exists()
        else:
            assert result.rejected_share <= limit
            scored = pq.read_table(out / f"date={DAY}" / OUTPUT_FILE).to_pandas()
            assert set(scored[TRANSACTION_ID]) == {
                window_frame[TRANSACTION_ID][i] for i in range(ROWS) if i not in reasons
            }
        assert (result.rows, result.rejected, result.scored + result.rejected) == (ROWS, len(reasons), ROWS)
        if reasons:
            quarantine = pq.read_table(out / QUARANTINE_DIR / f"date={DAY}" / OUTPUT_FILE).to_pandas().set_index("row")
            assert set(quarantine.index) == set(reasons)
            for row, expected in reasons.items():
                written = " | ".join(quarantine.loc[row, "reasons"])
                for reason in expected:
                    assert reason in written, (row, reason, written)
