"""Every Prometheus metric name the platform's dashboards and alert rules use — defined here and only here.

Workload metric names mirror `workloads/mlops_workloads/serving/metrics.py` (METRIC_NAMES) and
`workloads/mlops_workloads/monitoring/metrics.py` (EXPORTED_METRICS). The infra environment cannot import the
workloads package, so tests read those files as text and check `workload_metric_names_used()` against them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Inference service (workloads/mlops_workloads/serving/metrics.py)
PREDICTIONS_TOTAL = "model_predictions_total"  # {model_version, prediction_class, variant}
PREDICTION_LATENCY_SECONDS = "model_prediction_latency_seconds"  # histogram {variant}
MODEL_INFO = "model_info"  # {model_name, model_version, variant, runtime}
REQUEST_ERRORS_TOTAL = "model_request_errors_total"  # {endpoint, reason}
BATCH_SIZE = "model_batch_size"  # histogram
RELOAD_FAILURES_TOTAL = "model_reload_failures_total"  # {variant, reason}

# Monitoring job, pushed to the Pushgateway (workloads/mlops_workloads/monitoring/metrics.py)
FEATURE_DRIFT_SCORE = "model_feature_drift_score"  # {model_name, model_version, feature, statistic}
DATASET_DRIFT_SHARE = "model_dataset_drift_share"  # {model_name, model_version}
PREDICTION_DRIFT_SCORE = "model_prediction_drift_score"  # {model_name, model_version, statistic}
F1_SCORE = "model_f1_score"  # {model_name, model_version, window}
RMSE = "model_rmse"  # {model_name, model_version, window}: regressors
MAE = "model_mae"  # {model_name, model_version, window}: regressors
R2_SCORE = "model_r2_score"  # {model_name, model_version, window}: regressors
RETRAINING_TRIGGERED_TOTAL = "model_retraining_triggered_total"  # {model_name}
LAST_RUN_TIMESTAMP = "model_monitoring_last_run_timestamp_seconds"  # {model_name}
LAST_SUCCESS_TIMESTAMP = "model_monitoring_last_success_timestamp_seconds"  # {model_name}
RUN_FAILED = "model_monitoring_run_failed"  # {model_name}

# The `window` label of a performance gauge: `current` = live on labelled feedback, `reference` = at training.
CURRENT_WINDOW = "current"
# Quality-gate metric, as the evaluate steps name it (workloads/mlops_workloads/training.py: evaluate_model,
# regression_metrics) -> the gauge the monitoring job exports of it on labelled feedback. The other gate metrics
# (precision, recall, roc_auc) have no live gauge, so no live alert can watch them.
LIVE_PERFORMANCE: Mapping[str, str] = {"f1": F1_SCORE, "rmse": RMSE, "mae": MAE, "r2": R2_SCORE}

# kube-state-metrics (bundled with kube-prometheus-stack)
KSM_DEPLOYMENT_UNAVAILABLE = "kube_deployment_status_replicas_unavailable"
KSM_DEPLOYMENT_AVAILABLE = "kube_deployment_status_replicas_available"
KSM_NODE_ALLOCATABLE = "kube_node_status_allocatable"
KSM_NODE_LABELS = "kube_node_labels"
KSM_POD_REQUESTS = "kube_pod_container_resource_requests"
KSM_POD_PHASE = "kube_pod_status_phase"
KSM_HPA_CURRENT = "kube_horizontalpodautoscaler_status_current_replicas"
KSM_HPA_DESIRED = "kube_horizontalpodautoscaler_status_desired_replicas"

# NVIDIA DCGM exporter (AWS only; GKE publishes GPU metrics to Cloud Monitoring instead)
DCGM_GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
DCGM_FB_USED = "DCGM_FI_DEV_FB_USED"

WORKLOAD_PREFIX = "model_"
HISTOGRAMS = frozenset({PREDICTION_LATENCY_SECONDS, BATCH_SIZE})
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "inf",
        "nan",
    }
)
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names_in(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (histogram series reduced to the histogram's name)."""
    stripped = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    stripped = _GROUPING.sub("", stripped)  # grouping label lists
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)  # range durations
    stripped = re.sub(r'"[^"]*"', "", stripped)  # string literals
    names = set()
    for match in _IDENTIFIER.finditer(stripped):
        token, rest = match.group(0), stripped[match.end() :].lstrip()
        if rest.startswith("(") or token.lower() in _KEYWORDS:
            continue  # a function call or an operator keyword
        names.add(_histogram_base(token))
    return names


def _histogram_base(name: str) -> str:
    for suffix in _HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in HISTOGRAMS:
            return name.removesuffix(suffix)
    return name


def workload_metric_names_used() -> set[str]:
    """Names of workload metrics (model_*) used by every dashboard and alert rule the platform deploys."""
    from components.k8s.alerts import all_rule_exprs
    from components.k8s.dashboards import all_dashboard_exprs

    used: set[str] = set()
    for expr in [*all_rule_exprs(), *all_dashboard_exprs()]:
        used |= {name for name in metric_names_in(expr) if name.startswith(WORKLOAD_PREFIX)}
    return used
