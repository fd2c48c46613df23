"""Batch inference: score one day's partition with the champion model of any registered model.

Reads ``<data-root>/date=YYYY-MM-DD/*.parquet`` (local path, ``s3://`` or ``gs://``) in bounded chunks, checks
every row against the model version's contract (its features, id, entity and timestamp columns, read from MLflow
with the version), scores the valid rows into ``<output-root>/date=YYYY-MM-DD/part-0.parquet`` (a classifier's
probability and decision, a regressor's value) and writes the rejected rows, each with its reasons, to
``<output-root>/_quarantine/date=YYYY-MM-DD/part-0.parquet``
(a hidden name: datasets reading ``<output-root>`` skip it, and it stays under the job's granted prefix). The rows and
the file's metadata carry the resolved model version (``@champion`` moves; a version number does not), and a re-run
replaces both files instead of adding a second one. The run fails, publishing only the quarantine, when more than
``--max-rejected-share`` of the rows break the contract. Counts go to stdout and to Prometheus (textfile and
Pushgateway).

    python -m mlops_workloads.batch --data-root s3://bucket/transactions [--date 2026-01-02]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api import types as ptypes
from prometheus_client.core import GaugeMetricFamily, Metric

from mlops_workloads import storage
from mlops_workloads.contract import ModelContract
from mlops_workloads.features import MODEL_NAME
from mlops_workloads.registry import CHAMPION
from mlops_workloads.serving.model import DECISION_THRESHOLD, LoadedModel, ModelSource
from mlops_workloads.serving.schemas import probability_field
from mlops_workloads.validation import check_features

logger = logging.getLogger(__name__)

OUTPUT_FILE = "part-0.parquet"
QUARANTINE_DIR = "_quarantine"
DEFAULT_CHUNK_ROWS = 50_000
DEFAULT_MAX_REJECTED_SHARE = 0.05
PUSHGATEWAY_JOB = "batch_inference"
_INT64_MAX = float(np.iinfo(np.int64).max)

# Prometheus metrics of the job (textfile and Pushgateway, like the monitoring job's).
BATCH_ROWS = "model_batch_rows"  # {model_name, model_version, outcome}: scored / rejected rows of the last run
BATCH_REJECTED_VALUES = "model_batch_rejected_values"  # {model_name, column, problem}
BATCH_LAST_SUCCESS = "model_batch_last_success_timestamp_seconds"  # {model_name}
BATCH_RUN_FAILED = "model_batch_run_failed"  # {model_name}


class RejectedShareError(RuntimeError):
    """More rows broke the contract than ``--max-rejected-share`` allows: nothing was published but the quarantine."""

    def __init__(self, result: BatchResult, limit: float) -> None:
        self.result = result
        top = ", ".join(f"{reason} ({count})" for reason, count in result.rejected_reasons.most_common(3))
        super().__init__(
            f"{result.rejected} of {result.rows} rows ({result.rejected_share:.1%}) break the feature contract, above "
            f"--max-rejected-share {limit:g}: {top}; predictions were not published, the rejected rows are in "
            f"{result.quarantine}"
        )


@dataclass(frozen=True)
class BatchResult:
    day: date
    rows: int  # rows read
    scored: int
    rejected: int
    output: str | None  # None when the run was refused
    quarantine: str | None  # None when no row was rejected
    model_name: str
    model_version: str
    rejected_reasons: Counter[str] = field(default_factory=Counter)  # "column: problem" -> rows
    rejected_values: Counter[tuple[str, str]] = field(default_factory=Counter)  # (column, problem) -> values

    @property
    def rejected_share(self) -> float:
        return self.rejected / self.rows if self.rows else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "rows": self.rows,
            "scored": self.scored,
            "rejected": self.rejected,
            "rejected_share": round(self.rejected_share, 6),
            "rejected_reasons": dict(self.rejected_reasons.most_common()),
            "output": self.output,
            "quarantine": self.quarantine,
            "model_name": self.model_name,
            "model_version": self.model_version,
        }


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


def default_output_root(data_root: str) -> str:
    """``predictions`` next to the data root: s3://b/transactions -> s3://b/predictions."""
    trimmed = data_root.rstrip("/")
    parent, _, leaf = trimmed.rpartition("/")
    if not leaf or not parent or parent.endswith(":/"):
        raise ValueError(f"cannot derive an output location from {data_root!r}; pass --output-root")
    return f"{parent}/predictions"


