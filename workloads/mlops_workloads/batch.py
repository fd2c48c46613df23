"""Batch inference: score one day's partition of transactions with the champion model.

Reads ``<data-root>/date=YYYY-MM-DD/*.parquet`` (local path, ``s3://`` or ``gs://``) in bounded chunks and writes
``<output-root>/date=YYYY-MM-DD/part-0.parquet``. The rows and the file's metadata carry the resolved model version
(``@champion`` moves; a version number does not), and a re-run replaces the file instead of adding a second one.

    python -m mlops_workloads.batch --data-root s3://bucket/transactions [--date 2026-01-02]

S3-compatible stores are reached through ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` when set.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from mlops_workloads.features import ENTITY_KEY, EVENT_TIMESTAMP, FEATURE_NAMES, MODEL_NAME, TRANSACTION_ID
from mlops_workloads.registry import CHAMPION
from mlops_workloads.serving.model import DECISION_THRESHOLD, LoadedModel, ModelSource, frame_to_matrix

logger = logging.getLogger(__name__)

OUTPUT_FILE = "part-0.parquet"
DEFAULT_CHUNK_ROWS = 50_000
_ID_COLUMNS = (TRANSACTION_ID, ENTITY_KEY, EVENT_TIMESTAMP)


@dataclass(frozen=True)
class BatchResult:
    day: date
    rows: int
    output: str
    model_name: str
    model_version: str


def default_day(now: datetime | None = None) -> date:
    """Yesterday in UTC: the last complete day of transactions."""
    return ((now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=1)).date()


def parse_day(text: str, *, today: date | None = None) -> date:
    """Validate a ``--date`` value: ISO ``YYYY-MM-DD`` and not in the future."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--date {text!r} is not a date; use YYYY-MM-DD, e.g. 2026-01-02") from None
    if len(text) != 10:
        raise ValueError(f"--date {text!r} must be exactly YYYY-MM-DD, e.g. {day.isoformat()}")
    limit = today or datetime.now(UTC).date()
    if day > limit:
        raise ValueError(f"--date {text} is in the future (today is {limit} UTC); score a day that has data")
    return day


def resolve_location(uri: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the path inside it for a local path, ``s3://`` or ``gs://`` URI."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        options: dict[str, object] = {
            "region": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        }
        if endpoint:
            endpoint_url = urlparse(endpoint)
            options["endpoint_override"] = endpoint_url.netloc or endpoint_url.path
            options["scheme"] = endpoint_url.scheme or "https"
        return pafs.S3FileSystem(**options), f"{parsed.netloc}{parsed.path}".rstrip("/")
    if parsed.scheme in ("gs", "gcs"):
        return pafs.GcsFileSystem(), f"{parsed.netloc}{parsed.path}".rstrip("/")
    if parsed.scheme in ("", "file"):
        local = parsed.path if parsed.scheme == "file" else uri
        return pafs.LocalFileSystem(), os.path.abspath(local)
    raise ValueError(f"unsupported data location {uri!r}: use a local path, s3://bucket/prefix or gs://bucket/prefix")


def default_output_root(data_root: str) -> str:
    """``predictions`` next to the data root: s3://b/transactions -> s3://b/predictions."""
    trimmed = data_root.rstrip("/")
    parent, _, leaf = trimmed.rpartition("/")
    if not leaf or not parent or parent.endswith(":/"):
        raise ValueError(f"cannot derive an output location from {data_root!r}; pass --output-root")
    return f"{parent}/predictions"


def partition_files(data_root: str, day: date) -> tuple[pafs.FileSystem, list[str]]:
    """The filesystem and Parquet files of one day's partition; a clear FileNotFoundError when there are none."""
    fs, root = resolve_location(data_root)
    directory = f"{root}/date={day.isoformat()}"
    info = fs.get_file_info(directory)
    files: list[str] = []
    if info.type == pafs.FileType.Directory:
        selector = pafs.FileSelector(directory, recursive=False)
        files = sorted(f.path for f in fs.get_file_info(selector) if f.path.endswith(".parquet"))
    if not files:
        raise FileNotFoundError(
            f"no Parquet files for {day.isoformat()} at {data_root.rstrip('/')}/date={day.isoformat()}; "
            "check --data-root and --date (the ingestion job writes date=YYYY-MM-DD/ partitions)"
        )
    return fs, files


def _output_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field(TRANSACTION_ID, pa.string()),
            pa.field(ENTITY_KEY, pa.int64()),
            pa.field(EVENT_TIMESTAMP, pa.timestamp("us", tz="UTC")),
            pa.field("fraud_probability", pa.float64()),
            pa.field("is_fraud", pa.bool_()),
            pa.field("model_version", pa.string()),
        ]
    )


