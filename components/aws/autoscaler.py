"""The cluster autoscaler (pinned Helm chart) with its own least-privilege IRSA role.

It discovers the node groups by their `k8s.io/cluster-autoscaler/<cluster>` tag and may only resize or terminate
instances of Auto Scaling groups carrying that tag; every other permission is a read-only Describe call (those APIs
have no resource-level permissions: their resource is "*", limited to the cluster's region by a condition).
Extra arguments favour cheap, balanced scale-ups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws.common import AccountContext, PolicyStatement, child, policy_json
from components.aws.identity import OidcIssuer, irsa_role
from components.k8s.common import helm_release
from components.versions import CLUSTER_AUTOSCALER_CHART, CLUSTER_AUTOSCALER_IMAGE, CLUSTER_AUTOSCALER_IMAGE_TAGS

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
SCALING_ACTIONS = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
DISCOVERY_ACTIONS = [
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
]


def autoscaler_policy(account: AccountContext, cluster_name: str) -> str:
    groups = f"arn:aws:autoscaling:{account.region}:{account.account_id}:autoScalingGroup:*:autoScalingGroupName/*"
    statements: list[PolicyStatement] = [
        {
            "Sid": "ScaleThisClustersGroups",
            "Effect": "Allow",
            "Action": SCALING_ACTIONS,
            "Resource": groups,
            "Condition": {
                "StringEquals": {
                    f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned",
                    "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
                }
            },
        },
        {
            "Sid": "DescribeThisClustersNodeGroups",
            "Effect": "Allow",
            "Action": "eks:DescribeNodegroup",
            "Resource": f"arn:aws:eks:{account.region}:{account.account_id}:nodegroup/{cluster_name}/*/*",
        },
        {
            "Sid": "ReadOnlyDiscovery",
            "Effect": "Allow",
            "Action": DISCOVERY_ACTIONS,
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": account.region}},
        },
    ]
    return policy_json(statements)


def chart_values(
    cluster_name: str, region: str, kubernetes_version: str, role_arn: str, node_selector: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "fullnameOverride": "cluster-autoscaler",
        "image": {"repository": CLUSTER_AUTOSCALER_IMAGE, "tag": CLUSTER_AUTOSCALER_IMAGE_TAGS[kubernetes_version]},
        "rbac": {
            "create": True,
            "serviceAccount": {
                "create": True,
                "name": SERVICE_ACCOUNT,
                "annotations": {"eks.amazonaws.com/role-arn": role_arn},
            },
        },
        "extraArgs": {
            "balance-similar-node-groups": "true",  # spread spot capacity over the pool's instance types
            "expander": "least-waste",
            "skip-nodes-with-system-pods": "true",
            "scale-down-unneeded-time": "10m",
        },
        "nodeSelector": dict(node_selector),
        "priorityClassName": "system-cluster-critical",
        # The chart's suggested pod context (cluster-autoscaler 9.59.0 values.yaml lines 420-425): non-root nobody,
        # RuntimeDefault seccomp; fsGroup lets that user read the projected IRSA token.
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "fsGroup": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containerSecurityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}},
    }


@dataclass(frozen=True)
class AutoscalerArgs:
    cluster_name: str
    kubernetes_version: str
    account: AccountContext
    issuer: OidcIssuer
    node_selector: Mapping[str, str]


class ClusterAutoscaler(pulumi.ComponentResource):
    role: aws.iam.Role

    def __init__(self, name: str, args: AutoscalerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:ClusterAutoscaler", name, None, opts)
        self.role = irsa_role(
            f"{name}-irsa",
            f"{args.cluster_name}-cluster-autoscaler",
            args.issuer,
            NAMESPACE,
            SERVICE_ACCOUNT,
            child(self),
        )
        policy = aws.iam.RolePolicy(
            f"{name}-irsa",
            role=self.role.id,
            policy=autoscaler_policy(args.account, args.cluster_name),
            opts=child(self),
        )
        helm_release(
            name,
            CLUSTER_AUTOSCALER_CHART,
            NAMESPACE,
            self.role.arn.apply(
                lambda arn: chart_values(
                    args.cluster_name, args.account.region, args.kubernetes_version, arn, args.node_selector
                )
            ),
            child(self, pulumi.ResourceOptions(depends_on=[policy])),
            release_name="cluster-autoscaler",
        )
        self.register_outputs({"roleArn": self.role.arn})
