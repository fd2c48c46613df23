"""Shared helpers for mocked outputs: deterministic ids derived from names, so a plan is reproducible."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MockContext:
    project: str
    stack: str
    aws_account_id: str = "123456789012"
    aws_region: str = "us-east-1"
    gcp_project: str = "mock-project"
    gcp_region: str = "us-central1"
    # The subnets an account holds, subnet id -> (VPC id, availability zone), for `aws.ec2.get_subnet`. Empty: an
    # offline plan of a real stack, which cannot know them (each subnet then answers with a zone of its own).
    aws_subnets: Mapping[str, tuple[str, str]] = field(default_factory=dict)


class InvokeFailure(Exception):
    """A mocked invoke the provider would refuse (no such subnet): the program sees `invoke of <tok> failed: ...`
    exactly as with the real engine, instead of the plan failing."""

    def __init__(self, reason: str, property_name: str = "") -> None:
        super().__init__(reason)
        self.property_name = property_name


def short_hash(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]
