"""The reference profile: what drift monitoring needs to know about a model's training data.

Training builds it once from the training set and logs it next to the model (MLflow artifact path
``reference/``); the monitoring job downloads it for ``models:/<name>@champion`` and compares a current window
against it without touching the (possibly huge) training data again. The binning code lives here so the
reference proportions and the monitoring job's streaming counts are computed the same way.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_workloads.contract import Feature, ModelContract
from mlops_workloads.features import FRAUD_CONTRACT

ARTIFACT_PATH = "reference"
PROFILE_FILE = "profile.json"
SAMPLE_FILE = "sample.parquet"
PREDICTION_COLUMN = "prediction"
FORMAT_VERSION = 1

DEFAULT_QUANTILE_BINS = 10
DEFAULT_SAMPLE_SIZE = 5_000
DEFAULT_SEED = 42
SCORE_BIN_EDGES: tuple[float, ...] = tuple(float(x) for x in np.linspace(0.0, 1.0, 11))
POSITIVE_THRESHOLD = 0.5


@dataclass(frozen=True)
class FeatureReference:
    """One feature's reference distribution.

    Continuous features use quantile bins of the reference: ``bin_edges`` are the left edges, bin ``i`` holds
    ``edges[i-1] <= x < edges[i]``, bin 0 everything below the reference minimum and the last bin everything above
    the reference maximum (both empty in the reference, so a shift outside the training range still registers —
    including for a constant column). Categorical features use one bin per category plus a final "other" bin.
    """

    name: str
    categorical: bool
    bin_edges: list[float]
    categories: list[float]
    proportions: list[float]
    mean: float
    std: float
    minimum: float
    maximum: float
    count: int
    null_fraction: float

    @property
    def n_bins(self) -> int:
        return len(self.categories) + 1 if self.categorical else len(self.bin_edges) + 1

    def bin_counts(self, values: np.ndarray) -> np.ndarray:
        """Histogram counts of ``values`` (NaNs dropped) over this feature's bins, as int64."""
        x = np.asarray(values, dtype=np.float64)
        x = x[~np.isnan(x)]
        if self.categorical:
            cats = np.asarray(self.categories, dtype=np.float64)
            pos = np.searchsorted(cats, x)
            pos_clipped = np.minimum(pos, len(cats) - 1)
            known = cats[pos_clipped] == x
            idx = np.where(known, pos_clipped, len(cats))
        else:
            idx = np.searchsorted(np.asarray(self.bin_edges, dtype=np.float64), x, side="right")
        return np.bincount(idx, minlength=self.n_bins).astype(np.int64)


@dataclass(frozen=True)
class PredictionReference:
    """The model's output distribution on the reference data: a score histogram on [0, 1] and the positive rate."""

    bin_edges: list[float]
    proportions: list[float]
    positive_rate: float
    mean: float
    count: int

    def bin_counts(self, scores: np.ndarray) -> np.ndarray:
        x = np.asarray(scores, dtype=np.float64)
        x = x[~np.isnan(x)]
        inner = np.asarray(self.bin_edges[1:-1], dtype=np.float64)
        return np.bincount(np.searchsorted(inner, x, side="right"), minlength=len(self.bin_edges) - 1).astype(np.int64)


