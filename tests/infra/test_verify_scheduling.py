"""Check 6, scheduling: pods fit a node pool of the plan (selectors, affinity, taints, allocatable of the largest
type from the catalog); GPU pods only GPU pools; DaemonSets reach the nodes they select, the device plugin every
GPU pool."""

from __future__ import annotations

from typing import Any

import pytest

from components.aws.catalog import instance_type
from components.gcp.catalog import machine_type
from infra.plan.engine import Plan, RecordedResource
from infra.verify.checks import scheduling
from infra.verify.nodes import allocatable, node_pools, reserved_cpu, reserved_memory_gke
from infra.verify.resources import GIB, MIB
from tests.infra.verify_sets import Manifest, container, judge, namespace, pod_spec, resource, workload

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}


def node_group(
    name: str, types: list[str], labels: dict[str, str], taints: list[dict[str, str]] | None = None
) -> RecordedResource:
    return resource(
        "aws:eks/nodeGroup:NodeGroup",
        name,
        {
            "nodeGroupName": name,
            "instanceTypes": types,
            "labels": labels,
            "taints": taints or [],
            "capacityType": "SPOT" if name == "cpu" else "ON_DEMAND",
            "scalingConfig": {"minSize": 0, "maxSize": 3},
        },
    )


POOLS = [
    node_group("system", ["m6i.large"], {"node-pool": "system"}),
    node_group("cpu", ["m6i.xlarge", "m5.2xlarge"], {"node-pool": "cpu", "workload-type": "ml-inference"}),
    node_group("gpu", ["g5.xlarge"], {"node-pool": "gpu", "gpu-enabled": "true"}, [GPU_TAINT]),
]


def trainer(**resources: Any) -> Manifest:
    requests = {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1", **resources}
    return workload(
        "train",
        "ml",
        container("train", resources={"requests": requests, "limits": {"nvidia.com/gpu": requests["nvidia.com/gpu"]}}),
        nodeSelector={"gpu-enabled": "true"},
        tolerations=[GPU_TOLERATION],
    )


def device_plugin() -> Manifest:
    return workload(
        "nvidia-device-plugin",
        "nvidia-gpu",
        container("plugin", command=["nvidia-device-plugin"]),
        kind="DaemonSet",
        nodeSelector={"gpu-enabled": "true"},
        tolerations=[GPU_TOLERATION],
    )


def test_pods_that_fit_a_pool_are_admitted() -> None:
    inference = workload("inference", "ml", nodeSelector={"workload-type": "ml-inference"})
    _, found = judge(scheduling.run, namespace("ml"), inference, trainer(), device_plugin(), plan=POOLS)
    assert found == []


@pytest.mark.parametrize(
    ("pod", "why"),
    [
        pytest.param(
            workload("inference", "ml", nodeSelector={"workload-type": "ml-infrence"}),
            "pool cpu: nodeSelector workload-type=ml-infrence (nodes have workload-type=ml-inference)",
            id="selector-typo",
        ),
        pytest.param(trainer(memory="15Gi"), "pool gpu: requests 15.00Gi but a g5.xlarge node has", id="too-big"),
        pytest.param(
            workload("train", "ml", nodeSelector={"gpu-enabled": "true"}),
            "pool gpu: does not tolerate taint nvidia.com/gpu=true:NoSchedule",
            id="gpu-taint-not-tolerated",
        ),
        pytest.param(
            workload(
                "x",
                "ml",
                affinity={
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}
                                    ]
                                }
                            ]
                        }
                    }
                },
            ),
            "required node affinity matches none of its labels",
            id="arm64-only-on-x86-pools",
        ),
    ],
)
def test_a_pod_that_fits_no_pool_stays_pending(pod: Manifest, why: str) -> None:
    _, found = judge(scheduling.run, namespace("ml"), pod, device_plugin(), plan=POOLS)
    assert len(found) == 1 and "fits no node pool, so it stays Pending" in found[0] and why in found[0], found


def test_a_gpu_pod_fits_only_a_gpu_pool_and_a_cpu_pod_must_not_squat_on_one() -> None:
    unpinned_gpu = workload("train", "ml", container("train", resources={"limits": {"nvidia.com/gpu": "1"}}))
    _, found = judge(scheduling.run, namespace("ml"), unpinned_gpu, device_plugin(), plan=POOLS)
    assert len(found) == 1 and "pool system: requests 1 nvidia.com/gpu but a m6i.large node has 0" in found[0]
    squatter = workload("batch", "ml", tolerations=[GPU_TOLERATION])
    _, found = judge(scheduling.run, namespace("ml"), squatter, device_plugin(), plan=POOLS)
    assert found == [
        "Deployment ml/batch from pulumi resource app :: can land on the GPU pool gpu without requesting "
        "nvidia.com/gpu: it would hold a GPU node that should scale to zero; select the CPU or system pool, or "
        "request a GPU"
    ]


