"""The inference image's HEALTHCHECK, which the load test runs against a live server (test_serving_load.py).

Everything else about the workload images (pinned base, COPY sources, non-root user, the modules their commands
name, hadolint) is checked for every Dockerfile by tests/infra/test_image_contents.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "workloads" / "docker" / "serving.Dockerfile"


def healthcheck_command() -> list[str]:
    """The exec-form HEALTHCHECK CMD of the serving image."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, flags=re.MULTILINE)
    assert match, "serving.Dockerfile has no exec-form HEALTHCHECK CMD"
    return list(json.loads(match.group(1)))


def test_the_healthcheck_probes_the_liveness_endpoint() -> None:
    assert any("/healthz" in part for part in healthcheck_command())