def partition_files(data_root: str, day: date) -> list[str]:
    """The URIs of one day's Parquet files; a clear FileNotFoundError when there are none."""
    directory = storage.join(data_root, f"date={day.isoformat()}")
    try:
        location, paths = storage.list_files(directory, (".parquet",))
    except FileNotFoundError:
        paths = []
    if not paths:
        raise FileNotFoundError(
            f"no Parquet files for {day.isoformat()} at {directory}; "
            "check --data-root and --date (the ingestion job writes date=YYYY-MM-DD/ partitions)"
        )
    return [location.uri_of(path) for path in paths]


def _key_columns(contract: ModelContract) -> list[str]:
    """The identifier columns every input file carries and every output row echoes: id, entity, timestamp."""
    return [c for c in (contract.id_column, contract.entity_column, contract.timestamp_column) if c]


def _output_schema(contract: ModelContract) -> pa.Schema:
    """Identifiers, then what the model answers: a classifier's probability and decision, a regressor's value."""
    fields = [pa.field(contract.id_column, pa.string(), nullable=False)]
    if contract.entity_column:
        fields.append(pa.field(contract.entity_column, pa.int64(), nullable=False))
    if contract.timestamp_column:
        fields.append(pa.field(contract.timestamp_column, pa.timestamp("us", tz="UTC"), nullable=False))
    if contract.task == "classification":
        fields.append(pa.field(probability_field(contract), pa.float64(), nullable=False))
        fields.append(pa.field(contract.label, pa.bool_(), nullable=False))
    else:
        fields.append(pa.field(contract.label, pa.float64(), nullable=False))
    return pa.schema([*fields, pa.field("model_version", pa.string(), nullable=False)])


def _quarantine_schema(contract: ModelContract) -> pa.Schema:
    return pa.schema(
        [
            pa.field("source", pa.string(), nullable=False),
            pa.field("row", pa.int64(), nullable=False),  # row number within the source file
            pa.field(contract.id_column, pa.string()),
            pa.field("reasons", pa.list_(pa.string()), nullable=False),  # "column: problem (value)"
            pa.field("record", pa.string(), nullable=False),  # the row as read, JSON
        ]
    )


def _key_problems(frame: pd.DataFrame, contract: ModelContract) -> dict[str, np.ndarray]:
    """Rows whose identifiers cannot be written: null or non-text id, entity key that is not a non-negative int64,
    timestamp that is not a timestamp."""
    ids = frame[contract.id_column]
    text = ids.map(lambda v: isinstance(v, str) and v != "").to_numpy(dtype=bool)
    problems = {f"{contract.id_column}: missing or not text": ~text}
    if contract.entity_column:
        keys = frame[contract.entity_column]
        if ptypes.is_integer_dtype(keys) or ptypes.is_float_dtype(keys):
            numbers = keys.to_numpy(dtype=np.float64, na_value=np.nan)
            valid_key = np.isfinite(numbers) & (numbers >= 0) & (numbers <= _INT64_MAX) & (np.mod(numbers, 1) == 0)
        else:
            valid_key = np.zeros(len(frame), dtype=bool)
        problems[f"{contract.entity_column}: missing or not a non-negative 64-bit integer"] = ~valid_key
    if contract.timestamp_column:
        stamps = frame[contract.timestamp_column]
        valid_time = ~stamps.isna().to_numpy(dtype=bool) if ptypes.is_datetime64_any_dtype(stamps) else None
        if valid_time is None:
            valid_time = np.zeros(len(frame), dtype=bool)
        problems[f"{contract.timestamp_column}: missing or not a timestamp"] = ~valid_time
    return problems


