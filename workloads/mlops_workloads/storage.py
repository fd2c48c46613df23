"""One filesystem layer for every workload: local paths, ``s3://`` and ``gs://`` URIs through ``pyarrow.fs``.

The batch job, the monitoring job (windows, reports, cooldown state) and the training pipeline's ingest step all
resolve their locations here, so a location that works for one works for all. Credentials come from the
environment the way each cloud's SDK finds them — IRSA / EKS Pod Identity through the AWS SDK's default chain,
GKE Workload Identity through Google's application-default credentials — never from keys in code.

Emulators and S3-compatible stores are reached through the variables their own SDKs honour:
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (Arrow reads the same pair when it builds a filesystem from a URI:
apache/arrow, tag apache-arrow-25.0.1, cpp/src/arrow/filesystem/s3fs.cc lines 416-425) and
``STORAGE_EMULATOR_HOST`` (googleapis/python-storage 3.17.1, google/cloud/storage/_helpers.py line 49; Arrow's
GCS filesystem has no such variable, so it is mapped to an anonymous ``endpoint_override`` here).
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlparse

import pyarrow.fs as pafs

SCHEMES = ("s3", "gs")
# Hive / Spark / Arrow datasets skip names starting with these (pyarrow.dataset's default ``ignore_prefixes``):
# side outputs such as the batch job's ``_quarantine/`` live under a data prefix without becoming data.
HIDDEN_PREFIXES = ("_", ".")


@dataclass(frozen=True)
class Location:
    """A URI resolved to a filesystem and the path inside it."""

    uri: str
    filesystem: pafs.FileSystem
    path: str

    @property
    def local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def uri_of(self, path: str) -> str:
        """The URI of another ``path`` of the same filesystem (e.g. a file found by listing this location)."""
        if self.local:
            return path
        return f"{urlparse(self.uri).scheme}://{path}"


def is_local(uri: str) -> bool:
    return urlparse(uri).scheme in ("", "file")


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


@functools.lru_cache(maxsize=8)
def _s3(endpoint: str | None, region: str) -> pafs.FileSystem:
    options: dict[str, object] = {"region": region}
    if endpoint:
        parsed = urlparse(endpoint)
        options["endpoint_override"] = parsed.netloc or parsed.path
        options["scheme"] = parsed.scheme or "https"
    return pafs.S3FileSystem(**options)


@functools.lru_cache(maxsize=8)
def _gcs(emulator: str | None) -> pafs.FileSystem:
    if emulator:
        parsed = urlparse(emulator if "://" in emulator else f"http://{emulator}")
        return pafs.GcsFileSystem(anonymous=True, scheme=parsed.scheme, endpoint_override=parsed.netloc)
    return pafs.GcsFileSystem()


def filesystem_for(scheme: str) -> pafs.FileSystem:
    """The (cached) filesystem of a scheme, configured from the environment as it is now."""
    if scheme == "s3":
        region = _env("AWS_REGION") or _env("AWS_DEFAULT_REGION") or "us-east-1"
        return _s3(_env("AWS_ENDPOINT_URL_S3") or _env("AWS_ENDPOINT_URL"), region)
    if scheme in ("gs", "gcs"):
        return _gcs(_env("STORAGE_EMULATOR_HOST"))
    return pafs.LocalFileSystem()


def resolve(uri: str) -> Location:
    """Resolve a local path, ``file://``, ``s3://bucket/key`` or ``gs://bucket/key``; a bad URI names the fix."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        local = parsed.path if parsed.scheme == "file" else uri
        return Location(uri, pafs.LocalFileSystem(), os.path.abspath(local))
    if parsed.scheme not in (*SCHEMES, "gcs"):
        raise ValueError(f"unsupported location {uri!r}: use a local path, s3://bucket/prefix or gs://bucket/prefix")
    if not parsed.netloc:
        raise ValueError(f"location {uri!r} has no bucket: use {parsed.scheme}://bucket/prefix")
    return Location(uri, filesystem_for(parsed.scheme), f"{parsed.netloc}{parsed.path}".rstrip("/"))


def join(base: str, *parts: str) -> str:
    """``base/part/...`` for URIs and local paths alike."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def exists(uri: str) -> bool:
    location = resolve(uri)
    return bool(location.filesystem.get_file_info(location.path).type != pafs.FileType.NotFound)


def read_bytes(uri: str) -> bytes | None:
    """The content at ``uri``, or None when there is no such file."""
    location = resolve(uri)
    if location.filesystem.get_file_info(location.path).type != pafs.FileType.File:
        return None
    with location.filesystem.open_input_stream(location.path) as stream:
        return bytes(stream.read())


def read_text(uri: str) -> str | None:
    data = read_bytes(uri)
    return None if data is None else data.decode("utf-8")


def write_bytes(uri: str, data: bytes, content_type: str = "application/octet-stream") -> str:
    """Write ``data`` to ``uri`` and return the URI. Readers never see a partial file: object stores publish an
    upload when it completes; a local file is written next to its target and renamed over it."""
    location = resolve(uri)
    metadata = None if location.local else {"Content-Type": content_type}
    if location.local:
        directory = os.path.dirname(location.path)
        location.filesystem.create_dir(directory, recursive=True)
        temporary = os.path.join(directory, f".{os.path.basename(location.path)}.{uuid.uuid4().hex}.tmp")
        try:
            with location.filesystem.open_output_stream(temporary) as sink:
                sink.write(data)
            location.filesystem.move(temporary, location.path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        return uri
    with location.filesystem.open_output_stream(location.path, metadata=metadata) as sink:
        sink.write(data)
    return uri


def upload(local_path: str, uri: str) -> str:
    """Publish a finished local file at ``uri`` (a rename on the same disk, a streamed upload otherwise)."""
    target = resolve(uri)
    if target.local:
        target.filesystem.create_dir(os.path.dirname(target.path), recursive=True)
        target.filesystem.move(local_path, target.path)
        return uri
    pafs.copy_files(
        local_path, target.path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=target.filesystem
    )
    os.unlink(local_path)
    return uri


def delete(uri: str) -> bool:
    """Delete the file at ``uri``; False when there was none."""
    location = resolve(uri)
    if location.filesystem.get_file_info(location.path).type != pafs.FileType.File:
        return False
    location.filesystem.delete_file(location.path)
    return True


def _hidden(path: str, root: str) -> bool:
    relative = path[len(root) :].strip("/")
    return any(part.startswith(HIDDEN_PREFIXES) for part in relative.split("/") if part)


def list_files(uri: str, suffixes: Iterable[str]) -> tuple[Location, list[str]]:
    """Files under ``uri`` (a file or a directory/prefix, recursively) whose names end with ``suffixes``, sorted.

    Hidden names (``_…``, ``.…``) below ``uri`` are skipped, as Arrow datasets and Spark skip them. Raises
    FileNotFoundError naming ``uri`` when nothing exists there.
    """
    location = resolve(uri)
    ends = tuple(suffixes)
    info = location.filesystem.get_file_info(location.path)
    if info.type == pafs.FileType.File:
        return location, [location.path]
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"{uri!r} does not exist")
    selector = pafs.FileSelector(location.path, recursive=True, allow_not_found=True)
    files = sorted(
        f.path
        for f in location.filesystem.get_file_info(selector)
        if f.type == pafs.FileType.File and f.path.endswith(ends) and not _hidden(f.path, location.path)
    )
    return location, files
