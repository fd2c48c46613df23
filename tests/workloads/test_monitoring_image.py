"""The monitoring/batch job image: hadolint-clean, pinned, non-root, built from the lock file."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from mlops_workloads.images import PYTHON_BASE_IMAGE

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "workloads" / "docker" / "monitoring.Dockerfile"
HADOLINT = REPO / "workloads" / ".venv" / "bin" / "hadolint"


def test_hadolint_is_clean() -> None:
    proc = subprocess.run([str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pinned_base_non_root_and_locked_dependencies() -> None:
    text = DOCKERFILE.read_text()
    images = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    python_images = [image for image in images if image.startswith("python:")]
    assert python_images == [PYTHON_BASE_IMAGE, PYTHON_BASE_IMAGE]  # build and runtime stages
    for image in images:
        assert ":" in image
        assert not image.endswith(":latest")
    assert re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE) == ["10001:10001"]
    assert "uv sync --frozen --no-dev" in text
    assert "COPY workloads/pyproject.toml workloads/uv.lock ./" in text


def test_entrypoint_runs_the_monitoring_module() -> None:
    text = DOCKERFILE.read_text()
    assert 'ENTRYPOINT ["python", "-m"]' in text
    assert 'CMD ["mlops_workloads.monitoring", "--help"]' in text
    assert (REPO / "workloads" / "mlops_workloads" / "monitoring" / "__main__.py").is_file()
