"""GKE node pools (system, cpu, gpu), each with its own least-privilege node service account.

GKE installs the NVIDIA drivers and device plugin itself (`gpu_driver_installation_config`) and scales pools with
its built-in cluster autoscaler, so the in-cluster layer deploys neither.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.contract import NodePlacement, Toleration
from components.gcp.naming import account_id
from components.spec import NodePoolSpec, PlatformSpec, PoolName, TaintEffect, TaintSpec
from components.versions import GKE_GPU_DRIVER_VERSION

# What a node needs to ship logs and metrics; nothing else (the Compute default account has project Editor).
NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
)
REGISTRY_READER = "roles/artifactregistry.reader"
GPU_TAINT = TaintSpec(key="nvidia.com/gpu", value="present", effect="NoSchedule")
# The node label each placement selects on (the same selectors the AWS layer uses) ...
SELECTORS: Mapping[PoolName, Mapping[str, str]] = {
    "system": {"node-pool": "system"},
    "cpu": {"workload-type": "ml-inference"},
    "gpu": {"gpu-enabled": "true"},
}
# ... and every label the pool's nodes carry (as on AWS); they win over same-named labels in the spec.
POOL_LABELS: Mapping[PoolName, Mapping[str, str]] = {
    "system": SELECTORS["system"],
    "cpu": {"node-pool": "cpu", **SELECTORS["cpu"]},
    "gpu": {"node-pool": "gpu", **SELECTORS["gpu"], "workload-type": "ml-training"},
}
GKE_EFFECTS: Mapping[TaintEffect, str] = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}
# A regional pool without explicit node_locations spreads over three zones; initial_node_count is per zone.
REGIONAL_ZONES = 3


def pool_taints(pool: PoolName, spec: NodePoolSpec) -> list[TaintSpec]:
    """The spec's taints, plus the GPU taint on the GPU pool (so only pods that tolerate it land there)."""
    taints = list(spec.taints)
    if pool == "gpu" and all(t.key != GPU_TAINT.key for t in taints):
        taints.append(GPU_TAINT)
    return taints


def pool_labels(pool: PoolName, spec: NodePoolSpec) -> dict[str, str]:
    return {**spec.labels, **POOL_LABELS[pool]}


def placement(pool: PoolName, spec: NodePoolSpec) -> NodePlacement:
    """How a pod lands on `pool`: its selector label, a toleration per taint."""
    return NodePlacement(
        pool=pool,
        node_selector=dict(SELECTORS[pool]),
        tolerations=tuple(Toleration(key=t.key, value=t.value, effect=t.effect) for t in pool_taints(pool, spec)),
    )


def pools_of(spec: PlatformSpec) -> dict[PoolName, NodePoolSpec]:
    pools: dict[PoolName, NodePoolSpec] = {"system": spec.node_pools.system, "cpu": spec.node_pools.cpu}
    if spec.node_pools.gpu is not None:
        pools["gpu"] = spec.node_pools.gpu
    return pools


@dataclass(frozen=True)
class NodeIdentitiesArgs:
    base_name: str
    project: str
    pools: tuple[PoolName, ...]
    registry_name: pulumi.Input[str]
    registry_location: str


