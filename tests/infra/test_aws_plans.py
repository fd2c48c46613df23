"""The AWS layer planned on its own for the dev and prod stacks (cached), plus the checks that span the whole layer.

Other `test_aws_*` modules import the cached plans and helpers from here (`from test_aws_plans import ...`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest
from conftest import AWS_RENAMED, component_plan, stack_spec
from conftest import AWS_STACKS as SHIPPED_AWS_STACKS

from components.aws import AwsPlatform
from components.contract import IdentityRequest, WorkloadIdentity
from components.spec import PlatformSpec
from infra.plan.engine import Plan, RecordedResource
from policies.offline import evaluate

AWS_STACKS = (*SHIPPED_AWS_STACKS, AWS_RENAMED)  # physical names must follow each stack's namePrefix
ACCOUNT = "123456789012"
SAMPLE_REQUESTS = (
    IdentityRequest(
        name="mlflow",
        namespace="mlflow",
        service_account="mlflow-server",
        buckets={"models": "readwrite", "pipelines": "read"},
        bucket_prefixes={"models": "mlflow"},
    ),
    IdentityRequest(
        name="serving",
        namespace="ml-workloads",
        service_account="model-server",
        buckets={"models": "read"},
        registry_pull=True,
    ),
    IdentityRequest(name="no-access", namespace="ml-workloads", service_account="idle"),
)


class Built:
    """What a build produced besides the recorded graph: the platform object and the granted identities."""

    platform: AwsPlatform
    identities: list[WorkloadIdentity]


def build_platform(spec: PlatformSpec, built: Built | None = None) -> AwsPlatform:
    platform = AwsPlatform(spec.base_name, spec)
    identities = [platform.grant_workload_identity(r, pulumi.ResourceOptions()) for r in SAMPLE_REQUESTS]
    for key, value in platform.stack_outputs().items():
        pulumi.export(key, value)
    if built is not None:
        built.platform, built.identities = platform, identities
    return platform


@functools.cache
def aws_build(stack: str) -> tuple[Plan, Built]:
    built = Built()
    plan = component_plan(stack, lambda spec: build_platform(spec, built))
    return plan, built


def aws_plan(stack: str) -> Plan:
    return aws_build(stack)[0]


def plan_with(stack: str, change: Callable[[PlatformSpec], PlatformSpec]) -> tuple[Plan, Built]:
    """Plan the layer with a modified spec (not cached: for one-off variants)."""
    built = Built()
    plan = component_plan(stack, lambda spec: build_platform(change(spec), built))
    return plan, built


def unsecret(value: Any) -> Any:
    """A recorded secret input is a signature wrapper around its value."""
    if isinstance(value, dict) and "value" in value and len(value) == 2:
        return value["value"]
    return value


def named(plan: Plan, type_: str, suffix: str) -> RecordedResource:
    found = [r for r in plan.of_type(type_) if r.name.endswith(suffix)]
    assert len(found) == 1, f"{type_} ending in {suffix!r}: {[r.name for r in plan.of_type(type_)]}"
    return found[0]


def statements(document: str | dict[str, Any]) -> list[dict[str, Any]]:
    parsed = json.loads(document) if isinstance(document, str) else document
    assert parsed["Version"] == "2012-10-17"
    found = parsed["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# --- checks over the whole layer ----------------------------------------------------------------------------------

# Every AWS resource type the layer creates, and the module whose tests cover it.
TESTED_TYPES = {
    "aws:autoscaling/tag:Tag": "nodegroups",
    "aws:budgets/budget:Budget": "data",
    "aws:cloudwatch/logGroup:LogGroup": "cluster",
    "aws:ec2/eip:Eip": "network",
    "aws:ec2/internetGateway:InternetGateway": "network",
    "aws:ec2/launchTemplate:LaunchTemplate": "nodegroups",
    "aws:ec2/natGateway:NatGateway": "network",
    "aws:ec2/route:Route": "network",
    "aws:ec2/routeTable:RouteTable": "network",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "network",
    "aws:ec2/securityGroup:SecurityGroup": "data",
    "aws:ec2/subnet:Subnet": "network",
    "aws:ec2/vpc:Vpc": "network",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "network",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": "storage",
    "aws:ecr/repository:Repository": "storage",
    "aws:eks/accessEntry:AccessEntry": "cluster",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": "cluster",
    "aws:eks/addon:Addon": "cluster",
    "aws:eks/cluster:Cluster": "cluster",
    "aws:eks/nodeGroup:NodeGroup": "nodegroups",
    "aws:elasticache/replicationGroup:ReplicationGroup": "data",
    "aws:elasticache/subnetGroup:SubnetGroup": "data",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "cluster",
    "aws:iam/role:Role": "identity",
    "aws:iam/rolePolicy:RolePolicy": "identity",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "identity",
    "aws:kms/alias:Alias": "storage",
    "aws:kms/key:Key": "storage",
    "aws:rds/instance:Instance": "data",
    "aws:rds/parameterGroup:ParameterGroup": "data",
    "aws:rds/subnetGroup:SubnetGroup": "data",
    "aws:s3/bucket:Bucket": "storage",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "storage",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "storage",
    "aws:s3/bucketPolicy:BucketPolicy": "storage",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "storage",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "storage",
    "aws:s3/bucketVersioning:BucketVersioning": "storage",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "data",
}
# Taggable types whose resources carry a Name tag (the console and cost reports show it).
NAME_TAGGED = {
    "aws:ec2/vpc:Vpc",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/eip:Eip",
    "aws:ec2/routeTable:RouteTable",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:eks/cluster:Cluster",
    "aws:eks/nodeGroup:NodeGroup",
    "aws:s3/bucket:Bucket",
    "aws:rds/instance:Instance",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:ecr/repository:Repository",
    "aws:kms/key:Key",
    "aws:iam/role:Role",
}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_aws_resource_type_is_covered_by_a_test_module(stack: str) -> None:
    used = {r.type for r in aws_plan(stack).resources if r.package == "aws" and r.custom}
    assert used - set(TESTED_TYPES) == set(), "new AWS resource types need tests (add them to TESTED_TYPES)"
    assert set(TESTED_TYPES) - used == set()


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_provider_carries_region_and_platform_default_tags(stack: str) -> None:
    plan, built = aws_build(stack)
    (provider,) = plan.of_type("pulumi:providers:aws")
    spec = built.platform._spec
    assert provider.inputs["region"] == spec.region
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert tags == {
        "Project": spec.name_prefix,
        "Environment": spec.environment,
        "Team": spec.team,
        "Owner": spec.owner,
        "ManagedBy": "pulumi",
        "CostCenter": spec.cost_center,
    }


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_aws_resource_is_created_through_the_tagged_provider(stack: str) -> None:
    plan = aws_plan(stack)
    (provider,) = plan.of_type("pulumi:providers:aws")
    stray = [r.name for r in plan.resources if r.package == "aws" and not r.provider.startswith(provider.urn + "::")]
    assert stray == []
    (cluster_provider,) = plan.of_type("pulumi:providers:kubernetes")
    kube = [r for r in plan.resources if r.package == "kubernetes" and r.custom]
    assert kube
    assert all(r.provider.startswith(cluster_provider.urn + "::") for r in kube)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_taggable_resources_have_name_tags(stack: str) -> None:
    plan = aws_plan(stack)
    for resource in plan.resources:
        if resource.type in NAME_TAGGED:
            assert resource.inputs.get("tags", {}).get("Name"), f"{resource.name} has no Name tag"


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_kubernetes_provider_authenticates_with_short_lived_eks_tokens(stack: str) -> None:
    plan = aws_plan(stack)
    (provider,) = plan.of_type("pulumi:providers:kubernetes")
    assert "kubeconfig" in provider.secret_inputs
    config = json.loads(unsecret(provider.inputs["kubeconfig"]))
    cluster = named(plan, "aws:eks/cluster:Cluster", "-cluster")
    assert config["clusters"][0]["cluster"]["server"] == cluster.outputs["endpoint"]
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["command"] == "aws"
    assert exec_["args"][:4] == ["eks", "get-token", "--cluster-name", cluster.inputs["name"]]
    assert exec_["args"][4:6] == ["--region", stack_spec(stack).region]
    assert "token" not in config["users"][0]["user"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_stack_outputs_name_every_endpoint_and_hide_the_kubeconfig(stack: str) -> None:
    plan, base = aws_plan(stack), stack_spec(stack).base_name
    out = plan.outputs
    assert plan.secret_outputs == ["kubeconfig"]
    assert out["clusterName"] == base
    assert out["clusterEndpoint"].startswith("https://")
    assert out["buckets"] == {
        role: f"{base}-{role}-{ACCOUNT}" for role in ("data", "models", "pipelines", "monitoring")
    }
    registry = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{base}"
    assert out["registryUrl"] == registry
    assert out["ecrRepositories"] == {i: f"{registry}/mlops-{i}" for i in ("training", "serving", "monitoring")}
    assert out["databaseEndpoint"] == named(plan, "aws:rds/instance:Instance", "-postgres").outputs["endpoint"]
    assert out["onlineStoreEndpoint"].startswith(f"master.{base}-feast.")
    # Identities granted after construction show up: stack_outputs reads them at call time.
    assert set(out["identities"]) == {
        "cluster-autoscaler",
        "vpc-cni",
        "aws-ebs-csi-driver",
        "mlflow",
        "serving",
        "no-access",
    }
    assert out["identities"]["mlflow"] == f"arn:aws:iam::{ACCOUNT}:role/{base}-mlflow"


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_contract_values_for_the_in_cluster_layer(stack: str) -> None:
    _, built = aws_build(stack)
    platform = built.platform
    assert platform.object_store_scheme == "s3"
    assert platform.storage_class == "gp3-encrypted"
    assert platform.gpu.pool_present
    assert platform.gpu.install_device_plugin
    assert platform.gpu.dcgm_exporter
    assert set(platform.buckets) == {"data", "models", "pipelines", "monitoring"}
    assert platform.database.port == 5432
    assert platform.database.sslmode == "require"
    assert platform.online_store.port == 6379
    assert platform.online_store.tls
    subjects = {role: [(s.kind, s.name) for s in subs] for role, subs in platform.role_subjects.items()}
    # Only roles someone is mapped to (cluster.access) get their group bound, as on GKE.
    assert subjects == {
        "platform-admins": [("Group", "mlops:platform-admins")],
        "data-scientists": [("Group", "mlops:data-scientists")],
        "ml-engineers": [],
        "viewers": [],
    }


def test_a_non_aws_spec_is_refused_with_the_fix() -> None:
    def build(spec: PlatformSpec) -> AwsPlatform:
        return AwsPlatform(spec.base_name, spec.model_copy(update={"cloud": "gcp"}))

    with pytest.raises(Exception, match="AwsPlatform needs mlops:cloud = aws, got 'gcp'; use GcpPlatform"):
        component_plan("dev", build)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_policy_pack_finds_no_violation_in_the_aws_layer(stack: str) -> None:
    assert [str(v) for v in evaluate(aws_plan(stack))] == []
