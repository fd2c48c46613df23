"""Streaming drift detection of a current window against a model's reference profile.

Per-feature verdicts use effect-size statistics that do not grow with the window: the Wasserstein distance in
units of the reference std for continuous features (Evidently's default numeric method on large data, threshold
0.1) and the PSI of category shares for categorical ones (threshold 0.1). PSI on the reference's quantile bins is
reported for every feature with the usual bands (0.1 moderate, 0.25 significant); a drifted feature with a
significant PSI justifies retraining on its own. KS p-values (on a bounded sample) are supporting evidence only:
at a million rows KS flags a 0.02-sigma shift.

Every value is first checked against the feature contract (type, integrality, range): a value that breaks it is
reported (column, file, count) and left out of the statistics, and the share of a feature's values that are missing
or invalid is a drift signal of its own — a feature that goes 50% null upstream is drift, not "no drift".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from mlops_workloads.contract import ModelContract
from mlops_workloads.features import FRAUD_CONTRACT
from mlops_workloads.monitoring.stats import RowSample, ks_test, psi, wasserstein_normalised
from mlops_workloads.reference import POSITIVE_THRESHOLD, PREDICTION_COLUMN, ReferenceProfile
from mlops_workloads.validation import ColumnFinding, check_features


class MissingColumnsError(ValueError):
    """The window lacks contract feature columns."""


def check_feature_columns(
    columns: Iterable[str], source: str = "the window", contract: ModelContract = FRAUD_CONTRACT
) -> None:
    """Raise :class:`MissingColumnsError` naming every ``contract`` feature missing from ``columns``."""
    present = set(columns)
    missing = [name for name in contract.feature_names if name not in present]
    if missing:
        raise MissingColumnsError(
            f"{source} is missing feature columns {missing}; it must hold every contract feature "
            f"({', '.join(contract.feature_names)})"
        )


@dataclass(frozen=True)
class DriftPolicy:
    """Thresholds of the monitoring job; defaults follow common PSI practice and Evidently's defaults."""

    psi_threshold: float = 0.1  # a categorical feature drifted; PSI "moderate" band for all
    psi_significant: float = 0.25  # a drifted feature with this PSI justifies retraining on its own
    wasserstein_threshold: float = 0.1  # a continuous feature drifted (distance in reference stds)
    ks_pvalue: float = 0.05
    min_samples: int = 30
    drift_share: float = 0.5  # share of drifted features that makes the dataset drifted
    missing_share: float = 0.1  # missing-or-invalid share of a feature, above its reference share, that is drift
    f1_ratio: float = 0.9  # retrain when current F1 < f1_ratio * reference F1 (a regressor: RMSE * f1_ratio > ref)
    sample_size: int = 20_000  # rows kept for KS / Wasserstein / the HTML report
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.psi_threshold <= self.psi_significant:
            raise ValueError(
                f"psi_threshold={self.psi_threshold} and psi_significant={self.psi_significant}: "
                "need 0 < psi_threshold <= psi_significant"
            )
        if self.wasserstein_threshold <= 0:
            raise ValueError(f"wasserstein_threshold={self.wasserstein_threshold} must be > 0")
        for name in ("ks_pvalue", "drift_share", "f1_ratio", "missing_share"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name}={value} must be in (0, 1]")
        if self.min_samples < 1 or self.sample_size < self.min_samples:
            raise ValueError(
                f"min_samples={self.min_samples}, sample_size={self.sample_size}: need 1 <= min_samples <= sample_size"
            )


class Severity(StrEnum):
    NONE = "none"
    MODERATE = "moderate"
    SIGNIFICANT = "significant"


def _severity(value: float, policy: DriftPolicy) -> Severity:
    if value >= policy.psi_significant:
        return Severity.SIGNIFICANT
    return Severity.MODERATE if value >= policy.psi_threshold else Severity.NONE


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    categorical: bool
    current_count: int  # usable values
    null_fraction: float  # share of rows whose value is null
    invalid_fraction: float  # share of rows whose value breaks the contract (wrong type, not integral, out of range)
    reference_null_fraction: float
    missing_drift: bool  # null + invalid share exceeds the reference's by more than the policy's missing_share
    method: str  # the statistic behind the distribution verdict: "wasserstein_norm" or "psi"
    score: float | None  # its value (None when skipped)
    drifted: bool  # distribution drift or missing drift
    psi: float
    severity: Severity  # PSI band
    reference_mean: float
    current_mean: float | None
    ks_statistic: float | None
    ks_pvalue: float | None
    ks_drifted: bool | None
    wasserstein_norm: float | None
    skipped: list[str]


