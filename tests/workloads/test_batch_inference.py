"""Batch inference: a day's partition scored by the champion, on S3 (moto), GCS (emulator) and a local path;
rows that break the contract go to the quarantine with their reasons, the rest is scored."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from mlops_workloads.batch import (
    OUTPUT_FILE,
    RejectedShareError,
    default_day,
    main,
    parse_day,
    score_partition,
)
from mlops_workloads.data import generate_transactions, write_partitions
from mlops_workloads.features import FEATURE_NAMES, TRANSACTION_ID
from mlops_workloads.serving.model import ModelSource
from prometheus_client.parser import text_string_to_metric_families

DAY = date(2026, 1, 2)


@pytest.fixture(scope="module")
def transactions_frame() -> pd.DataFrame:
    return generate_transactions(1_500, seed=11, start="2026-01-01", days=3)


@pytest.fixture
def transactions(tmp_path: Path, transactions_frame: pd.DataFrame) -> pd.DataFrame:
    write_partitions(transactions_frame, tmp_path / "transactions")
    return transactions_frame


@pytest.fixture(scope="module")
def champion(serving_registry: Any) -> Any:
    return ModelSource(serving_registry.tracking_uri).load_alias(serving_registry.model_name, "champion")


def _day_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["event_timestamp"].dt.date == DAY].reset_index(drop=True)


def test_scores_a_bucket_partition_in_chunks_and_rerun_is_idempotent(  # type: ignore[no-untyped-def]
    object_store, transactions: pd.DataFrame, tmp_path: Path, champion: Any, serving_registry: Any
) -> None:
    for path in (tmp_path / "transactions").rglob("*.parquet"):
        object_store.put(f"transactions/{path.relative_to(tmp_path / 'transactions').as_posix()}", path.read_bytes())
    data, out = object_store.uri("transactions"), object_store.uri("predictions")

    first = score_partition(champion, data, out, DAY, chunk_rows=100)
    second = score_partition(champion, data, out, DAY, chunk_rows=100)

    day_rows = _day_rows(transactions)
    assert first.rows == second.rows == first.scored == len(day_rows)
    assert (first.rejected, first.quarantine) == (0, None)
    assert first.output == object_store.uri(f"predictions/date={DAY}/{OUTPUT_FILE}")
    assert object_store.keys("predictions/") == [f"predictions/date={DAY}/{OUTPUT_FILE}"]
    table = pq.read_table(io.BytesIO(object_store.get(f"predictions/date={DAY}/{OUTPUT_FILE}")))
    assert table.schema.metadata[b"model_version"] == serving_registry.versions["good"].encode()
    assert set(table.column("model_version").to_pylist()) == {serving_registry.versions["good"]}
    scored = table.to_pandas().set_index(TRANSACTION_ID).loc[day_rows[TRANSACTION_ID]]
    expected = champion.score(day_rows[list(FEATURE_NAMES)].to_numpy(dtype=np.float64))
    np.testing.assert_allclose(scored["fraud_probability"].to_numpy(), expected, atol=1e-12)
    assert (scored["is_fraud"].to_numpy() == (expected >= 0.5)).all()


def _break_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, str]]:
    """The defects of issue 14, one per row: each must be quarantined with a reason naming its column."""
    broken = frame.astype({TRANSACTION_ID: object, "card_id": "float64"})
    expected = {
        0: "days_since_last_transaction: missing",
        1: "amount: missing",
        2: "merchant_risk_score: out_of_range",
        3: "hour_of_day: out_of_range",
        4: f"{TRANSACTION_ID}: missing or not text",
        5: "card_id: missing or not a non-negative 64-bit integer",
        6: "event_timestamp: missing or not a timestamp",
    }
    broken.loc[0, "days_since_last_transaction"] = np.nan
    broken.loc[1, "amount"] = np.nan
    broken.loc[2, "merchant_risk_score"] = 7.5
    broken.loc[3, "hour_of_day"] = 31
    broken.loc[4, TRANSACTION_ID] = None
    broken.loc[5, "card_id"] = np.nan
    broken.loc[6, "event_timestamp"] = pd.NaT
    return broken, expected


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def test_malformed_rows_are_quarantined_with_reasons_and_the_rest_is_scored(  # type: ignore[no-untyped-def]
    object_store, transactions: pd.DataFrame, champion: Any
) -> None:
    day_rows = _day_rows(transactions)
    broken, expected = _break_rows(day_rows.iloc[:-3].reset_index(drop=True))
    # A second producer wrote the amount as text: one file whose column has the wrong type.
    texts = day_rows.iloc[-3:].reset_index(drop=True).assign(amount=["12.50 USD", "7", "abc"])
    object_store.put(f"transactions/date={DAY}/part-0.parquet", _parquet(broken))
    object_store.put(f"transactions/date={DAY}/part-1.parquet", _parquet(texts))

    result = score_partition(champion, object_store.uri("transactions"), object_store.uri("predictions"), DAY)

    assert (result.rows, result.scored, result.rejected) == (len(day_rows), len(day_rows) - 10, 10)
    assert result.quarantine == object_store.uri(f"predictions/_quarantine/date={DAY}/{OUTPUT_FILE}")
    quarantine = pq.read_table(io.BytesIO(object_store.get(f"predictions/_quarantine/date={DAY}/{OUTPUT_FILE}")))
    rows = quarantine.to_pandas()
    first = rows[rows["source"] == object_store.uri(f"transactions/date={DAY}/part-0.parquet")].set_index("row")
    for row, reason in expected.items():
        assert any(r.startswith(reason) for r in first.loc[row, "reasons"]), (row, first.loc[row, "reasons"])
    second = rows[rows["source"] == object_store.uri(f"transactions/date={DAY}/part-1.parquet")]
    assert [list(r) for r in second["reasons"]] == [
        ["amount: wrong_type ('12.50 USD')"],
        ["amount: wrong_type ('7')"],
        ["amount: wrong_type ('abc')"],
    ]
    assert json.loads(second.iloc[0]["record"])["amount"] == "12.50 USD"
    assert list(second["row"]) == [0, 1, 2]  # a row number points into its own file, whatever file came first
    predictions = pq.read_table(io.BytesIO(object_store.get(f"predictions/date={DAY}/{OUTPUT_FILE}"))).to_pandas()
    assert set(predictions[TRANSACTION_ID]) == set(day_rows[TRANSACTION_ID].iloc[7:-3])
    assert result.rejected_reasons["amount: wrong_type"] == 3


def test_too_many_rejected_rows_fail_the_run_and_publish_only_the_quarantine(
    transactions: pd.DataFrame, champion: Any, tmp_path: Path
) -> None:
    data = tmp_path / "bad"
    day_rows = _day_rows(transactions)
    half = len(day_rows) // 2
    (data / f"date={DAY}").mkdir(parents=True)
    day_rows.iloc[:half].assign(amount="n/a").to_parquet(data / f"date={DAY}" / "part-0.parquet")
    day_rows.iloc[half:].to_parquet(data / f"date={DAY}" / "part-1.parquet")

    with pytest.raises(RejectedShareError, match=r"above --max-rejected-share 0.1: amount: wrong_type") as refused:
        score_partition(champion, str(data), str(tmp_path / "out"), DAY, max_rejected_share=0.1)

    assert refused.value.result.output is None
    assert not (tmp_path / "out" / f"date={DAY}").exists()
    assert (tmp_path / "out" / "_quarantine" / f"date={DAY}" / OUTPUT_FILE).is_file()
    relaxed = score_partition(champion, str(data), str(tmp_path / "out"), DAY, max_rejected_share=0.9)
    assert relaxed.output is not None and relaxed.scored + relaxed.rejected == relaxed.rows


def test_cli_scores_a_local_partition_reports_counts_and_metrics(
    transactions: pd.DataFrame, tmp_path: Path, serving_registry: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data_root = tmp_path / "transactions"
    prom = tmp_path / "batch.prom"
    argv = ["--data-root", str(data_root), "--date", DAY.isoformat(), "--tracking-uri", serving_registry.tracking_uri,
            "--metrics-file", str(prom)]  # fmt: skip

    assert main(argv) == 0
    assert main(argv) == 0  # re-run replaces the file

    out_dir = tmp_path / "predictions" / f"date={DAY}"
    assert sorted(p.name for p in out_dir.iterdir()) == [OUTPUT_FILE]  # no temporary files left behind
    day_rows = len(_day_rows(transactions))
    assert pq.read_table(out_dir / OUTPUT_FILE).num_rows == day_rows
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["scored"], summary["rejected"]) == (day_rows, 0)
    assert summary["model_version"] == serving_registry.versions["good"]
    samples = {
        (s.name, s.labels.get("outcome")): s.value
        for family in text_string_to_metric_families(prom.read_text())
        for s in family.samples
    }
    assert samples[("model_batch_rows", "scored")] == day_rows
    assert samples[("model_batch_rows", "rejected")] == 0
    assert samples[("model_batch_run_failed", None)] == 0


def test_cli_reports_a_missing_partition(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "transactions").mkdir()

    code = main(["--data-root", str(tmp_path / "transactions"), "--date", "2026-01-09", "--tracking-uri", "sqlite://",
                 "--metrics-file", str(tmp_path / "m.prom")])  # fmt: skip

    assert code == 2
    error = capsys.readouterr().err
    assert "no Parquet files for 2026-01-09" in error
    assert "date=2026-01-09" in error


@pytest.mark.parametrize(
    ("value", "message"),
    [("2026-13-01", "is not a date; use YYYY-MM-DD"), ("2999-01-01", "is in the future"), ("yesterday", "not a date")],
)
def test_cli_rejects_bad_dates(value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--data-root", str(tmp_path), "--date", value, "--tracking-uri", "sqlite://"])

    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_default_day_is_yesterday_in_utc() -> None:
    assert default_day(datetime(2026, 3, 1, 0, 30, tzinfo=UTC)) == date(2026, 2, 28)
    assert parse_day("2026-02-28", today=date(2026, 3, 1)) == date(2026, 2, 28)


def test_the_delivery_time_model_batch_scores_and_quarantines_by_its_own_contract(
    tmp_path: Path, delivery_registry: Any
) -> None:
    """The second reference model (regression, no entity): output columns, checks and values from its contract."""
    from mlops_workloads.delivery_time import DELIVERY_CONTRACT as CONTRACT
    from mlops_workloads.delivery_time import generate_deliveries

    model = ModelSource(delivery_registry.tracking_uri).load_alias(delivery_registry.model_name, "champion")
    orders = generate_deliveries(120, seed=5, start=DAY.isoformat(), days=1).astype({CONTRACT.id_column: object})
    orders.loc[0, "items"] = 31  # above the contract's maximum
    orders.loc[1, "courier_rating"] = np.nan
    orders.loc[2, CONTRACT.id_column] = None
    (tmp_path / "orders" / f"date={DAY}").mkdir(parents=True)
    orders.to_parquet(tmp_path / "orders" / f"date={DAY}" / "part-0.parquet", index=False)

    result = score_partition(model, str(tmp_path / "orders"), str(tmp_path / "predictions"), DAY)

    assert (result.rows, result.scored, result.rejected) == (120, 117, 3)
    table = pq.read_table(result.output)
    assert table.column_names == [CONTRACT.id_column, CONTRACT.timestamp_column, CONTRACT.label, "model_version"]
    valid = orders.iloc[3:]
    expected = model.score(valid[list(CONTRACT.feature_names)].to_numpy(dtype=np.float64))
    np.testing.assert_allclose(table.column(CONTRACT.label).to_numpy(), expected, atol=1e-9)
    assert table.column(CONTRACT.id_column).to_pylist() == valid[CONTRACT.id_column].tolist()
    assert expected.min() > 1.0  # minutes, not probabilities
    quarantine = pq.read_table(result.quarantine).to_pandas().set_index("row")
    reasons = {row: [r.split(" (")[0] for r in quarantine.loc[row, "reasons"]] for row in (0, 1, 2)}
    assert reasons == {
        0: ["items: out_of_range"],
        1: ["courier_rating: missing"],
        2: [f"{CONTRACT.id_column}: missing or not text"],
    }
