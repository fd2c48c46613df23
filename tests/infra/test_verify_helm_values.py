"""Check 2, Helm values: a value path the chart neither defines, declares nor reads is reported with a did-you-mean;
the chart's own free-form maps, schema-only values, template-only values and subchart values are admitted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from components.versions import HelmChart
from infra.render.charts import ChartFiles, load_chart
from infra.render.helm import HelmRelease
from infra.verify.checks import helm_values
from infra.verify.model import ObjectSet, ReleaseChart
from tests.infra.render_fixtures import chart_files, package, tar_gz

# A pushgateway-like chart: nested defaults, free-form maps read whole, a value only a template reads.
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "app.fullname" . }}
spec:
  replicas: {{ .Values.replicaCount }}
  template:
    spec:
      {{- with .Values.nodeSelector }}
      nodeSelector: {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          resources: {{- toYaml .Values.resources | nindent 12 }}
          {{- if .Values.extraArgs }}
          args: {{- toYaml .Values.extraArgs | nindent 12 }}
          {{- end }}
      {{- if $.Values.persistentVolume.enabled }}
      volumes:
        - name: data
          persistentVolumeClaim: {claimName: {{ index .Values "persistentVolume" "existingClaim" }}}
      {{- end }}
"""
MONITOR = """\
{{- if .Values.serviceMonitor.enabled }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
spec:
  endpoints:
    - port: http
      interval: {{ .Values.serviceMonitor.interval }}
      honorLabels: {{ .Values.serviceMonitor.honorLabels }}
{{- end }}
"""
VALUES = {
    "replicaCount": 1,
    "image": {"repository": "quay.io/prometheus/pushgateway", "tag": ""},
    "nodeSelector": {},
    "resources": {"requests": {"cpu": "10m"}},
    "persistentVolume": {"enabled": False, "size": "2Gi", "storageClass": None},
    "serviceMonitor": {"enabled": False, "interval": "30s"},
}


def chart(
    name: str = "pushgateway",
    values: dict[str, Any] | None = None,
    schema: dict[str, Any] | None = None,
    subcharts: dict[str, ChartFiles] | None = None,
    templates: dict[str, str] | None = None,
) -> ChartFiles:
    return ChartFiles(
        name,
        "3.8.0",
        VALUES if values is None else values,
        schema,
        templates or {"templates/deployment.yaml": DEPLOYMENT, "templates/monitor.yaml": MONITOR},
        {},
        subcharts or {},
    )


def judge(values: dict[str, Any], files: ChartFiles) -> list[str]:
    release = HelmRelease(
        "urn:pulumi:dev::mlops::kubernetes:helm.sh/v3:Release::pushgateway",
        "pushgateway",
        "monitoring",
        HelmChart(files.name, "https://charts.example.com", files.version),
        values,
        True,
        True,
    )
    result = helm_values.run(ObjectSet("dev", "1.33", [], [ReleaseChart(release, files)]))
    assert result.checked >= len(values)
    return [f"{v.subject} :: {v.reason}" for v in result.violations]


def test_values_the_chart_defines_declares_or_reads_are_admitted() -> None:
    values = {
        "replicaCount": 2,
        "image": {"tag": "v1.11.3"},
        "nodeSelector": {"node-pool": "system"},  # a free-form map: its keys are the user's
        "resources": {"limits": {"memory": "128Mi"}},  # read whole by toYaml: `limits` is not in the defaults
        "extraArgs": ["--web.enable-admin-api=false"],  # read only by a template
        "persistentVolume": {"enabled": True, "existingClaim": "metrics"},  # read through `index`
        "serviceMonitor": {"enabled": True, "honorLabels": True},  # honorLabels: only a template reads it
    }
    assert judge(values, chart()) == []


def test_a_misspelt_value_that_silently_does_nothing_is_a_violation() -> None:
    found = judge({"serviceMonitor": {"enabeld": True}, "persistentVolume": {"sise": "5Gi"}, "replicas": 2}, chart())
    assert found == [
        "helm release monitoring/pushgateway (pushgateway 3.8.0) :: value `persistentVolume.sise` is not a value of "
        "pushgateway 3.8.0: not in values.yaml or values.schema.json and read by no template, so it does nothing; "
        "did you mean `persistentVolume.size`",
        "helm release monitoring/pushgateway (pushgateway 3.8.0) :: value `replicas` is not a value of pushgateway "
        "3.8.0: not in values.yaml or values.schema.json and read by no template, so it does nothing; did you mean "
        "`replicaCount`",
        "helm release monitoring/pushgateway (pushgateway 3.8.0) :: value `serviceMonitor.enabeld` is not a value of "
        "pushgateway 3.8.0: not in values.yaml or values.schema.json and read by no template, so it does nothing; "
        "did you mean `serviceMonitor.enabled`",
    ]


