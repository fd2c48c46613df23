"""Windows, reports and cooldown state on S3 (a local moto server): the job's storage works as on disk."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from mlops_workloads.data import generate_transactions
from mlops_workloads.features import FEATURE_NAMES
from mlops_workloads.monitoring import storage
from mlops_workloads.monitoring.retrain import CooldownState
from moto.server import ThreadedMotoServer


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A bucket on a moto S3 server at 127.0.0.1, reached through AWS_ENDPOINT_URL as MinIO would be."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    import boto3

    boto3.client("s3").create_bucket(Bucket="monitoring")
    yield "monitoring"
    server.stop()


def test_window_streams_from_an_s3_prefix(bucket: str) -> None:
    import boto3

    client = boto3.client("s3")
    for day, seed in (("2026-01-01", 1), ("2026-01-02", 2)):
        buffer = io.BytesIO()
        generate_transactions(70, seed=seed).to_parquet(buffer)
        client.put_object(Bucket=bucket, Key=f"windows/date={day}/part-0.parquet", Body=buffer.getvalue())
    client.put_object(Bucket=bucket, Key="windows/_SUCCESS", Body=b"")
    chunks = list(storage.iter_window(f"s3://{bucket}/windows/", chunk_rows=50, columns=list(FEATURE_NAMES)))
    assert [len(c) for c in chunks] == [50, 20, 50, 20]
    assert list(chunks[0].columns) == list(FEATURE_NAMES)


def test_empty_s3_prefix_is_named(bucket: str) -> None:
    with pytest.raises(storage.WindowError, match=r"'s3://monitoring/nothing/' holds no .parquet or .csv objects"):
        list(storage.iter_window(f"s3://{bucket}/nothing/"))


def test_report_and_cooldown_state_round_trip_on_s3(bucket: str) -> None:
    uri = storage.join(f"s3://{bucket}/reports", "20260101T000000Z", "drift_report.html")
    assert uri == "s3://monitoring/reports/20260101T000000Z/drift_report.html"
    storage.write_bytes(uri, b"<html></html>", "text/html")
    assert storage.read_text(uri) == "<html></html>"
    assert storage.read_text(f"s3://{bucket}/reports/absent.json") is None

    state = CooldownState(f"s3://{bucket}/state/retraining_state.json", hours=1)
    assert state.cooldown_until("fraud") is None
    state.record_trigger("fraud", datetime(2026, 1, 1, tzinfo=UTC))
    assert state.cooldown_until("fraud") == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert state.triggered_total("fraud") == 1
