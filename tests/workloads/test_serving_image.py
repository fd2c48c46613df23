"""The inference image: pinned base shared with the other workload images, locked deps, non-root, healthcheck."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from mlops_workloads.images import PYTHON_BASE_IMAGE

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "workloads" / "docker" / "inference.Dockerfile"
HADOLINT = ROOT / "workloads" / ".venv" / "bin" / "hadolint"


def healthcheck_command() -> list[str]:
    """The exec-form HEALTHCHECK CMD, parsed from the Dockerfile (the load test runs it against a live server)."""
    import json

    text = DOCKERFILE.read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, flags=re.MULTILINE)
    assert match, "inference.Dockerfile has no exec-form HEALTHCHECK CMD"
    return list(json.loads(match.group(1)))


def test_python_stages_start_from_the_pinned_base_image() -> None:
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE)
    python_stages = [image for image in froms if image.startswith("python:")]

    assert python_stages == [PYTHON_BASE_IMAGE, PYTHON_BASE_IMAGE]
    assert all(":" in image and not image.endswith(":latest") for image in froms)


def test_dependencies_come_from_the_lock_and_the_service_runs_unprivileged() -> None:
    text = DOCKERFILE.read_text()

    assert "COPY workloads/pyproject.toml workloads/uv.lock ./" in text
    assert text.count("uv sync --frozen --no-dev") == 2
    user = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert user == ["10001:10001"]
    assert 'ENTRYPOINT ["python", "-m", "mlops_workloads.serving"]' in text
    assert any("/healthz" in part for part in healthcheck_command())


def test_dockerfile_is_hadolint_clean() -> None:
    result = subprocess.run([str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
