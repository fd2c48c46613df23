"""Node groups, their launch templates, scale-from-zero tags, placements and the cluster autoscaler."""

from __future__ import annotations

import pytest
from conftest import stack_spec
from test_aws_plans import AWS_STACKS, aws_build, aws_plan, named, plan_with, statements

from components.aws import catalog
from components.contract import Toleration
from components.spec import PlatformSpec, TaintSpec
from components.versions import CLUSTER_AUTOSCALER_CHART

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
TAG = "k8s.io/cluster-autoscaler/node-template"


def _group(stack: str, pool: str) -> dict[str, object]:
    return named(aws_plan(stack), NODE_GROUP, f"-nodes-{pool}").inputs


@pytest.mark.parametrize(
    ("stack", "pool", "capacity", "bounds"),
    [
        ("dev", "system", "ON_DEMAND", (2, 3, 2)),
        ("dev", "cpu", "SPOT", (0, 10, 0)),
        ("dev", "gpu", "ON_DEMAND", (0, 2, 0)),
        ("prod", "system", "ON_DEMAND", (3, 5, 3)),
        ("prod", "cpu", "SPOT", (2, 20, 2)),
        ("prod", "gpu", "ON_DEMAND", (0, 8, 0)),
    ],
)
def test_capacity_type_and_scaling_bounds(stack: str, pool: str, capacity: str, bounds: tuple[int, int, int]) -> None:
    group = _group(stack, pool)
    assert group["capacityType"] == capacity
    assert group["nodeGroupName"] == pool
    scaling = group["scalingConfig"]
    assert isinstance(scaling, dict)
    assert (scaling["minSize"], scaling["maxSize"], scaling["desiredSize"]) == bounds


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_ami_labels_and_taints_per_pool(stack: str) -> None:
    system, cpu, gpu = (_group(stack, p) for p in ("system", "cpu", "gpu"))
    assert system["amiType"] == cpu["amiType"] == "AL2023_x86_64_STANDARD"
    assert gpu["amiType"] == "AL2023_x86_64_NVIDIA"
    assert system["labels"] == {"node-pool": "system"}
    assert system["taints"] == []
    assert cpu["labels"] == {"node-pool": "cpu", "workload-type": "ml-inference"}
    assert cpu["taints"] == []
    assert gpu["labels"] == {"node-pool": "gpu", "gpu-enabled": "true", "workload-type": "ml-training"}
    assert gpu["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert cpu["instanceTypes"] == ["m6i.xlarge", "m6a.xlarge", "m5.xlarge"]


def test_spec_labels_and_taints_merge_with_pool_defaults() -> None:
    def customised(spec: PlatformSpec) -> PlatformSpec:
        cpu = spec.node_pools.cpu.model_copy(
            update={
                "labels": {"team": "fraud", "node-pool": "hijacked"},
                "taints": [TaintSpec(key="dedicated", value="batch", effect="NoExecute")],
                "instance_types": ["m7g.xlarge", "c7g.xlarge"],
            }
        )
        return spec.model_copy(update={"node_pools": spec.node_pools.model_copy(update={"cpu": cpu})})

    plan, built = plan_with("dev", customised)
    cpu = named(plan, NODE_GROUP, "-nodes-cpu").inputs
    assert cpu["labels"] == {"team": "fraud", "node-pool": "cpu", "workload-type": "ml-inference"}
    assert cpu["taints"] == [{"key": "dedicated", "value": "batch", "effect": "NO_EXECUTE"}]
    assert cpu["amiType"] == "AL2023_ARM_64_STANDARD"  # Graviton types get the arm64 AMI
    placement = built.platform.placements["cpu"]
    assert placement.tolerations == (Toleration(key="dedicated", value="batch", effect="NoExecute"),)
    asg_tags = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in plan.of_type("aws:autoscaling/tag:Tag")}
    assert asg_tags[f"{TAG}/label/team"] == "fraud"
    assert asg_tags[f"{TAG}/taint/dedicated"] == "batch:NoExecute"


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_autoscaler_owns_desired_size(stack: str) -> None:
    for group in aws_plan(stack).of_type(NODE_GROUP):
        assert group.ignore_changes == ["scalingConfig.desiredSize"]
        assert group.inputs["tags"]["k8s.io/cluster-autoscaler/enabled"] == "true"
        assert group.inputs["tags"][f"k8s.io/cluster-autoscaler/{stack_spec(stack).base_name}"] == "owned"


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_launch_templates_block_node_credentials_and_encrypt_root_volumes(stack: str) -> None:
    plan, spec = aws_plan(stack), stack_spec(stack)
    (key,) = plan.of_type("aws:kms/key:Key")
    disks = {"system": 50, "cpu": 100, "gpu": 200}
    for pool, size in disks.items():
        template = named(plan, TEMPLATE, f"-nodes-{pool}").inputs
        assert template["metadataOptions"]["httpTokens"] == "required"
        assert template["metadataOptions"]["httpPutResponseHopLimit"] == 1
        (device,) = template["blockDeviceMappings"]
        assert device["deviceName"] == catalog.NODE_ROOT_DEVICE
        assert device["ebs"] == {
            **device["ebs"],
            "volumeSize": size,
            "volumeType": "gp3",
            "encrypted": "true",
            "kmsKeyId": key.outputs["arn"],
        }
        kinds = {spec["resourceType"]: spec["tags"] for spec in template["tagSpecifications"]}
        assert set(kinds) == {"instance", "volume", "network-interface"}
        expected = {"Environment": spec.environment, "Name": f"{spec.base_name}-{pool}"}
        assert all(tags | expected == tags for tags in kinds.values())
        group = named(plan, NODE_GROUP, f"-nodes-{pool}")
        template_record = named(plan, TEMPLATE, f"-nodes-{pool}")
        assert group.inputs["launchTemplate"] == {"id": template_record.id, "version": "1"}
        assert "diskSize" not in group.inputs  # the launch template owns the disk


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_node_template_tags_let_cpu_and_gpu_groups_scale_from_zero(stack: str) -> None:
    plan = aws_plan(stack)
    groups = {g.name.rsplit("-", 1)[-1]: g for g in plan.of_type(NODE_GROUP)}
    asg_of = {g.outputs["resources"][0]["autoscalingGroups"][0]["name"]: pool for pool, g in groups.items()}
    tags: dict[str, dict[str, str]] = {}
    for tag in plan.of_type("aws:autoscaling/tag:Tag"):
        assert tag.inputs["tag"]["propagateAtLaunch"] is False
        tags.setdefault(asg_of[tag.inputs["autoscalingGroupName"]], {})[tag.inputs["tag"]["key"]] = tag.inputs["tag"][
            "value"
        ]
    assert tags["gpu"] == {
        f"{TAG}/label/node-pool": "gpu",
        f"{TAG}/label/gpu-enabled": "true",
        f"{TAG}/label/workload-type": "ml-training",
        f"{TAG}/taint/nvidia.com/gpu": "true:NoSchedule",
        f"{TAG}/resources/nvidia.com/gpu": "1",
    }
    assert tags["cpu"] == {f"{TAG}/label/node-pool": "cpu", f"{TAG}/label/workload-type": "ml-inference"}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_placements_select_each_pool_and_tolerate_its_taints(stack: str) -> None:
    _, built = aws_build(stack)
    placements = built.platform.placements
    assert dict(placements["system"].node_selector) == {"node-pool": "system"}
    assert dict(placements["cpu"].node_selector) == {"workload-type": "ml-inference"}
    assert dict(placements["gpu"].node_selector) == {"gpu-enabled": "true"}
    assert placements["gpu"].pod_tolerations() == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    assert placements["system"].tolerations == ()
    assert placements["cpu"].tolerations == ()


