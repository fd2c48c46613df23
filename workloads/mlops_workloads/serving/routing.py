"""Deterministic A/B traffic split: the same key always lands on the same variant, in every replica."""

from __future__ import annotations

import hashlib
from typing import Literal

Variant = Literal["champion", "challenger"]
CHAMPION_VARIANT: Variant = "champion"
CHALLENGER_VARIANT: Variant = "challenger"
VARIANTS: tuple[Variant, ...] = (CHAMPION_VARIANT, CHALLENGER_VARIANT)

_BUCKET_SPACE = float(2**64)


def bucket(key: str) -> float:
    """Uniform position of ``key`` in [0, 1); sha256, not ``hash()``, which is salted per process."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _BUCKET_SPACE


def choose_variant(key: str, challenger_weight: float) -> Variant:
    """``challenger`` for a ``challenger_weight`` share of keys, ``champion`` for the rest."""
    if not 0.0 <= challenger_weight <= 1.0:
        raise ValueError(f"challenger_weight must be within [0, 1], got {challenger_weight}")
    return CHALLENGER_VARIANT if bucket(key) < challenger_weight else CHAMPION_VARIANT
