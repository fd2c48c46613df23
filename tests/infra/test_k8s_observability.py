"""Alert rules, Alertmanager config and dashboards, checked with the real tools (promtool, amtool) and against the
metric names the workloads really export (read as text: the infra environment cannot import the workloads)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k8s import metrics
from components.k8s.alerts import ModelAlerting, RuleOptions, alertmanager_config, live_gates, rule_groups
from components.k8s.dashboards import panel_exprs
from components.spec import ModelSpec, PlatformSpec
from infra.plan.engine import PROJECT_ROOT, Plan
from tests.infra.conftest import STACKS, stack_spec
from tests.infra.fake_cloud import FAKE_PAGERDUTY_KEY, FAKE_SLACK_WEBHOOK, fake_cloud_plan, kube_objects

SERVING_METRICS = PROJECT_ROOT / "workloads/mlops_workloads/serving/metrics.py"
MONITORING_METRICS = PROJECT_ROOT / "workloads/mlops_workloads/monitoring/metrics.py"
TRAINING = PROJECT_ROOT / "workloads/mlops_workloads/training.py"
PERFORMANCE_ALERT = "ModelPerformanceOutsideGate"
PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package `prometheus`)")
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool not installed (`prometheus-alertmanager`)")
LABELS = {"team": "ml-platform"}


def exported_workload_metrics() -> set[str]:
    """Metric names declared in the workloads' metrics modules (constants assigned a "model_..." string)."""
    names: set[str] = set()
    for path in (SERVING_METRICS, MONITORING_METRICS):
        names |= set(re.findall(r'^[A-Z][A-Z0-9_]*\s*=\s*"(model_[a-z0-9_]+)"', path.read_text(), flags=re.MULTILINE))
    return names


def test_dashboards_and_rules_use_only_metrics_the_workloads_export() -> None:
    exported = exported_workload_metrics()
    assert {"model_predictions_total", "model_prediction_latency_seconds", "model_dataset_drift_share"} <= exported
    used = metrics.workload_metric_names_used()
    assert used, "no workload metric found in dashboards and rules"
    assert used <= exported, f"not exported by the workloads: {sorted(used - exported)}"
    # Every workload metric constant the platform declares is one the workloads export.
    declared = {
        v
        for k, v in vars(metrics).items()
        if k.isupper() and isinstance(v, str) and v.startswith("model_") and k != "WORKLOAD_PREFIX"
    }
    assert declared <= exported, sorted(declared - exported)


def test_metric_name_extraction_ignores_labels_functions_and_histogram_suffixes() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, model_version) "
        '(rate(model_prediction_latency_seconds_bucket{variant="a"}[5m])))'
    )
    assert metrics.metric_names_in(expr) == {"model_prediction_latency_seconds"}
    assert metrics.metric_names_in(
        "time() - max by (model_name) (model_monitoring_last_success_timestamp_seconds)"
    ) == {"model_monitoring_last_success_timestamp_seconds"}


def test_live_performance_maps_gate_metrics_to_gauges_the_monitoring_job_exports() -> None:
    """Keys are metric names the evaluate steps report (what gates name); values are gauges the monitoring job
    exports with the live `window` label value."""
    reported = set(re.findall(r'^\s*"([a-z0-9_]+)": float\(', TRAINING.read_text(), flags=re.MULTILINE))
    assert {"f1", "precision", "rmse", "r2"} <= reported  # the text pattern still finds the evaluate steps' metrics
    assert set(metrics.LIVE_PERFORMANCE) <= reported, sorted(set(metrics.LIVE_PERFORMANCE) - reported)
    assert set(metrics.LIVE_PERFORMANCE.values()) <= exported_workload_metrics()
    monitoring = MONITORING_METRICS.read_text()
    assert f'[*mv, "{metrics.CURRENT_WINDOW}"]' in monitoring


def _live_gates_of(model: ModelSpec) -> set[tuple[str, str, float]]:
    """(metric, bound, threshold) of every gate of the spec that has a live gauge."""
    gates = model.quality_gates
    return {
        (metric, bound, threshold)
        for bound, values in (("min", gates.min), ("max", gates.max))
        for metric, threshold in values.items()
        if metric in metrics.LIVE_PERFORMANCE
    }


