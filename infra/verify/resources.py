"""Resource quantities and what a pod asks for, as the API server defaults them and the scheduler adds them up.

- Quantities: `250m`, `2`, `512Mi`, `1Gi`, `1G`, `1e3` (kubernetes apimachinery `resource.Quantity` suffixes).
- Defaulting, in the order admission applies it: the API server copies a container's limit into its request when only
  the limit is set (kubernetes/kubernetes pkg/apis/core/v1/defaults.go, SetDefaults_Pod), then the LimitRanger plugin
  fills what is still missing from the namespace's LimitRanges (`default` -> limits, `defaultRequest` -> requests,
  with defaultRequest itself defaulted from `default`, `default` from `max`, and defaultRequest from `min`:
  SetDefaults_LimitRangeItem in the same file).
- A pod's request (what the scheduler fits onto a node): the larger of the sum over its containers and the largest
  init container, plus `overhead` (kubernetes/kubernetes pkg/api/v1/resource/helpers.go, PodRequests).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from infra.quantity import quantity
from infra.verify.cluster import PodTemplate

GIB = 2.0**30
MIB = 2.0**20
Resources = dict[str, float]


def _list(values: Mapping[str, Any] | None) -> Resources:
    return {str(k): quantity(v) for k, v in (values or {}).items()}


def limit_range_defaults(limit_ranges: Iterable[Mapping[str, Any]]) -> tuple[Resources, Resources]:
    """(default requests, default limits) the namespace's LimitRanges give a container that sets none."""
    requests: Resources = {}
    limits: Resources = {}
    for limit_range in limit_ranges:
        for item in (limit_range.get("spec") or {}).get("limits") or []:
            if item.get("type") != "Container":
                continue
            default = {**_list(item.get("max")), **_list(item.get("default"))}
            default_request = {**_list(item.get("min")), **default, **_list(item.get("defaultRequest"))}
            limits = {**default, **limits}
            requests = {**default_request, **requests}
    return requests, limits


def container_resources(
    container: Mapping[str, Any], defaults: tuple[Resources, Resources] = ({}, {})
) -> tuple[Resources, Resources]:
    """(requests, limits) of a container after the API server's and the LimitRanger's defaulting."""
    resources = container.get("resources") or {}
    requests, limits = _list(resources.get("requests")), _list(resources.get("limits"))
    requests = {**limits, **requests}  # a limit without a request: the request is the limit
    default_requests, default_limits = defaults
    limits = {**default_limits, **limits}
    requests = {**default_requests, **requests}
    return requests, limits


def pod_requests(pod: PodTemplate, defaults: tuple[Resources, Resources] = ({}, {})) -> Resources:
    """What the scheduler reserves for the pod: max(sum of containers, largest init container) + overhead."""
    total: Resources = {}
    for container in pod.spec.get("containers") or []:
        for name, value in container_resources(container, defaults)[0].items():
            total[name] = total.get(name, 0.0) + value
    for container in pod.spec.get("initContainers") or []:
        for name, value in container_resources(container, defaults)[0].items():
            total[name] = max(total.get(name, 0.0), value)
    for name, value in _list(pod.spec.get("overhead")).items():
        total[name] = total.get(name, 0.0) + value
    return total


def describe(name: str, value: float) -> str:
    """A quantity as a person reads it: cores, GiB or MiB, or a count."""
    if name.endswith("cpu"):
        return f"{value:g} CPU" if value >= 1 else f"{value * 1000:g}m CPU"
    if name.endswith(("memory", "storage")):
        return f"{value / GIB:.2f}Gi" if value >= GIB else f"{value / MIB:.0f}Mi"
    return f"{value:g} {name}"
