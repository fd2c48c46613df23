"""Each guard rail fires on the resource it guards against and stays quiet on the compliant version."""

from __future__ import annotations

import json
from collections.abc import Callable

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pytest

from infra.plan.engine import run_program
from policies.offline import Violation, evaluate
from policies.rules import RESOURCE_POLICIES, STACK_POLICIES
from tests.infra.test_cost_policies import over_budget
from tests.infra.test_policy_sites import RESOURCE_SITES, STACK_SITES

TAGS = {"Project": "mlops", "Environment": "prod", "Team": "t", "Owner": "o", "ManagedBy": "pulumi", "CostCenter": "c"}


def violations(program: Callable[[], None]) -> list[Violation]:
    return evaluate(run_program(program, project="mlops", stack="prod", config={}))


def fired(program: Callable[[], None]) -> set[str]:
    return {v.policy for v in violations(program)}


def _aws_provider(tags: dict[str, str] = TAGS) -> pulumi.ResourceOptions:
    provider = aws.Provider("aws", region="us-east-1", default_tags=aws.ProviderDefaultTagsArgs(tags=tags))
    return pulumi.ResourceOptions(provider=provider)


def _locked_bucket(name: str, opts: pulumi.ResourceOptions, *, encrypted: bool = True, blocked: bool = True) -> None:
    bucket = aws.s3.Bucket(name, opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True)))
    if encrypted:
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms"
                    )
                )
            ],
            opts=opts,
        )
    aws.s3.BucketPublicAccessBlock(
        name,
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=blocked,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    aws.s3.BucketPolicy(
        name,
        bucket=bucket.id,
        policy=json.dumps(
            {
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": "*",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ]
            }
        ),
        opts=opts,
    )


def compliant_aws() -> None:
    opts = _aws_provider()
    _locked_bucket("models", opts)
    aws.iam.RolePolicy(
        "reader",
        role="r",
        policy=json.dumps(
            {"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::models/*"]}]}
        ),
        opts=opts,
    )
    aws.ec2.LaunchTemplate(
        "nodes",
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_tokens="required", http_put_response_hop_limit=1
        ),
        opts=opts,
    )


def test_compliant_resources_pass_every_policy() -> None:
    assert violations(compliant_aws) == []


BAD = [
    pytest.param(
        lambda: aws.iam.AccessKey("key", user="ci", opts=_aws_provider()), "aws-no-iam-access-keys", id="access-key"
    ),
    pytest.param(
        lambda: aws.iam.RolePolicy(
            "p",
            role="r",
            policy=json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
            opts=_aws_provider(),
        ),
        "aws-iam-least-privilege",
        id="wildcard-iam",
    ),
    pytest.param(
        lambda: aws.iam.RolePolicyAttachment(
            "a", role="r", policy_arn="arn:aws:iam::aws:policy/AmazonS3FullAccess", opts=_aws_provider()
        ),
        "aws-no-full-access-policies",
        id="full-access",
    ),
    pytest.param(
        lambda: aws.eks.Cluster(
            "c",
            role_arn="arn",
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=["s"], endpoint_public_access=True, public_access_cidrs=["0.0.0.0/0"]
            ),
            opts=_aws_provider(),
        ),
        "aws-eks-endpoint-and-secrets",
        id="open-eks",
    ),
    pytest.param(
        lambda: aws.ec2.LaunchTemplate(
            "lt",
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(http_tokens="optional"),
            opts=_aws_provider(),
        ),
        "aws-nodes-imdsv2",
        id="imdsv1",
    ),
    pytest.param(
        lambda: aws.rds.Instance("db", instance_class="db.t4g.micro", publicly_accessible=True, opts=_aws_provider()),
        "aws-rds-private-encrypted",
        id="public-rds",
    ),
    pytest.param(
        lambda: aws.elasticache.ReplicationGroup(
            "r", description="d", transit_encryption_enabled=False, opts=_aws_provider()
        ),
        "aws-online-store-encrypted",
        id="plain-redis",
    ),
    pytest.param(
        lambda: aws.ecr.Repository("repo", image_tag_mutability="MUTABLE", opts=_aws_provider()),
        "aws-ecr-immutable-scanned",
        id="mutable-ecr",
    ),
    pytest.param(
        lambda: aws.ecr.Repository(
            "repo",
            image_tag_mutability="IMMUTABLE_WITH_EXCLUSION",
            image_tag_mutability_exclusion_filters=[
                aws.ecr.RepositoryImageTagMutabilityExclusionFilterArgs(filter="v*", filter_type="WILDCARD")
            ],
            opts=_aws_provider(),
        ),
        "aws-ecr-immutable-scanned",
        id="ecr-release-tags-mutable",
    ),
    pytest.param(
        lambda: gcp.projects.IAMBinding("b", project="p", role="roles/viewer", members=["user:a@b.c"]),
        "gcp-no-authoritative-project-iam",
        id="authoritative-iam",
    ),
    pytest.param(lambda: gcp.storage.Bucket("b", location="US"), "gcp-buckets-private-cmek", id="public-gcs"),
    pytest.param(
        lambda: gcp.sql.DatabaseInstance(
            "db", database_version="POSTGRES_16", settings=gcp.sql.DatabaseInstanceSettingsArgs(tier="db-f1-micro")
        ),
        "gcp-sql-private-ssl",
        id="public-sql",
    ),
    pytest.param(
        lambda: gcp.container.Cluster("gke", location="us-central1"), "gke-private-workload-identity", id="public-gke"
    ),
    pytest.param(
        lambda: k8s.apps.v1.Deployment(
            "d",
            spec={
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx:latest"}]},
                },
            },
        ),
        "k8s-pinned-non-root-workloads",
        id="latest-root-container",
    ),
    pytest.param(lambda: k8s.helm.v3.Release("r", chart="grafana"), "helm-charts-pinned", id="unpinned-chart"),
    pytest.param(
        lambda: _locked_bucket("raw", _aws_provider(), encrypted=False),
        "aws-every-bucket-locked-down",
        id="unencrypted-bucket",
    ),
    pytest.param(
        lambda: _locked_bucket("open", _aws_provider(), blocked=False),
        "aws-every-bucket-locked-down",
        id="public-bucket",
    ),
    pytest.param(lambda: aws.kms.Key("key", opts=_aws_provider()), "prod-state-protected", id="unprotected-prod-key"),
    pytest.param(
        lambda: aws.s3.Bucket("b", opts=_aws_provider({"Project": "mlops", "Environment": "dev"})),
        "provider-default-tags",
        id="missing-tags",
    ),
    pytest.param(lambda: over_budget(enforce=False), "monthly-budget-estimate", id="over-budget"),
    pytest.param(lambda: over_budget(enforce=True), "monthly-budget-enforced", id="over-enforced-budget"),
]


@pytest.mark.parametrize(("program", "policy"), BAD)
def test_policy_fires_on_its_violation(program: Callable[[], None], policy: str) -> None:
    assert policy in fired(program)


def test_every_policy_has_a_failing_case() -> None:
    """Here through the real SDK types; each report site on its own in tests/infra/test_policy_sites.py."""
    names = {p.name for p in [*RESOURCE_POLICIES, *STACK_POLICIES]}
    sites = {site[2].split(":")[0] for site in RESOURCE_SITES} | {p.values[1].split(":")[0] for p in STACK_SITES}
    assert names == {param.values[1] for param in BAD} | sites