@pytest.mark.parametrize("stack", STACKS)
def test_each_models_live_gates_become_its_own_performance_alerts(stack: str) -> None:
    groups = {group["name"]: group["rules"] for group in _plan_rules(fake_cloud_plan(stack)[0])}
    spec = stack_spec(stack)
    gauges = set(metrics.LIVE_PERFORMANCE.values())
    for model in spec.models:
        rules = [r for r in groups.pop(f"model-{model.name}") if r["alert"] == PERFORMANCE_ALERT]
        found = {(r["labels"]["metric"], r["labels"]["bound"], float(r["expr"].split()[-1])) for r in rules}
        assert found == _live_gates_of(model), model.name
        for rule in rules:
            assert rule["labels"]["model"] == model.name
            assert f'model_name="{model.name}"' in rule["expr"]
            summary = rule["annotations"]["summary"]
            assert rule["labels"]["metric"] in summary and rule["expr"].split()[-1] in summary, summary
    # No global performance rule (such as one floor for every model) is left outside the models' own groups.
    leftovers = {r["alert"] for rules in groups.values() for r in rules if metrics.metric_names_in(r["expr"]) & gauges}
    assert not leftovers


def _write(path: Path, document: Any) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _alert(name: str, labels: dict[str, str], severity: str) -> dict[str, Any]:
    return {"exp_labels": {"severity": severity, **LABELS, **labels}}


# The serving metrics carry the model they serve (MODELS_INTERFACE.md): one rule covers every model.
MODEL = {"model": "fraud-detection"}
SERVED = 'model="fraud-detection",variant="champion"'


def _latency_series(bucket_counts: dict[str, int], total: int, seconds_sum: float) -> list[dict[str, str]]:
    """Cumulative histogram series of one variant, increasing by the given per-minute amounts."""
    series = [
        {"series": f'model_prediction_latency_seconds_bucket{{le="{le}",{SERVED}}}', "values": f"0+{n}x40"}
        for le, n in bucket_counts.items()
    ]
    series.append({"series": f"model_prediction_latency_seconds_count{{{SERVED}}}", "values": f"0+{total}x40"})
    series.append({"series": f"model_prediction_latency_seconds_sum{{{SERVED}}}", "values": f"0+{seconds_sum}x40"})
    return series


