"""S3 buckets by role (data, models, pipelines, monitoring), private and encrypted with the platform key.

Every bucket: SSE-KMS with an S3 bucket key (fewer KMS calls), all four public-access blocks, ACLs disabled
(BucketOwnerEnforced), a policy refusing plain-HTTP requests and a rule aborting incomplete multipart uploads.
Models are always versioned (a promoted model must be recoverable); data when `storage.versionData`. The data
bucket moves to Standard-IA and then Glacier as it ages. Names carry the account id: globally unique per account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import pulumi
import pulumi_aws as aws

from components.aws.common import AccountContext, child, policy_json, protected
from components.spec import BUCKET_ROLES, BucketRole, PlatformSpec

_Rule: TypeAlias = aws.s3.BucketLifecycleConfigurationRuleArgs


def tls_only_policy(bucket_arn: str) -> str:
    return policy_json(
        [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    )


def is_versioned(spec: PlatformSpec, role: BucketRole) -> bool:
    return role == "models" or (role == "data" and spec.storage.version_data)


def lifecycle_rules(spec: PlatformSpec, role: BucketRole) -> list[_Rule]:
    storage = spec.storage
    everything = aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix="")
    rules = [
        _Rule(
            id="abort-incomplete-multipart-uploads",
            status="Enabled",
            filter=everything,
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=storage.abort_multipart_after_days
            ),
        )
    ]
    if is_versioned(spec, role):
        rules.append(
            _Rule(
                id="expire-noncurrent-versions",
                status="Enabled",
                filter=everything,
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=storage.noncurrent_version_expiry_days
                ),
            )
        )
    if role == "data":
        rules.append(
            _Rule(
                id="tier-aging-data",
                status="Enabled",
                filter=everything,
                transitions=[
                    aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                        days=storage.infrequent_access_after_days, storage_class="STANDARD_IA"
                    ),
                    aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                        days=storage.archive_after_days, storage_class="GLACIER"
                    ),
                ],
            )
        )
    return rules


@dataclass(frozen=True)
class BucketsArgs:
    spec: PlatformSpec
    account: AccountContext
    key_arn: pulumi.Output[str]


class Buckets(pulumi.ComponentResource):
    buckets: dict[BucketRole, aws.s3.Bucket]

    def __init__(self, name: str, args: BucketsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:Buckets", name, None, opts)
        self.buckets = {role: self._bucket(f"{name}-{role}", role, args) for role in BUCKET_ROLES}
        self.register_outputs({role: b.bucket for role, b in self.buckets.items()})

    def _bucket(self, name: str, role: BucketRole, args: BucketsArgs) -> aws.s3.Bucket:
        spec = args.spec
        physical = f"{spec.base_name}-{role}-{args.account.account_id}"
        bucket = aws.s3.Bucket(
            name,
            bucket=physical,
            force_destroy=spec.storage.force_destroy,
            tags={"Name": physical, "BucketRole": role},
            opts=child(self, protected(spec.deletion_protection)),
        )
        options = child(self)
        block = aws.s3.BucketPublicAccessBlock(
            name,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=options,
        )
        aws.s3.BucketOwnershipControls(
            name,
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=options,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=args.key_arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=options,
        )
        aws.s3.BucketPolicy(
            name,
            bucket=bucket.id,
            policy=bucket.arn.apply(tls_only_policy),
            opts=child(self, pulumi.ResourceOptions(depends_on=[block])),
        )
        lifecycle_deps: list[pulumi.Resource] = []
        if is_versioned(spec, role):
            lifecycle_deps.append(
                aws.s3.BucketVersioning(
                    name,
                    bucket=bucket.id,
                    versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                    opts=options,
                )
            )
        aws.s3.BucketLifecycleConfiguration(
            name,
            bucket=bucket.id,
            rules=lifecycle_rules(spec, role),
            opts=child(self, pulumi.ResourceOptions(depends_on=lifecycle_deps)),
        )
        return bucket
