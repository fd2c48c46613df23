"""Where windows come from and results go: local paths or ``s3://bucket/key`` URIs (boto3, which honours
``AWS_ENDPOINT_URL`` for MinIO/moto and the pod's web identity — no static keys)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

DEFAULT_CHUNK_ROWS = 262_144


class WindowError(ValueError):
    """The current window cannot be read (missing, unreadable or empty)."""


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"bad S3 URI {uri!r}: expected s3://bucket/key")
    return bucket, key


def _s3_client() -> Any:
    import boto3

    return boto3.client("s3")


def write_bytes(uri: str, data: bytes, content_type: str = "application/octet-stream") -> str:
    """Write ``data`` to a local path or an S3 URI; returns the URI written."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        _s3_client().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        return uri
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def read_text(uri: str) -> str | None:
    """The text at a local path or S3 URI, or None when it does not exist."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        client = _s3_client()
        try:
            return str(client.get_object(Bucket=bucket, Key=key)["Body"].read().decode())
        except client.exceptions.NoSuchKey:
            return None
    path = Path(uri)
    return path.read_text() if path.is_file() else None


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts]) if is_s3(base) else str(Path(base).joinpath(*parts))


def _local_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in {".parquet", ".csv"})
    raise WindowError(f"current window {str(path)!r} does not exist; pass a Parquet/CSV file or a directory of them")


def _iter_file(path: Path, chunk_rows: int, columns: list[str] | None) -> Iterator[pd.DataFrame]:
    try:
        if path.suffix == ".csv":
            yield from pd.read_csv(path, chunksize=chunk_rows, usecols=lambda c: columns is None or c in columns)
            return
        parquet = pq.ParquetFile(path)
        present = [c for c in columns if c in parquet.schema_arrow.names] if columns is not None else None
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=present):
            yield batch.to_pandas()
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        if isinstance(exc, WindowError):
            raise
        raise WindowError(f"cannot read {str(path)!r} as {path.suffix[1:] or 'parquet'}: {exc}") from exc


def iter_window(
    uri: str, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, columns: list[str] | None = None
) -> Iterator[pd.DataFrame]:
    """Stream a window as DataFrame chunks of at most ``chunk_rows`` rows.

    ``uri`` is a Parquet or CSV file, a directory of them (e.g. ``date=…`` partitions) or an S3 prefix; S3 objects
    are downloaded one at a time to a temporary file so memory stays bounded by the chunk size. Only ``columns``
    (those present) are read when given.
    """
    if not is_s3(uri):
        files = _local_files(Path(uri))
        if not files:
            raise WindowError(f"current window {uri!r} holds no .parquet or .csv files")
        for path in files:
            yield from _iter_file(path, chunk_rows, columns)
        return
    bucket, prefix = split_s3(uri)
    client = _s3_client()
    keys = [
        obj["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
        if obj["Key"].endswith((".parquet", ".csv"))
    ]
    if not keys:
        raise WindowError(f"current window {uri!r} holds no .parquet or .csv objects")
    with tempfile.TemporaryDirectory(prefix="monitoring-window-") as tmp:
        for key in sorted(keys):
            local = Path(tmp) / Path(key).name
            client.download_file(bucket, key, str(local))
            yield from _iter_file(local, chunk_rows, columns)
            local.unlink()
