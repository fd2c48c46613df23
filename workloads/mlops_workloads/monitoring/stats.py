"""Drift statistics computed from bounded state: histogram counts (PSI) and a chunk-invariant row sample (KS,
Wasserstein). Every function is vectorised numpy/scipy; nothing here holds a whole window in memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

# Evidently's floor for the Wasserstein normaliser: a constant reference column must not divide by zero.
MIN_NORMALISER = 0.001


def _fill_zeroes(percents: np.ndarray) -> np.ndarray:
    """Replace empty bins by a tiny share so the log ratio stays finite (the rule Evidently's PSI uses)."""
    nonzero = percents[percents > 0]
    if nonzero.size == 0:
        return np.full_like(percents, 1.0 / max(percents.size, 1))
    floor = nonzero.min() / 10**6 if nonzero.min() <= 0.0001 else 0.0001
    return np.where(percents > 0, percents, floor)


def psi(reference_proportions: np.ndarray, current_counts: np.ndarray) -> float:
    """Population Stability Index of current bin counts against reference bin proportions.

    Bins empty on both sides carry no information and are dropped, so the listed-but-unseen categories of the
    contract do not change the value. Returns 0.0 for an empty current window.
    """
    ref = np.asarray(reference_proportions, dtype=np.float64)
    counts = np.asarray(current_counts, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return 0.0
    cur = counts / total
    keep = (ref > 0) | (cur > 0)
    ref, cur = _fill_zeroes(ref[keep]), _fill_zeroes(cur[keep])
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def ks_test(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value (NaNs dropped by the caller)."""
    result = stats.ks_2samp(reference, current)
    return float(result.statistic), float(result.pvalue)


def wasserstein_normalised(reference: np.ndarray, current: np.ndarray, reference_std: float) -> float:
    """Wasserstein-1 distance in units of the reference standard deviation (floored, as Evidently does)."""
    return float(stats.wasserstein_distance(reference, current) / max(reference_std, MIN_NORMALISER))


class RowSample:
    """A uniform sample of at most ``size`` rows of a stream, identical however the stream is chunked.

    Each row gets a random key from one seeded generator consumed in row order; the rows with the ``size``
    smallest keys are kept (bottom-k sampling). Because the key of row ``i`` does not depend on chunk boundaries,
    feeding the window in one piece or in many pieces keeps the same rows.
    """

    def __init__(self, columns: list[str], size: int, seed: int) -> None:
        if size < 1:
            raise ValueError(f"sample size must be at least 1, got {size}")
        self.columns = columns
        self.size = size
        self._rng = np.random.default_rng(seed)
        self._keys = np.empty(0, dtype=np.float64)
        self._values = np.empty((0, len(columns)), dtype=np.float64)

    def update(self, block: np.ndarray) -> None:
        """Offer ``block`` (rows x len(columns), float64) in stream order."""
        keys: np.ndarray = self._rng.random(size=(int(block.shape[0]),))
        if block.shape[0] > self.size:
            # Pre-select within the block first so the merge below stays O(size).
            top = np.argpartition(keys, self.size - 1)[: self.size]
            keys, block = keys[top], block[top]
        keys = np.concatenate([self._keys, keys])
        values = np.concatenate([self._values, block])
        if keys.size > self.size:
            top = np.argpartition(keys, self.size - 1)[: self.size]
            keys, values = keys[top], values[top]
        self._keys, self._values = keys, values

    def frame(self) -> pd.DataFrame:
        """The sample in a canonical (key) order, as a DataFrame."""
        order = np.argsort(self._keys, kind="stable")
        return pd.DataFrame(self._values[order], columns=self.columns)