@dataclass
class ReferenceProfile:
    features: dict[str, FeatureReference]
    prediction: PredictionReference
    metrics: dict[str, float]
    row_count: int
    label_rate: float | None
    sample: pd.DataFrame
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    format_version: int = FORMAT_VERSION

    def save(self, directory: str | Path) -> Path:
        """Write ``profile.json`` and ``sample.parquet`` into ``directory`` (created if missing); returns it."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        doc = {
            "format_version": self.format_version,
            "created_at": self.created_at,
            "row_count": self.row_count,
            "label_rate": self.label_rate,
            "metrics": self.metrics,
            "features": {name: asdict(ref) for name, ref in self.features.items()},
            "prediction": asdict(self.prediction),
        }
        (out / PROFILE_FILE).write_text(json.dumps(doc, indent=2, sort_keys=True))
        self.sample.to_parquet(out / SAMPLE_FILE, index=False)
        return out

    @classmethod
    def load(cls, directory: str | Path) -> ReferenceProfile:
        src = Path(directory)
        profile_path = src / PROFILE_FILE
        if not profile_path.is_file():
            raise FileNotFoundError(
                f"no reference profile at {profile_path}: the model version must be registered with its "
                f"'{ARTIFACT_PATH}/' artifacts (training.register_model logs them)"
            )
        doc: dict[str, Any] = json.loads(profile_path.read_text())
        if doc.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"reference profile format_version={doc.get('format_version')!r} at {profile_path}; this code reads "
                f"version {FORMAT_VERSION} — re-register the model with the current training code"
            )
        return cls(
            features={name: FeatureReference(**ref) for name, ref in doc["features"].items()},
            prediction=PredictionReference(**doc["prediction"]),
            metrics={k: float(v) for k, v in doc["metrics"].items()},
            row_count=int(doc["row_count"]),
            label_rate=doc["label_rate"],
            sample=pd.read_parquet(src / SAMPLE_FILE),
            created_at=doc["created_at"],
            format_version=doc["format_version"],
        )


def _feature_reference(spec: Feature, values: pd.Series, n_bins: int) -> FeatureReference:
    name = spec.name
    raw = values.to_numpy(dtype=np.float64, na_value=np.nan)
    x = raw[~np.isnan(raw)]
    if x.size == 0:
        raise ValueError(f"feature {name!r} has no non-null values in the reference data; drop or impute it")
    if spec.is_categorical:
        # The contract's whole range is listed, so a category unseen in training still gets its own bin.
        contract = np.arange(int(spec.minimum), int(spec.maximum) + 1, dtype=np.float64)
        categories = [float(c) for c in np.union1d(contract, np.unique(x))]
        edges: list[float] = []
    else:
        quantiles = np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1)[:-1])
        top = np.nextafter(x.max(), np.inf)
        edges = [float(e) for e in np.unique(np.append(quantiles, top))]
        categories = []
    ref = FeatureReference(
        name=name,
        categorical=spec.is_categorical,
        bin_edges=edges,
        categories=categories,
        proportions=[],
        mean=float(x.mean()),
        std=float(x.std()),
        minimum=float(x.min()),
        maximum=float(x.max()),
        count=int(x.size),
        null_fraction=float(1.0 - x.size / raw.size),
    )
    counts = ref.bin_counts(x)
    return FeatureReference(**{**asdict(ref), "proportions": [float(c) for c in counts / counts.sum()]})


def _prediction_reference(predictions: np.ndarray, contract: ModelContract) -> PredictionReference:
    scores = np.asarray(predictions, dtype=np.float64).ravel()
    if contract.task == "regression":
        return _regression_reference(scores)
    if scores.size and (np.nanmin(scores) < 0.0 or np.nanmax(scores) > 1.0):
        raise ValueError(
            f"predictions must be fraud probabilities or 0/1 labels in [0, 1], got range "
            f"[{np.nanmin(scores)}, {np.nanmax(scores)}]"
        )
    ref = PredictionReference(list(SCORE_BIN_EDGES), [], 0.0, 0.0, 0)
    counts = ref.bin_counts(scores)
    total = max(int(counts.sum()), 1)
    valid = scores[~np.isnan(scores)]
    return PredictionReference(
        bin_edges=list(SCORE_BIN_EDGES),
        proportions=[float(c) for c in counts / total],
        positive_rate=float((valid >= POSITIVE_THRESHOLD).mean()) if valid.size else 0.0,
        mean=float(valid.mean()) if valid.size else 0.0,
        count=int(valid.size),
    )


def _regression_reference(predictions: np.ndarray) -> PredictionReference:
    """Predicted values on quantile bins of the reference (a regression output has no fixed [0, 1] range)."""
    valid = predictions[~np.isnan(predictions)]
    if not valid.size:
        raise ValueError("the reference predictions are all NaN: the model must predict the reference rows")
    edges = [float(e) for e in np.unique(np.quantile(valid, np.linspace(0.0, 1.0, len(SCORE_BIN_EDGES))))]
    edges = edges if len(edges) > 1 else [edges[0], float(np.nextafter(edges[0], np.inf))]
    ref = PredictionReference(edges, [], 0.0, float(valid.mean()), int(valid.size))
    counts = ref.bin_counts(valid)
    return PredictionReference(edges, [float(c) for c in counts / counts.sum()], 0.0, ref.mean, ref.count)


def build_reference_profile(
    features: pd.DataFrame,
    predictions: np.ndarray,
    labels: np.ndarray | None,
    metrics: dict[str, float],
    *,
    n_bins: int = DEFAULT_QUANTILE_BINS,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    seed: int = DEFAULT_SEED,
    contract: ModelContract = FRAUD_CONTRACT,
) -> ReferenceProfile:
    """Profile the reference (training or validation) data the model was evaluated on.

    ``features`` must hold every contract feature; ``predictions`` are the model's outputs on those rows
    (classification: positive-class probabilities or 0/1 labels; regression: predicted values); ``labels`` the true
    label values if known; ``metrics`` e.g. ``{"f1": 0.83}``.
    """
    missing = [name for name in contract.feature_names if name not in features.columns]
    if missing:
        raise ValueError(f"reference features are missing contract columns {missing}; pass the full feature frame")
    if len(features) == 0:
        raise ValueError("reference features are empty: build the profile from the training or validation rows")
    preds = np.asarray(predictions, dtype=np.float64).ravel()
    if preds.size != len(features):
        raise ValueError(f"predictions has {preds.size} values but features has {len(features)} rows; pass one per row")
    label_arr = None if labels is None else np.asarray(labels, dtype=np.float64).ravel()
    if label_arr is not None and label_arr.size != len(features):
        raise ValueError(f"labels has {label_arr.size} values but features has {len(features)} rows; pass one per row")

    sample = features[list(contract.feature_names)].reset_index(drop=True).copy()
    sample[PREDICTION_COLUMN] = preds
    if label_arr is not None:
        sample[contract.label] = label_arr
    if len(sample) > sample_size:
        sample = sample.sample(n=sample_size, random_state=seed).reset_index(drop=True)

    return ReferenceProfile(
        features={f.name: _feature_reference(f, features[f.name], n_bins) for f in contract.features},
        prediction=_prediction_reference(preds, contract),
        metrics={k: float(v) for k, v in metrics.items()},
        row_count=len(features),
        label_rate=None if label_arr is None else float(np.nanmean(label_arr)),
        sample=sample,
    )
