"""IAM across the layer: every policy document parsed and checked for scope; IRSA identities for workloads."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from conftest import stack_spec
from test_aws_plans import ACCOUNT, AWS_STACKS, aws_build, aws_plan, named, statements
from test_aws_plans import as_list as listed

from components.aws import AwsPlatform, catalog
from components.aws.common import AccountContext
from components.aws.identity import workload_policy
from components.contract import IdentityRequest
from infra.plan.engine import Plan

ROLE, ROLE_POLICY = "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"
# The only Allow statements whose resource may be "*": APIs without resource-level permissions.
STAR_RESOURCE_ALLOWED = {
    "ecr:GetAuthorizationToken",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
}
ACCOUNT_CONTEXT = AccountContext(account_id=ACCOUNT, region="us-east-1")


def _bucket_arn(stack: str, role: str) -> str:
    return f"arn:aws:s3:::{stack_spec(stack).base_name}-{role}-{ACCOUNT}"


def _identity_policy(plan: Plan, name: str) -> dict[str, dict[str, Any]]:
    policy = named(plan, ROLE_POLICY, f"-identity-{name}")
    return {s["Sid"]: s for s in statements(policy.inputs["policy"])}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_no_allow_statement_uses_a_wildcard_action_or_an_unscoped_resource(stack: str) -> None:
    plan = aws_plan(stack)
    documents = [p.inputs["policy"] for p in plan.of_type(ROLE_POLICY)]
    assert len(documents) == 5  # control-plane key use, EBS CSI key use, autoscaler, mlflow, serving
    for document in documents:
        for statement in statements(document):
            assert statement["Effect"] == "Allow"
            actions = listed(statement["Action"])
            assert all("*" not in action for action in actions), actions
            for resource in listed(statement["Resource"]):
                if resource == "*":
                    assert set(actions) <= STAR_RESOURCE_ALLOWED, actions
                    assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
                else:
                    assert resource.startswith("arn:aws:"), resource


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_no_static_keys_and_no_full_access_managed_policies(stack: str) -> None:
    plan = aws_plan(stack)
    assert plan.of_type("aws:iam/accessKey:AccessKey") == []
    assert plan.of_type("aws:iam/user:User") == []
    attached = {a.inputs["policyArn"] for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert attached == set(catalog.MANAGED_POLICIES.values())
    assert not any("FullAccess" in arn or arn.endswith("/AdministratorAccess") for arn in attached)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_irsa_trust_names_exactly_one_service_account(stack: str) -> None:
    plan = aws_plan(stack)
    (oidc,) = plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    host = oidc.inputs["url"].removeprefix("https://")
    base = stack_spec(stack).base_name
    expected = {
        f"{base}-cluster-autoscaler": "kube-system:cluster-autoscaler",
        f"{base}-vpc-cni": "kube-system:aws-node",
        f"{base}-ebs-csi": "kube-system:ebs-csi-controller-sa",
        f"{base}-mlflow": "mlflow:mlflow-server",
        f"{base}-serving": "ml-workloads:model-server",
        f"{base}-no-access": "ml-workloads:idle",
    }
    federated = {}
    for role in plan.of_type(ROLE):
        (trust,) = statements(role.inputs["assumeRolePolicy"])
        if "Federated" not in trust["Principal"]:
            assert trust["Principal"]["Service"] in ("eks.amazonaws.com", "ec2.amazonaws.com")
            continue
        assert trust["Principal"]["Federated"] == oidc.outputs["arn"]
        assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert trust["Condition"] == {
            "StringEquals": {
                f"{host}:sub": f"system:serviceaccount:{expected[role.inputs['name']]}",
                f"{host}:aud": "sts.amazonaws.com",
            }
        }
        federated[role.inputs["name"]] = trust
    assert set(federated) == set(expected)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_readwrite_identity_with_a_prefix_is_scoped_to_that_prefix(stack: str) -> None:
    plan = aws_plan(stack)
    (key,) = plan.of_type("aws:kms/key:Key")
    policy = _identity_policy(plan, "mlflow")
    models, pipelines = _bucket_arn(stack, "models"), _bucket_arn(stack, "pipelines")
    assert policy["ListModels"]["Resource"] == models
    assert policy["ListModels"]["Condition"] == {"StringLike": {"s3:prefix": ["mlflow", "mlflow/*"]}}
    assert policy["ObjectsModels"]["Resource"] == f"{models}/mlflow/*"
    assert sorted(policy["ObjectsModels"]["Action"]) == [
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:PutObject",
    ]
    assert policy["ObjectsPipelines"] == {
        "Sid": "ObjectsPipelines",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": f"{pipelines}/*",
    }
    assert sorted(policy["ListPipelines"]["Action"]) == ["s3:GetBucketLocation", "s3:ListBucket"]
    kms = policy["PlatformKeyThroughS3"]
    assert kms["Resource"] == key.outputs["arn"]
    assert sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    assert not {"ListData", "ListMonitoring", "PullPlatformImages"} & set(policy)


def test_read_only_identity_with_registry_pull() -> None:
    plan = aws_plan("dev")
    policy = _identity_policy(plan, "serving")
    assert set(policy) == {"ListModels", "ObjectsModels", "PlatformKeyThroughS3", "PullPlatformImages", "RegistryLogin"}
    assert policy["ObjectsModels"]["Action"] == ["s3:GetObject"]
    assert policy["PlatformKeyThroughS3"]["Action"] == ["kms:Decrypt"]
    repositories = sorted(r.outputs["arn"] for r in plan.of_type("aws:ecr/repository:Repository"))
    assert sorted(policy["PullPlatformImages"]["Resource"]) == repositories
    assert policy["PullPlatformImages"]["Action"] == [
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
    ]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_identity_without_cloud_access_gets_a_role_and_no_policy(stack: str) -> None:
    plan = aws_plan(stack)
    assert named(plan, ROLE, "-identity-no-access").inputs["name"] == f"{stack_spec(stack).base_name}-no-access"
    assert [p.name for p in plan.of_type(ROLE_POLICY) if p.name.endswith("-identity-no-access")] == []


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_granted_identity_annotates_its_service_account_with_the_role_arn(stack: str) -> None:
    plan, built = aws_build(stack)
    roles = {r.name: r.outputs["arn"] for r in plan.of_type(ROLE)}
    mlflow = built.identities[0]
    assert mlflow.request.name == "mlflow"
    assert set(mlflow.service_account_annotations) == {"eks.amazonaws.com/role-arn"}
    base = stack_spec(stack).base_name
    assert roles[f"{base}-identity-mlflow"] == f"arn:aws:iam::{ACCOUNT}:role/{base}-mlflow"
    (platform_component,) = plan.of_type("mlops:aws:AwsPlatform")
    role = named(plan, ROLE, "-identity-mlflow")
    assert role.parent == platform_component.urn


def test_granting_one_name_twice_is_refused() -> None:
    _, built = aws_build("dev")
    platform: AwsPlatform = built.platform
    with pytest.raises(ValueError, match="workload identity 'mlflow' was granted twice; give each request a unique"):
        platform.grant_workload_identity(
            IdentityRequest(name="mlflow", namespace="other", service_account="other"), pulumi.ResourceOptions()
        )


def test_identity_names_of_the_platforms_own_roles_are_refused() -> None:
    _, built = aws_build("dev")
    with pytest.raises(ValueError, match="workload identity name 'vpc-cni' is taken by the platform's own IAM roles"):
        built.platform.grant_workload_identity(
            IdentityRequest(name="vpc-cni", namespace="n", service_account="s"), pulumi.ResourceOptions()
        )


def test_prefix_without_bucket_access_is_refused_with_the_fix() -> None:
    request = IdentityRequest(
        name="kfp",
        namespace="kubeflow",
        service_account="pipeline-runner",
        buckets={"pipelines": "readwrite"},
        bucket_prefixes={"models": "kfp"},
    )
    arns = {"pipelines": "arn:aws:s3:::p", "models": "arn:aws:s3:::m"}
    with pytest.raises(ValueError, match=r"identity 'kfp' sets bucket_prefixes for \['models'\] without access"):
        workload_policy(request, ACCOUNT_CONTEXT, arns, "arn:aws:kms:us-east-1:1:key/k", [])


def test_the_contract_refuses_a_stray_prefix_for_every_cloud() -> None:
    """The check lives in IdentityRequest.grants(), which both clouds' identity layers read: GCP no longer drops the
    prefix silently where AWS refused it."""
    request = IdentityRequest(
        name="kfp", namespace="kubeflow", service_account="runner", bucket_prefixes={"models": "kfp"}
    )
    with pytest.raises(ValueError, match=r"sets bucket_prefixes for \['models'\] without access"):
        request.grants()


def test_unknown_bucket_role_is_refused() -> None:
    request = IdentityRequest(name="x", namespace="n", service_account="s", buckets={"models": "read"})
    with pytest.raises(ValueError, match=r"identity 'x' asks for bucket roles \['models'\]; known: \['data'\]"):
        workload_policy(request, ACCOUNT_CONTEXT, {"data": "arn:aws:s3:::d"}, "arn:aws:kms:us-east-1:1:key/k", [])


def test_read_and_write_prefixes_on_one_bucket_get_exactly_their_actions() -> None:
    """A batch job: reads `m/inputs/`, writes `m/predictions/`, nothing else of the bucket."""
    request = IdentityRequest(
        name="m-batch",
        namespace="team",
        service_account="m-batch",
        object_prefixes={"data": {"m/inputs/": "read", "m/predictions/": "readwrite"}},
    )
    document = workload_policy(
        request, ACCOUNT_CONTEXT, {"data": "arn:aws:s3:::d"}, "arn:aws:kms:us-east-1:1:key/k", []
    )
    assert document is not None
    policy = {s["Sid"]: s for s in statements(document)}
    assert policy["ListData"]["Action"] == ["s3:ListBucket"]
    assert policy["ListData"]["Condition"] == {
        "StringLike": {"s3:prefix": ["m/inputs", "m/inputs/*", "m/predictions", "m/predictions/*"]}
    }
    assert policy["ObjectsDataRead"] == {
        "Sid": "ObjectsDataRead", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::d/m/inputs/*"
    }  # fmt: skip
    assert policy["ObjectsDataReadwrite"]["Resource"] == "arn:aws:s3:::d/m/predictions/*"
    assert "s3:PutObject" in policy["ObjectsDataReadwrite"]["Action"]
    assert sorted(policy["PlatformKeyThroughS3"]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert set(policy) == {"LocateData", "ListData", "ObjectsDataRead", "ObjectsDataReadwrite", "PlatformKeyThroughS3"}


def test_a_bucket_granted_both_whole_and_by_prefix_is_refused() -> None:
    request = IdentityRequest(
        name="m", namespace="n", service_account="s", buckets={"data": "read"}, object_prefixes={"data": {"m/": "read"}}
    )
    with pytest.raises(ValueError, match=r"identity 'm' lists \['data'\] in both buckets and object_prefixes"):
        workload_policy(request, ACCOUNT_CONTEXT, {"data": "arn:aws:s3:::d"}, "arn:aws:kms:us-east-1:1:key/k", [])