def promtool_tests(spec: PlatformSpec) -> list[dict[str, Any]]:
    """Synthetic series proving each alert fires when it should and stays quiet otherwise (the first model's)."""
    first = spec.models[0]
    drift_threshold, namespace, deployment_name = first.monitoring.drift_share, first.team, f"{first.name}-serving"
    slow = _latency_series({"0.1": 0, "0.25": 0, "0.5": 60, "+Inf": 60}, 60, 27)  # all ~0.45 s
    fast = _latency_series({"0.1": 60, "0.25": 60, "0.5": 60, "+Inf": 60}, 60, 3)  # all ~0.05 s
    mv = {"model_name": "fraud-detection", "model_version": "3"}
    mv_series = '{model_name="fraud-detection",model_version="3"'
    drift = f"model_dataset_drift_share{mv_series}}}"
    deployment = (
        f'kube_deployment_status_replicas_unavailable{{namespace="{namespace}",deployment="{deployment_name}"}}'
    )
    gpu_node = 'kube_node_status_allocatable{node="gpu-1",resource="nvidia_com_gpu"}'
    gpu_request = (
        'kube_pod_container_resource_requests{node="gpu-1",resource="nvidia_com_gpu",namespace="kubeflow",pod="train"}'
    )
    return [
        {"name": "slow inference pages on p95 and warns on the mean", "interval": "1m", "input_series": slow,
         "alert_rule_test": [
             {"eval_time": "15m", "alertname": "InferenceLatencyP95High",
              "exp_alerts": [_alert("", MODEL, "critical")]},
             {"eval_time": "15m", "alertname": "InferenceMeanLatencyHigh",
              "exp_alerts": [_alert("", MODEL, "warning")]},
             {"eval_time": "3m", "alertname": "InferenceLatencyP95High", "exp_alerts": []},  # not yet 5 minutes
         ]},
        {"name": "fast inference stays quiet", "interval": "1m", "input_series": fast, "alert_rule_test": [
            {"eval_time": "30m", "alertname": "InferenceLatencyP95High", "exp_alerts": []},
            {"eval_time": "30m", "alertname": "InferenceMeanLatencyHigh", "exp_alerts": []},
            {"eval_time": "30m", "alertname": "InferenceErrorRateHigh", "exp_alerts": []},
        ]},
        {"name": "error rate above 5% for 10 minutes pages", "interval": "1m",
         "input_series": [*fast, {"series": 'model_request_errors_total{endpoint="/predict",reason="invalid",'
                                            'model="fraud-detection"}', "values": "0+6x40"}],
         "alert_rule_test": [
             {"eval_time": "25m", "alertname": "InferenceErrorRateHigh", "exp_alerts": [_alert("", MODEL, "critical")]},
             {"eval_time": "8m", "alertname": "InferenceErrorRateHigh", "exp_alerts": []},
         ]},
        {"name": "error rate of 1.6% stays quiet", "interval": "1m",
         "input_series": [*fast, {"series": 'model_request_errors_total{endpoint="/predict",reason="invalid",'
                                            'model="fraud-detection"}', "values": "0+1x40"}],
         "alert_rule_test": [{"eval_time": "30m", "alertname": "InferenceErrorRateHigh", "exp_alerts": []}]},
        {"name": "unavailable replicas", "interval": "1m", "input_series": [{"series": deployment, "values": "1x30"}],
         "alert_rule_test": [{"eval_time": "15m", "alertname": "InferenceReplicasUnavailable", "exp_alerts": [
             _alert("", {"namespace": namespace, "deployment": deployment_name, **MODEL}, "warning")]}]},
        {"name": "all replicas available", "interval": "1m", "input_series": [{"series": deployment, "values": "0x30"}],
         "alert_rule_test": [{"eval_time": "15m", "alertname": "InferenceReplicasUnavailable", "exp_alerts": []}]},
        {"name": "dataset drift above the threshold warns", "interval": "1m",
         "input_series": [{"series": drift, "values": f"{drift_threshold + 0.2}x20"}],
         "alert_rule_test": [{"eval_time": "10m", "alertname": "ModelDatasetDriftHigh",
                              "exp_alerts": [_alert("", mv | MODEL, "warning")]}]},
        {"name": "dataset drift below the threshold is quiet", "interval": "1m",
         "input_series": [{"series": drift, "values": f"{drift_threshold - 0.1}x20"}],
         "alert_rule_test": [{"eval_time": "10m", "alertname": "ModelDatasetDriftHigh", "exp_alerts": []}]},
        *[{"name": "each model's drift alert fires at its own monitoring.driftShare", "interval": "1m",
           "input_series": [{"series": f'model_dataset_drift_share{{model_name="{m.name}",model_version="1"}}',
                             "values": f"{(drift_threshold + other.monitoring.drift_share) / 2}x20"}
                            for m in (first, other)],
           "alert_rule_test": [{"eval_time": "10m", "alertname": "ModelDatasetDriftHigh", "exp_alerts": [
               _alert("", {"model_name": first.name, "model_version": "1", "model": first.name}, "warning")]}]}
          for other in spec.models[1:2] if other.monitoring.drift_share > drift_threshold],
        *performance_tests(spec),
        {"name": "monitoring job stale", "interval": "1m",
         "input_series": [{"series": 'model_monitoring_last_success_timestamp_seconds{model_name="fraud-detection"}',
                           "values": "0x300"}],
         "alert_rule_test": [
             {"eval_time": "4h", "alertname": "ModelMonitoringStale",
              "exp_alerts": [_alert("", {"model_name": "fraud-detection"}, "warning")]},
             {"eval_time": "2h", "alertname": "ModelMonitoringStale", "exp_alerts": []},
         ]},
        {"name": "idle GPU node costs money", "interval": "1m", "input_series": [
            {"series": gpu_node, "values": "1x200"},
            {"series": 'DCGM_FI_DEV_GPU_UTIL{Hostname="gpu-1",gpu="0"}', "values": "1x200"}],
         "alert_rule_test": [
             {"eval_time": "150m", "alertname": "GpuNodeIdle",
              "exp_alerts": [_alert("", {"node": "gpu-1", "category": "cost"}, "warning")]},
             {"eval_time": "150m", "alertname": "GpuUtilisationLow",
              "exp_alerts": [_alert("", {"Hostname": "gpu-1", "category": "cost"}, "warning")]},
         ]},
        {"name": "busy GPU node is quiet", "interval": "1m", "input_series": [
            {"series": gpu_node, "values": "1x200"}, {"series": gpu_request, "values": "1x200"},
            {"series": 'DCGM_FI_DEV_GPU_UTIL{Hostname="gpu-1",gpu="0"}', "values": "85x200"}],
         "alert_rule_test": [
             {"eval_time": "150m", "alertname": "GpuNodeIdle", "exp_alerts": []},
             {"eval_time": "150m", "alertname": "GpuUtilisationLow", "exp_alerts": []},
         ]},
    ]  # fmt: skip


