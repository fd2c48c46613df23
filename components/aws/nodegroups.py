"""Managed node groups: system (on-demand, untainted), cpu (spot, scales to zero in dev), gpu (tainted, from zero).

Every pool has its own launch template: IMDSv2 required with a hop limit of 1 so pods cannot reach the node's
instance credentials (workloads use IRSA), and a gp3 root volume encrypted with the platform key. The cluster
autoscaler owns `desiredSize` after creation. Tags set on an EKS node group do not reach its Auto Scaling group, so
the node-template tags the autoscaler needs to scale a group up from zero are `aws.autoscaling.Tag` resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws import catalog
from components.aws.common import assume_role_policy, child
from components.contract import NodePlacement, Toleration
from components.renames import formerly
from components.spec import NodePoolSpec, PlatformSpec, PoolName, TaintSpec

GPU_TAINT = TaintSpec(key="nvidia.com/gpu", value="true", effect="NoSchedule")
# The labels the platform schedules by; they win over same-named labels in the spec so placements stay valid.
POOL_LABELS: Mapping[PoolName, Mapping[str, str]] = {
    "system": {"node-pool": "system"},
    "cpu": {"node-pool": "cpu", "workload-type": "ml-inference"},
    "gpu": {"node-pool": "gpu", "gpu-enabled": "true", "workload-type": "ml-training"},
}
# What a pod's node selector names to land on each pool.
PLACEMENT_SELECTORS: Mapping[PoolName, Mapping[str, str]] = {
    "system": {"node-pool": "system"},
    "cpu": {"workload-type": "ml-inference"},
    "gpu": {"gpu-enabled": "true"},
}
EKS_TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}
AUTOSCALER_TAG_PREFIX = "k8s.io/cluster-autoscaler"


@dataclass(frozen=True)
class Pool:
    """One node pool with the platform defaults merged in."""

    name: PoolName
    spec: NodePoolSpec
    labels: Mapping[str, str]
    taints: tuple[TaintSpec, ...]

    @property
    def ami_type(self) -> str:
        if self.name == "gpu":
            return catalog.GPU_AMI_TYPE
        first = catalog.instance_type(self.spec.instance_types[0])
        if first is None:  # config validation refuses unknown types before anything is built
            raise ValueError(f"{self.spec.instance_types[0]!r} is not in components/aws/catalog.py")
        return catalog.NODE_AMI_TYPES[first.architecture]

    def placement(self) -> NodePlacement:
        tolerations = tuple(Toleration(key=t.key, value=t.value, effect=t.effect) for t in self.taints)
        return NodePlacement(
            pool=self.name, node_selector=dict(PLACEMENT_SELECTORS[self.name]), tolerations=tolerations
        )

    def node_template_tags(self) -> dict[str, str]:
        """What the autoscaler assumes a not-yet-existing node of this group looks like (scale from zero)."""
        tags = {f"{AUTOSCALER_TAG_PREFIX}/node-template/label/{k}": v for k, v in sorted(self.labels.items())}
        tags |= {f"{AUTOSCALER_TAG_PREFIX}/node-template/taint/{t.key}": f"{t.value}:{t.effect}" for t in self.taints}
        if self.spec.accelerator is not None:
            tags[f"{AUTOSCALER_TAG_PREFIX}/node-template/resources/nvidia.com/gpu"] = str(self.spec.accelerator.count)
        return tags


def platform_pools(spec: PlatformSpec) -> list[Pool]:
    configured: list[tuple[PoolName, NodePoolSpec | None]] = [
        ("system", spec.node_pools.system),
        ("cpu", spec.node_pools.cpu),
        ("gpu", spec.node_pools.gpu),
    ]
    pools = []
    for name, pool_spec in configured:
        if pool_spec is None:
            continue
        defaults = [GPU_TAINT] if name == "gpu" else []
        taints = {t.key: t for t in [*pool_spec.taints, *defaults]}  # the platform's taint wins on a key clash
        labels = {**pool_spec.labels, **POOL_LABELS[name]}
        pools.append(Pool(name=name, spec=pool_spec, labels=labels, taints=tuple(taints.values())))
    return pools


@dataclass(frozen=True)
class NodePoolsArgs:
    spec: PlatformSpec
    cluster: aws.eks.Cluster
    cluster_name: str
    key_arn: pulumi.Output[str]
    subnet_ids: list[pulumi.Output[str]]
    tags: Mapping[str, str]


class NodePools(pulumi.ComponentResource):
    groups: dict[PoolName, aws.eks.NodeGroup]
    placements: dict[PoolName, NodePlacement]

    def __init__(self, name: str, args: NodePoolsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:NodePools", name, None, formerly(opts, "mlops:aws:NodeGroups"))
        role = aws.iam.Role(
            f"{name}-node",
            name=f"{args.cluster_name}-node"[:64],
            assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
            tags={"Name": f"{args.cluster_name}-node"},
            opts=child(self),
        )
        # Nodes only join the cluster and pull images; the CNI and CSI drivers have their own IRSA roles.
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=role.name, policy_arn=catalog.MANAGED_POLICIES[policy], opts=child(self)
            )
            for policy in ("eks-worker", "ecr-pull")
        ]
        self.groups, self.placements = {}, {}
        for pool in platform_pools(args.spec):
            self.groups[pool.name] = self._node_group(name, pool, role, attachments, args)
            self.placements[pool.name] = pool.placement()
        self.register_outputs({"groups": {k: g.arn for k, g in self.groups.items()}})

    def _node_group(
        self,
        name: str,
        pool: Pool,
        role: aws.iam.Role,
        attachments: list[aws.iam.RolePolicyAttachment],
        args: NodePoolsArgs,
    ) -> aws.eks.NodeGroup:
        prefix, node_name = f"{name}-{pool.name}", f"{args.cluster_name}-{pool.name}"
        template = aws.ec2.LaunchTemplate(
            prefix,
            name=node_name,
            description=f"{pool.name} nodes of {args.cluster_name}",
            update_default_version=True,
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=catalog.NODE_ROOT_DEVICE,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=pool.spec.disk_size_gb,
                        volume_type="gp3",
                        encrypted="true",
                        kms_key_id=args.key_arn,
                        delete_on_termination="true",
                    ),
                )
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(
                    resource_type=kind, tags={**args.tags, "Name": node_name, "NodePool": pool.name}
                )
                for kind in ("instance", "volume", "network-interface")
            ],
            tags={"Name": node_name},
            opts=child(self),
        )
        discovery = {
            f"{AUTOSCALER_TAG_PREFIX}/enabled": "true",
            f"{AUTOSCALER_TAG_PREFIX}/{args.cluster_name}": "owned",
        }
        group = aws.eks.NodeGroup(
            prefix,
            cluster_name=args.cluster.name,
            node_group_name=pool.name,
            node_role_arn=role.arn,
            subnet_ids=args.subnet_ids,
            ami_type=pool.ami_type,
            capacity_type=pool.spec.capacity_type,
            instance_types=list(pool.spec.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=pool.spec.min_size, max_size=pool.spec.max_size, desired_size=pool.spec.initial_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable_percentage=33),
            labels=dict(pool.labels),
            taints=[
                aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=EKS_TAINT_EFFECTS[t.effect])
                for t in pool.taints
            ],
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            tags={"Name": node_name, **discovery, **pool.node_template_tags()},
            opts=child(
                self, pulumi.ResourceOptions(depends_on=attachments, ignore_changes=["scalingConfig.desiredSize"])
            ),
        )
        asg_name = group.resources.apply(lambda r: str(r[0].autoscaling_groups[0].name))
        for key, value in pool.node_template_tags().items():
            aws.autoscaling.Tag(
                f"{prefix}-{key.removeprefix(AUTOSCALER_TAG_PREFIX + '/').replace('/', '-')}",
                autoscaling_group_name=asg_name,
                tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                opts=child(self),
            )
        return group
