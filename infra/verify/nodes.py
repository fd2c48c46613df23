"""The node pools of a stack as the scheduler sees them: labels, taints, and the allocatable of their largest type.

Pools come from the recorded plan: `aws:eks/nodeGroup:NodeGroup` (labels, taints, instance types, capacity type) and
`gcp:container/nodePool:NodePool` (node config labels, taints, machine type, accelerators, spot). Each node also
carries the labels its kubelet and the cloud set (`kubernetes.io/os`, `kubernetes.io/arch`,
`node.kubernetes.io/instance-type`, `eks.amazonaws.com/nodegroup` and `/capacityType`, `cloud.google.com/gke-nodepool`,
`/gke-spot`, `/gke-accelerator`). Instance shapes come from the pinned catalogs (components/aws/catalog.py,
components/gcp/catalog.py).

Allocatable = capacity - kube/system reservation - hard eviction threshold, as each cloud documents or codes it:
- EKS (AL2023, nodeadm): CPU 6% of the first core, 1% of the second, 0.5% of the third and fourth, 0.25% above;
  memory 11 MiB per pod the node may run + 255 MiB; eviction `memory.available<100Mi`; max pods from the ENI formula
  (awslabs/amazon-eks-ami v20260724 nodeadm/internal/kubelet/config.go lines 110-111, 283-287, 410-444;
  infra/verify/data/eks-max-pods.json).
- GKE: the same CPU ladder; memory 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next 112,
  2% above 128 GiB (255 MiB below 1 GiB); eviction 100 MiB; 110 pods per node
  (https://cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes#memory_and_cpu_reservations, read
  2026-12-01).
A node's memory capacity is taken as the catalog's nominal memory (the kernel keeps a few percent more).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.aws.catalog import instance_type
from components.gcp.catalog import machine_type
from components.machines import InstanceType
from infra.plan.engine import Plan
from infra.verify.resources import GIB, MIB, Resources

GPU_RESOURCE = "nvidia.com/gpu"
EKS_MAX_PODS_FILE = Path(__file__).parent / "data" / "eks-max-pods.json"
GKE_MAX_PODS = 110
EVICTION_MEMORY = 100 * MIB
ARCH_LABELS = {"x86_64": "amd64", "arm64": "arm64"}
EFFECTS = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class NodePool:
    name: str
    cloud: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    instance: InstanceType | None  # the largest type of the pool; None when the catalog does not know it
    instance_names: tuple[str, ...]
    max_size: int
    gpus: int = 0  # GPUs per node (built in or attached)
    allocatable: Resources = field(default_factory=dict)

    @property
    def gpu(self) -> bool:
        return self.gpus > 0


@functools.cache
def eks_max_pods() -> Mapping[str, int]:
    document: dict[str, Any] = json.loads(EKS_MAX_PODS_FILE.read_text())
    return {str(name): int(pods) for name, pods in document["maxPods"].items()}


def reserved_cpu(vcpus: int) -> float:
    """Cores kept for the kubelet and system: the ladder both clouds use (6%, 1%, 0.5%, 0.5%, then 0.25% per core)."""
    millicores = vcpus * 1000
    reserved = 0.0
    for start, end, share in ((0, 1000, 0.06), (1000, 2000, 0.01), (2000, 4000, 0.005), (4000, millicores, 0.0025)):
        if millicores > start:
            reserved += (min(millicores, end) - start) * share
    return reserved / 1000


def reserved_memory_gke(memory: float) -> float:
    if memory < GIB:
        return 255 * MIB
    reserved = 0.0
    for start, end, share in ((0, 4, 0.25), (4, 8, 0.20), (8, 16, 0.10), (16, 128, 0.06), (128, float("inf"), 0.02)):
        if memory > start * GIB:
            reserved += (min(memory, end * GIB) - start * GIB) * share
    return reserved


def allocatable(cloud: str, instance: InstanceType, gpus: int) -> Resources:
    memory = instance.memory_gib * GIB
    if cloud == "aws":
        pods = eks_max_pods().get(instance.name, 110)
        kept = (11 * pods + 255) * MIB
    else:
        pods = GKE_MAX_PODS
        kept = reserved_memory_gke(memory)
    resources = {
        "cpu": instance.vcpus - reserved_cpu(instance.vcpus),
        "memory": memory - kept - EVICTION_MEMORY,
        "pods": float(pods),
    }
    if gpus:
        resources[GPU_RESOURCE] = float(gpus)
    return resources


def _largest(types: list[InstanceType]) -> InstanceType | None:
    return max(types, key=lambda t: (t.memory_gib, t.vcpus), default=None)


def _standard_labels(instance: InstanceType | None) -> dict[str, str]:
    labels = {"kubernetes.io/os": "linux"}
    if instance is not None:
        labels |= {
            "kubernetes.io/arch": ARCH_LABELS[instance.architecture],
            "node.kubernetes.io/instance-type": instance.name,
        }
    return labels


def node_pools(plan: Plan | None) -> list[NodePool]:
    """Every node pool the plan creates, with the labels and taints its nodes carry."""
    if plan is None:
        return []
    pools = []
    for group in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
        inputs = group.inputs
        names = tuple(str(t) for t in inputs.get("instanceTypes") or [])
        types = [t for t in map(instance_type, names) if t is not None]
        instance = _largest(types)
        gpus = instance.gpus if instance is not None else 0
        name = str(inputs.get("nodeGroupName") or group.name)
        labels = {
            **_standard_labels(instance),
            "eks.amazonaws.com/nodegroup": name,
            "eks.amazonaws.com/capacityType": str(inputs.get("capacityType") or "ON_DEMAND"),
            **(inputs.get("labels") or {}),
        }
        taints = tuple(
            Taint(str(t.get("key")), str(t.get("value") or ""), EFFECTS.get(str(t.get("effect")), str(t.get("effect"))))
            for t in inputs.get("taints") or []
        )
        size = int((inputs.get("scalingConfig") or {}).get("maxSize") or 0)
        pools.append(
            NodePool(
                name,
                "aws",
                labels,
                taints,
                instance,
                names,
                size,
                gpus,
                allocatable("aws", instance, gpus) if instance else {},
            )
        )
    for pool in plan.of_type("gcp:container/nodePool:NodePool"):
        config = pool.inputs.get("nodeConfig") or {}
        machine = str(config.get("machineType") or "")
        instance = machine_type(machine)
        accelerators = config.get("guestAccelerators") or []
        gpus = sum(int(a.get("count") or 0) for a in accelerators) or (instance.gpus if instance else 0)
        name = str(pool.inputs.get("name") or pool.name)
        labels = {**_standard_labels(instance), "cloud.google.com/gke-nodepool": name, **(config.get("labels") or {})}
        if config.get("spot"):
            labels["cloud.google.com/gke-spot"] = "true"
        for accelerator in accelerators:
            labels["cloud.google.com/gke-accelerator"] = str(accelerator.get("type"))
        taints = tuple(
            Taint(str(t.get("key")), str(t.get("value") or ""), EFFECTS.get(str(t.get("effect")), str(t.get("effect"))))
            for t in config.get("taints") or []
        )
        scaling = pool.inputs.get("autoscaling") or {}
        size = int(scaling.get("totalMaxNodeCount") or scaling.get("maxNodeCount") or pool.inputs.get("nodeCount") or 0)
        pools.append(
            NodePool(
                name,
                "gcp",
                labels,
                taints,
                instance,
                (machine,),
                size,
                gpus,
                allocatable("gcp", instance, gpus) if instance else {},
            )
        )
    return pools
