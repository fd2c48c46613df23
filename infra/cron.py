"""Kubernetes CronJob schedules, checked the way the API server checks them, before anything is created.

The API server parses `spec.schedule` with robfig/cron v3's standard parser (five fields, or a `@daily`-style
descriptor). Field bounds as in robfig/cron spec.go (`minutes = bounds{0, 59}`, `hours = bounds{0, 23}`,
`dom = bounds{1, 31}`, `months = bounds{1, 12}` with jan-dec, `dow = bounds{0, 6}` with sun-sat; names are
case-insensitive); each field is a comma-separated list of `*` or `?`, a value, a range `a-b`, each optionally
stepped with `/n` (n > 0; `a/n` means from a to the maximum).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DESCRIPTORS: Final = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
FORMAT: Final[str] = "minute 0-59, hour 0-23, day of month 1-31, month 1-12 or jan-dec, day of week 0-6 or sun-sat"


@dataclass(frozen=True)
class _Field:
    label: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS: Final = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day of month", 1, 31, {}),
    _Field("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    _Field("day of week", 0, 6, {name: i for i, name in enumerate(_DAYS)}),
)


def schedule_problem(expression: str) -> str | None:
    """Why the API server would refuse `expression` as a CronJob schedule (a phrase following the value), or None."""
    text = expression.strip()
    if text.startswith("@"):
        return None if text.lower() in DESCRIPTORS else f"is not a known descriptor ({', '.join(sorted(DESCRIPTORS))})"
    fields = text.split()
    if len(fields) != len(_FIELDS):
        return f"has {len(fields)} field(s), not 5 ({FORMAT})"
    reasons = []
    for field, spec in zip(fields, _FIELDS, strict=True):
        reason = next(filter(None, (_part_problem(part, spec) for part in field.split(","))), None)
        if reason is not None:
            reasons.append(f"{spec.label} '{field}': {reason}")
    return f"is out of range ({'; '.join(reasons)})" if reasons else None


def _part_problem(part: str, field: _Field) -> str | None:
    span, slash, step = part.partition("/")
    if slash and not (step.isdigit() and int(step) > 0):
        return f"step '{step}' is not a positive number"
    if span in ("*", "?"):
        return None
    first, dash, last = span.partition("-")
    start, problem = _value(first, field)
    if problem:
        return problem
    end = start
    if dash:
        end, problem = _value(last, field)
        if problem:
            return problem
    elif slash:
        end = field.high
    if start > end:
        return f"range {start}-{end} runs backwards"
    return None


def _value(text: str, field: _Field) -> tuple[int, str | None]:
    if text.lower() in field.names:
        return field.names[text.lower()], None
    if not text.isdigit():
        return 0, f"'{text}' is not a number" + (" or a name" if field.names else "")
    value = int(text)
    if not field.low <= value <= field.high:
        return value, f"{value} is outside {field.low}-{field.high}"
    return value, None
