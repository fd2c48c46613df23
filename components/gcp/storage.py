"""GCS buckets, one per platform role: private, CMEK-encrypted, versioned where data must be recoverable."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.contract import Bucket
from components.gcp.naming import bucket_name
from components.renames import formerly
from components.spec import BUCKET_ROLES, BucketRole, StorageSpec

GCS_RULE = gcp.storage.BucketLifecycleRuleArgs


@dataclass(frozen=True)
class BucketsArgs:
    base_name: str
    project: str
    region: str
    storage: StorageSpec
    key_id: pulumi.Input[str]
    key_grant: pulumi.Resource  # the GCS service agent's permission on the key
    protect: bool


def versioned(role: BucketRole, storage: StorageSpec) -> bool:
    """Models are always versioned (a bad upload must be recoverable); data when the stack asks for it."""
    return role == "models" or (role == "data" and storage.version_data)


def lifecycle_rules(role: BucketRole, storage: StorageSpec) -> list[gcp.storage.BucketLifecycleRuleArgs]:
    rules = [
        GCS_RULE(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="AbortIncompleteMultipartUpload"),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=storage.abort_multipart_after_days),
        )
    ]
    if role == "data":  # raw data is read rarely once features are built: move it to cheaper classes
        for age, storage_class, from_classes in (
            (storage.infrequent_access_after_days, "NEARLINE", ["STANDARD"]),
            (storage.archive_after_days, "COLDLINE", ["STANDARD", "NEARLINE"]),
        ):
            rules.append(
                GCS_RULE(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(
                        type="SetStorageClass", storage_class=storage_class
                    ),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        age=age, matches_storage_classes=from_classes
                    ),
                )
            )
    if versioned(role, storage):
        rules.append(
            GCS_RULE(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                    days_since_noncurrent_time=storage.noncurrent_version_expiry_days, with_state="ARCHIVED"
                ),
            )
        )
    return rules


class Buckets(pulumi.ComponentResource):
    buckets: dict[BucketRole, Bucket]
    resources: dict[BucketRole, gcp.storage.Bucket]

    def __init__(self, name: str, args: BucketsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:Buckets", name, None, formerly(opts, "mlops:gcp:ObjectStore"))
        self.resources = {}
        for role in BUCKET_ROLES:
            self.resources[role] = gcp.storage.Bucket(
                f"{name}-{role}",
                name=bucket_name(args.base_name, role, args.project),
                location=args.region.upper(),
                storage_class="STANDARD",
                uniform_bucket_level_access=True,  # IAM only, no per-object ACLs
                public_access_prevention="enforced",
                encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=args.key_id),
                versioning=gcp.storage.BucketVersioningArgs(enabled=versioned(role, args.storage)),
                lifecycle_rules=lifecycle_rules(role, args.storage),
                force_destroy=args.storage.force_destroy,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[args.key_grant],
                    protect=args.protect,
                    retain_on_delete=args.protect,
                ),
            )
        self.buckets = {role: Bucket(role=role, name=bucket.name) for role, bucket in self.resources.items()}
        self.register_outputs({f"{role}Bucket": b.name for role, b in self.buckets.items()})