def _score_chunk(batch: pa.RecordBatch, model: LoadedModel, schema: pa.Schema) -> pa.Table:
    frame = batch.to_pandas()
    scores = model.predict_proba(frame_to_matrix(frame))
    return pa.Table.from_pydict(
        {
            TRANSACTION_ID: frame[TRANSACTION_ID].astype(str).tolist(),
            ENTITY_KEY: frame[ENTITY_KEY].astype("int64").to_numpy(),
            EVENT_TIMESTAMP: pa.array(frame[EVENT_TIMESTAMP]).cast(pa.timestamp("us", tz="UTC")),
            "fraud_probability": scores,
            "is_fraud": scores >= DECISION_THRESHOLD,
            "model_version": np.full(len(frame), model.version, dtype=object),
        },
        schema=schema,
    )


def score_partition(
    model: LoadedModel,
    data_root: str,
    output_root: str,
    day: date,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> BatchResult:
    """Score ``data_root/date=<day>`` with ``model``; write ``output_root/date=<day>/part-0.parquet``."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    in_fs, files = partition_files(data_root, day)
    out_fs, out_root = resolve_location(output_root)
    schema = _output_schema().with_metadata(
        {
            "model_name": model.name,
            "model_version": model.version,
            "model_run_id": model.run_id,
            "prediction_date": day.isoformat(),
            "source": f"{data_root.rstrip('/')}/date={day.isoformat()}",
        }
    )
    out_dir = f"{out_root}/date={day.isoformat()}"
    final = f"{out_dir}/{OUTPUT_FILE}"
    # Object stores publish an upload only when it completes; a local file needs write-then-rename for that.
    local = isinstance(out_fs, pafs.LocalFileSystem)
    if local:
        out_fs.create_dir(out_dir, recursive=True)  # object stores have no directories (no marker objects)
    target = f"{out_dir}/.{OUTPUT_FILE}.{uuid.uuid4().hex}.tmp" if local else final
    rows = 0
    try:
        with out_fs.open_output_stream(target) as sink, pq.ParquetWriter(sink, schema) as writer:
            for path in files:
                with in_fs.open_input_file(path) as handle:
                    parquet = pq.ParquetFile(handle)
                    missing = [c for c in (*_ID_COLUMNS, *FEATURE_NAMES) if c not in parquet.schema_arrow.names]
                    if missing:
                        raise KeyError(f"{path} lacks required columns {missing}")
                    for batch in parquet.iter_batches(batch_size=chunk_rows, columns=[*_ID_COLUMNS, *FEATURE_NAMES]):
                        writer.write_table(_score_chunk(batch, model, schema))
                        rows += batch.num_rows
            if rows == 0:
                writer.write_table(schema.empty_table())
        if local:
            out_fs.move(target, final)
    except BaseException:
        if local and out_fs.get_file_info(target).type != pafs.FileType.NotFound:
            out_fs.delete_file(target)
        raise
    output = f"{output_root.rstrip('/')}/date={day.isoformat()}/{OUTPUT_FILE}"
    logger.info("scored %d rows of %s with %s v%s into %s", rows, day, model.name, model.version, output)
    return BatchResult(day, rows, output, model.name, model.version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_workloads.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-root", required=True, help="where date=YYYY-MM-DD/ partitions live (path, s3://, gs://)"
    )
    parser.add_argument("--output-root", help="where predictions go (default: 'predictions' next to the data root)")
    parser.add_argument("--date", help="day to score, YYYY-MM-DD (default: yesterday, UTC)")
    parser.add_argument("--model-name", default=MODEL_NAME)
    parser.add_argument("--alias", default=CHAMPION, help="registry alias to score with (default: champion)")
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"), help="MLflow tracking URI")
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS, help="rows scored per chunk")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        day = parse_day(args.date) if args.date else default_day()
    except ValueError as exc:
        parser.error(str(exc))
    if not args.tracking_uri:
        parser.error("no MLflow tracking URI: pass --tracking-uri or set MLFLOW_TRACKING_URI")
    if args.chunk_rows < 1:
        parser.error(f"--chunk-rows must be at least 1, got {args.chunk_rows}")
    try:
        output_root = args.output_root or default_output_root(args.data_root)
        partition_files(args.data_root, day)  # fail on a missing partition before loading a model
        model = ModelSource(args.tracking_uri).load_alias(args.model_name, args.alias)
        result = score_partition(model, args.data_root, output_root, day, chunk_rows=args.chunk_rows)
    except (FileNotFoundError, KeyError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"scored {result.rows} rows for {result.day} with {result.model_name} v{result.model_version}: {result.output}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
