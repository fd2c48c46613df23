"""The platform KMS key.

One customer-managed key encrypts everything the platform stores at rest: EKS secrets (envelope encryption), the
control-plane log group, S3 objects, EBS volumes (node roots and persistent volumes), RDS, ElastiCache and ECR.
Why one key and not one per service: every consumer belongs to the same trust boundary (one environment, one
team); a single key policy is reviewed once, rotation is configured once, and access is still scoped per workload
by IAM (`kms:ViaService` conditions), not by key. Split keys only when a data class needs a separate custodian.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.aws.common import AccountContext, PolicyStatement, child, policy_json, protected

KEY_USE_ACTIONS = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
]


def key_policy(account: AccountContext, cluster_name: str) -> str:
    root = f"arn:{account.partition}:iam::{account.account_id}:root"
    autoscaling_role = (
        f"arn:{account.partition}:iam::{account.account_id}:role/aws-service-role/"
        "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    )
    autoscaling_caller = {"aws:PrincipalArn": autoscaling_role, "kms:CallerAccount": account.account_id}
    log_groups = (
        f"arn:{account.partition}:logs:{account.region}:{account.account_id}:log-group:/aws/eks/{cluster_name}/*"
    )
    statements: list[PolicyStatement] = [
        # Key administration and use are delegated to IAM policies of this account (the AWS default key policy).
        {
            "Sid": "AccountAdministration",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        },
        # Node groups launch CMK-encrypted root volumes through the Auto Scaling service-linked role. It is named by
        # condition, not as principal: KMS rejects a policy naming a role that does not exist yet (fresh accounts).
        {
            "Sid": "AutoScalingVolumes",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": KEY_USE_ACTIONS,
            "Resource": "*",
            "Condition": {"StringEquals": autoscaling_caller},
        },
        {
            "Sid": "AutoScalingVolumeGrants",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"StringEquals": autoscaling_caller, "Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
        # CloudWatch Logs encrypts the control-plane log group, and only log groups of this cluster.
        {
            "Sid": "ClusterLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": account.service_endpoint("logs")},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
                "kms:GenerateDataKey",
                "kms:DescribeKey",
            ],
            "Resource": "*",
            "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
        },
    ]
    return policy_json(statements)


class PlatformKey(pulumi.ComponentResource):
    key: aws.kms.Key
    arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        base_name: str,
        protect: bool,  # protected and retained by Pulumi (deletionProtection)
        keep: bool,  # prod: retained even when torn down on purpose, with the longest deletion window
        account: AccountContext,
        cluster_name: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlops:aws:PlatformKey", name, None, opts)
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"{base_name}: encryption at rest for the MLOps platform",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=30 if keep else 7,
            policy=key_policy(account, cluster_name),
            tags={"Name": f"{base_name}-platform"},
            # Retained in prod even when torn down on purpose: the final RDS snapshot is encrypted with this key
            # and stays readable only while the key exists (schedule its deletion once the snapshot is gone).
            opts=child(self, protected(protect), pulumi.ResourceOptions(retain_on_delete=keep)),
        )
        aws.kms.Alias(
            f"{name}-alias", name=f"alias/{base_name}-platform", target_key_id=self.key.key_id, opts=child(self)
        )
        self.arn = self.key.arn
        self.register_outputs({"arn": self.arn})
