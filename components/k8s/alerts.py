"""Alert rules (PrometheusRule groups) and the Alertmanager configuration, as plain data built in Python.

Both are rendered to files by the tests and checked with the real tools (`promtool check/test rules`,
`amtool check-config`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from components.k8s import metrics as m
from components.spec import QualityGatesSpec

P95_LATENCY_SECONDS = 0.2
MEAN_LATENCY_SECONDS = 0.4
ERROR_RATE = 0.05
MONITORING_STALE_SECONDS = 3 * 3600  # three missed runs of the default hourly schedule
GPU_IDLE_FOR = "2h"


Bound = Literal["min", "max"]


@dataclass(frozen=True)
class LiveGate:
    """A quality gate the monitoring job can check live: `metric` (as the gates name it) at least or at most
    `threshold`, the bar a trained model must clear to be registered."""

    metric: str
    bound: Bound
    threshold: float

    @property
    def gauge(self) -> str:
        return m.LIVE_PERFORMANCE[self.metric]


def live_gates(gates: QualityGatesSpec) -> tuple[LiveGate, ...]:
    """The gates whose metric the monitoring job exports live; precision, recall, roc_auc (no gauge) are left out."""
    bounds: tuple[tuple[Bound, dict[str, float]], ...] = (("min", gates.min), ("max", gates.max))
    return tuple(
        LiveGate(metric, bound, threshold)
        for bound, values in bounds
        for metric, threshold in sorted(values.items())
        if metric in m.LIVE_PERFORMANCE
    )


@dataclass(frozen=True)
class ModelAlerting:
    """What one model's own alert rules watch: its serving Deployment, its drift threshold, its live quality gates."""

    name: str
    namespace: str
    deployment: str
    drift_share: float
    gates: tuple[LiveGate, ...] = ()


@dataclass(frozen=True)
class RuleOptions:
    models: tuple[ModelAlerting, ...] = ()
    gpu_resource: str = "nvidia.com/gpu"
    dcgm: bool = False  # DCGM exporter metrics are scraped (AWS)
    gpu_pool: bool = True

    @property
    def ksm_gpu_resource(self) -> str:
        """kube-state-metrics sanitises resource names: nvidia.com/gpu -> nvidia_com_gpu."""
        return self.gpu_resource.replace(".", "_").replace("/", "_")


def _alert(name: str, expr: str, duration: str, severity: str, summary: str, **extra: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity, "team": "ml-platform", **extra},
        "annotations": {"summary": summary},
    }


def _latency(kind: str) -> str:
    return f"{m.PREDICTION_LATENCY_SECONDS}_{kind}"


def _performance_alert(model: ModelAlerting, gate: LiveGate) -> dict[str, Any]:
    """Fires when the live value on labelled feedback fails the gate (gates are inclusive: at the bar passes). The
    gauge exists only when labelled feedback reached the monitoring window."""
    below = gate.bound == "min"
    aggregate, comparison, side = ("min", "<", "below") if below else ("max", ">", "above")
    return _alert(
        "ModelPerformanceOutsideGate",
        f"{aggregate} by (model_name, model_version) "
        f'({gate.gauge}{{model_name="{model.name}",window="{m.CURRENT_WINDOW}"}}) {comparison} {gate.threshold}',
        "5m",
        "critical",
        f"live {gate.metric} on labelled feedback {side} {gate.threshold} "
        f"(qualityGates.{gate.bound}.{gate.metric}, the bar a trained model must clear to be registered)",
        model=model.name,
        metric=gate.metric,
        bound=gate.bound,
    )


def model_rules(model: ModelAlerting) -> list[dict[str, Any]]:
    """The rules of one model: its replicas, its drift threshold and its live quality gates, labelled with the model."""
    return [
        _alert(
            "InferenceReplicasUnavailable",
            f'{m.KSM_DEPLOYMENT_UNAVAILABLE}{{namespace="{model.namespace}",deployment="{model.deployment}"}} > 0',
            "10m",
            "warning",
            "inference replicas unavailable for 10 minutes",
            model=model.name,
        ),
        _alert(
            "ModelDatasetDriftHigh",
            f'max by (model_name, model_version) ({m.DATASET_DRIFT_SHARE}{{model_name="{model.name}"}})'
            f" > {model.drift_share}",
            "5m",
            "warning",
            "share of drifted features above the model's monitoring.driftShare",
            model=model.name,
        ),
        *(_performance_alert(model, gate) for gate in model.gates),
    ]


