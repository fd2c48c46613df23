"""Observability: kube-prometheus-stack, a Pushgateway for batch-job metrics, alert rules, dashboards, Alertmanager.

CRD ordering: the kube-prometheus-stack release installs the monitoring.coreos.com CRDs (Helm's crds/ directory,
created, never client-side applied, so their size is no problem on install). Every ServiceMonitor/PrometheusRule
of the platform depends on that release, and the releases that ship their own ServiceMonitor (Pushgateway, DCGM
exporter) too. Helm 3 never upgrades CRDs: the chart's CRD upgrade Job (`crds.upgradeJob`) applies them
server-side with conflicts forced on every chart upgrade — server-side apply because the largest CRDs exceed the
262 KiB `last-applied-configuration` annotation of client-side apply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components.contract import CloudPlatform
from components.k8s.alerts import ModelAlerting, RuleOptions, alertmanager_config, live_gates, rule_groups
from components.k8s.common import (
    GRAFANA_SERVICE,
    MONITORING_NS,
    PUSHGATEWAY_PORT,
    PUSHGATEWAY_SERVICE,
    as_secret,
    helm_release,
    labels,
    placement_fields,
    resources,
    restricted_container_security,
    restricted_pod_security,
    service_url,
)
from components.k8s.dashboards import dashboards
from components.k8s.models.names import ModelNames
from components.spec import MonitoringSpec, PlatformSpec
from components.versions import (
    KUBE_PROMETHEUS_STACK_CHART,
    KUBE_PROMETHEUS_STACK_CRD_UPGRADE_BUSYBOX_TAG,
    PROMETHEUS_PUSHGATEWAY_CHART,
)

ALERTMANAGER_SECRET = "alertmanager-config"  # noqa: S105 - Secret names
GRAFANA_SECRET = "grafana-admin"  # noqa: S105
RELEASE = "kube-prometheus-stack"
PUSHGATEWAY_DATA_DIR = "/data"


@dataclass
class AlertingSecrets:
    """Notification credentials (Pulumi secrets from the stack config); None routes alerts to a null receiver."""

    slack_webhook_url: pulumi.Output[str] | None
    pagerduty_routing_key: pulumi.Output[str] | None


def pool_label_key(cloud: CloudPlatform) -> str | None:
    """A node label every pool sets (from the cloud's placements), exported by kube-state-metrics per node."""
    keys = [set(p.node_selector) for p in cloud.placements.values()]
    common = sorted(set.intersection(*keys)) if keys else []
    return common[0] if common else None


def ksm_label(key: str) -> str:
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


def rule_options(spec: PlatformSpec, cloud: CloudPlatform) -> RuleOptions:
    return RuleOptions(
        models=tuple(
            ModelAlerting(
                model.name,
                names.namespace,
                names.serving,
                model.monitoring.drift_share,
                live_gates(model.quality_gates),
            )
            for model, names in ((model, ModelNames.of(model)) for model in spec.models)
        ),
        gpu_resource=cloud.gpu.resource_name,
        dcgm=cloud.gpu.pool_present and cloud.gpu.dcgm_exporter,
        gpu_pool=cloud.gpu.pool_present,
    )


def prometheus_values(monitoring: MonitoringSpec, cloud: CloudPlatform, system: dict[str, Any]) -> dict[str, Any]:
    """Prometheus: retention and volume from the spec; every ServiceMonitor, PodMonitor and rule selected."""
    return {
        "prometheusSpec": {
            "retention": monitoring.prometheus_retention,
            "storageSpec": {
                "volumeClaimTemplate": {
                    "spec": {
                        "storageClassName": cloud.storage_class,
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": f"{monitoring.prometheus_volume_gb}Gi"}},
                    }
                }
            },
            # Select every ServiceMonitor/PodMonitor/PrometheusRule, not only those labelled with this release.
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "ruleSelectorNilUsesHelmValues": False,
            "probeSelectorNilUsesHelmValues": False,
            "resources": resources("500m", "2Gi", memory_limit="4Gi"),
            **system,
        }
    }


def grafana_values(monitoring: MonitoringSpec, cloud: CloudPlatform, system: dict[str, Any]) -> dict[str, Any]:
    """Grafana: the generated admin Secret, a persistent volume, dashboards from every namespace's ConfigMaps."""
    return {
        "admin": {"existingSecret": GRAFANA_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
        "persistence": {
            "enabled": True,
            "type": "pvc",
            "storageClassName": cloud.storage_class,
            "size": f"{monitoring.grafana_volume_gb}Gi",
        },
        "sidecar": {
            "resources": resources("20m", "64Mi", memory_limit="128Mi"),
            "dashboards": {
                "enabled": True,
                "label": "grafana_dashboard",
                "labelValue": "1",
                "searchNamespace": "ALL",
            },
        },
        "defaultDashboardsTimezone": "utc",
        # The data volume is group-owned through fsGroup 472: no root init container chowning it.
        "initChownData": {"enabled": False},
        "resources": resources("100m", "256Mi", memory_limit="512Mi"),
        **system,
    }


def stack_values(spec: PlatformSpec, cloud: CloudPlatform) -> dict[str, Any]:
    """kube-prometheus-stack 88.5.3 values (and its grafana / kube-state-metrics subcharts)."""
    system = placement_fields(cloud.placements.get("system"))
    pool_key = pool_label_key(cloud)
    return {
        "crds": {
            "enabled": True,
            "upgradeJob": {
                "enabled": True,
                "forceConflicts": True,
                "image": {"busybox": {"tag": KUBE_PROMETHEUS_STACK_CRD_UPGRADE_BUSYBOX_TAG}},
                "resources": resources("50m", "128Mi", memory_limit="256Mi"),
            },
        },
        "prometheus": prometheus_values(spec.monitoring, cloud, system),
        "alertmanager": {
            "alertmanagerSpec": {
                # The config is our Secret (built from Pulumi secrets), never chart values.
                "useExistingSecret": True,
                "configSecret": ALERTMANAGER_SECRET,
                "replicas": 2 if spec.is_prod else 1,
                "resources": resources("50m", "128Mi", memory_limit="256Mi"),
                **system,
            }
        },
        "grafana": grafana_values(spec.monitoring, cloud, system),
        "kube-state-metrics": {
            "metricLabelsAllowlist": [f"nodes=[{pool_key}]"] if pool_key else [],
            "resources": resources("50m", "128Mi", memory_limit="256Mi"),
            **system,
        },
        "prometheus-node-exporter": {"resources": resources("20m", "32Mi", memory_limit="64Mi")},
        # Managed control planes (EKS, GKE) run no scrapeable controller-manager, scheduler or etcd pods; GKE runs
        # kube-dns (metrics on 10054/10055), not CoreDNS (9153), and Dataplane V2 replaces kube-proxy
        # (https://cloud.google.com/kubernetes-engine/docs/concepts/dataplane-v2, read 2026-12-01). Scraping them
        # would leave Services without endpoints and targets down forever (`make verify`, check 3).
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": cloud.cloud == "aws"},
        "coreDns": {"enabled": cloud.cloud == "aws"},
        "kubeDns": {"enabled": cloud.cloud == "gcp"},
        "prometheusOperator": {
            "resources": resources("50m", "128Mi", memory_limit="256Mi"),
            "admissionWebhooks": {"patch": {"resources": resources("20m", "32Mi", memory_limit="64Mi")}},
            **system,
        },
    }


def pushgateway_values(spec: PlatformSpec, cloud: CloudPlatform) -> dict[str, Any]:
    """prometheus-pushgateway 3.8.0 values: batch jobs push here; Prometheus scrapes it with honor_labels."""
    return {
        "fullnameOverride": PUSHGATEWAY_SERVICE,
        "serviceMonitor": {"enabled": True, "namespace": MONITORING_NS, "honorLabels": True},
        "securityContext": restricted_pod_security(65534),
        "containerSecurityContext": restricted_container_security(65534),
        "resources": resources("50m", "64Mi", memory_limit="128Mi"),
        # The Pushgateway never calls the Kubernetes API: no token in its pod (the chart sets the value on the
        # ServiceAccount and the pod, templates/serviceaccount.yaml:16 and _helpers.tpl:151; values.yaml:47).
        "automountServiceAccountToken": False,
        # Metrics survive a restart: the last drift scores must not vanish before the next hourly run. The volume
        # alone keeps nothing: the Pushgateway holds metrics in memory unless started with --persistence.file, which
        # the chart passes only through extraArgs (prometheus-pushgateway 3.8.0 templates/_helpers.tpl:178-181;
        # mountPath values.yaml:404; the Deployment uses `strategy: Recreate`, values.yaml:377-378, so the RWO volume
        # is never wanted by two pods at once).
        "persistentVolume": {
            "enabled": True,
            "size": "2Gi",
            "storageClass": cloud.storage_class,
            "mountPath": PUSHGATEWAY_DATA_DIR,
        },
        "extraArgs": [f"--persistence.file={PUSHGATEWAY_DATA_DIR}/pushgateway.data"],
        **placement_fields(cloud.placements.get("system")),
    }


@dataclass
class ObservabilityArgs:
    spec: PlatformSpec
    cloud: CloudPlatform
    alerting: AlertingSecrets
    depends_on: list[pulumi.Resource]


class Observability(pulumi.ComponentResource):
    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:Observability", name, None, opts)
        spec, cloud = args.spec, args.cloud
        meta_labels = labels(spec, "monitoring")
        child = pulumi.ResourceOptions(parent=self, depends_on=args.depends_on)
        secrets = self._secrets(spec, args.alerting, meta_labels, child)
        self.release = helm_release(
            RELEASE,
            KUBE_PROMETHEUS_STACK_CHART,
            MONITORING_NS,
            stack_values(spec, cloud),
            pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, *secrets]),
            timeout_seconds=900,
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.release])
        self.pushgateway = helm_release(
            PUSHGATEWAY_SERVICE,
            PROMETHEUS_PUSHGATEWAY_CHART,
            MONITORING_NS,
            pushgateway_values(spec, cloud),
            after_crds,
        )
        options = rule_options(spec, cloud)
        k8s.apiextensions.CustomResource(
            "mlops-alert-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="mlops-alerts", namespace=MONITORING_NS, labels=meta_labels),
            spec={"groups": rule_groups(options)},
            opts=after_crds,
        )
        pool_key = pool_label_key(cloud)
        for filename, model in dashboards(options, ksm_label(pool_key) if pool_key else None).items():
            k8s.core.v1.ConfigMap(
                f"dashboard-{filename.removesuffix('.json')}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"dashboard-{filename.removesuffix('.json')}",
                    namespace=MONITORING_NS,
                    labels={**meta_labels, "grafana_dashboard": "1"},
                ),
                data={filename: json.dumps(model, indent=1, sort_keys=True)},
                opts=child,
            )
        self.grafana_url = service_url(GRAFANA_SERVICE, MONITORING_NS, 80)
        self.pushgateway_url = service_url(PUSHGATEWAY_SERVICE, MONITORING_NS, PUSHGATEWAY_PORT)
        self.register_outputs({"grafanaUrl": self.grafana_url})

    def _secrets(
        self, spec: PlatformSpec, alerting: AlertingSecrets, meta_labels: dict[str, str], child: pulumi.ResourceOptions
    ) -> list[k8s.core.v1.Secret]:
        """Grafana's generated admin login and Alertmanager's configuration, built from the Pulumi secrets."""
        admin = random.RandomPassword(
            "grafana-admin-password", length=24, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        grafana_secret = k8s.core.v1.Secret(
            "grafana-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GRAFANA_SECRET, namespace=MONITORING_NS, labels=meta_labels),
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": as_secret(admin.result)},
            opts=child,
        )
        missing = [
            name
            for name, value in (
                ("slackWebhookUrl", alerting.slack_webhook_url),
                ("pagerdutyRoutingKey", alerting.pagerduty_routing_key),
            )
            if value is None
        ]
        if missing:
            pulumi.log.warn(
                f"mlops:{' and mlops:'.join(missing)} not set: those alerts go to the null receiver "
                "(set them with `pulumi config set --secret`)",
                resource=self,
            )
        channel = spec.monitoring.slack_channel
        config = pulumi.Output.all(
            pulumi.Output.from_input(alerting.slack_webhook_url),
            pulumi.Output.from_input(alerting.pagerduty_routing_key),
        ).apply(lambda v: yaml.safe_dump(alertmanager_config(v[0], v[1], channel), sort_keys=False))
        am_secret = k8s.core.v1.Secret(
            "alertmanager-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ALERTMANAGER_SECRET, namespace=MONITORING_NS, labels=meta_labels),
            type="Opaque",
            string_data={"alertmanager.yaml": as_secret(config)},
            opts=child,
        )
        return [grafana_secret, am_secret]
