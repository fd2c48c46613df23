"""First run on a fresh machine: `make setup` gets the pinned uv without installing into the system Python.

The scenario is a Python that refuses `pip install` (PEP 668: its standard library carries an EXTERNALLY-MANAGED
marker, as on Debian 12, Ubuntu 24.04 and Homebrew): the base interpreter of this suite, started with a PYTHONHOME
whose stdlib is the real one plus that marker. Nothing leaves the machine: the wheel comes from a local mirror.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from infra import bootstrap_uv
from infra.plan.engine import PROJECT_ROOT

BOOTSTRAP = PROJECT_ROOT / "infra" / "bootstrap_uv.py"
MARKER = "[externally-managed]\nError=This Python is managed by the system package manager.\n"


@pytest.fixture
def managed_python(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """The suite's base interpreter, made externally managed: (executable, environment)."""
    stdlib = Path(sysconfig.get_path("stdlib", vars={"installed_base": sys.base_prefix, "base": sys.base_prefix}))
    home = tmp_path / "managed-python"
    lib = home / "lib" / stdlib.name
    lib.mkdir(parents=True)
    for entry in stdlib.iterdir():
        (lib / entry.name).symlink_to(entry)
    (lib / "EXTERNALLY-MANAGED").write_text(MARKER)
    env = {"PATH": "/usr/bin:/bin", "PYTHONHOME": str(home), "HOME": str(tmp_path)}
    return sys._base_executable, env  # type: ignore[attr-defined]


def fake_wheel(mirror: Path) -> str:
    """A wheel shaped like uv's (its binary under uv-<version>.data/scripts/) at the pinned path; its sha256."""
    relative, _ = bootstrap_uv.wheel_for(bootstrap_uv.this_platform())
    wheel = mirror / relative
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            f"uv-{bootstrap_uv.UV_VERSION}.data/scripts/uv", f"#!/bin/sh\necho uv {bootstrap_uv.UV_VERSION}\n"
        )
        archive.writestr("uv/__init__.py", "")
    return hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_pip_into_an_externally_managed_python_is_refused(managed_python: tuple[str, dict[str, str]]) -> None:
    """What `make setup` used to run (`python3 -m pip install uv`) fails there, before any download."""
    python, env = managed_python
    result = subprocess.run([python, "-m", "pip", "install", "--no-index", "uv==0.13.9"], env=env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode != 0
    assert "externally-managed-environment" in result.stderr or "No module named pip" in result.stderr


def test_the_bootstrap_installs_uv_with_that_python_and_touches_nothing_of_it(
    managed_python: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    python, env = managed_python
    stdlib = Path(env["PYTHONHOME"]) / "lib"
    before = sorted(p.name for p in stdlib.rglob("*") if not p.is_symlink())
    sha256 = fake_wheel(tmp_path / "mirror")
    dest = tmp_path / "repo" / ".tools" / "bin"
    result = subprocess.run(
        [python, str(BOOTSTRAP), "--dest", str(dest), "--source", (tmp_path / "mirror").as_uri(), "--sha256", sha256],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert subprocess.run([str(dest / "uv")], capture_output=True, text=True, check=True).stdout.strip() == "uv 0.13.9"
    assert sorted(p.name for p in stdlib.rglob("*") if not p.is_symlink()) == before


def test_a_wheel_that_does_not_match_the_pin_is_refused(
    managed_python: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    python, env = managed_python
    fake_wheel(tmp_path / "mirror")
    dest = tmp_path / "bin"
    result = subprocess.run([python, str(BOOTSTRAP), "--dest", str(dest), "--source", (tmp_path / "mirror").as_uri()],
                            env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == 1 and "refusing to install it" in result.stderr
    assert not dest.exists() or not any(dest.iterdir())  # nothing half-installed


def test_make_setup_bootstraps_uv_when_none_is_on_path(tmp_path: Path) -> None:
    """With no uv on PATH, `make setup` installs the pinned one into .tools/bin and syncs with it."""
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    command = ["make", "-n", "-B", "-C", str(PROJECT_ROOT), "setup"]  # -B: as on a fresh clone, -n: print only
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    bootstrap = [line for line in lines if "infra/bootstrap_uv.py --dest .tools/bin" in line]
    assert bootstrap and bootstrap[0].startswith("python3 "), f"make setup does not bootstrap uv:\n{result.stdout}"
    syncs = [line for line in lines if " sync --frozen" in line]
    # infra, the checkov tool environment and the workloads: every one synced by the bootstrapped uv
    assert len(syncs) == 3 and all(f"{PROJECT_ROOT}/.tools/bin/uv sync" in line for line in syncs)
    assert "pip install" not in result.stdout


def test_every_common_platform_has_a_pinned_wheel() -> None:
    for key in [("linux", "x86_64", "glibc"), ("linux", "aarch64", "glibc"), ("linux", "x86_64", "musl"),
                ("darwin", "arm64", ""), ("darwin", "x86_64", "")]:  # fmt: skip
        path, sha256 = bootstrap_uv.wheel_for(key)
        assert path.endswith(".whl") and f"uv-{bootstrap_uv.UV_VERSION}-" in path and len(sha256) == 64
    with pytest.raises(bootstrap_uv.BootstrapError, match="no pinned uv"):
        bootstrap_uv.wheel_for(("freebsd", "x86_64", ""))
