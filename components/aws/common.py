"""Shared pieces of the AWS layer: the platform's default tags, IAM policy documents as JSON, resource options."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.spec import PlatformSpec

PolicyStatement = dict[str, Any]


def platform_tags(spec: PlatformSpec) -> dict[str, str]:
    """The tags every AWS resource carries (through the provider's default_tags): cost allocation and ownership."""
    return {
        "Project": spec.name_prefix,
        "Environment": spec.environment,
        "Team": spec.team,
        "Owner": spec.owner,
        "ManagedBy": "pulumi",
        "CostCenter": spec.cost_center,
    }


def policy_json(statements: Sequence[PolicyStatement]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def assume_role_policy(service: str) -> str:
    """Trust policy letting one AWS service principal assume a role."""
    return policy_json(
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": ["sts:AssumeRole", "sts:TagSession"] if service == "eks.amazonaws.com" else "sts:AssumeRole",
            }
        ]
    )


@dataclass(frozen=True)
class AccountContext:
    """Where the platform lives: account and region, known before any resource (getCallerIdentity)."""

    account_id: str
    region: str
    partition: str = "aws"

    @property
    def dns_suffix(self) -> str:
        return "amazonaws.com"

    def service_endpoint(self, service: str) -> str:
        return f"{service}.{self.region}.{self.dns_suffix}"


def protected(deletion_protection: bool) -> pulumi.ResourceOptions:
    """Stateful resources in a protected environment survive a mistaken `pulumi destroy` (and state removal)."""
    if deletion_protection:
        return pulumi.ResourceOptions(protect=True, retain_on_delete=True)
    return pulumi.ResourceOptions()


def child(parent: pulumi.Resource, *extra: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    options = pulumi.ResourceOptions(parent=parent)
    for more in extra:
        if more is not None:
            options = pulumi.ResourceOptions.merge(options, more)
    return options


def caller_account(provider: aws.Provider, region: str) -> AccountContext:
    identity = aws.get_caller_identity(opts=pulumi.InvokeOptions(provider=provider))
    return AccountContext(account_id=identity.account_id, region=region)


@dataclass(frozen=True)
class PrivateServiceArgs:
    """A managed data service (RDS, ElastiCache) in the private subnets, reachable only from the cluster."""

    base_name: str  # physical names are `<base_name>-<service>`
    is_prod: bool
    deletion_protection: bool
    vpc_id: pulumi.Output[str]
    subnet_ids: list[pulumi.Output[str]]
    cluster_security_group_id: pulumi.Output[str]
    key_arn: pulumi.Output[str]


def cluster_only_security_group(
    parent: pulumi.Resource,
    name: str,
    identifier: str,
    vpc_id: pulumi.Input[str],
    port: int,
    service: str,
    cluster_security_group_id: pulumi.Input[str],
) -> aws.ec2.SecurityGroup:
    """A security group admitting `port` only from the EKS cluster security group (its nodes and pods)."""
    group = aws.ec2.SecurityGroup(
        name,
        name=identifier,
        vpc_id=vpc_id,
        description=f"{identifier}: {service} from the EKS cluster only",
        tags={"Name": identifier},
        opts=child(parent),
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{name}-from-cluster",
        security_group_id=group.id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        referenced_security_group_id=cluster_security_group_id,
        description=f"{service} from EKS nodes and pods",
        opts=child(parent),
    )
    return group
