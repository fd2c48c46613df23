"""GPU plumbing the cloud does not provide: the NVIDIA device plugin and the DCGM exporter (EKS).

GKE installs the NVIDIA driver and device plugin itself on GPU node pools and publishes GPU metrics (DCGM-based
`kubernetes.io/container/accelerator/*`) to Cloud Monitoring, so `cloud.gpu` asks for neither there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.contract import CloudPlatform
from components.k8s.common import GPU_NS, helm_release, placement_fields, resources
from components.renames import formerly
from components.spec import PlatformSpec
from components.versions import DCGM_EXPORTER_CHART, NVIDIA_DEVICE_PLUGIN_CHART

DCGM_EXPORTER_PORT = 9400  # the exporter's metrics port, the chart's default (dcgm-exporter 4.8.2 values.yaml line 114)


def device_plugin_values(cloud: CloudPlatform) -> dict[str, Any]:
    """nvidia-device-plugin 0.20.0 values: only on GPU nodes, tolerating their taint."""
    gpu = cloud.placements["gpu"]
    match = [{"key": key, "operator": "In", "values": [value]} for key, value in sorted(gpu.node_selector.items())]
    return {
        **placement_fields(gpu),
        # The default affinity needs Node Feature Discovery labels we do not deploy. Helm replaces lists, so this
        # term list replaces the chart's NFD terms (a null would be dropped before it reached Helm).
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": match}]}
            }
        },
        "resources": resources("50m", "64Mi", memory_limit="128Mi"),
    }


def dcgm_values(cloud: CloudPlatform) -> dict[str, Any]:
    """dcgm-exporter 4.8.2 values: GPU nodes only; its ServiceMonitor is picked up by every-namespace selection."""
    return {
        **placement_fields(cloud.placements["gpu"]),
        "serviceMonitor": {"enabled": True, "interval": "30s", "honorLabels": False},
        "resources": resources("100m", "512Mi", memory_limit="1Gi"),
    }


@dataclass
class GpuArgs:
    spec: PlatformSpec
    cloud: CloudPlatform
    depends_on: list[pulumi.Resource]
    monitoring: list[pulumi.Resource] | None


class GpuPlumbing(pulumi.ComponentResource):
    def __init__(self, name: str, args: GpuArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:GpuPlumbing", name, None, formerly(opts, "mlops:k8s:Gpu"))
        cloud = args.cloud
        if cloud.gpu.install_device_plugin:
            helm_release(
                "nvidia-device-plugin",
                NVIDIA_DEVICE_PLUGIN_CHART,
                GPU_NS,
                device_plugin_values(cloud),
                pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
            )
        if cloud.gpu.dcgm_exporter and args.monitoring is not None:
            helm_release(
                "dcgm-exporter",
                DCGM_EXPORTER_CHART,
                GPU_NS,
                dcgm_values(cloud),
                pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, *args.monitoring]),
            )
        self.register_outputs({})