def test_without_a_gpu_pool_there_is_no_gpu_group_or_placement() -> None:
    def no_gpu(spec: PlatformSpec) -> PlatformSpec:
        return spec.model_copy(update={"node_pools": spec.node_pools.model_copy(update={"gpu": None})})

    plan, built = plan_with("dev", no_gpu)
    assert sorted(g.inputs["nodeGroupName"] for g in plan.of_type(NODE_GROUP)) == ["cpu", "system"]
    assert "gpu" not in built.platform.placements
    assert built.platform.gpu.pool_present is False


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_node_role_has_only_join_and_pull_permissions(stack: str) -> None:
    plan = aws_plan(stack)
    role = named(plan, "aws:iam/role:Role", "-nodes-node")
    (trust,) = statements(role.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = sorted(
        a.inputs["policyArn"]
        for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.startswith(f"{stack_spec(stack).base_name}-nodes-node")
    )
    assert attached == [catalog.MANAGED_POLICIES["ecr-pull"], catalog.MANAGED_POLICIES["eks-worker"]]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_cluster_autoscaler_release_is_pinned_and_configured(stack: str) -> None:
    plan = aws_plan(stack)
    (release,) = plan.of_type("kubernetes:helm.sh/v3:Release")
    assert release.inputs["chart"] == CLUSTER_AUTOSCALER_CHART.name
    assert release.inputs["version"] == CLUSTER_AUTOSCALER_CHART.version
    assert release.inputs["repositoryOpts"]["repo"] == "https://kubernetes.github.io/autoscaler"
    assert release.inputs["namespace"] == "kube-system"
    values = release.inputs["values"]
    role = named(plan, "aws:iam/role:Role", "-autoscaler-irsa")
    assert values["autoDiscovery"] == {"clusterName": stack_spec(stack).base_name}
    assert values["awsRegion"] == "us-east-1"
    assert values["cloudProvider"] == "aws"
    assert values["rbac"]["serviceAccount"] == {
        "create": True,
        "name": "cluster-autoscaler",
        "annotations": {"eks.amazonaws.com/role-arn": role.outputs["arn"]},
    }
    assert values["image"]["tag"].startswith(f"v{stack_spec(stack).cluster.kubernetes_version}.")
    assert values["nodeSelector"] == {"node-pool": "system"}
    assert values["extraArgs"]["balance-similar-node-groups"] == "true"


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_cluster_autoscaler_may_only_resize_this_clusters_groups(stack: str) -> None:
    plan = aws_plan(stack)
    policy = named(plan, "aws:iam/rolePolicy:RolePolicy", "-autoscaler-irsa")
    by_sid = {s["Sid"]: s for s in statements(policy.inputs["policy"])}
    scale = by_sid["ScaleThisClustersGroups"]
    assert sorted(scale["Action"]) == [
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    base = stack_spec(stack).base_name
    assert scale["Condition"]["StringEquals"][f"aws:ResourceTag/k8s.io/cluster-autoscaler/{base}"] == "owned"
    assert scale["Resource"].startswith("arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:")
    assert by_sid["DescribeThisClustersNodeGroups"]["Resource"] == (
        f"arn:aws:eks:us-east-1:123456789012:nodegroup/{base}/*/*"
    )
    read_only = by_sid["ReadOnlyDiscovery"]["Action"]
    assert all(a.split(":", 1)[1].startswith(("Describe", "Get")) for a in read_only)