def rule_groups(options: RuleOptions) -> list[dict[str, Any]]:
    """Rules over every model's series, grouped `by (model)` (the serving metrics' label), then each model's own."""
    requests = f"sum by (model) (rate({_latency('count')}[5m]))"
    errors = f"sum by (model) (rate({m.REQUEST_ERRORS_TOTAL}[5m]))"
    serving = [
        _alert(
            "InferenceLatencyP95High",
            f"histogram_quantile(0.95, sum by (model, le) (rate({_latency('bucket')}[5m]))) > {P95_LATENCY_SECONDS}",
            "5m",
            "critical",
            "p95 inference latency above 200 ms for 5 minutes",
        ),
        _alert(
            "InferenceErrorRateHigh",
            f"{errors} / ({errors} + {requests}) > {ERROR_RATE}",
            "10m",
            "critical",
            "more than 5% of inference requests fail",
        ),
        _alert(
            "InferenceMeanLatencyHigh",
            f"sum by (model) (rate({_latency('sum')}[5m])) / {requests} > {MEAN_LATENCY_SECONDS}",
            "5m",
            "warning",
            "mean inference latency above 400 ms for 5 minutes",
        ),
        _alert(
            "InferenceModelReloadFailing",
            f"sum by (model) (increase({m.RELOAD_FAILURES_TOTAL}[15m])) > 0",
            "15m",
            "warning",
            "the inference service keeps failing to load a new model version",
        ),
    ]
    quality = [
        _alert(
            "ModelMonitoringStale",
            f"time() - max by (model_name) ({m.LAST_SUCCESS_TIMESTAMP}) > {MONITORING_STALE_SECONDS}",
            "15m",
            "warning",
            "the monitoring job has not succeeded for 3 hours",
        ),
    ]
    capacity: list[dict[str, Any]] = []
    if options.gpu_pool:
        gpu = options.ksm_gpu_resource
        capacity.append(
            _alert(
                "GpuNodeIdle",
                f'(sum by (node) ({m.KSM_NODE_ALLOCATABLE}{{resource="{gpu}"}}) > 0) unless on (node) '
                f'(sum by (node) ({m.KSM_POD_REQUESTS}{{resource="{gpu}"}}) > 0)',
                GPU_IDLE_FOR,
                "warning",
                "a GPU node has run for 2 hours with no pod requesting a GPU",
                category="cost",
            )
        )
        if options.dcgm:
            capacity.append(
                _alert(
                    "GpuUtilisationLow",
                    f"avg by (Hostname) ({m.DCGM_GPU_UTIL}) < 5",
                    GPU_IDLE_FOR,
                    "warning",
                    "GPUs below 5% utilisation for 2 hours",
                    category="cost",
                )
            )
    groups = [{"name": "model-serving", "rules": serving}, {"name": "model-quality", "rules": quality}]
    groups += [{"name": f"model-{model.name}", "rules": model_rules(model)} for model in options.models]
    if capacity:
        groups.append({"name": "capacity-cost", "rules": capacity})
    return groups


# Every rule and panel the platform can deploy: a model with a live gate on each live metric, DCGM scraped.
EXAMPLE_OPTIONS = RuleOptions(
    models=(
        ModelAlerting(
            "example",
            "team",
            "example-serving",
            0.3,
            tuple(LiveGate(metric, "min", 0.5) for metric in m.LIVE_PERFORMANCE),
        ),
    ),
    dcgm=True,
)


def all_rule_exprs() -> list[str]:
    return [rule["expr"] for group in rule_groups(EXAMPLE_OPTIONS) for rule in group["rules"]]


NULL_RECEIVER = "null"
SLACK_RECEIVER = "slack"
PAGERDUTY_RECEIVER = "pagerduty"


def alertmanager_config(
    slack_webhook_url: str | None, pagerduty_routing_key: str | None, slack_channel: str
) -> dict[str, Any]:
    """Critical alerts page (PagerDuty), the rest go to Slack; a missing key routes to the null receiver."""
    receivers: list[dict[str, Any]] = [{"name": NULL_RECEIVER}]
    slack = pagerduty = NULL_RECEIVER
    if slack_webhook_url:
        slack = SLACK_RECEIVER
        receivers.append(
            {
                "name": SLACK_RECEIVER,
                "slack_configs": [
                    {
                        "api_url": slack_webhook_url,
                        "channel": slack_channel,
                        "send_resolved": True,
                        "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}",
                        "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
                    }
                ],
            }
        )
    if pagerduty_routing_key:
        pagerduty = PAGERDUTY_RECEIVER
        receivers.append(
            {
                "name": PAGERDUTY_RECEIVER,
                "pagerduty_configs": [
                    {
                        "routing_key": pagerduty_routing_key,
                        "send_resolved": True,
                        "description": "{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}",
                    }
                ],
            }
        )
    return {
        "route": {
            "receiver": slack,
            "group_by": ["alertname", "namespace", "severity"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "1h",
            "routes": [
                # kube-prometheus-stack's always-firing heartbeat and informational alerts notify nobody.
                {"receiver": NULL_RECEIVER, "matchers": ['alertname = "Watchdog"']},
                {"receiver": NULL_RECEIVER, "matchers": ['alertname = "InfoInhibitor"']},
                {"receiver": pagerduty, "matchers": ['severity = "critical"']},
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity = "critical"'],
                "target_matchers": ['severity = "warning"'],
                "equal": ["alertname", "namespace"],
            }
        ],
        "receivers": receivers,
    }
