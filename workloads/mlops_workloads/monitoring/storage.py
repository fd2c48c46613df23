"""Where windows come from: a Parquet/CSV file or a directory/prefix of them, local, ``s3://`` or ``gs://``.

Reports, summaries and the cooldown state go through the same layer (:mod:`mlops_workloads.storage`); this module
adds the streaming reader of a window, which never holds more than one chunk in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import pandas as pd
import pyarrow.parquet as pq

from mlops_workloads.storage import join, read_text, resolve, write_bytes
from mlops_workloads.storage import list_files as _list_files

DEFAULT_CHUNK_ROWS = 262_144
WINDOW_SUFFIXES = (".parquet", ".csv")

__all__ = ["DEFAULT_CHUNK_ROWS", "WindowChunk", "WindowError", "iter_window", "iter_window_chunks", "join",
           "read_text", "write_bytes"]  # fmt: skip


class WindowError(ValueError):
    """The current window cannot be read (missing, unreadable or empty)."""


class WindowChunk(NamedTuple):
    source: str  # the URI of the file the rows come from: named in every data-quality finding
    frame: pd.DataFrame


def window_files(uri: str) -> list[str]:
    """The URIs of the window's Parquet/CSV files, or a :class:`WindowError` naming the location."""
    try:
        location, paths = _list_files(uri, WINDOW_SUFFIXES)
    except FileNotFoundError:
        raise WindowError(
            f"current window {uri!r} does not exist; pass a Parquet/CSV file or a directory of them"
        ) from None
    except OSError as exc:
        raise WindowError(f"cannot list the current window {uri!r}: {exc}") from exc
    if not paths:
        raise WindowError(f"current window {uri!r} holds no .parquet or .csv files")
    return [location.uri_of(path) for path in paths]


def _iter_file(uri: str, chunk_rows: int, columns: list[str] | None) -> Iterator[pd.DataFrame]:
    location = resolve(uri)
    kind = "csv" if uri.endswith(".csv") else "parquet"
    try:
        if kind == "csv":
            with location.filesystem.open_input_stream(location.path) as stream:
                yield from pd.read_csv(stream, chunksize=chunk_rows, usecols=lambda c: columns is None or c in columns)
            return
        with location.filesystem.open_input_file(location.path) as handle:
            parquet = pq.ParquetFile(handle)
            present = [c for c in columns if c in parquet.schema_arrow.names] if columns is not None else None
            for batch in parquet.iter_batches(batch_size=chunk_rows, columns=present):
                yield batch.to_pandas()
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        if isinstance(exc, WindowError):
            raise
        raise WindowError(f"cannot read {uri!r} as {kind}: {exc}") from exc


def iter_window_chunks(
    uri: str, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, columns: list[str] | None = None
) -> Iterator[WindowChunk]:
    """Stream a window as chunks of at most ``chunk_rows`` rows, each with the URI of its file.

    Only ``columns`` (those present) are read when given; hidden files and directories (``_…``, ``.…``) are
    skipped, as Arrow datasets skip them.
    """
    for file in window_files(uri):
        for frame in _iter_file(file, chunk_rows, columns):
            yield WindowChunk(file, frame)


def iter_window(
    uri: str, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, columns: list[str] | None = None
) -> Iterator[pd.DataFrame]:
    """:func:`iter_window_chunks` without the file names."""
    for chunk in iter_window_chunks(uri, chunk_rows=chunk_rows, columns=columns):
        yield chunk.frame
