"""Kubernetes resource quantities as numbers: what the stack validation and the verify checks both read."""

from __future__ import annotations

import re
from typing import Any

_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))(?P<suffix>[eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
)
_FACTORS = {
    None: 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}  # fmt: skip


class QuantityError(ValueError):
    pass


def quantity(value: Any) -> float:
    """A Kubernetes quantity as a float (cores for CPU, bytes for memory, a count for extended resources)."""
    if isinstance(value, bool):
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        raise QuantityError(f"not a quantity: {value!r}")
    number, suffix = float(match["number"]), match["suffix"]
    if suffix and suffix[0] in "eE":
        return number * 10.0 ** int(suffix[1:])
    return number * _FACTORS[suffix]
