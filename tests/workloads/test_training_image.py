"""The training image: same pinned base as images.py, multi-stage from the lock, non-root, hadolint-clean."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from mlops_workloads.images import PYTHON_BASE_IMAGE, TRAINING_IMAGE, UV_IMAGE

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "workloads" / "docker" / "training.Dockerfile"
HADOLINT = ROOT / "workloads" / ".venv" / "bin" / "hadolint"


def _froms() -> list[tuple[str, str]]:
    return re.findall(r"^FROM\s+(\S+)\s+AS\s+(\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE)


def test_stages_use_the_pins_from_images_py() -> None:
    assert _froms() == [(UV_IMAGE, "uv"), (PYTHON_BASE_IMAGE, "build"), (PYTHON_BASE_IMAGE, "runtime")]
    for image, _ in _froms():
        tag = image.rsplit(":", 1)[-1]
        assert re.fullmatch(r"\d+\.\d+\.\d+.*", tag), f"{image} is not pinned to an exact version"


def test_image_reference_is_versioned() -> None:
    assert re.fullmatch(r"[a-z0-9.\-/]+/mlops-training:\d+\.\d+\.\d+", TRAINING_IMAGE)
    assert TRAINING_IMAGE in DOCKERFILE.read_text()  # the build comment names the tag the pipeline runs


def test_locked_dependencies_copied_venv_and_non_root_user() -> None:
    text = DOCKERFILE.read_text()
    assert "COPY workloads/pyproject.toml workloads/uv.lock ./" in text
    assert text.count("uv sync --frozen --no-dev") == 2
    assert "COPY --from=build /opt/venv /opt/venv" in text
    assert "pip install" not in text
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users == ["10001:10001"]
    assert "ENV PATH=/opt/venv/bin:$PATH" in text


def test_dockerfile_is_hadolint_clean() -> None:
    result = subprocess.run([str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_locked_requirements_resolve_with_the_pipeline_stack() -> None:
    uv = shutil.which("uv")
    assert uv, "uv is needed to check workloads/uv.lock (pip install uv)"
    result = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--project", str(ROOT / "workloads")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    pins = dict(re.findall(r"^([a-z0-9\-]+)==(\S+)", result.stdout, flags=re.MULTILINE))
    assert pins["kfp"] == "2.17.0"
    assert pins["mlflow"] == "3.17.2"
    assert pins["scikit-learn"] == "1.9.1"
    assert {"skl2onnx", "onnxruntime", "feast", "skops"} <= set(pins)
