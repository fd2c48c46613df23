"""The checks `make verify` runs, in order. Adding a check: a module in infra/verify/checks/ exposing `CHECK`, one
line here, admit and deny tests in tests/infra/test_verify_<check>.py, one row in the README's check table."""

from __future__ import annotations

from infra.verify.checks import (
    helm_values,
    iam_policies,
    identity,
    images,
    names,
    network,
    peer_scan,
    pod_security,
    quotas,
    references,
    scheduling,
    schemas,
)
from infra.verify.model import Check

CHECKS: tuple[Check, ...] = (
    schemas.CHECK,
    helm_values.CHECK,
    references.CHECK,
    pod_security.CHECK,
    quotas.CHECK,
    scheduling.CHECK,
    network.CHECK,
    identity.CHECK,
    images.CHECK,
    names.CHECK,
    iam_policies.CHECK,
    peer_scan.CHECK,
)


def check(name: str) -> Check:
    for candidate in CHECKS:
        if candidate.name == name:
            return candidate
    raise LookupError(f"no check {name!r}; checks: {', '.join(c.name for c in CHECKS)}")
