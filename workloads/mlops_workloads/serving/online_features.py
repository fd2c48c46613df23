"""Online feature lookup through Feast: callers send the card id and the transaction fields, the store the rest."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlops_workloads.features import FEATURE_NAMES


def _plain(value: Any) -> Any:
    """numpy scalars to Python, missing values (NaN/None from Feast) to None."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def feast_lookup(repo_path: str | Path) -> Callable[[Sequence[int]], list[dict[str, Any]]]:
    """A lookup on the Feast repository at ``repo_path`` (already applied and materialised by the platform)."""
    from mlops_workloads.feature_store import online_features, open_store

    store = open_store(repo_path, apply=False)

    def lookup(card_ids: Sequence[int]) -> list[dict[str, Any]]:
        frame = online_features(store, card_ids)
        return [{name: _plain(row[name]) for name in FEATURE_NAMES} for row in frame.to_dict(orient="records")]

    return lookup