def test_daemonsets_reach_the_nodes_they_select_and_the_device_plugin_reaches_every_gpu_pool() -> None:
    plugin = device_plugin()
    pod_spec(plugin)["tolerations"] = []
    _, found = judge(scheduling.run, namespace("ml"), plugin, plan=POOLS)
    assert [f.split(" :: ")[1] for f in found] == [
        "its selectors pick the nodes of pool gpu but it does not tolerate nvidia.com/gpu=true:NoSchedule: it is "
        "missing on those nodes",
        "no NVIDIA device plugin DaemonSet reaches its GPU nodes: they never advertise nvidia.com/gpu, so no GPU pod "
        "can ever be scheduled",
    ]
    nowhere = workload("agent", "ml", kind="DaemonSet", nodeSelector={"node-pool": "edge"})
    _, found = judge(scheduling.run, namespace("ml"), nowhere, device_plugin(), plan=POOLS)
    assert len(found) == 1 and "reaches no node pool" in found[0]
    _, found = judge(
        scheduling.run,
        namespace("ml"),
        cloud="gcp",
        plan=[
            resource(
                "gcp:container/nodePool:NodePool",
                "gpu",
                {
                    "name": "gpu",
                    "autoscaling": {"totalMaxNodeCount": 2},
                    "nodeConfig": {
                        "machineType": "g2-standard-8",
                        "guestAccelerators": [{"type": "nvidia-l4", "count": 1}],
                        "taints": [GPU_TAINT],
                    },
                },
            )
        ],
    )
    assert found == []  # GKE installs its own device plugin


def test_daemonsets_take_their_share_of_every_node_they_reach() -> None:
    hog = workload(
        "agent",
        "ml",
        container("agent", resources={"requests": {"cpu": "1500m", "memory": "1Gi"}}),
        kind="DaemonSet",
        tolerations=[{"operator": "Exists"}],
    )
    system_pod = workload(
        "api",
        "ml",
        container("api", resources={"requests": {"cpu": "500m", "memory": "1Gi"}}),
        nodeSelector={"node-pool": "system"},
    )
    _, found = judge(scheduling.run, namespace("ml"), hog, system_pod, device_plugin(), plan=POOLS)
    assert (
        len(found) == 1
        and "pool system: requests 500m CPU but a m6i.large node has 430m CPU allocatable for it after its DaemonSets"
        in found[0]
    ), found


def test_allocatable_follows_each_cloud_s_reservations() -> None:
    # EKS AL2023 (nodeadm): m6i.large, 2 vCPU, 8 GiB, 29 pods: 70m CPU and 11*29+255 MiB kept, 100 MiB eviction.
    m6i = allocatable("aws", instance_type("m6i.large"), 0)  # type: ignore[arg-type]
    assert m6i == {"cpu": pytest.approx(1.93), "memory": 8 * GIB - 574 * MIB - 100 * MIB, "pods": 29.0}
    assert reserved_cpu(4) == pytest.approx(0.08) and reserved_cpu(8) == pytest.approx(0.09)
    # GKE: 25% of 4 GiB + 20% of the next 4 = 1.8 GiB for an 8 GiB machine.
    assert reserved_memory_gke(8 * GIB) == pytest.approx(1.8 * GIB)
    e2 = allocatable("gcp", machine_type("e2-standard-4"), 0)  # type: ignore[arg-type]
    assert e2["memory"] == pytest.approx(16 * GIB - 2.6 * GIB - 100 * MIB)
    pools = node_pools(Plan("mlops", "dev", POOLS))
    assert [(p.name, p.instance.name if p.instance else None, p.gpus) for p in pools] == [
        ("system", "m6i.large", 0),
        ("cpu", "m5.2xlarge", 0),
        ("gpu", "g5.xlarge", 1),
    ]
    assert (
        pools[2].labels["kubernetes.io/arch"] == "amd64" and pools[1].labels["eks.amazonaws.com/capacityType"] == "SPOT"
    )
