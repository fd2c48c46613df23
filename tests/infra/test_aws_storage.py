"""S3 buckets, ECR repositories and the platform KMS key: encryption, privacy, lifecycle, protection."""

from __future__ import annotations

import json

import pytest
from conftest import stack_spec
from test_aws_plans import ACCOUNT, AWS_STACKS, aws_plan, named, statements

from infra.plan.engine import Plan

ROLES = ("data", "models", "pipelines", "monitoring")


def _for_bucket(plan: Plan, type_: str, role: str) -> dict[str, object]:
    return named(plan, type_, f"-buckets-{role}").inputs


def _key_arn(plan: Plan) -> str:
    (key,) = plan.of_type("aws:kms/key:Key")
    return str(key.outputs["arn"])


@pytest.mark.parametrize("stack", AWS_STACKS)
@pytest.mark.parametrize("role", ROLES)
def test_every_bucket_is_private_kms_encrypted_and_tls_only(stack: str, role: str) -> None:
    plan = aws_plan(stack)
    bucket = named(plan, "aws:s3/bucket:Bucket", f"-buckets-{role}")
    assert bucket.inputs["bucket"] == f"{stack_spec(stack).base_name}-{role}-{ACCOUNT}"
    (rule,) = _for_bucket(
        plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", role
    )["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": _key_arn(plan)}
    assert rule["bucketKeyEnabled"] is True
    block = _for_bucket(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", role)
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert all(block[flag] is True for flag in flags)
    ownership = _for_bucket(plan, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", role)
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    (deny,) = statements(str(_for_bucket(plan, "aws:s3/bucketPolicy:BucketPolicy", role)["policy"]))
    arn = f"arn:aws:s3:::{stack_spec(stack).base_name}-{role}-{ACCOUNT}"
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert deny["Resource"] == [arn, f"{arn}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize(("stack", "versioned"), [("dev", {"models"}), ("prod", {"models", "data"})])
def test_models_always_and_data_in_prod_are_versioned(stack: str, versioned: set[str]) -> None:
    plan = aws_plan(stack)
    found = {r.name.rsplit("-", 1)[-1] for r in plan.of_type("aws:s3/bucketVersioning:BucketVersioning")}
    assert found == versioned
    for version in plan.of_type("aws:s3/bucketVersioning:BucketVersioning"):
        assert version.inputs["versioningConfiguration"] == {"status": "Enabled"}


@pytest.mark.parametrize("stack", AWS_STACKS)
@pytest.mark.parametrize("role", ROLES)
def test_lifecycle_rules(stack: str, role: str) -> None:
    plan = aws_plan(stack)
    rules = {
        r["id"]: r
        for r in _for_bucket(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", role)["rules"]
    }
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    storage = stack_spec(stack).storage
    versioned = role == "models" or (role == "data" and storage.version_data)
    if versioned:
        days = storage.noncurrent_version_expiry_days
        assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": days}
    else:
        assert "expire-noncurrent-versions" not in rules
    if role == "data":
        assert rules["tier-aging-data"]["transitions"] == [
            {"days": 90, "storageClass": "STANDARD_IA"},
            {"days": 365, "storageClass": "GLACIER"},
        ]
    else:
        assert "tier-aging-data" not in rules
    assert all(rule["status"] == "Enabled" for rule in rules.values())


@pytest.mark.parametrize(("stack", "protected"), [("dev", False), ("prod", True)])
def test_bucket_destruction_follows_the_environment(stack: str, protected: bool) -> None:
    for bucket in aws_plan(stack).of_type("aws:s3/bucket:Bucket"):
        assert bucket.inputs["forceDestroy"] is (not protected)
        assert (bucket.protect, bucket.retain_on_delete) == (protected, protected)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_ecr_repositories_are_immutable_scanned_and_encrypted(stack: str) -> None:
    plan = aws_plan(stack)
    repos = plan.of_type("aws:ecr/repository:Repository")
    assert sorted(r.inputs["name"] for r in repos) == [
        f"{stack_spec(stack).base_name}/mlops-{i}" for i in ("monitoring", "serving", "training")
    ]
    for repo in repos:
        assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
        assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repo.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": _key_arn(plan)}]
        assert repo.protect is stack_spec(stack).deletion_protection
    for policy in plan.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy"):
        rules = {r["selection"]["tagStatus"]: r["selection"] for r in json.loads(policy.inputs["policy"])["rules"]}
        assert rules["untagged"] == {
            "tagStatus": "untagged",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": 14,
        }
        assert rules["tagged"]["countType"] == "imageCountMoreThan"
        assert rules["tagged"]["countNumber"] == 30


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_platform_key_rotates_and_its_policy_admits_only_the_account_and_named_services(stack: str) -> None:
    plan = aws_plan(stack)
    (key,) = plan.of_type("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert key.protect is stack_spec(stack).deletion_protection
    by_sid = {s["Sid"]: s for s in statements(key.inputs["policy"])}
    assert by_sid["AccountAdministration"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert by_sid["ClusterLogGroups"]["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert by_sid["ClusterLogGroups"]["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == (
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/eks/{stack_spec(stack).base_name}/*"
    )
    autoscaling = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    caller = {"aws:PrincipalArn": autoscaling, "kms:CallerAccount": ACCOUNT}
    assert by_sid["AutoScalingVolumes"]["Condition"] == {"StringEquals": caller}
    assert by_sid["AutoScalingVolumeGrants"]["Condition"] == {
        "StringEquals": caller,
        "Bool": {"kms:GrantIsForAWSResource": "true"},
    }
    # Every statement open to more than one principal is pinned to one caller by its condition.
    assert all(s.get("Condition") for s in by_sid.values() if s["Principal"] == {"AWS": "*"})
    # "kms:*" only for the account root (delegation to IAM); every other statement lists its actions.
    wildcard = [s["Sid"] for s in by_sid.values() if "*" in str(s["Action"])]
    assert wildcard == ["AccountAdministration"]
    (alias,) = plan.of_type("aws:kms/alias:Alias")
    assert alias.inputs["name"] == f"alias/{stack_spec(stack).base_name}-platform"
    assert alias.inputs["targetKeyId"] == key.outputs["keyId"]
