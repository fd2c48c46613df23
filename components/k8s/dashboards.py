"""Grafana dashboards (JSON models) provisioned as ConfigMaps that Grafana's sidecar loads (label grafana_dashboard)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.k8s import metrics as m
from components.k8s.alerts import EXAMPLE_OPTIONS, ModelAlerting, RuleOptions


@dataclass(frozen=True)
class Panel:
    title: str
    exprs: tuple[tuple[str, str], ...]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""


# One dashboard serves every model: the `model` variable selects series by the serving metrics' `model` label and the
# monitoring metrics' `model_name` label.
MODEL = '{model=~"$model"}'
MODEL_NAME = '{model_name=~"$model"}'


def _quantile(q: float) -> tuple[str, str]:
    expr = f"histogram_quantile({q}, sum by (le, variant) (rate({m.PREDICTION_LATENCY_SECONDS}_bucket{MODEL}[5m])))"
    return expr, f"p{round(q * 100)} {{{{variant}}}}"


def serving_panels() -> list[Panel]:
    requests = f"sum(rate({m.PREDICTION_LATENCY_SECONDS}_count{MODEL}[5m]))"
    errors = f"sum(rate({m.REQUEST_ERRORS_TOTAL}{MODEL}[5m]))"
    return [
        Panel(
            "Request rate by variant",
            ((f"sum by (variant) (rate({m.PREDICTION_LATENCY_SECONDS}_count{MODEL}[5m]))", "{{variant}}"),),
            "reqps",
        ),
        Panel("Latency p50 / p95 / p99", (_quantile(0.5), _quantile(0.95), _quantile(0.99)), "s"),
        Panel("Error rate", ((f"{errors} / ({errors} + {requests})", "error ratio"),), "percentunit"),
        Panel(
            "Errors by reason",
            ((f"sum by (endpoint, reason) (rate({m.REQUEST_ERRORS_TOTAL}{MODEL}[5m]))", "{{endpoint}} {{reason}}"),),
            "reqps",
        ),
        Panel(
            "Predictions by class",
            ((f"sum by (prediction_class) (rate({m.PREDICTIONS_TOTAL}{MODEL}[5m]))", "class {{prediction_class}}"),),
            "ops",
        ),
        Panel(
            "Predictions by model version and A/B variant",
            (
                (
                    f"sum by (model_version, variant) (rate({m.PREDICTIONS_TOTAL}{MODEL}[5m]))",
                    "v{{model_version}} {{variant}}",
                ),
            ),
            "ops",
        ),
        Panel(
            "Models served",
            (
                (
                    f"max by (model_name, model_version, variant, runtime) ({m.MODEL_INFO}{MODEL})",
                    "{{model_name}} v{{model_version}} {{variant}} ({{runtime}})",
                ),
            ),
            kind="table",
        ),
        Panel(
            "Batch size p95",
            ((f"histogram_quantile(0.95, sum by (le) (rate({m.BATCH_SIZE}_bucket{MODEL}[5m])))", "p95 rows"),),
        ),
        Panel(
            "Model reload failures",
            ((f"sum by (variant, reason) (increase({m.RELOAD_FAILURES_TOTAL}{MODEL}[1h]))", "{{variant}} {{reason}}"),),
        ),
    ]


def performance_panel(title: str, metric: str, models: tuple[ModelAlerting, ...], unit: str = "short") -> Panel:
    """A live performance gauge by version and window, with each model's quality gate on it (the alert's bar)."""
    gauge = m.LIVE_PERFORMANCE[metric]
    gates = tuple(
        (f"vector({gate.threshold})", f"{model.name} {gate.bound} gate")
        for model in models
        for gate in model.gates
        if gate.metric == metric
    )
    series = f"max by (model_name, model_version, window) ({gauge}{MODEL_NAME})"
    return Panel(title, ((series, "{{model_name}} v{{model_version}} {{window}}"), *gates), unit)


def drift_panels(models: tuple[ModelAlerting, ...]) -> list[Panel]:
    thresholds = tuple((f"vector({model.drift_share})", f"{model.name} alert threshold") for model in models)
    return [
        Panel(
            "Feature drift score",
            ((f"max by (feature, statistic) ({m.FEATURE_DRIFT_SCORE}{MODEL_NAME})", "{{feature}} ({{statistic}})"),),
        ),
        Panel(
            "Dataset drift share",
            (
                (
                    f"max by (model_name, model_version) ({m.DATASET_DRIFT_SHARE}{MODEL_NAME})",
                    "{{model_name}} v{{model_version}}",
                ),
                *thresholds,
            ),
            "percentunit",
        ),
        Panel(
            "Prediction drift score",
            (
                (
                    f"max by (model_version, statistic) ({m.PREDICTION_DRIFT_SCORE}{MODEL_NAME})",
                    "v{{model_version}} {{statistic}}",
                ),
            ),
        ),
        performance_panel("F1 on labelled feedback", "f1", models, "percentunit"),
        performance_panel("RMSE on labelled feedback", "rmse", models),
        performance_panel("MAE on labelled feedback", "mae", models),
        performance_panel("R² on labelled feedback", "r2", models),
        Panel(
            "Retraining triggers (24h)",
            ((f"sum by (model_name) (increase({m.RETRAINING_TRIGGERED_TOTAL}{MODEL_NAME}[1d]))", "{{model_name}}"),),
            kind="stat",
        ),
        Panel(
            "Time since last successful monitoring run",
            ((f"time() - max by (model_name) ({m.LAST_SUCCESS_TIMESTAMP}{MODEL_NAME})", "{{model_name}}"),),
            "s",
            "stat",
        ),
        Panel(
            "Monitoring run failed",
            ((f"max by (model_name) ({m.RUN_FAILED}{MODEL_NAME})", "{{model_name}}"),),
            kind="stat",
        ),
        Panel(
            "Last monitoring run",
            ((f"max by (model_name) ({m.LAST_RUN_TIMESTAMP}{MODEL_NAME}) * 1000", "{{model_name}}"),),
            "dateTimeAsIso",
            "stat",
        ),
    ]


def capacity_panels(options: RuleOptions, pool_label: str | None) -> list[Panel]:
    gpu = options.ksm_gpu_resource
    panels = []
    if pool_label:
        panels.append(
            Panel("Nodes per pool", ((f"count by ({pool_label}) ({m.KSM_NODE_LABELS})", f"{{{{{pool_label}}}}}"),))
        )
    panels += [
        Panel(
            "CPU requested / allocatable",
            (
                (
                    f'sum({m.KSM_POD_REQUESTS}{{resource="cpu"}}) / sum({m.KSM_NODE_ALLOCATABLE}{{resource="cpu"}})',
                    "cpu",
                ),
            ),
            "percentunit",
        ),
        Panel("Pending pods", ((f'sum by (namespace) ({m.KSM_POD_PHASE}{{phase="Pending"}})', "{{namespace}}"),)),
        Panel(
            "GPUs allocatable vs requested",
            (
                (f'sum({m.KSM_NODE_ALLOCATABLE}{{resource="{gpu}"}})', "allocatable"),
                (f'sum({m.KSM_POD_REQUESTS}{{resource="{gpu}"}})', "requested"),
            ),
        ),
        Panel(
            "Inference replicas (HPA)",
            (
                (
                    f"max by (namespace, horizontalpodautoscaler) ({m.KSM_HPA_CURRENT})",
                    "{{namespace}}/{{horizontalpodautoscaler}} current",
                ),
                (
                    f"max by (namespace, horizontalpodautoscaler) ({m.KSM_HPA_DESIRED})",
                    "{{namespace}}/{{horizontalpodautoscaler}} desired",
                ),
            ),
        ),
    ]
    if options.dcgm:
        panels += [
            Panel(
                "GPU utilisation (DCGM)",
                ((f"avg by (Hostname, gpu) ({m.DCGM_GPU_UTIL})", "{{Hostname}} gpu{{gpu}}"),),
                "percent",
            ),
            Panel(
                "GPU memory used (DCGM)",
                ((f"max by (Hostname, gpu) ({m.DCGM_FB_USED})", "{{Hostname}} gpu{{gpu}}"),),
                "decmbytes",
            ),
        ]
    else:
        panels.append(
            Panel(
                "GPU utilisation",
                (),
                kind="text",
                description=(
                    "On GKE the NVIDIA driver, device plugin and DCGM are managed by Google: GPU utilisation is "
                    "published to Cloud Monitoring (kubernetes.io/container/accelerator/duty_cycle), "
                    "not to this Prometheus."
                ),
            )
        )
    return panels


def dashboard(uid: str, title: str, panels: list[Panel], by_model: bool = False) -> dict[str, Any]:
    """A Grafana dashboard JSON model; queries use the Prometheus datasource chosen in the `datasource` variable."""
    datasource = {"type": "prometheus", "uid": "${datasource}"}
    variables: list[dict[str, Any]] = [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}
    ]
    if by_model:  # every model that reported a version (serving's model_info)
        query = f"label_values({m.MODEL_INFO}, model_name)"
        variables.append(
            {
                "name": "model", "label": "Model", "type": "query", "datasource": datasource,
                "query": {"query": query, "refId": "models"}, "definition": query,
                "includeAll": True, "multi": True, "allValue": ".*", "current": {"text": "All", "value": "$__all"},
                "refresh": 2,
            }
        )  # fmt: skip
    models = []
    for index, panel in enumerate(panels):
        model: dict[str, Any] = {
            "id": index + 1,
            "type": panel.kind,
            "title": panel.title,
            "gridPos": {"x": (index % 2) * 12, "y": (index // 2) * 8, "w": 12, "h": 8},
        }
        if panel.kind == "text":
            model["options"] = {"mode": "markdown", "content": panel.description}
        else:
            model["datasource"] = datasource
            model["fieldConfig"] = {"defaults": {"unit": panel.unit}, "overrides": []}
            model["targets"] = [
                {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend, "datasource": datasource}
                for i, (expr, legend) in enumerate(panel.exprs)
            ]
        models.append(model)
    return {
        "uid": uid,
        "title": title,
        "tags": ["mlops"],
        "schemaVersion": 39,
        "editable": False,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "templating": {"list": variables},
        "panels": models,
    }


def dashboards(options: RuleOptions, pool_label: str | None) -> dict[str, dict[str, Any]]:
    """File name -> dashboard model."""
    return {
        "model-serving.json": dashboard("mlops-model-serving", "Model serving", serving_panels(), by_model=True),
        "model-drift.json": dashboard(
            "mlops-model-drift", "Model drift and quality", drift_panels(options.models), by_model=True
        ),
        "capacity.json": dashboard("mlops-capacity", "Cluster capacity", capacity_panels(options, pool_label)),
    }


def panel_exprs(model: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in model["panels"] for target in panel.get("targets", [])]


def all_dashboard_exprs() -> list[str]:
    return [expr for model in dashboards(EXAMPLE_OPTIONS, "label_pool").values() for expr in panel_exprs(model)]