@dataclass
class _Chunk:
    scored: pa.Table | None
    quarantined: pa.Table | None
    reasons: Counter[str]
    values: Counter[tuple[str, str]]  # (column, problem) -> values


def _score_chunk(frame: pd.DataFrame, source: str, offset: int, model: LoadedModel, schema: pa.Schema) -> _Chunk:
    contract = model.contract
    checked, findings = check_features(frame, features=contract.features)
    row_reasons: list[list[str]] = [[] for _ in range(len(frame))]
    for reason, mask in _key_problems(frame, contract).items():
        for i in np.flatnonzero(mask):
            row_reasons[i].append(reason)
    for name, result in checked.items():
        raw = frame[name].to_numpy(dtype=object)
        for problem, mask in result.problems.items():
            for i in np.flatnonzero(mask):
                value = raw[i]
                shown = (
                    "null" if problem == "missing" else repr(value.item() if isinstance(value, np.generic) else value)
                )
                row_reasons[i].append(f"{name}: {problem} ({shown[:40]})")
    rejected = np.fromiter((bool(r) for r in row_reasons), dtype=bool, count=len(frame))
    valid = ~rejected
    scored = None
    if valid.any():
        matrix = np.column_stack([checked[name].values[valid] for name in contract.feature_names])
        scores = model.score(matrix)
        good = frame.loc[valid]
        columns: dict[str, Any] = {contract.id_column: good[contract.id_column].tolist()}
        if contract.entity_column:
            columns[contract.entity_column] = good[contract.entity_column].to_numpy(dtype=np.float64).astype(np.int64)
        if contract.timestamp_column:
            # Microseconds are the Parquet timestamp every reader takes; a producer's nanoseconds are truncated.
            stamps = pa.array(good[contract.timestamp_column]).cast(pa.timestamp("us", tz="UTC"), safe=False)
            columns[contract.timestamp_column] = stamps
        if contract.task == "classification":
            columns[probability_field(contract)] = scores
            columns[contract.label] = scores >= DECISION_THRESHOLD
        else:
            columns[contract.label] = scores
        columns["model_version"] = np.full(len(good), model.version, dtype=object)
        scored = pa.Table.from_pydict(columns, schema=schema)
    quarantined = None
    if rejected.any():
        rows = np.flatnonzero(rejected)
        records = frame.iloc[rows].to_dict(orient="records")
        ids = frame[contract.id_column].to_numpy(dtype=object)[rows]
        quarantined = pa.Table.from_pydict(
            {
                "source": [source] * len(rows),
                "row": (rows + offset).astype(np.int64),
                contract.id_column: [v if isinstance(v, str) else None for v in ids],
                "reasons": [row_reasons[i] for i in rows],
                "record": [json.dumps(r, default=str, ensure_ascii=True) for r in records],
            },
            schema=_quarantine_schema(contract),
        )
    reasons = Counter(reason.split(" (")[0] for i in np.flatnonzero(rejected) for reason in row_reasons[i])
    values: Counter[tuple[str, str]] = Counter({(f.column, f.problem): f.count for f in findings})
    return _Chunk(scored, quarantined, reasons, values)


def _read(source: str, columns: list[str]) -> tuple[pq.ParquetFile, Any]:
    location = storage.resolve(source)
    handle = location.filesystem.open_input_file(location.path)
    parquet = pq.ParquetFile(handle)
    missing = [c for c in columns if c not in parquet.schema_arrow.names]
    if missing:
        handle.close()
        raise KeyError(f"{source} lacks required columns {missing}; every file needs {columns}")
    return parquet, handle