@dataclass(frozen=True)
class PredictionDrift:
    psi: float
    severity: Severity
    drifted: bool
    current_positive_rate: float | None  # share of scores at or above the decision threshold (classifiers only)
    reference_positive_rate: float | None
    current_mean: float  # mean score of a classifier, mean predicted value of a regressor
    reference_mean: float
    count: int


@dataclass(frozen=True)
class Performance:
    f1: float
    precision: float
    recall: float
    labelled_rows: int
    reference_f1: float | None
    degraded: bool


@dataclass(frozen=True)
class RegressionPerformance:
    """Errors of a regressor's predicted values on the labelled rows of the window."""

    rmse: float
    mae: float
    r2: float | None  # None when the window's labels are constant (no variance to explain)
    labelled_rows: int
    reference_rmse: float | None
    degraded: bool  # current RMSE above the reference RMSE by more than the policy's f1_ratio allows


@dataclass
class DriftResult:
    policy: DriftPolicy
    window_rows: int
    features: list[FeatureDrift]
    drift_share: float
    dataset_drift: bool
    prediction: PredictionDrift | None
    performance: Performance | RegressionPerformance | None
    skipped: list[str]
    sample: pd.DataFrame = field(repr=False)

    violations: list[ColumnFinding] = field(default_factory=list)  # contract violations, per column and file
    contract: ModelContract = field(default=FRAUD_CONTRACT, repr=False)

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    @property
    def enough_samples(self) -> bool:
        return self.window_rows >= self.policy.min_samples

    def retraining_reasons(self) -> list[str]:
        """Why this window warrants retraining; empty when it does not."""
        p = self.policy
        reasons: list[str] = []
        if self.dataset_drift:
            reasons.append(
                f"dataset drift: {self.drift_share:.2f} of features drifted (>= {p.drift_share}): "
                + ", ".join(self.drifted_features)
            )
        reasons += [
            f"feature {f.feature}: PSI {f.psi:.3f} >= {p.psi_significant} (significant)"
            for f in self.features
            if f.drifted
            and f.severity is Severity.SIGNIFICANT
            and not self.contract.features_by_name[f.feature].seasonal
        ]
        reasons += [
            f"feature {f.feature}: {f.null_fraction + f.invalid_fraction:.1%} of values missing or invalid "
            f"(reference {f.reference_null_fraction:.1%}, threshold +{p.missing_share:.0%})"
            for f in self.features
            if f.missing_drift
        ]
        if self.prediction is not None and self.prediction.severity is Severity.SIGNIFICANT:
            reasons.append(f"prediction drift: PSI {self.prediction.psi:.3f} >= {p.psi_significant}")
        perf = self.performance
        if isinstance(perf, Performance) and perf.degraded:
            reasons.append(f"F1 {perf.f1:.3f} < {p.f1_ratio} x reference F1 {perf.reference_f1:.3f}")
        if isinstance(perf, RegressionPerformance) and perf.degraded:
            reasons.append(f"RMSE {perf.rmse:.3f} > reference RMSE {perf.reference_rmse:.3f} / {p.f1_ratio}")
        return reasons

    def to_dict(self) -> dict[str, Any]:
        # Not asdict(self): that would deep-copy the sample frame.
        return {
            "policy": asdict(self.policy),
            "window_rows": self.window_rows,
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
            "drifted_features": self.drifted_features,
            "features": [asdict(f) for f in self.features],
            "prediction": None if self.prediction is None else asdict(self.prediction),
            "performance": None if self.performance is None else asdict(self.performance),
            "contract_violations": [asdict(v) | {"message": v.describe()} for v in self.violations],
            "skipped": self.skipped,
        }


