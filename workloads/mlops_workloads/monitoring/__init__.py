"""Drift and performance monitoring of the deployed model: a batch job (``python -m mlops_workloads.monitoring``)."""

from mlops_workloads.monitoring.drift import (
    DriftAccumulator,
    DriftPolicy,
    DriftResult,
    FeatureDrift,
    Performance,
    RegressionPerformance,
    Severity,
)
from mlops_workloads.monitoring.job import MonitoringConfig, MonitoringError, MonitoringRun, run_monitoring
from mlops_workloads.monitoring.retrain import (
    CooldownState,
    KfpApiRetrainer,
    LocalRetrainer,
    Outcome,
    Retrainer,
    RetrainingDecision,
    RetrainSubmission,
)

__all__ = [
    "CooldownState",
    "DriftAccumulator",
    "DriftPolicy",
    "DriftResult",
    "FeatureDrift",
    "KfpApiRetrainer",
    "LocalRetrainer",
    "MonitoringConfig",
    "MonitoringError",
    "MonitoringRun",
    "Outcome",
    "Performance",
    "RegressionPerformance",
    "RetrainSubmission",
    "Retrainer",
    "RetrainingDecision",
    "Severity",
    "run_monitoring",
]