def score_partition(
    model: LoadedModel,
    data_root: str,
    output_root: str,
    day: date,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    max_rejected_share: float = DEFAULT_MAX_REJECTED_SHARE,
    quarantine_root: str | None = None,
) -> BatchResult:
    """Score ``data_root/date=<day>`` with ``model`` into ``output_root/date=<day>/part-0.parquet``; rejected rows go
    to ``<quarantine_root>/date=<day>/part-0.parquet`` (default ``output_root/_quarantine``).

    Both files are written locally first and published when complete, so a reader never sees half a day and a
    refused run (:class:`RejectedShareError`) leaves the day's previous predictions in place.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    if not 0.0 <= max_rejected_share <= 1.0:
        raise ValueError(f"max_rejected_share must be within [0, 1], got {max_rejected_share}")
    files = partition_files(data_root, day)
    partition = f"date={day.isoformat()}"
    output = storage.join(output_root, partition, OUTPUT_FILE)
    quarantine = storage.join(quarantine_root or storage.join(output_root, QUARANTINE_DIR), partition, OUTPUT_FILE)
    with tempfile.TemporaryDirectory(prefix="batch-") as tmp:
        local_output, local_quarantine = Path(tmp) / "predictions.parquet", Path(tmp) / "quarantine.parquet"
        tally = _score_files(model, files, day, storage.join(data_root, partition), chunk_rows,
                             local_output, local_quarantine)  # fmt: skip
        published_quarantine = storage.upload(str(local_quarantine), quarantine) if tally.rejected else None
        if not tally.rejected:
            storage.delete(quarantine)  # a re-run replaces the day: no stale quarantine of an earlier run
        refused = tally.result(day, model, None, published_quarantine)
        if refused.rejected_share > max_rejected_share:
            raise RejectedShareError(refused, max_rejected_share)
        storage.upload(str(local_output), output)
    logger.info(
        "scored %d rows of %s with %s v%s into %s; rejected %d",
        tally.scored,
        day,
        model.name,
        model.version,
        output,
        tally.rejected,
    )
    return tally.result(day, model, output, published_quarantine)


@dataclass
class _Tally:
    """What the chunks of one day added up to."""

    rows: int = 0
    scored: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    values: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, rows: int, chunk: _Chunk) -> None:
        self.rows += rows
        self.scored += chunk.scored.num_rows if chunk.scored is not None else 0
        self.rejected += chunk.quarantined.num_rows if chunk.quarantined is not None else 0
        self.reasons.update(chunk.reasons)
        self.values.update(chunk.values)

    def result(self, day: date, model: LoadedModel, output: str | None, quarantine: str | None) -> BatchResult:
        return BatchResult(day, self.rows, self.scored, self.rejected, output, quarantine, model.name, model.version,
                           self.reasons, self.values)  # fmt: skip


def _score_files(
    model: LoadedModel,
    files: list[str],
    day: date,
    source: str,
    chunk_rows: int,
    predictions: Path,
    quarantined: Path,
) -> _Tally:
    """Score ``files`` chunk by chunk into two local Parquet files: the predictions and the rejected rows, each
    carrying the day, the source and (predictions) the model version in its metadata."""
    columns = [*_key_columns(model.contract), *model.contract.feature_names]
    partition = {"prediction_date": day.isoformat(), "source": source}
    schema = _output_schema(model.contract).with_metadata(
        {"model_name": model.name, "model_version": model.version, "model_run_id": model.run_id, **partition}
    )
    tally = _Tally()
    with (
        pq.ParquetWriter(predictions, schema) as writer,
        pq.ParquetWriter(quarantined, _quarantine_schema(model.contract).with_metadata(partition)) as quarantine,
    ):
        for path in files:
            parquet, handle = _read(path, columns)
            with handle:
                offset = 0  # the row numbers a quarantined row reports are its file's
                for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
                    chunk = _score_chunk(batch.to_pandas(), path, offset, model, schema)
                    offset += batch.num_rows
                    tally.add(batch.num_rows, chunk)
                    if chunk.scored is not None:
                        writer.write_table(chunk.scored)
                    if chunk.quarantined is not None:
                        quarantine.write_table(chunk.quarantined)
        if tally.scored == 0:
            writer.write_table(schema.empty_table())
    return tally


def metric_families(result: BatchResult | None, model_name: str, *, now: float, failed: bool) -> list[Metric]:
    """The job's metrics: rows scored and rejected (by column and problem), last success, failure flag."""
    families: list[Metric] = []
    if result is not None:
        rows = GaugeMetricFamily(
            BATCH_ROWS, "Rows of the last batch run", labels=["model_name", "model_version", "outcome"]
        )
        rows.add_metric([model_name, result.model_version, "scored"], float(result.scored))
        rows.add_metric([model_name, result.model_version, "rejected"], float(result.rejected))
        values = GaugeMetricFamily(
            BATCH_REJECTED_VALUES,
            "Values breaking the feature contract in the last run",
            labels=["model_name", "column", "problem"],
        )
        for (column, problem), count in sorted(result.rejected_values.items()):
            values.add_metric([model_name, column, problem], float(count))
        families += [rows, values]
    failed_g = GaugeMetricFamily(BATCH_RUN_FAILED, "1 when the last batch run failed", labels=["model_name"])
    failed_g.add_metric([model_name], float(failed))
    families.append(failed_g)
    if not failed:
        success = GaugeMetricFamily(
            BATCH_LAST_SUCCESS, "Unix time of the last successful batch run", labels=["model_name"]
        )
        success.add_metric([model_name], now)
        families.append(success)
    return families


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_workloads.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-root", required=True, help="where date=YYYY-MM-DD/ partitions live (path, s3://, gs://)"
    )
    parser.add_argument("--output-root", help="where predictions go (default: 'predictions' next to the data root)")
    parser.add_argument("--quarantine-root", help="where rejected rows go (default: <output-root>/_quarantine)")
    parser.add_argument("--date", help="day to score, YYYY-MM-DD (default: yesterday, UTC)")
    parser.add_argument("--model-name", default=MODEL_NAME)
    parser.add_argument("--alias", default=CHAMPION, help="registry alias to score with (default: champion)")
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"), help="MLflow tracking URI")
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS, help="rows scored per chunk")
    parser.add_argument(
        "--max-rejected-share", type=float, default=DEFAULT_MAX_REJECTED_SHARE,
        help="fail the run when more than this share of rows breaks the contract (default 0.05)",
    )  # fmt: skip
    parser.add_argument("--metrics-file", help="textfile-collector .prom path (default: in the temp directory)")
    parser.add_argument("--pushgateway", default=os.environ.get("PUSHGATEWAY_URL"), help="e.g. http://pushgateway:9091")
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
    if not 0.0 <= args.max_rejected_share <= 1.0:
        parser.error(f"--max-rejected-share must be within [0, 1], got {args.max_rejected_share}")
    metrics_file = args.metrics_file or str(Path(tempfile.gettempdir()) / f"{PUSHGATEWAY_JOB}.prom")

    def export(result: BatchResult | None, failed: bool) -> None:
        from mlops_workloads.monitoring.metrics import export as export_metrics

        families = metric_families(result, args.model_name, now=time.time(), failed=failed)
        export_metrics(families, textfile=metrics_file, model_name=args.model_name, pushgateway=args.pushgateway,
                       replace=not failed, job=PUSHGATEWAY_JOB)  # fmt: skip

    try:
        output_root = args.output_root or default_output_root(args.data_root)
        partition_files(args.data_root, day)  # fail on a missing partition before loading a model
        model = ModelSource(args.tracking_uri).load_alias(args.model_name, args.alias)
        result = score_partition(
            model, args.data_root, output_root, day, chunk_rows=args.chunk_rows,
            max_rejected_share=args.max_rejected_share, quarantine_root=args.quarantine_root,
        )  # fmt: skip
    except RejectedShareError as exc:
        export(exc.result, failed=True)
        print(json.dumps(exc.result.summary()))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (FileNotFoundError, KeyError, ValueError, RuntimeError, OSError) as exc:
        export(None, failed=True)
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    export(result, failed=False)
    print(json.dumps(result.summary()))
    print(
        f"scored {result.scored} rows for {result.day} with {result.model_name} v{result.model_version}: "
        f"{result.output}; rejected {result.rejected}" + (f" -> {result.quarantine}" if result.quarantine else ""),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