class DriftAccumulator:
    """Consumes a window chunk by chunk in bounded memory; :meth:`result` compares it with the reference."""

    def __init__(
        self,
        profile: ReferenceProfile,
        policy: DriftPolicy | None = None,
        *,
        prediction_column: str = PREDICTION_COLUMN,
        label_column: str | None = None,
        contract: ModelContract = FRAUD_CONTRACT,
    ) -> None:
        unprofiled = [name for name in contract.feature_names if name not in profile.features]
        if unprofiled:
            raise ValueError(
                f"the reference profile has no entry for contract features {unprofiled}; the model was registered "
                "with an older feature contract — retrain and register it with the current one"
            )
        self.profile = profile
        self.policy = policy or DriftPolicy()
        self.prediction_column = prediction_column
        self.contract = contract
        self.label_column = label_column or contract.label
        self.rows = 0
        self._counts = {name: np.zeros(ref.n_bins, dtype=np.int64) for name, ref in profile.features.items()}
        self._non_null = dict.fromkeys(profile.features, 0)
        self._nulls = dict.fromkeys(profile.features, 0)
        self._invalid = dict.fromkeys(profile.features, 0)
        self._findings: dict[tuple[str, str, str], ColumnFinding] = {}
        self._sums = dict.fromkeys(profile.features, 0.0)
        self._pred_counts = np.zeros(len(profile.prediction.bin_edges) - 1, dtype=np.int64)
        self._positives = 0
        self._pred_sum = 0.0
        self._confusion = np.zeros(3, dtype=np.int64)  # tp, fp, fn
        self._labelled = 0
        self._errors = np.zeros(5, dtype=np.float64)  # regression: sum of squared, absolute errors, y, y^2; n
        self._extra: list[str] | None = None  # prediction/label columns, fixed by the first chunk
        self._sample: RowSample | None = None

    def update(self, chunk: pd.DataFrame, source: str = "") -> None:
        """Add ``chunk`` (rows of the file ``source``, named in contract findings) to the window."""
        names = self.contract.feature_names
        check_feature_columns(chunk.columns, contract=self.contract)
        if self._extra is None:
            self._extra = [c for c in (self.prediction_column, self.label_column) if c in chunk.columns]
            self._sample = RowSample([*names, *self._extra], self.policy.sample_size, self.policy.seed)
        assert self._sample is not None
        if len(chunk) == 0:
            return
        checked, findings = check_features(chunk, source, self.contract.features)
        for finding in findings:
            key = (finding.column, finding.source, finding.problem)
            known = self._findings.get(key)
            self._findings[key] = finding if known is None else replace(known, count=known.count + finding.count)
        block = np.empty((len(chunk), len(self._sample.columns)), dtype=np.float64)
        for j, name in enumerate(self._sample.columns):
            if name in checked:
                block[:, j] = checked[name].values  # NaN where missing or breaking the contract
            elif name in chunk.columns:
                block[:, j] = pd.to_numeric(chunk[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            else:  # a later partition without the prediction/label column: "not known" for those rows
                block[:, j] = np.nan
        for j, name in enumerate(names):
            self._nulls[name] += int(checked[name].problems["missing"].sum())
            self._invalid[name] += int(checked[name].unusable.sum()) - int(checked[name].problems["missing"].sum())
            values = block[:, j]
            self._counts[name] += self.profile.features[name].bin_counts(values)
            valid = values[~np.isnan(values)]
            self._non_null[name] += valid.size
            self._sums[name] += float(valid.sum())
        if self.prediction_column in self._extra:
            scores = block[:, len(names)]
            self._pred_counts += self.profile.prediction.bin_counts(scores)
            self._positives += int(np.count_nonzero(scores >= POSITIVE_THRESHOLD))
            self._pred_sum += float(np.nansum(scores))
            if self.label_column in self._extra:
                labels = block[:, -1]
                scored = ~np.isnan(labels) & ~np.isnan(scores)
                if self.contract.task == "regression":
                    y, error = labels[scored], scores[scored] - labels[scored]
                    self._errors += [(error**2).sum(), np.abs(error).sum(), y.sum(), (y**2).sum(), y.size]
                else:
                    predicted, actual = scores[scored] >= POSITIVE_THRESHOLD, labels[scored] >= 0.5
                    self._confusion += [
                        np.count_nonzero(predicted & actual),
                        np.count_nonzero(predicted & ~actual),
                        np.count_nonzero(~predicted & actual),
                    ]
                self._labelled += int(scored.sum())
        self._sample.update(block)
        self.rows += len(chunk)

    def result(self) -> DriftResult:
        policy = self.policy
        names = self.contract.feature_names
        sample = self._sample.frame() if self._sample is not None else pd.DataFrame(columns=list(names))
        enough = self.rows >= policy.min_samples
        skipped: list[str] = []
        if not enough:
            skipped.append(
                f"insufficient samples: {self.rows} rows < min_samples {policy.min_samples}; no drift verdicts"
            )
        features = [self._feature_drift(name, sample, enough) for name in names]
        counted = [f for f in features if not self.contract.features_by_name[f.feature].seasonal]
        share = sum(f.drifted for f in counted) / len(counted)
        prediction = self._prediction_drift(enough, skipped)
        performance = self._performance(skipped)
        return DriftResult(
            policy=policy,
            window_rows=self.rows,
            features=features,
            drift_share=share,
            dataset_drift=enough and share >= policy.drift_share,
            prediction=prediction,
            performance=performance,
            skipped=skipped,
            sample=sample,
            violations=[f for f in self._findings.values() if f.problem != "missing"],
            contract=self.contract,
        )

    def _feature_drift(self, name: str, sample: pd.DataFrame, enough: bool) -> FeatureDrift:
        ref = self.profile.features[name]
        policy = self.policy
        n = self._non_null[name]
        value = psi(np.asarray(ref.proportions), self._counts[name])
        severity = _severity(value, policy) if enough else Severity.NONE
        skipped: list[str] = []
        ks_stat = ks_p = wd = None
        if ref.categorical:
            skipped.append("ks/wasserstein: not applicable to a categorical feature (PSI on category shares)")
            method, score = "psi", (value if enough else None)
            drifted = enough and value >= policy.psi_threshold
        else:
            method = "wasserstein_norm"
            cur = sample[name].to_numpy() if name in sample else np.empty(0)
            cur = cur[~np.isnan(cur)]
            base = self.profile.sample[name].to_numpy(dtype=np.float64, na_value=np.nan)
            base = base[~np.isnan(base)]
            if min(cur.size, base.size) < policy.min_samples:
                skipped.append(
                    f"ks/wasserstein: {min(cur.size, base.size)} non-null values < min_samples {policy.min_samples}"
                )
            else:
                ks_stat, ks_p = ks_test(base, cur)
                wd = wasserstein_normalised(base, cur, float(np.std(base)))
            score = wd
            drifted = enough and wd is not None and wd >= policy.wasserstein_threshold
        nulls = self._nulls[name] / self.rows if self.rows else 0.0
        invalid = self._invalid[name] / self.rows if self.rows else 0.0
        missing_drift = enough and nulls + invalid - ref.null_fraction > policy.missing_share
        return FeatureDrift(
            feature=name,
            categorical=ref.categorical,
            current_count=n,
            null_fraction=nulls,
            invalid_fraction=invalid,
            reference_null_fraction=ref.null_fraction,
            missing_drift=missing_drift,
            method=method,
            score=score,
            drifted=drifted or missing_drift,
            psi=value,
            severity=severity,
            reference_mean=ref.mean,
            current_mean=self._sums[name] / n if n else None,
            ks_statistic=ks_stat,
            ks_pvalue=ks_p,
            ks_drifted=None if ks_p is None else ks_p < policy.ks_pvalue,
            wasserstein_norm=wd,
            skipped=skipped,
        )

    def _prediction_drift(self, enough: bool, skipped: list[str]) -> PredictionDrift | None:
        count = int(self._pred_counts.sum())
        if self._extra is None or self.prediction_column not in self._extra or count == 0:
            skipped.append(f"prediction drift: the window has no {self.prediction_column!r} values")
            return None
        ref = self.profile.prediction
        classifier = self.contract.task == "classification"
        value = psi(np.asarray(ref.proportions), self._pred_counts)
        severity = _severity(value, self.policy) if enough else Severity.NONE
        return PredictionDrift(
            psi=value,
            severity=severity,
            drifted=severity is not Severity.NONE,
            current_positive_rate=self._positives / count if classifier else None,
            reference_positive_rate=ref.positive_rate if classifier else None,
            current_mean=self._pred_sum / count,
            reference_mean=ref.mean,
            count=count,
        )

    def _performance(self, skipped: list[str]) -> Performance | RegressionPerformance | None:
        if self._labelled < self.policy.min_samples:
            skipped.append(
                f"performance: {self._labelled} labelled rows with predictions < min_samples {self.policy.min_samples}"
            )
            return None
        if self.contract.task == "regression":
            return self._regression_performance(skipped)
        tp, fp, fn = (int(v) for v in self._confusion)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        reference_f1 = self.profile.metrics.get("f1")
        if reference_f1 is None:
            skipped.append("performance: the reference profile has no 'f1' metric to compare with")
        degraded = reference_f1 is not None and f1 < self.policy.f1_ratio * reference_f1
        return Performance(f1, precision, recall, self._labelled, reference_f1, degraded)

    def _regression_performance(self, skipped: list[str]) -> RegressionPerformance:
        squared, absolute, total, total_squared, n = (float(v) for v in self._errors)
        variance = total_squared - total**2 / n  # n times the labels' variance
        rmse = (squared / n) ** 0.5
        reference_rmse = self.profile.metrics.get("rmse")
        if reference_rmse is None:
            skipped.append("performance: the reference profile has no 'rmse' metric to compare with")
        degraded = reference_rmse is not None and rmse * self.policy.f1_ratio > reference_rmse
        r2 = 1.0 - squared / variance if variance > 0 else None
        return RegressionPerformance(rmse, absolute / n, r2, int(n), reference_rmse, degraded)