def _beyond(bound: str, threshold: float) -> float:
    """A value that fails a gate: below a min, above a max."""
    step = max(abs(threshold) * 0.1, 0.05)
    return threshold - step if bound == "min" else threshold + step


def _fails(bound: str, threshold: float, value: float) -> bool:
    return value < threshold if bound == "min" else value > threshold


def _gauge(metric: str, model: str, window: str = metrics.CURRENT_WINDOW) -> str:
    return f'{metrics.LIVE_PERFORMANCE[metric]}{{model_name="{model}",model_version="1",window="{window}"}}'


def _performance_alert(model: str, metric: str, bound: str) -> dict[str, Any]:
    labels = {"model_name": model, "model_version": "1", "model": model, "metric": metric, "bound": bound}
    return _alert("", labels, "critical")


def performance_tests(spec: PlatformSpec) -> list[dict[str, Any]]:
    """Each model's live gates (from its qualityGates): a live value beyond the gate fires, one at the gate (or a
    failing training-time reference) is quiet, and another model's series fires only that model's own gates."""
    tests: list[dict[str, Any]] = []
    for model in spec.models:
        for metric, bound, threshold in sorted(_live_gates_of(model)):
            beyond = _beyond(bound, threshold)
            tests += [
                {
                    "name": f"{model.name}: live {metric} beyond its {bound} gate {threshold} pages",
                    "interval": "1m",
                    "input_series": [{"series": _gauge(metric, model.name), "values": f"{beyond}x20"}],
                    "alert_rule_test": [
                        {
                            "eval_time": "10m",
                            "alertname": PERFORMANCE_ALERT,
                            "exp_alerts": [_performance_alert(model.name, metric, bound)],
                        },
                        {"eval_time": "3m", "alertname": PERFORMANCE_ALERT, "exp_alerts": []},  # not yet 5 minutes
                    ],
                },
                {
                    "name": f"{model.name}: live {metric} at its {bound} gate is quiet",
                    "interval": "1m",
                    "input_series": [
                        {"series": _gauge(metric, model.name), "values": f"{threshold}x20"},
                        {"series": _gauge(metric, model.name, "reference"), "values": f"{beyond}x20"},
                    ],
                    "alert_rule_test": [{"eval_time": "10m", "alertname": PERFORMANCE_ALERT, "exp_alerts": []}],
                },
            ]
            for other in spec.models:
                if other.name == model.name:
                    continue
                own = sorted((b, t) for m, b, t in _live_gates_of(other) if m == metric)
                tests.append(
                    {
                        "name": f"{other.name}'s {metric} at {beyond} fires only {other.name}'s own gates",
                        "interval": "1m",
                        "input_series": [{"series": _gauge(metric, other.name), "values": f"{beyond}x20"}],
                        "alert_rule_test": [
                            {
                                "eval_time": "10m",
                                "alertname": PERFORMANCE_ALERT,
                                "exp_alerts": [
                                    _performance_alert(other.name, metric, b) for b, t in own if _fails(b, t, beyond)
                                ],
                            }
                        ],
                    }
                )
    return tests


