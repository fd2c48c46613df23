"""Prometheus metrics of the inference service.

Every metric name lives here and only here: the platform's Grafana dashboards and alert rules are tested against
``METRIC_NAMES``, so renaming a metric breaks those tests instead of silently emptying a panel. Every metric carries
a ``model`` label (the registered model served), so one Prometheus serves the dashboards of many models.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREDICTIONS_TOTAL = "model_predictions_total"
PREDICTION_LATENCY_SECONDS = "model_prediction_latency_seconds"
MODEL_INFO = "model_info"
REQUEST_ERRORS_TOTAL = "model_request_errors_total"
BATCH_SIZE = "model_batch_size"
RELOAD_FAILURES_TOTAL = "model_reload_failures_total"
RELOADS_TOTAL = "model_reloads_total"
REFUSED_VERSION = "model_refused_version"

METRIC_NAMES: tuple[str, ...] = (
    PREDICTIONS_TOTAL,
    PREDICTION_LATENCY_SECONDS,
    MODEL_INFO,
    REQUEST_ERRORS_TOTAL,
    BATCH_SIZE,
    RELOAD_FAILURES_TOTAL,
    RELOADS_TOTAL,
    REFUSED_VERSION,
)

# Sub-millisecond resolution at the bottom: an ONNX forest answers in well under a millisecond.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 10_000)


class ServingMetrics:
    """The service's metrics on a private registry, so two app instances (or two tests) never share counters."""

    def __init__(self, model: str, registry: CollectorRegistry | None = None) -> None:
        self.model = model
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.predictions = Counter(
            PREDICTIONS_TOTAL,
            "Predictions served, by resolved model version, predicted class and A/B variant",
            ["model", "model_version", "prediction_class", "variant"],
            registry=self.registry,
        )
        self.latency = Histogram(
            PREDICTION_LATENCY_SECONDS,
            "Wall time of a prediction request, from validated input to response",
            ["model", "variant"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_info = Gauge(
            MODEL_INFO,
            "1 for each model currently served",
            ["model", "model_name", "model_version", "variant", "runtime"],
            registry=self.registry,
        )
        self.request_errors = Counter(
            REQUEST_ERRORS_TOTAL,
            "Requests that did not get a prediction, by endpoint and reason",
            ["model", "endpoint", "reason"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            BATCH_SIZE,
            "Rows per inference call (micro-batches and /predict/batch)",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.reload_failures = Counter(
            RELOAD_FAILURES_TOTAL,
            "Failed attempts to load or refresh a model; the previous model keeps serving",
            ["model", "variant", "reason"],
            registry=self.registry,
        )
        self.reloads = Counter(RELOADS_TOTAL, "Models loaded and swapped in", ["model"], registry=self.registry)
        self.refused_version = Gauge(
            REFUSED_VERSION,
            "1 while an alias points at a version the service refused to load (it retries with back-off)",
            ["model", "variant", "model_version", "reason"],
            registry=self.registry,
        )
