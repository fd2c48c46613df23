"""Shared helpers for mocked outputs: deterministic ids derived from names, so a plan is reproducible."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class MockContext:
    project: str
    stack: str
    aws_account_id: str = "123456789012"
    aws_region: str = "us-east-1"
    gcp_project: str = "mock-project"
    gcp_region: str = "us-central1"


def short_hash(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]
