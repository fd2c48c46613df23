"""Check 5, quotas and limits: in a namespace with a ResourceQuota every pod is admitted by quota and LimitRanger.

- Quota constraints: when a quota tracks `cpu`, `memory`, `requests.*` or `limits.*` of them, every container and
  init container must set that request or limit, after the LimitRanger defaults it; otherwise the API server refuses
  the pod with "must specify ..." (kubernetes/kubernetes pkg/quota/v1/evaluator/core/pods.go, `validationSet` and
  `Constraints` at 05e7cb2; extended resources such as GPUs are deliberately not in that set).
- Quota capacity: the namespace's pods at their replica counts (Deployments and StatefulSets at `replicas`, or the
  HPA's `maxReplicas` when one scales them; Jobs at `parallelism`; one pod per CronJob and Pod) fit every `hard`
  value, so the last replica or the next scheduled run is not refused.
- LimitRanges: no Container item puts a GPU into pods by default (`default`, `defaultRequest`, and `max` and `min`,
  which the API server copies into the defaults: SetDefaults_LimitRangeItem), and every container's requests and
  limits stay within the items' `min`/`max` (LimitRanger refuses the pod otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.quantity import quantity
from infra.verify.cluster import Cluster, PodTemplate
from infra.verify.model import Check, CheckResult, ObjectSet, Violation
from infra.verify.resources import (
    Resources,
    container_resources,
    describe,
    limit_range_defaults,
    pod_requests,
)

NAME = "quotas"
VALIDATED = {  # quota resource -> (requests or limits, resource) every container must set
    "cpu": ("requests", "cpu"),
    "memory": ("requests", "memory"),
    "requests.cpu": ("requests", "cpu"),
    "requests.memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"),
    "limits.memory": ("limits", "memory"),
}
INJECTING_FIELDS = ("default", "defaultRequest", "max", "min")  # every one ends up in a container's defaults


def is_gpu(resource: str) -> bool:
    return "gpu" in resource.lower()


def replicas(cluster: Cluster, pod: PodTemplate) -> int:
    """How many of this pod the namespace runs at most (an HPA's maxReplicas wins over `replicas`)."""
    owner = pod.owner
    for hpa in cluster.of_kind("HorizontalPodAutoscaler"):
        target = (hpa.manifest.get("spec") or {}).get("scaleTargetRef") or {}
        if hpa.namespace == owner.namespace and target.get("kind") == owner.kind and target.get("name") == owner.name:
            return int((hpa.manifest.get("spec") or {}).get("maxReplicas") or 1)
    spec = owner.manifest.get("spec") or {}
    if owner.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        return int(spec.get("replicas", 1))
    if owner.kind == "Job":
        return int(spec.get("parallelism", 1))
    return 1


def _quota_applies(quota: Mapping[str, Any], pod: PodTemplate, requests: Resources) -> bool:
    """Quota scopes the checks can decide offline (Terminating, NotTerminating, BestEffort, NotBestEffort)."""
    terminating = pod.spec.get("activeDeadlineSeconds") is not None
    best_effort = not any(requests.values())
    scopes = (quota.get("spec") or {}).get("scopes") or []
    return all(
        {
            "Terminating": terminating,
            "NotTerminating": not terminating,
            "BestEffort": best_effort,
            "NotBestEffort": not best_effort,
        }.get(scope, True)
        for scope in scopes
    )


def _usage(key: str, requests: Resources, limits: Resources) -> float | None:
    """What one pod counts against a quota key (None when the key is not a compute resource of pods)."""
    if key in ("pods", "count/pods"):
        return 1.0
    if key.startswith("limits."):
        return limits.get(key.removeprefix("limits."), 0.0)
    if key.startswith("requests."):
        return requests.get(key.removeprefix("requests."), 0.0)
    if key in ("cpu", "memory", "ephemeral-storage"):
        return requests.get(key, 0.0)
    return None


def run(objects: ObjectSet) -> CheckResult:
    cluster = objects.cluster
    violations: list[Violation] = []
    checked = 0
    for limit_range in cluster.of_kind("LimitRange"):
        checked += 1
        for item in (limit_range.manifest.get("spec") or {}).get("limits") or []:
            if item.get("type") != "Container":
                continue
            for field in INJECTING_FIELDS:
                gpus = sorted(r for r in item.get(field) or {} if is_gpu(r))
                if gpus:
                    violations.append(
                        Violation(
                            NAME,
                            str(limit_range),
                            f"its Container {field} sets {', '.join(gpus)}, "
                            "which the API server puts into every container that names none: "
                            "pods would hold GPUs nobody asked for",
                        )
                    )
    for namespace in sorted(
        {q.namespace for q in cluster.of_kind("ResourceQuota")} | {lr.namespace for lr in cluster.of_kind("LimitRange")}
    ):
        quotas = [q.manifest for q in cluster.of_kind("ResourceQuota") if q.namespace == namespace]
        ranges = [lr.manifest for lr in cluster.of_kind("LimitRange") if lr.namespace == namespace]
        defaults = limit_range_defaults(ranges)
        pods = [p for p in cluster.pods if p.namespace == namespace]
        totals: dict[str, tuple[float, list[str]]] = {}
        for pod in pods:
            checked += 1
            requests = pod_requests(pod, defaults)
            limits: Resources = {}
            for container in pod.containers(ephemeral=False):
                container_requests, container_limits = container_resources(container, defaults)
                for name, value in container_limits.items():
                    limits[name] = limits.get(name, 0.0) + value
                violations += _container(pod, container, container_requests, container_limits, quotas, ranges)
            count = replicas(cluster, pod)
            for quota in quotas:
                if not _quota_applies(quota, pod, requests):
                    continue
                for key in (quota.get("spec") or {}).get("hard") or {}:
                    usage = _usage(str(key), requests, limits)
                    if usage:
                        total, owners = totals.get(str(key), (0.0, []))
                        totals[str(key)] = (total + usage * count, [*owners, f"{pod.owner.ref} x{count}"])
        for quota in quotas:
            for key, hard in ((quota.get("spec") or {}).get("hard") or {}).items():
                total, owners = totals.get(str(key), (0.0, []))
                if total > quantity(hard):
                    quota_name = (quota.get("metadata") or {}).get("name")
                    violations.append(
                        Violation(
                            NAME,
                            f"ResourceQuota {namespace}/{quota_name}",
                            (
                                f"{key}: the namespace's pods at their replica counts need "
                                f"{describe(str(key), total)}, above "
                                f"the hard {hard} ({', '.join(owners)}): the last replicas or runs are refused"
                            ),
                        )
                    )
    return CheckResult(NAME, checked, "pod templates and limit ranges", tuple(violations))


def _container(
    pod: PodTemplate,
    container: Mapping[str, Any],
    requests: Resources,
    limits: Resources,
    quotas: list[Mapping[str, Any]],
    ranges: list[Mapping[str, Any]],
) -> list[Violation]:
    found = []
    name = container.get("name")
    required = sorted({key for q in quotas for key in (q.get("spec") or {}).get("hard") or {} if key in VALIDATED})
    for key in required:
        kind, resource = VALIDATED[key]
        if resource not in (requests if kind == "requests" else limits):
            found.append(
                Violation(
                    NAME,
                    pod.subject,
                    (
                        f"container {name} sets no {kind}.{resource} and no LimitRange of namespace "
                        f"{pod.namespace} defaults "
                        f"it, while its ResourceQuota tracks {key}: the API server refuses the pod (must specify {key})"
                    ),
                )
            )
    for limit_range in ranges:
        for item in (limit_range.get("spec") or {}).get("limits") or []:
            if item.get("type") != "Container":
                continue
            for resource, bound in (item.get("max") or {}).items():
                for kind, values in (("request", requests), ("limit", limits)):
                    if values.get(resource, 0.0) > quantity(bound):
                        found.append(
                            Violation(
                                NAME,
                                pod.subject,
                                (
                                    f"container {name} {kind}s {describe(resource, values[resource])} of {resource}, "
                                    "above the "
                                    f"LimitRange max {bound}: LimitRanger refuses the pod"
                                ),
                            )
                        )
            for resource, bound in (item.get("min") or {}).items():
                if requests.get(resource, quantity(bound)) < quantity(bound):
                    found.append(
                        Violation(
                            NAME,
                            pod.subject,
                            (
                                f"container {name} requests {describe(resource, requests[resource])} of {resource}, "
                                "below the "
                                f"LimitRange min {bound}: LimitRanger refuses the pod"
                            ),
                        )
                    )
    return found


CHECK = Check(
    5,
    NAME,
    "in a namespace with a quota every pod sets what it tracks, fits it, and no LimitRange hands out GPUs",
    run,
)
