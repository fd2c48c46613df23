"""Install the pinned uv without installing anything into any Python: the Python standard library only.

`make setup` runs it with the system `python3` when uv is not on PATH. `python3 -m pip install uv` does not work on
systems that forbid installing into their Python (PEP 668: Debian 12, Ubuntu 24.04, Homebrew), and those often have
neither pip nor venv; this downloads the uv wheel for the platform from PyPI, checks its sha256 against the pins
below and extracts the one `uv` binary into `--dest`. The workload image builds run it too, so the uv that syncs the
images is the one that wrote the locks.

    python3 infra/bootstrap_uv.py --dest .tools/bin
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import stat
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

UV_VERSION = "0.13.9"
_PYPI = "https://files.pythonhosted.org/packages"
# PyPI's uv 0.13.9 wheels (https://pypi.org/pypi/uv/0.13.9/json, read 2026-12-01): (system, machine, libc) -> path
# under files.pythonhosted.org/packages, sha256.
WHEELS: dict[tuple[str, str, str], tuple[str, str]] = {
    ("linux", "x86_64", "glibc"): (
        "3d/aa/26d64642d808de4a652579ef950d7cd2d37f080a8babf9c67c6b75fc4c3f/"
        "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19",
    ),
    ("linux", "x86_64", "musl"): (
        "fe/fe/794884de0efd3ac77a427cab21aa72c0483e100c55a42cd5cbb02c141b84/uv-0.13.9-py3-none-musllinux_1_1_x86_64.whl",
        "2c45530751517d6c3bbc69a19473f6effe47cce047bede01ffd8af7ea7b36b25",
    ),
    ("linux", "aarch64", "glibc"): (
        "57/15/94b6cd62ac3ff6550288328e8035288875197cbc183f51554b266a69877b/"
        "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl",
        "5435c5ce14a56431208ca0996416d310f1598e8c2c8ba707688985a16bb82dbe",
    ),
    ("linux", "aarch64", "musl"): (
        "57/15/94b6cd62ac3ff6550288328e8035288875197cbc183f51554b266a69877b/"
        "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl",
        "5435c5ce14a56431208ca0996416d310f1598e8c2c8ba707688985a16bb82dbe",
    ),
    ("darwin", "x86_64", ""): (
        "1e/db/08e9ef4879bd667e6d7b4705e594e5bd3e4585f10fc63cb16b9fa2fac63e/uv-0.13.9-py3-none-macosx_10_12_x86_64.whl",
        "c16ed11e013557536b3e60065f1b912f6407bd6518e041b961e23ef9e6b4fbf5",
    ),
    ("darwin", "arm64", ""): (
        "f3/a7/a8d7b074798c7fb3b26b37584b8fe2e29df2ccdc24ce7902caab2a53edbf/uv-0.13.9-py3-none-macosx_11_0_arm64.whl",
        "66c512266d633bef48384a1f53003f41f2a8e7b36fe6e7fbfd3e0fd52d96fa63",
    ),
}
_MACHINES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}


class BootstrapError(Exception):
    pass


def this_platform() -> tuple[str, str, str]:
    system = platform.system().lower()
    machine = platform.machine().lower()
    if system == "darwin":
        return system, "arm64" if machine == "arm64" else "x86_64", ""
    libc = "glibc" if platform.libc_ver()[0] == "glibc" else "musl"
    return system, _MACHINES.get(machine, machine), libc


def wheel_for(key: tuple[str, str, str]) -> tuple[str, str]:
    if key not in WHEELS:
        supported = ", ".join("/".join(filter(None, k)) for k in sorted(WHEELS))
        raise BootstrapError(
            f"no pinned uv {UV_VERSION} wheel for {'/'.join(filter(None, key))} (pinned: {supported}); "
            "install uv yourself (https://docs.astral.sh/uv/) and run make setup again"
        )
    return WHEELS[key]


def install(wheel: bytes, sha256: str, dest: Path) -> Path:
    """Check the wheel, then put its `uv` binary at `dest/uv` atomically (a half-written binary is never left)."""
    actual = hashlib.sha256(wheel).hexdigest()
    if actual != sha256:
        raise BootstrapError(f"uv wheel sha256 is {actual}, expected {sha256}: refusing to install it")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as buffer:
        buffer.write(wheel)
        buffer.seek(0)
        with zipfile.ZipFile(buffer) as archive:
            member = f"uv-{UV_VERSION}.data/scripts/uv"
            if member not in archive.namelist():
                raise BootstrapError(f"the uv wheel has no {member}")
            target = dest / "uv"
            partial = dest / f".uv-{os.getpid()}.partial"
            partial.write_bytes(archive.read(member))
    partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, required=True, help="directory that receives the uv binary")
    parser.add_argument("--source", default=_PYPI, help="base URL of the wheel paths (a PyPI mirror)")
    parser.add_argument("--sha256", help="expected sha256 instead of the pin (tests of this installer only)")
    args = parser.parse_args(argv)
    path, pinned = wheel_for(this_platform())
    url = f"{args.source.rstrip('/')}/{path}"
    try:
        with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 - https or a local mirror
            wheel = response.read()
        target = install(wheel, args.sha256 or pinned, args.dest)
    except (OSError, BootstrapError) as error:
        print(f"bootstrap_uv: {url}: {error}", file=sys.stderr)
        return 1
    print(f"uv {UV_VERSION} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
