"""Check 6, scheduling: every pod template fits a node pool of the stack, and DaemonSets reach the nodes they must.

The pools and their allocatable come from the plan and the pinned catalogs (infra/verify/nodes.py). A pod fits a pool
when, as the scheduler's filters judge it (kubernetes/kubernetes pkg/scheduler/framework/plugins: nodeaffinity,
tainttoleration, noderesources), its `nodeSelector` labels are all on the pool's nodes, one of its required node
affinity terms matches them, it tolerates every NoSchedule and NoExecute taint of the pool, and its requests
(after the namespace's LimitRange defaults, infra/verify/resources.py) plus the DaemonSets that also run on that pool
fit the allocatable of the pool's largest instance type. Then:

- a pod (not a DaemonSet) that fits no pool stays Pending forever: violation, with each pool's reason;
- a pod that asks for `nvidia.com/gpu` can only fit a GPU pool (non-GPU nodes have no such capacity); a pod that
  could land on a GPU pool without asking for a GPU keeps that expensive node from scaling down: violation;
- a DaemonSet whose selectors pick a pool's nodes but which does not tolerate the pool's taints is missing on those
  nodes; a DaemonSet that reaches no pool runs nowhere (unless DAEMONSETS_FOR_LABELLED_NODES explains why);
- on a cloud where the platform installs the NVIDIA device plugin (EKS; GKE installs its own), a device plugin
  DaemonSet must reach every GPU pool, or no pod ever gets a GPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.verify.allowlists import DAEMONSETS_FOR_LABELLED_NODES
from infra.verify.cluster import PodTemplate
from infra.verify.model import Check, CheckResult, ObjectSet, Violation
from infra.verify.nodes import GPU_RESOURCE, NodePool, Taint, node_pools
from infra.verify.resources import Resources, describe, limit_range_defaults, pod_requests

NAME = "scheduling"
# Clouds on which the platform itself must run the NVIDIA device plugin on GPU nodes (components/k8s/gpu.py): EKS's
# AL2023 NVIDIA AMI ships the driver but not the plugin; GKE installs driver and plugin on GPU pools itself.
DEVICE_PLUGIN_CLOUDS = frozenset({"aws"})
DEVICE_PLUGIN_COMMAND = "nvidia-device-plugin"


def expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A NodeSelectorRequirement (In, NotIn, Exists, DoesNotExist, Gt, Lt) against a node's labels."""
    key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
    value = labels.get(str(key))
    if operator == "In":
        return value in values
    if operator == "NotIn":
        return value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt") and value is not None and value.lstrip("-").isdigit() and values:
        return int(value) > int(values[0]) if operator == "Gt" else int(value) < int(values[0])
    return False


def selects(spec: Mapping[str, Any], labels: Mapping[str, str]) -> str | None:
    """Why the pod's node selector or required node affinity rejects these labels (None: it accepts them)."""
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return f"nodeSelector {key}={value} (nodes have {key}={labels.get(key, '<unset>')})"
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    if terms and not any(
        all(expression_matches(e, labels) for e in term.get("matchExpressions") or []) for term in terms
    ):
        return "required node affinity matches none of its labels"
    return None


def tolerates(tolerations: list[Mapping[str, Any]], taint: Taint) -> bool:
    """A toleration matches a taint (k8s.io/api core/v1 toleration.go ToleratesTaint)."""
    for toleration in tolerations:
        effect = toleration.get("effect") or ""
        if effect and effect != taint.effect:
            continue
        key = toleration.get("key") or ""
        operator = toleration.get("operator") or "Equal"
        if not key and operator == "Exists":
            return True
        if key != taint.key:
            continue
        if operator == "Exists" or (toleration.get("value") or "") == taint.value:
            return True
    return False


def untolerated(spec: Mapping[str, Any], pool: NodePool) -> list[Taint]:
    tolerations = list(spec.get("tolerations") or [])
    return [t for t in pool.taints if t.effect in ("NoSchedule", "NoExecute") and not tolerates(tolerations, t)]


def placement_problem(spec: Mapping[str, Any], pool: NodePool) -> str | None:
    """Why a pod's placement keeps it off a pool (selectors, affinity, taints), ignoring resources."""
    if pool.max_size <= 0:
        return "the pool has no nodes (maxSize 0)"
    why = selects(spec, pool.labels)
    if why:
        return why
    taints = untolerated(spec, pool)
    if taints:
        return "does not tolerate taint " + ", ".join(f"{t.key}={t.value}:{t.effect}" for t in taints)
    return None


def capacity_problem(requests: Resources, overhead: Resources, pool: NodePool) -> str | None:
    """Why requests plus the pool's DaemonSet overhead do not fit the pool's largest node."""
    if pool.instance is None:
        return f"its instance type {', '.join(pool.instance_names)} is not in the pinned catalog"
    needed = {**requests, "pods": 1.0}
    for resource, value in sorted(needed.items()):
        available = pool.allocatable.get(resource, 0.0) - overhead.get(resource, 0.0)
        if value > available + 1e-9:
            return (
                f"requests {describe(resource, value)} but a {pool.instance.name} node has "
                f"{describe(resource, max(available, 0.0))} allocatable for it"
                + (" after its DaemonSets" if overhead.get(resource) else "")
            )
    return None