def _with_annotations(tests: list[dict[str, Any]], groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """promtool compares annotations too: copy the summary of the rule each expected alert comes from (the rule of
    that name whose labels the alert carries) into the expectations."""
    rules = [rule for group in groups for rule in group["rules"]]
    for test in tests:
        for case in test["alert_rule_test"]:
            for expected in case["exp_alerts"]:
                (rule,) = [
                    r for r in rules
                    if r["alert"] == case["alertname"] and r["labels"].items() <= expected["exp_labels"].items()
                ]  # fmt: skip
                expected["exp_annotations"] = rule["annotations"]
    return tests


def _plan_rules(plan: Plan) -> list[dict[str, Any]]:
    (rule,) = kube_objects(plan, "PrometheusRule", "monitoring")
    return rule["spec"]["groups"]


@needs_promtool
@pytest.mark.parametrize("stack", ["dev", "gcp-prod"])
def test_promtool_checks_and_unit_tests_the_deployed_rules(stack: str, tmp_path: Path) -> None:
    plan, _ = fake_cloud_plan(stack)
    groups = _plan_rules(plan)
    spec = stack_spec(stack)
    if stack == "dev":  # the AWS-like cluster scrapes DCGM: every rule, including GPU utilisation, is deployed
        models = tuple(
            ModelAlerting(m.name, m.team, f"{m.name}-serving", m.monitoring.drift_share, live_gates(m.quality_gates))
            for m in spec.models
        )
        assert groups == rule_groups(RuleOptions(models=models, dcgm=True))
    rules = _write(tmp_path / "rules.yaml", {"groups": groups})
    checked = _run(str(PROMTOOL), "check", "rules", str(rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tests = promtool_tests(spec)
    alert_names = {rule["alert"] for group in groups for rule in group["rules"]}
    tests = [t for t in tests if all(c["alertname"] in alert_names for c in t["alert_rule_test"])]
    document = {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": _with_annotations(tests, groups)}
    result = _run(str(PROMTOOL), "test", "rules", str(_write(tmp_path / "tests.yaml", document)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


@needs_promtool
def test_promtool_catches_a_rule_that_does_not_fire(tmp_path: Path) -> None:
    """The harness itself can fail: expecting the p95 alert on fast traffic is reported as a failure."""
    groups = rule_groups(RuleOptions())
    rules = _write(tmp_path / "rules.yaml", {"groups": groups})
    fast = promtool_tests(stack_spec("dev"))[1]
    fast["alert_rule_test"] = [{"eval_time": "30m", "alertname": "InferenceLatencyP95High",
                                "exp_alerts": [_alert("", MODEL, "critical")]}]  # fmt: skip
    document = {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": _with_annotations([fast], groups)}
    result = _run(str(PROMTOOL), "test", "rules", str(_write(tmp_path / "tests.yaml", document)))
    assert result.returncode != 0


def _alertmanager_yaml(plan: Plan) -> dict[str, Any]:
    (secret,) = [
        s for s in kube_objects(plan, "Secret", "monitoring") if s["metadata"]["name"] == "alertmanager-config"
    ]
    return yaml.safe_load(secret["stringData"]["alertmanager.yaml"])


@needs_amtool
@pytest.mark.parametrize("alerting", [True, False])
def test_amtool_accepts_the_alertmanager_config(alerting: bool, tmp_path: Path) -> None:
    plan, _ = fake_cloud_plan("prod", alerting=alerting)
    config = _alertmanager_yaml(plan)
    result = _run(str(AMTOOL), "check-config", str(_write(tmp_path / "alertmanager.yaml", config)))
    assert result.returncode == 0, result.stdout + result.stderr
    route = config["route"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("30s", "5m", "1h")
    receivers = {r["name"]: r for r in config["receivers"]}
    critical = next(r for r in route["routes"] if r["matchers"] == ['severity = "critical"'])
    if alerting:
        assert critical["receiver"] == "pagerduty"
        assert receivers["pagerduty"]["pagerduty_configs"][0]["routing_key"] == FAKE_PAGERDUTY_KEY
        assert route["receiver"] == "slack"
        assert receivers["slack"]["slack_configs"][0]["api_url"] == FAKE_SLACK_WEBHOOK
        assert receivers["slack"]["slack_configs"][0]["channel"] == stack_spec("prod").monitoring.slack_channel
    else:
        assert critical["receiver"] == "null"
        assert route["receiver"] == "null"
        assert set(receivers) == {"null"}


@needs_amtool
def test_amtool_routes_critical_to_pagerduty_and_warnings_to_slack(tmp_path: Path) -> None:
    config = _write(tmp_path / "am.yaml", alertmanager_config(FAKE_SLACK_WEBHOOK, FAKE_PAGERDUTY_KEY, "#ml-alerts"))
    for labels, receiver in ((["severity=critical", "alertname=InferenceLatencyP95High"], "pagerduty"),
                             (["severity=warning", "alertname=ModelDatasetDriftHigh"], "slack"),
                             (["severity=none", "alertname=Watchdog"], "null")):  # fmt: skip
        result = _run(str(AMTOOL), "config", "routes", "test", f"--config.file={config}", *labels)
        assert result.stdout.strip() == receiver, (labels, result.stdout, result.stderr)


def test_alertmanager_config_is_a_secret_and_chart_uses_it() -> None:
    plan, _ = fake_cloud_plan("dev")
    (release,) = [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r.name == "kube-prometheus-stack"]
    spec = release.inputs["values"]["alertmanager"]["alertmanagerSpec"]
    assert spec["useExistingSecret"] is True
    assert spec["configSecret"] == "alertmanager-config"
    assert "config" not in release.inputs["values"]["alertmanager"]
    secret = plan.one("kubernetes:core/v1:Secret", "alertmanager-config")
    assert "stringData" in secret.secret_inputs


@pytest.mark.parametrize("stack", STACKS)
def test_dashboards_provisioned_with_the_sidecar_label(stack: str) -> None:
    plan, _ = fake_cloud_plan(stack)
    maps = [c for c in kube_objects(plan, "ConfigMap", "monitoring") if c["metadata"]["name"].startswith("dashboard-")]
    assert {c["metadata"]["name"] for c in maps} == {"dashboard-model-serving", "dashboard-model-drift",
                                                     "dashboard-capacity"}  # fmt: skip
    exprs: list[str] = []
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        (model,) = [json.loads(text) for text in config_map["data"].values()]
        exprs += panel_exprs(model)
    used = {name for expr in exprs for name in metrics.metric_names_in(expr) if name.startswith("model_")}
    assert used
    assert used <= exported_workload_metrics()
    serving = " ".join(exprs)
    for needle in (
        "histogram_quantile(0.99",
        "sum by (prediction_class)",
        "sum by (model_version, variant)",
        "model_feature_drift_score",
        "model_retraining_triggered_total",
        'phase="Pending"',
    ):
        assert needle in serving, needle
    has_dcgm = "DCGM_FI_DEV_GPU_UTIL" in serving
    assert has_dcgm == (not stack.startswith("gcp"))
    values = next(r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r.name == "kube-prometheus-stack")
    grafana = values.inputs["values"]["grafana"]
    assert grafana["admin"]["existingSecret"] == "grafana-admin"
    assert grafana["sidecar"]["dashboards"]["label"] == "grafana_dashboard"
    prometheus = values.inputs["values"]["prometheus"]["prometheusSpec"]
    monitoring = stack_spec(stack).monitoring
    assert prometheus["retention"] == monitoring.prometheus_retention
    claim = prometheus["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == f"{monitoring.prometheus_volume_gb}Gi"
    assert claim["storageClassName"] == ("standard-rwo" if stack.startswith("gcp") else "gp3")


@pytest.mark.parametrize("stack", ["dev", "gcp-prod"])
def test_model_dashboard_plots_every_live_metric_by_model_with_each_models_gate(stack: str) -> None:
    plan, _ = fake_cloud_plan(stack)
    (config_map,) = [
        c for c in kube_objects(plan, "ConfigMap", "monitoring") if c["metadata"]["name"] == "dashboard-model-drift"
    ]
    (dashboard,) = [json.loads(text) for text in config_map["data"].values()]
    assert "model" in {variable["name"] for variable in dashboard["templating"]["list"]}
    for metric, gauge in metrics.LIVE_PERFORMANCE.items():
        (panel,) = [
            p for p in dashboard["panels"]
            if any(metrics.metric_names_in(t["expr"]) == {gauge} for t in p.get("targets", []))
        ]  # fmt: skip
        (series,) = [t["expr"] for t in panel["targets"] if gauge in t["expr"]]
        assert f'{gauge}{{model_name=~"$model"}}' in series, series
        lines = {t["expr"] for t in panel["targets"]} - {series}
        gates = {t for m in stack_spec(stack).models for (name, _, t) in _live_gates_of(m) if name == metric}
        assert lines == {f"vector({threshold})" for threshold in gates}, (metric, lines)
