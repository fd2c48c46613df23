"""Windows, reports and cooldown state on S3 (moto) and GCS (gcp-storage-emulator): one filesystem layer, the same
behaviour as on disk. Objects are seeded and inspected with each cloud's own client library."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from mlops_workloads import storage as fs_layer
from mlops_workloads.data import generate_transactions, read_transactions
from mlops_workloads.features import FEATURE_NAMES
from mlops_workloads.monitoring import storage
from mlops_workloads.monitoring.retrain import CooldownState


def _parquet(rows: int, seed: int) -> bytes:
    buffer = io.BytesIO()
    generate_transactions(rows, seed=seed).to_parquet(buffer)
    return buffer.getvalue()


def test_window_streams_from_a_bucket_prefix(object_store) -> None:  # type: ignore[no-untyped-def]
    for day, seed in (("2026-01-01", 1), ("2026-01-02", 2)):
        object_store.put(f"windows/date={day}/part-0.parquet", _parquet(70, seed))
    object_store.put("windows/_SUCCESS", b"")
    object_store.put("windows/_quarantine/date=2026-01-01/part-0.parquet", _parquet(5, 3))  # hidden: not the window
    chunks = list(storage.iter_window_chunks(object_store.uri("windows/"), chunk_rows=50, columns=list(FEATURE_NAMES)))
    assert [len(c.frame) for c in chunks] == [50, 20, 50, 20]
    assert list(chunks[0].frame.columns) == list(FEATURE_NAMES)
    assert chunks[0].source == object_store.uri("windows/date=2026-01-01/part-0.parquet")


def test_empty_prefix_and_absent_window_are_named(object_store) -> None:  # type: ignore[no-untyped-def]
    object_store.put("nothing/readme.txt", b"not data")
    with pytest.raises(storage.WindowError, match=r"holds no .parquet or .csv files"):
        list(storage.iter_window(object_store.uri("nothing/")))
    with pytest.raises(storage.WindowError, match=r"does not exist"):
        list(storage.iter_window(object_store.uri("absent/")))


def test_report_and_cooldown_state_round_trip(object_store) -> None:  # type: ignore[no-untyped-def]
    uri = storage.join(object_store.uri("reports"), "20260101T000000Z", "drift_report.html")
    assert uri == object_store.uri("reports/20260101T000000Z/drift_report.html")
    storage.write_bytes(uri, b"<html></html>", "text/html")
    assert object_store.get("reports/20260101T000000Z/drift_report.html") == b"<html></html>"
    assert storage.read_text(uri) == "<html></html>"
    assert storage.read_text(object_store.uri("reports/absent.json")) is None

    state = CooldownState(object_store.uri("state/retraining_state.json"), hours=1)
    assert state.cooldown_until("fraud") is None
    state.record_trigger("fraud", datetime(2026, 1, 1, tzinfo=UTC))
    assert state.cooldown_until("fraud") == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert state.triggered_total("fraud") == 1
    assert b'"triggered_total": 1' in object_store.get("state/retraining_state.json")


def test_the_pipeline_reads_transactions_from_the_bucket(object_store) -> None:  # type: ignore[no-untyped-def]
    object_store.put("transactions/date=2026-01-01/part-0.parquet", _parquet(40, 1))
    object_store.put("transactions/date=2026-01-02/part-0.parquet", _parquet(30, 2))
    frame = read_transactions(object_store.uri("transactions"))
    assert len(frame) == 70
    assert "date" not in frame.columns
    assert frame["event_timestamp"].is_monotonic_increasing


def test_unsupported_and_bucketless_locations_say_what_to_use() -> None:
    with pytest.raises(ValueError, match=r"unsupported location 'hdfs://x/y': use a local path, s3://bucket"):
        fs_layer.resolve("hdfs://x/y")
    with pytest.raises(ValueError, match=r"has no bucket: use gs://bucket/prefix"):
        fs_layer.resolve("gs:///prefix")