def test_values_schema_declarations_count_and_its_open_maps_stay_open() -> None:
    schema = {
        "$defs": {"probe": {"type": "object", "properties": {"periodSeconds": {"type": "integer"}}}},
        "type": "object",
        "properties": {
            "livenessProbe": {"$ref": "#/$defs/probe"},
            "podAnnotations": {"type": "object", "additionalProperties": {"type": "string"}},
            "auth": {
                "allOf": [
                    {"properties": {"enabled": {"type": "boolean"}}},
                    {"properties": {"existingSecret": {"type": "string"}}},
                ]
            },
        },
    }
    files = chart(values={}, schema=schema, templates={"templates/x.yaml": "{{ .Values.livenessProbe.periodSeconds }}"})
    ok = {"livenessProbe": {"periodSeconds": 5}, "podAnnotations": {"a/b": "c"}, "auth": {"existingSecret": "s"}}
    assert judge(ok, files) == []
    found = judge({"livenessProbe": {"periodSecond": 5}, "auth": {"existingSecrets": "s"}}, files)
    assert [f.split(" :: ")[1].split(":")[0] for f in found] == [
        "value `auth.existingSecrets` is not a value of pushgateway 3.8.0",
        "value `livenessProbe.periodSecond` is not a value of pushgateway 3.8.0",
    ]


def test_subchart_values_are_judged_against_the_subchart_and_the_parent() -> None:
    grafana = ChartFiles(
        "grafana",
        "12.11.1",
        {"persistence": {"enabled": False, "size": "10Gi"}, "sidecar": {}},
        None,
        {"templates/pvc.yaml": "{{ .Values.persistence.size }} {{ .Values.global.imageRegistry }}"},
        {},
    )
    parent = chart(
        values={"grafana": {"enabled": True, "defaultDashboardsTimezone": "utc"}},
        subcharts={"grafana": grafana},
        templates={"templates/cm.yaml": "{{ .Values.grafana.defaultDashboardsTimezone }}"},
    )
    ok = {
        "grafana": {
            "enabled": True,
            "defaultDashboardsTimezone": "browser",
            "persistence": {"size": "20Gi"},
            "sidecar": {"dashboards": {"enabled": True}},
        },
        "global": {"imageRegistry": "mirror.example.com"},
    }
    assert judge(ok, parent) == []
    found = judge({"grafana": {"persistance": {"enabled": True}}}, parent)
    assert len(found) == 1 and "value `grafana.persistance`" in found[0] and "`grafana.persistence`" in found[0]


def test_a_packaged_chart_reads_with_aliased_and_nested_subcharts(tmp_path: Path) -> None:
    nfd = tar_gz(
        chart_files(
            "node-feature-discovery",
            "0.19.0",
            {"master": {"replicas": 1}},
            {"master.yaml": "{{ .Values.master.replicas }}"},
        ),
        "node-feature-discovery",
    )
    files = chart_files(
        "nvidia-device-plugin",
        "0.20.0",
        {"nodeSelector": {}, "gfd": {"enabled": False}},
        {"daemonset.yaml": "{{ toYaml .Values.nodeSelector }}"},
        {
            "charts/node-feature-discovery-0.19.0.tgz": nfd,
            "values.schema.json": json.dumps({"type": "object"}),
            "crds/x.yaml": yaml.safe_dump({"kind": "CustomResourceDefinition"}),
        },
        dependencies=[{"name": "node-feature-discovery", "alias": "nfd", "condition": "nfd.enabled,gfd.enabled"}],
    )
    loaded = load_chart(package(tmp_path, "nvidia-device-plugin", "0.20.0", files))
    assert (loaded.name, loaded.version, set(loaded.subcharts)) == ("nvidia-device-plugin", "0.20.0", {"nfd"})
    assert loaded.conditions == ("nfd.enabled", "gfd.enabled") and list(loaded.crds) == ["crds/x.yaml"]
    assert judge({"nfd": {"enabled": True, "master": {"replicas": 2}}}, loaded) == []  # the condition is a value
    assert "value `nfd.master.replica`" in judge({"nfd": {"master": {"replica": 2}}}, loaded)[0]
