"""Just enough of AWS IAM policy evaluation to decide whether a role may do one action on one resource.

As the AWS policy evaluation logic documents it (https://docs.aws.amazon.com/IAM/latest/UserGuide/
reference_policies_evaluation-logic.html, read 2026-12-01): a request is allowed when some Allow statement matches
action, resource and conditions and no Deny statement does. Actions and resources match with `*` and `?` wildcards,
actions case-insensitively. Conditions are evaluated for the operators the platform writes (StringEquals, StringLike
and their ForAnyValue forms) against the request context the caller passes; a condition on a key the context does
not hold does not match (the conservative answer for "is it granted").
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from typing import Any

Statement = Mapping[str, Any]


def statements(document: Any) -> list[Statement]:
    """The statements of a policy document (a JSON string or an object)."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    if not isinstance(document, Mapping):
        return []
    found = document.get("Statement") or []
    return [found] if isinstance(found, Mapping) else [s for s in found if isinstance(s, Mapping)]


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [] if value is None else [str(value)]


def _matches_any(patterns: list[str], value: str, case_insensitive: bool = False) -> bool:
    if case_insensitive:
        value = value.lower()
        patterns = [p.lower() for p in patterns]
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def _conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, tests in conditions.items():
        plain = operator.removeprefix("ForAnyValue:").removeprefix("ForAllValues:")
        for key, expected in (tests or {}).items():
            if key not in context:
                return False
            value, wanted = context[key], _as_list(expected)
            if plain == "StringEquals" and value not in wanted:
                return False
            if plain == "StringLike" and not _matches_any(wanted, value):
                return False
            if plain not in ("StringEquals", "StringLike"):
                return False
    return True


def _statement_matches(statement: Statement, action: str, resource: str, context: Mapping[str, str]) -> bool:
    if "NotAction" in statement or "NotResource" in statement:
        return False  # never written by the platform; not granted as far as this evaluator can tell
    if not _matches_any(_as_list(statement.get("Action")), action, case_insensitive=True):
        return False
    if not _matches_any(_as_list(statement.get("Resource")), resource):
        return False
    return _conditions_hold(statement.get("Condition") or {}, context)


def allows(documents: list[Any], action: str, resource: str, context: Mapping[str, str] | None = None) -> bool:
    """Whether the policies allow `action` on `resource` with the request `context`."""
    found = [s for document in documents for s in statements(document)]
    context = context or {}
    if any(s.get("Effect") == "Deny" and _statement_matches(s, action, resource, context) for s in found):
        return False
    return any(s.get("Effect") == "Allow" and _statement_matches(s, action, resource, context) for s in found)
