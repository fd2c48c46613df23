"""Workload identity on EKS: IAM Roles for Service Accounts (IRSA).

Why IRSA and not EKS Pod Identity: the platform's S3 clients must all accept the cluster's credentials — KFP's Argo
artifact driver (minio-go), MLflow and Feast (boto3), the training/serving images. All of them support the
web-identity token file that IRSA projects (`AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`), a standard part of
every AWS SDK credential chain for years; Pod Identity needs the container-credentials endpoint, which the Argo /
minio-go S3 client does not reliably support. IRSA also needs no extra agent DaemonSet on the nodes.

Each role trusts exactly one service account (`system:serviceaccount:<namespace>:<name>`, audience
sts.amazonaws.com) through the cluster's OIDC provider, and its inline policy names exact bucket and key ARNs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.common import AccountContext, PolicyStatement, policy_json
from components.contract import IdentityRequest, ObjectGrant
from components.spec import BucketRole

READ_OBJECT_ACTIONS = ["s3:GetObject"]
WRITE_OBJECT_ACTIONS = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
BUCKET_READ_ACTIONS = ["s3:ListBucket", "s3:GetBucketLocation"]
ECR_PULL_ACTIONS = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]


@dataclass(frozen=True)
class OidcIssuer:
    """The cluster's OIDC provider ARN and issuer host (`oidc.eks.<region>.amazonaws.com/id/<id>`)."""

    provider_arn: pulumi.Output[str]
    host: pulumi.Output[str]


def trust_policy(provider_arn: str, host: str, namespace: str, service_account: str) -> str:
    return policy_json(
        [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{host}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ]
    )


def irsa_role(
    name: str,
    role_name: str,
    issuer: OidcIssuer,
    namespace: str,
    service_account: str,
    opts: pulumi.ResourceOptions,
) -> aws.iam.Role:
    """An IAM role only `namespace/service_account` of this cluster can assume."""
    document = pulumi.Output.all(issuer.provider_arn, issuer.host).apply(
        lambda values: trust_policy(values[0], values[1], namespace, service_account)
    )
    return aws.iam.Role(
        name,
        name=role_name[:64],
        description=f"IRSA: {namespace}/{service_account}",
        assume_role_policy=document,
        max_session_duration=3600,
        tags={"Name": role_name[:64], "ServiceAccount": f"{namespace}/{service_account}"},
        opts=opts,
    )


def s3_statements(bucket_arns: Mapping[BucketRole, str], grants: Sequence[ObjectGrant]) -> list[PolicyStatement]:
    """List the bucket (under the granted prefixes only, when every grant has one) and read or write the objects."""
    statements: list[PolicyStatement] = []
    for role in sorted({g.bucket for g in grants}):
        arn, mine = bucket_arns[role], [g for g in grants if g.bucket == role]
        prefixes = sorted({g.prefix.strip("/") for g in mine})
        listing: PolicyStatement = {
            "Sid": f"List{role.title()}",
            "Effect": "Allow",
            "Action": BUCKET_READ_ACTIONS,
            "Resource": arn,
        }
        if all(prefixes):
            # s3:prefix is a condition key of ListBucket only: on GetBucketLocation the key is absent, so a
            # StringLike on it would deny the call (parliament UNKNOWN_CONDITION_FOR_ACTION, `make verify` check 11).
            listing["Action"] = ["s3:ListBucket"]
            listing["Condition"] = {
                "StringLike": {"s3:prefix": [p for prefix in prefixes for p in (prefix, f"{prefix}/*")]}
            }
            statements.append(
                {"Sid": f"Locate{role.title()}", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": arn}
            )
        statements.append(listing)
        for grant in mine:
            prefix = grant.prefix.strip("/")
            actions = READ_OBJECT_ACTIONS + (WRITE_OBJECT_ACTIONS if grant.access == "readwrite" else [])
            sid = f"Objects{role.title()}" if len(mine) == 1 else f"Objects{role.title()}{grant.access.title()}"
            if sum(g.access == grant.access for g in mine) > 1:
                sid += "".join(part.title() for part in re.split(r"[^A-Za-z0-9]+", prefix))
            objects = f"{arn}/{prefix}/*" if prefix else f"{arn}/*"
            statements.append({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": objects})
    return statements


def kms_via_s3_statement(key_arn: str, account: AccountContext, write: bool) -> PolicyStatement:
    """The platform key, usable only by S3 on this principal's behalf (not for direct encrypt/decrypt calls)."""
    return {
        "Sid": "PlatformKeyThroughS3",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"],
        "Resource": key_arn,
        "Condition": {"StringEquals": {"kms:ViaService": account.service_endpoint("s3")}},
    }


def ecr_pull_statements(repository_arns: Sequence[str], account: AccountContext) -> list[PolicyStatement]:
    return [
        {"Sid": "PullPlatformImages", "Effect": "Allow", "Action": ECR_PULL_ACTIONS, "Resource": list(repository_arns)},
        # GetAuthorizationToken has no resource-level permission (AWS only accepts "*"): scoped to the region.
        {
            "Sid": "RegistryLogin",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": account.region}},
        },
    ]


def workload_policy(
    request: IdentityRequest,
    account: AccountContext,
    bucket_arns: Mapping[BucketRole, str],
    key_arn: str,
    repository_arns: Sequence[str],
) -> str | None:
    """The least-privilege inline policy for one request, or None when it asks for no cloud access."""
    grants = request.grants()
    unknown = sorted({g.bucket for g in grants} - set(bucket_arns))
    if unknown:
        raise ValueError(f"identity {request.name!r} asks for bucket roles {unknown}; known: {sorted(bucket_arns)}")
    statements = s3_statements(bucket_arns, grants)
    if grants:
        statements.append(kms_via_s3_statement(key_arn, account, any(g.access == "readwrite" for g in grants)))
    if request.registry_pull:
        statements += ecr_pull_statements(repository_arns, account)
    return policy_json(statements) if statements else None