def is_daemonset(pod: PodTemplate) -> bool:
    return pod.owner.kind == "DaemonSet"


def runs_device_plugin(pod: PodTemplate) -> bool:
    return any(DEVICE_PLUGIN_COMMAND in (c.get("command") or []) for c in pod.containers(ephemeral=False))


def run(objects: ObjectSet) -> CheckResult:
    cluster, pools = objects.cluster, node_pools(objects.plan)
    if not pools:
        return CheckResult(NAME, 0, "pod templates", notes=("the plan creates no node pool: nothing to schedule on",))
    defaults = {
        ns: limit_range_defaults(lr.manifest for lr in cluster.of_kind("LimitRange") if lr.namespace == ns)
        for ns in cluster.namespaces
    }
    requests = {id(p): pod_requests(p, defaults.get(p.namespace, ({}, {}))) for p in cluster.pods}
    daemons = [p for p in cluster.pods if is_daemonset(p)]
    overhead: dict[str, Resources] = {pool.name: {} for pool in pools}
    for daemon in daemons:
        for pool in pools:
            if placement_problem(daemon.spec, pool) is None:
                for resource, value in requests[id(daemon)].items():
                    overhead[pool.name][resource] = overhead[pool.name].get(resource, 0.0) + value
    violations: list[Violation] = []
    notes: list[str] = []
    for pod in cluster.pods:
        asked = requests[id(pod)]
        if is_daemonset(pod):
            violations += _daemonset(pod, pools, overhead, notes, objects.cloud)
            continue
        reasons = {}
        for pool in pools:
            reasons[pool.name] = placement_problem(pod.spec, pool) or capacity_problem(asked, overhead[pool.name], pool)
        fits = [name for name, reason in reasons.items() if reason is None]
        if not fits:
            why = "; ".join(f"pool {name}: {reason}" for name, reason in reasons.items())
            violations.append(Violation(NAME, pod.subject, f"fits no node pool, so it stays Pending ({why})"))
        reachable_gpu = [p.name for p in pools if p.gpu and placement_problem(pod.spec, p) is None]
        if reachable_gpu and not asked.get(GPU_RESOURCE):
            violations.append(
                Violation(
                    NAME,
                    pod.subject,
                    (
                        f"can land on the GPU pool {', '.join(reachable_gpu)} without requesting {GPU_RESOURCE}: "
                        "it would "
                        "hold a GPU node that should scale to zero; select the CPU or system pool, or request a GPU"
                    ),
                )
            )
    if objects.cloud in DEVICE_PLUGIN_CLOUDS:
        plugins = [d for d in daemons if runs_device_plugin(d)]
        for pool in (p for p in pools if p.gpu):
            if not any(placement_problem(d.spec, pool) is None for d in plugins):
                violations.append(
                    Violation(
                        NAME,
                        f"node pool {pool.name}",
                        (
                            "no NVIDIA device plugin DaemonSet reaches its GPU nodes: they never advertise "
                            f"{GPU_RESOURCE}, "
                            "so no GPU pod can ever be scheduled"
                        ),
                    )
                )
    return CheckResult(NAME, len(cluster.pods), "pod templates", tuple(violations), tuple(sorted(set(notes))))


def _daemonset(
    pod: PodTemplate, pools: list[NodePool], overhead: Mapping[str, Resources], notes: list[str], cloud: str
) -> list[Violation]:
    found = []
    reached = []
    for pool in pools:
        if pool.max_size <= 0 or selects(pod.spec, pool.labels):
            continue
        taints = untolerated(pod.spec, pool)
        if taints:
            found.append(
                Violation(
                    NAME,
                    pod.subject,
                    (
                        f"its selectors pick the nodes of pool {pool.name} but it does not tolerate "
                        f"{', '.join(f'{t.key}={t.value}:{t.effect}' for t in taints)}: it is missing on those nodes"
                    ),
                )
            )
            continue
        reached.append(pool.name)
        capacity = capacity_problem({}, overhead[pool.name], pool)
        if capacity:
            found.append(
                Violation(NAME, pod.subject, f"the DaemonSets of pool {pool.name} do not fit its nodes: {capacity}")
            )
    key = f"{pod.namespace}/{pod.owner.name}"
    if not reached and not found:
        if key in DAEMONSETS_FOR_LABELLED_NODES:
            notes.append(f"DaemonSet {key}: {DAEMONSETS_FOR_LABELLED_NODES[key]}")
        else:
            found.append(
                Violation(
                    NAME,
                    pod.subject,
                    "reaches no node pool: its node selector or affinity matches "
                    f"no pool of the stack ({', '.join(p.name for p in pools)})",
                )
            )
    return found


CHECK = Check(
    6,
    NAME,
    "every pod fits a node pool (selectors, affinity, taints, allocatable); GPU pods only GPU pools; DaemonSets reach",
    run,
)