class NodeIdentities(pulumi.ComponentResource):
    """One node service account per pool: write logs and metrics, pull images from the platform registry only."""

    emails: dict[PoolName, pulumi.Output[str]]

    def __init__(self, name: str, args: NodeIdentitiesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:NodeIdentities", name, None, opts)
        self.emails = {}
        self.grants: list[pulumi.Resource] = []
        for pool in args.pools:
            account = gcp.serviceaccount.Account(
                f"{name}-{pool}",
                account_id=account_id(args.base_name, f"{pool}-nodes"),
                project=args.project,
                display_name=f"{args.base_name} {pool} GKE nodes",
                opts=pulumi.ResourceOptions(parent=self),
            )
            member = account.email.apply(lambda email: f"serviceAccount:{email}")
            for role in NODE_ROLES:
                self.grants.append(
                    gcp.projects.IAMMember(
                        f"{name}-{pool}-{role.split('/')[1].replace('.', '-')}",
                        project=args.project,
                        role=role,
                        member=member,
                        opts=pulumi.ResourceOptions(parent=self),
                    )
                )
            self.grants.append(
                gcp.artifactregistry.RepositoryIamMember(
                    f"{name}-{pool}-registry-reader",
                    repository=args.registry_name,
                    location=args.registry_location,
                    role=REGISTRY_READER,
                    member=member,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
            self.emails[pool] = account.email
        self.register_outputs({"emails": self.emails})


@dataclass(frozen=True)
class NodePoolsArgs:
    spec: PlatformSpec
    cluster_id: pulumi.Input[str]
    cluster_location: pulumi.Input[str]
    regional: bool
    node_tag: str
    identities: NodeIdentities
    boot_disk_key_id: pulumi.Input[str]
    boot_disk_key_grant: pulumi.Resource  # the Compute Engine service agent's permission on the key
    resource_labels: Mapping[str, str]


class NodePools(pulumi.ComponentResource):
    pools: dict[PoolName, gcp.container.NodePool]

    def __init__(self, name: str, args: NodePoolsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:NodePools", name, None, opts)
        self.pools = {pool: self._pool(name, pool, pool_spec, args) for pool, pool_spec in pools_of(args.spec).items()}
        self.register_outputs({"pools": {pool: np.name for pool, np in self.pools.items()}})

    def _pool(self, name: str, pool: PoolName, spec: NodePoolSpec, args: NodePoolsArgs) -> gcp.container.NodePool:
        labels = pool_labels(pool, spec)
        accelerators = (
            [
                gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                    type=spec.accelerator.type,
                    count=spec.accelerator.count,
                    gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                        gpu_driver_version=GKE_GPU_DRIVER_VERSION
                    ),
                )
            ]
            if spec.accelerator is not None
            else None
        )
        # ANY lets spot and GPU pools take capacity from whichever zone has it; BALANCED spreads the system pool.
        location_policy = "ANY" if spec.capacity_type == "SPOT" or pool == "gpu" else "BALANCED"
        if args.regional:
            # total_* bound the whole pool across its zones, so minSize/maxSize mean the same as on a zonal
            # cluster (min_/max_node_count would be per zone and triple the spec's numbers).
            autoscaling = gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=spec.min_size,
                total_max_node_count=spec.max_size,
                location_policy=location_policy,
            )
            initial = math.ceil(spec.initial_size / REGIONAL_ZONES)
        else:
            autoscaling = gcp.container.NodePoolAutoscalingArgs(
                min_node_count=spec.min_size,
                max_node_count=spec.max_size,
                location_policy=location_policy,
            )
            initial = spec.initial_size
        return gcp.container.NodePool(
            f"{name}-{pool}",
            name=pool,
            cluster=args.cluster_id,
            location=args.cluster_location,
            initial_node_count=initial,
            autoscaling=autoscaling,
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(
                strategy="SURGE", max_surge=1, max_unavailable=0
            ),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=spec.instance_types[0],
                spot=spec.capacity_type == "SPOT",
                disk_size_gb=spec.disk_size_gb,
                disk_type="pd-balanced",
                boot_disk_kms_key=args.boot_disk_key_id,
                image_type="COS_CONTAINERD",
                service_account=args.identities.emails[pool],
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],  # IAM, not scopes, limits access
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode="GKE_METADATA"
                ),
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                metadata={"disable-legacy-endpoints": "true"},
                labels=labels,
                resource_labels=dict(args.resource_labels),  # VM labels: default_labels do not reach them
                taints=[
                    gcp.container.NodePoolNodeConfigTaintArgs(key=t.key, value=t.value, effect=GKE_EFFECTS[t.effect])
                    for t in pool_taints(pool, spec)
                ],
                guest_accelerators=accelerators,
                tags=[args.node_tag],
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[args.boot_disk_key_grant, *args.identities.grants],
                # The autoscaler owns the node count after creation.
                ignore_changes=["initialNodeCount"],
            ),
        )
