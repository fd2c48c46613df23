"""Check 11, IAM: policy documents pass parliament (unknown actions, resources that do not fit their action,
conditions an action does not take), trust policies federate only the plan's OIDC providers, and every managed
policy exists; parliament's known gaps are waived with their reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.verify.checks import iam_policies
from tests.infra.verify_sets import judge, resource

BUCKET = "arn:aws:s3:::mlops-dev-data"
PROVIDER = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"


def role_policy(*statements: dict[str, Any]) -> Any:
    return resource(
        "aws:iam/rolePolicy:RolePolicy",
        "batch",
        {"policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})},
    )


def trust_role(federated: str) -> Any:
    return resource(
        "aws:iam/role:Role",
        "batch",
        {
            "name": "batch",
            "assumeRolePolicy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRoleWithWebIdentity",
                            "Principal": {"Federated": federated},
                        }
                    ],
                }
            ),
        },
    )


LOG_GROUPS = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/eks/mlops-dev/*"
OIDC = resource("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "oidc", {}, {"arn": PROVIDER})
GOOD = [
    {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": BUCKET,
        "Condition": {"StringLike": {"s3:prefix": ["predictions", "predictions/*"]}},
    },
    {"Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": BUCKET},
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{BUCKET}/predictions/*"},
]


def test_valid_documents_trusts_and_managed_policies_are_admitted() -> None:
    attachment = resource(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "cni",
        {"policyArn": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"},
    )
    result, found = judge(iam_policies.run, plan=[role_policy(*GOOD), trust_role(PROVIDER), OIDC, attachment])
    assert found == [] and result.checked == 3


@pytest.mark.parametrize(
    ("statement", "issue"),
    [
        pytest.param(
            {"Effect": "Allow", "Action": "s3:PutObjekt", "Resource": f"{BUCKET}/*"},
            "UNKNOWN_ACTION",
            id="misspelt-action",
        ),
        pytest.param(
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": BUCKET},
            "RESOURCE_MISMATCH",
            id="object-action-on-the-bucket-arn",
        ),
        pytest.param(
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": BUCKET,
                "Condition": {"StringLike": {"s3:prefix": ["predictions"]}},
            },
            "UNKNOWN_CONDITION_FOR_ACTION",
            id="prefix-condition-denies-get-bucket-location",
        ),
        pytest.param(
            {"Effect": "Allow", "Action": "s4:GetObject", "Resource": f"{BUCKET}/*"},
            "UNKNOWN_PREFIX",
            id="unknown-service",
        ),
    ],
)
def test_a_document_parliament_refuses_is_a_violation(statement: dict[str, Any], issue: str) -> None:
    _, found = judge(iam_policies.run, plan=[role_policy(statement)])
    assert found and all(f.startswith("aws:iam/rolePolicy:RolePolicy batch (policy) :: parliament ") for f in found)
    assert any(f"parliament {issue}:" in f for f in found), found


def test_a_trust_of_a_federation_the_plan_does_not_create_is_a_violation() -> None:
    other = PROVIDER.replace("ABC", "OTHER-CLUSTER")
    _, found = judge(iam_policies.run, plan=[trust_role(other), OIDC])
    assert found == [
        f"aws:iam/role:Role batch (assumeRolePolicy) :: trusts the federated principal {other}, which is "
        "not an OIDC provider of the plan"
    ]


def test_a_managed_policy_that_does_not_exist_is_a_violation() -> None:
    plan = [
        resource(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "ecr",
            {"policyArn": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPull"},
        ),
        resource(
            "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
            "admin",
            {"policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdmin"},
        ),
    ]
    _, found = judge(iam_policies.run, plan=plan)
    assert [f.split(" :: ")[1] for f in found] == [
        "managed policy arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPull does not exist (not on the pinned "
        "list, infra/verify/data/aws-managed-policies.json): the attachment fails with NoSuchEntity",
        "EKS access policy arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdmin is not on the pinned list of "
        "access policies",
    ]


def test_parliament_s_known_gaps_are_waived_with_their_reason() -> None:
    key = resource(
        "aws:kms/key:Key",
        "kms",
        {
            "policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
                            "Action": ["kms:Decrypt", "kms:DescribeKey"],
                            "Resource": "*",
                            "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": LOG_GROUPS}},
                        }
                    ],
                }
            )
        },
    )
    result, found = judge(iam_policies.run, plan=[key])
    assert found == []
    assert any(n.startswith("UNKNOWN_CONDITION_FOR_ACTION") and "encrypt-log-data-kms" in n for n in result.notes)
