"""Batch inference: a day's partition scored by the champion, on S3 (moto server) and on a local path."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pyarrow.parquet as pq
import pytest
from mlops_workloads.batch import OUTPUT_FILE, default_day, main, parse_day, resolve_location, score_partition
from mlops_workloads.data import generate_transactions, write_partitions
from mlops_workloads.features import FEATURE_NAMES, TRANSACTION_ID
from mlops_workloads.serving.model import ModelSource
from moto.server import ThreadedMotoServer

DAY = date(2026, 1, 2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    yield endpoint
    server.stop()


@pytest.fixture
def transactions(tmp_path: Path) -> Any:
    frame = generate_transactions(1_500, seed=11, start="2026-01-01", days=3)
    write_partitions(frame, tmp_path / "transactions")
    return frame


def _champion(serving_registry: Any) -> Any:
    return ModelSource(serving_registry.tracking_uri).load_alias(serving_registry.model_name, "champion")


def test_scores_an_s3_partition_in_chunks_and_rerun_is_idempotent(
    s3_endpoint: str, transactions: Any, tmp_path: Path, serving_registry: Any
) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="lake")
    for path in (tmp_path / "transactions").rglob("*.parquet"):
        s3.upload_file(str(path), "lake", f"transactions/{path.relative_to(tmp_path / 'transactions').as_posix()}")
    model = _champion(serving_registry)

    first = score_partition(model, "s3://lake/transactions", "s3://lake/predictions", DAY, chunk_rows=100)
    second = score_partition(model, "s3://lake/transactions", "s3://lake/predictions", DAY, chunk_rows=100)

    day_rows = transactions[transactions["event_timestamp"].dt.date == DAY]
    assert first.rows == second.rows == len(day_rows)
    assert first.output == f"s3://lake/predictions/date={DAY}/{OUTPUT_FILE}"
    listed = s3.list_objects_v2(Bucket="lake", Prefix="predictions/")["Contents"]
    assert [o["Key"] for o in listed] == [f"predictions/date={DAY}/{OUTPUT_FILE}"]
    fs, path = resolve_location(first.output)
    with fs.open_input_file(path) as handle:
        table = pq.read_table(handle)
    assert table.schema.metadata[b"model_version"] == serving_registry.versions["good"].encode()
    assert table.schema.metadata[b"model_name"] == serving_registry.model_name.encode()
    assert set(table.column("model_version").to_pylist()) == {serving_registry.versions["good"]}
    scored = table.to_pandas().set_index(TRANSACTION_ID).loc[day_rows[TRANSACTION_ID]]
    expected = model.predict_proba(day_rows[list(FEATURE_NAMES)].to_numpy(dtype=np.float64))
    np.testing.assert_allclose(scored["fraud_probability"].to_numpy(), expected, atol=1e-12)
    assert (scored["is_fraud"].to_numpy() == (expected >= 0.5)).all()


def test_cli_scores_a_local_partition_with_the_resolved_version(
    transactions: Any, tmp_path: Path, serving_registry: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data_root = tmp_path / "transactions"
    argv = ["--data-root", str(data_root), "--date", DAY.isoformat(), "--tracking-uri", serving_registry.tracking_uri]

    assert main(argv) == 0
    assert main(argv) == 0  # re-run replaces the file

    out_dir = tmp_path / "predictions" / f"date={DAY}"
    assert sorted(p.name for p in out_dir.iterdir()) == [OUTPUT_FILE]  # no temporary files left behind
    table = pq.read_table(out_dir / OUTPUT_FILE)
    assert table.num_rows == int((transactions["event_timestamp"].dt.date == DAY).sum())
    assert f"v{serving_registry.versions['good']}" in capsys.readouterr().out


def test_cli_reports_a_missing_partition(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "transactions").mkdir()

    code = main(["--data-root", str(tmp_path / "transactions"), "--date", "2026-01-09", "--tracking-uri", "sqlite://"])

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
