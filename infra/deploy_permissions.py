"""What the identity that runs `pulumi up` (or `preview`) for a stack may do, derived from the stack, least privilege.

`make deploy-permissions` (python -m infra.deploy_permissions --stack <s> --write) writes, for each shipped stack,
`deploy/permissions/<stack>.deploy.json` and `<stack>.preview.json`: for an AWS stack the IAM policy documents of
the deploy and preview roles, scoped to the stack's names and region (`${AWS_ACCOUNT_ID}` left for the operator);
for a GCP stack the predefined roles of the deploy and preview service accounts. A test keeps them current, checks
that every resource type the stack program creates has its permissions here, and that nothing here is unused.

Every resource type maps to the API actions its create, read, update and delete need. Actions that support
resource-level permissions are scoped to the stack's own names (`<namePrefix>-<environment>-*`); the rest (EC2
network objects, Describe/List calls) are limited to the stack's region.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from components.spec import PlatformSpec
from infra.config import parse_spec
from infra.plan.engine import PROJECT_ROOT, Plan, load_stack_config, plan_stack

ACCOUNT: Final[str] = "${AWS_ACCOUNT_ID}"  # filled in by the operator: the policy is account-specific


@dataclass(frozen=True)
class Grant:
    """The actions one resource type needs, on resources named by `resources` (ARN patterns, `{...}` filled in)."""

    actions: tuple[str, ...]
    resources: tuple[str, ...] = ("*",)


_EC2 = ("ec2:CreateTags", "ec2:DeleteTags")
_EKS_CLUSTER = "arn:aws:eks:{region}:{account}:cluster/{base}"
_IAM_ROLE = "arn:aws:iam::{account}:role/{base}-*"

# AWS resource type -> what the deploy role needs for it. Describe/Get/List actions are what a preview needs.
AWS_GRANTS: Final[Mapping[str, Grant]] = {
    "aws:ec2/vpc:Vpc": Grant(("ec2:CreateVpc", "ec2:DeleteVpc", "ec2:ModifyVpcAttribute", "ec2:DescribeVpcs",
                              "ec2:DescribeVpcAttribute", *_EC2)),
    "aws:ec2/subnet:Subnet": Grant(("ec2:CreateSubnet", "ec2:DeleteSubnet", "ec2:ModifySubnetAttribute",
                                    "ec2:DescribeSubnets", *_EC2)),
    "aws:ec2/internetGateway:InternetGateway": Grant(("ec2:CreateInternetGateway", "ec2:DeleteInternetGateway",
                                                      "ec2:AttachInternetGateway", "ec2:DetachInternetGateway",
                                                      "ec2:DescribeInternetGateways", *_EC2)),
    "aws:ec2/routeTable:RouteTable": Grant(("ec2:CreateRouteTable", "ec2:DeleteRouteTable",
                                            "ec2:DescribeRouteTables", *_EC2)),
    "aws:ec2/route:Route": Grant(("ec2:CreateRoute", "ec2:DeleteRoute", "ec2:ReplaceRoute",
                                  "ec2:DescribeRouteTables")),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": Grant(("ec2:AssociateRouteTable",
                                                                  "ec2:DisassociateRouteTable",
                                                                  "ec2:DescribeRouteTables")),
    "aws:ec2/eip:Eip": Grant(("ec2:AllocateAddress", "ec2:ReleaseAddress", "ec2:DescribeAddresses",
                              "ec2:DescribeAddressesAttribute", *_EC2)),
    "aws:ec2/natGateway:NatGateway": Grant(("ec2:CreateNatGateway", "ec2:DeleteNatGateway",
                                            "ec2:DescribeNatGateways", *_EC2)),
    "aws:ec2/vpcEndpoint:VpcEndpoint": Grant(("ec2:CreateVpcEndpoint", "ec2:DeleteVpcEndpoints",
                                              "ec2:ModifyVpcEndpoint", "ec2:DescribeVpcEndpoints",
                                              "ec2:DescribePrefixLists", *_EC2)),
    "aws:ec2/securityGroup:SecurityGroup": Grant(("ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup",
                                                  "ec2:DescribeSecurityGroups", "ec2:RevokeSecurityGroupEgress",
                                                  "ec2:AuthorizeSecurityGroupEgress", *_EC2)),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": Grant(("ec2:AuthorizeSecurityGroupIngress",
                                                                        "ec2:RevokeSecurityGroupIngress",
                                                                        "ec2:DescribeSecurityGroupRules",
                                                                        "ec2:ModifySecurityGroupRules", *_EC2)),
    "aws:ec2/launchTemplate:LaunchTemplate": Grant(("ec2:CreateLaunchTemplate", "ec2:DeleteLaunchTemplate",
                                                    "ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate",
                                                    "ec2:DescribeLaunchTemplates",
                                                    "ec2:DescribeLaunchTemplateVersions", *_EC2)),
    "aws:eks/cluster:Cluster": Grant(("eks:CreateCluster", "eks:DeleteCluster", "eks:DescribeCluster",
                                      "eks:UpdateClusterConfig", "eks:UpdateClusterVersion", "eks:TagResource",
                                      "eks:UntagResource", "eks:ListTagsForResource"), (_EKS_CLUSTER,)),
    "aws:eks/nodeGroup:NodeGroup": Grant(("eks:CreateNodegroup", "eks:DeleteNodegroup", "eks:DescribeNodegroup",
                                          "eks:UpdateNodegroupConfig", "eks:UpdateNodegroupVersion",
                                          "eks:TagResource", "eks:UntagResource"),
                                         (_EKS_CLUSTER, "arn:aws:eks:{region}:{account}:nodegroup/{base}/*/*")),
    "aws:eks/addon:Addon": Grant(("eks:CreateAddon", "eks:DeleteAddon", "eks:DescribeAddon", "eks:UpdateAddon",
                                  "eks:TagResource"),
                                 (_EKS_CLUSTER, "arn:aws:eks:{region}:{account}:addon/{base}/*/*")),
    "aws:eks/accessEntry:AccessEntry": Grant(("eks:CreateAccessEntry", "eks:DeleteAccessEntry",
                                              "eks:DescribeAccessEntry", "eks:UpdateAccessEntry",
                                              "eks:TagResource"),
                                             (_EKS_CLUSTER, "arn:aws:eks:{region}:{account}:access-entry/{base}/*")),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": Grant(
        ("eks:AssociateAccessPolicy", "eks:DisassociateAccessPolicy", "eks:ListAssociatedAccessPolicies"),
        (_EKS_CLUSTER, "arn:aws:eks:{region}:{account}:access-entry/{base}/*"),
    ),
    "aws:iam/role:Role": Grant(("iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:UpdateRole",
                                "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole",
                                "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
                                "iam:ListInstanceProfilesForRole", "iam:PassRole"), (_IAM_ROLE,)),
    "aws:iam/rolePolicy:RolePolicy": Grant(("iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"),
                                           (_IAM_ROLE,)),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": Grant(("iam:AttachRolePolicy", "iam:DetachRolePolicy",
                                                                "iam:ListAttachedRolePolicies"), (_IAM_ROLE,)),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": Grant(
        ("iam:CreateOpenIDConnectProvider", "iam:DeleteOpenIDConnectProvider", "iam:GetOpenIDConnectProvider",
         "iam:TagOpenIDConnectProvider", "iam:UpdateOpenIDConnectProviderThumbprint"),
        ("arn:aws:iam::{account}:oidc-provider/oidc.eks.{region}.amazonaws.com/id/*",),
    ),
    "aws:kms/key:Key": Grant(("kms:CreateKey", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy",
                              "kms:GetKeyRotationStatus", "kms:EnableKeyRotation", "kms:ListResourceTags",
                              "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                              "kms:CreateGrant", "kms:ListAliases")),
    "aws:kms/alias:Alias": Grant(("kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias", "kms:ListAliases"),
                                 ("arn:aws:kms:{region}:{account}:alias/{base}-*",
                                  "arn:aws:kms:{region}:{account}:key/*")),
    "aws:s3/bucket:Bucket": Grant(("s3:CreateBucket", "s3:DeleteBucket", "s3:ListBucket", "s3:ListBucketVersions",
                                   "s3:GetBucket*", "s3:PutBucketTagging", "s3:DeleteObject",
                                   "s3:DeleteObjectVersion", "s3:GetObjectVersion"),
                                  ("arn:aws:s3:::{base}-*",)),
    "aws:s3/bucketVersioning:BucketVersioning": Grant(("s3:PutBucketVersioning", "s3:GetBucketVersioning"),
                                                      ("arn:aws:s3:::{base}-*",)),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": Grant(
        ("s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration"), ("arn:aws:s3:::{base}-*",)
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": Grant(
        ("s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration"), ("arn:aws:s3:::{base}-*",)
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": Grant(
        ("s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"), ("arn:aws:s3:::{base}-*",)
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": Grant(
        ("s3:PutBucketOwnershipControls", "s3:GetBucketOwnershipControls"), ("arn:aws:s3:::{base}-*",)
    ),
    "aws:s3/bucketPolicy:BucketPolicy": Grant(("s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"),
                                              ("arn:aws:s3:::{base}-*",)),
    "aws:rds/instance:Instance": Grant(("rds:CreateDBInstance", "rds:DeleteDBInstance", "rds:ModifyDBInstance",
                                        "rds:DescribeDBInstances", "rds:AddTagsToResource",
                                        "rds:RemoveTagsFromResource", "rds:ListTagsForResource",
                                        "rds:CreateDBSnapshot"),
                                       ("arn:aws:rds:{region}:{account}:db:{base}-*",
                                        "arn:aws:rds:{region}:{account}:snapshot:{base}-*",
                                        "arn:aws:rds:{region}:{account}:subgrp:{base}-*",
                                        "arn:aws:rds:{region}:{account}:pg:{base}-*")),
    "aws:rds/subnetGroup:SubnetGroup": Grant(("rds:CreateDBSubnetGroup", "rds:DeleteDBSubnetGroup",
                                              "rds:ModifyDBSubnetGroup", "rds:DescribeDBSubnetGroups",
                                              "rds:AddTagsToResource", "rds:ListTagsForResource"),
                                             ("arn:aws:rds:{region}:{account}:subgrp:{base}-*",)),
    "aws:rds/parameterGroup:ParameterGroup": Grant(("rds:CreateDBParameterGroup", "rds:DeleteDBParameterGroup",
                                                    "rds:ModifyDBParameterGroup", "rds:DescribeDBParameterGroups",
                                                    "rds:DescribeDBParameters", "rds:AddTagsToResource",
                                                    "rds:ListTagsForResource"),
                                                   ("arn:aws:rds:{region}:{account}:pg:{base}-*",)),
    "aws:elasticache/replicationGroup:ReplicationGroup": Grant(
        ("elasticache:CreateReplicationGroup", "elasticache:DeleteReplicationGroup",
         "elasticache:ModifyReplicationGroup", "elasticache:DescribeReplicationGroups",
         "elasticache:DescribeCacheClusters", "elasticache:AddTagsToResource", "elasticache:ListTagsForResource",
         "elasticache:CreateCacheCluster"),
        ("arn:aws:elasticache:{region}:{account}:replicationgroup:{base}-*",
         "arn:aws:elasticache:{region}:{account}:cluster:{base}-*",
         "arn:aws:elasticache:{region}:{account}:subnetgroup:{base}-*",
         "arn:aws:elasticache:{region}:{account}:parametergroup:default.*"),
    ),
    "aws:elasticache/subnetGroup:SubnetGroup": Grant(("elasticache:CreateCacheSubnetGroup",
                                                      "elasticache:DeleteCacheSubnetGroup",
                                                      "elasticache:ModifyCacheSubnetGroup",
                                                      "elasticache:DescribeCacheSubnetGroups",
                                                      "elasticache:AddTagsToResource"),
                                                     ("arn:aws:elasticache:{region}:{account}:subnetgroup:{base}-*",)),
    "aws:ecr/repository:Repository": Grant(("ecr:CreateRepository", "ecr:DeleteRepository",
                                            "ecr:DescribeRepositories", "ecr:PutImageTagMutability",
                                            "ecr:PutImageScanningConfiguration", "ecr:TagResource",
                                            "ecr:UntagResource", "ecr:ListTagsForResource"),
                                           ("arn:aws:ecr:{region}:{account}:repository/{base}/*",)),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": Grant(("ecr:PutLifecyclePolicy", "ecr:GetLifecyclePolicy",
                                                      "ecr:DeleteLifecyclePolicy"),
                                                     ("arn:aws:ecr:{region}:{account}:repository/{base}/*",)),
    "aws:cloudwatch/logGroup:LogGroup": Grant(("logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
                                               "logs:AssociateKmsKey", "logs:DisassociateKmsKey", "logs:TagResource",
                                               "logs:UntagResource", "logs:ListTagsForResource",
                                               "logs:DescribeLogGroups"),
                                              ("arn:aws:logs:{region}:{account}:log-group:/aws/eks/{base}/*",)),
    "aws:budgets/budget:Budget": Grant(("budgets:ModifyBudget", "budgets:ViewBudget"),
                                       ("arn:aws:budgets::{account}:budget/{base}-*",)),
    "aws:autoscaling/tag:Tag": Grant(("autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags",
                                      "autoscaling:DescribeTags"),
                                     ("arn:aws:autoscaling:{region}:{account}:autoScalingGroup:*:"
                                      "autoScalingGroupName/eks-*",)),
}  # fmt: skip

# What every AWS stack needs besides its resources: the add-on check (make check-eks-addons), the zones and existing
# subnets the program looks up, and the service-linked roles EKS, its node groups, RDS and ElastiCache create once.
AWS_COMMON = Grant(
    ("eks:DescribeAddonVersions", "ec2:DescribeAvailabilityZones", "ec2:DescribeSubnets",
     "ec2:DescribeAccountAttributes", "ec2:DescribeNetworkInterfaces"),
)  # fmt: skip
SERVICE_LINKED_ROLES = ("eks.amazonaws.com", "eks-nodegroup.amazonaws.com", "autoscaling.amazonaws.com",
                        "rds.amazonaws.com", "elasticache.amazonaws.com")  # fmt: skip
READ_PREFIXES = ("Describe", "Get", "List", "View")

# GCP resource type -> the predefined role the deploy service account needs on the project for it.
GCP_ROLES: Final[Mapping[str, str]] = {
    "gcp:projects/service:Service": "roles/serviceusage.serviceUsageAdmin",
    "gcp:projects/serviceIdentity:ServiceIdentity": "roles/serviceusage.serviceUsageAdmin",
    "gcp:compute/network:Network": "roles/compute.networkAdmin",
    "gcp:compute/subnetwork:Subnetwork": "roles/compute.networkAdmin",
    "gcp:compute/router:Router": "roles/compute.networkAdmin",
    "gcp:compute/routerNat:RouterNat": "roles/compute.networkAdmin",
    "gcp:compute/globalAddress:GlobalAddress": "roles/compute.networkAdmin",
    "gcp:compute/firewall:Firewall": "roles/compute.securityAdmin",
    "gcp:servicenetworking/connection:Connection": "roles/servicenetworking.networksAdmin",
    "gcp:container/cluster:Cluster": "roles/container.admin",
    "gcp:container/nodePool:NodePool": "roles/container.admin",
    "gcp:kms/keyRing:KeyRing": "roles/cloudkms.admin",
    "gcp:kms/cryptoKey:CryptoKey": "roles/cloudkms.admin",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": "roles/cloudkms.admin",
    "gcp:serviceaccount/account:Account": "roles/iam.serviceAccountAdmin",
    "gcp:serviceaccount/iAMMember:IAMMember": "roles/iam.serviceAccountAdmin",
    "gcp:projects/iAMMember:IAMMember": "roles/resourcemanager.projectIamAdmin",
    "gcp:storage/bucket:Bucket": "roles/storage.admin",
    "gcp:storage/bucketIAMMember:BucketIAMMember": "roles/storage.admin",
    "gcp:sql/databaseInstance:DatabaseInstance": "roles/cloudsql.admin",
    "gcp:sql/user:User": "roles/cloudsql.admin",
    "gcp:redis/instance:Instance": "roles/redis.admin",
    "gcp:artifactregistry/repository:Repository": "roles/artifactregistry.admin",
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": "roles/artifactregistry.admin",
    "gcp:monitoring/notificationChannel:NotificationChannel": "roles/monitoring.notificationChannelEditor",
    "gcp:billing/budget:Budget": "roles/billing.costsManager",  # on the billing account, not the project
}
# Node pools and the cluster run as the platform's own service accounts: the deploy account must act as them.
GCP_COMMON_ROLES = ("roles/iam.serviceAccountUser",)
GCP_PREVIEW_ROLES = ("roles/viewer", "roles/iam.securityReviewer")


def aws_policy(spec: PlatformSpec, resource_types: set[str], read_only: bool = False) -> dict[str, Any]:
    """The IAM policy document of the deploy (or, read_only, preview) role of an AWS stack."""
    fill = {"region": spec.region, "account": ACCOUNT, "base": spec.base_name}
    by_resources: dict[tuple[str, ...], set[str]] = {}
    for resource_type in sorted(resource_types):
        grant = AWS_GRANTS[resource_type]
        actions = [a for a in grant.actions if not read_only or a.split(":")[1].startswith(READ_PREFIXES)]
        resources = tuple(r.format(**fill) for r in grant.resources)
        by_resources.setdefault(resources, set()).update(actions)
    by_resources.setdefault(("*",), set()).update(AWS_COMMON.actions)
    statements: list[dict[str, Any]] = []
    for resources, allowed in sorted(by_resources.items()):
        if not allowed:
            continue
        statement: dict[str, Any] = {"Effect": "Allow", "Action": sorted(allowed), "Resource": list(resources)}
        if resources == ("*",):  # no resource-level permissions: at least only in the stack's region
            statement["Condition"] = {"StringEquals": {"aws:RequestedRegion": spec.region}}
        statements.append(statement)
    if not read_only:
        statements.append({
            "Effect": "Allow",
            "Action": ["iam:CreateServiceLinkedRole"],
            "Resource": ["*"],
            "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
        })  # fmt: skip
    for index, statement in enumerate(statements):
        statement["Sid"] = f"S{index:02d}"
    return {"Version": "2012-10-17", "Statement": statements}


def gcp_roles(resource_types: set[str], read_only: bool = False) -> dict[str, list[str]]:
    """The predefined roles of the deploy (or preview) service account, on the project and the billing account."""
    if read_only:
        return {"project": sorted(GCP_PREVIEW_ROLES)}
    billing = {GCP_ROLES[t] for t in resource_types if t == "gcp:billing/budget:Budget"}
    project = {GCP_ROLES[t] for t in resource_types if t != "gcp:billing/budget:Budget"} | set(GCP_COMMON_ROLES)
    return {"project": sorted(project), **({"billingAccount": sorted(billing)} if billing else {})}


def permissions(spec: PlatformSpec, plan: Plan, read_only: bool = False) -> dict[str, Any]:
    """The permissions of a stack's deploy (or preview) identity, from the resource types its plan creates."""
    types = {r.type for r in plan.resources if r.custom and r.package in ("aws", "gcp")}
    return aws_policy(spec, types, read_only) if spec.cloud == "aws" else gcp_roles(types, read_only)


def document_path(stack: str, read_only: bool) -> Path:
    return PROJECT_ROOT / "deploy" / "permissions" / f"{stack}.{'preview' if read_only else 'deploy'}.json"


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy_permissions", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", action="append", required=True, help="stack name (repeatable)")
    parser.add_argument("--write", action="store_true", help="write deploy/permissions/<stack>.{deploy,preview}.json")
    args = parser.parse_args(argv)
    for stack in args.stack:
        config, secret_keys = load_stack_config(PROJECT_ROOT, stack)
        spec, plan = parse_spec(config, f"Pulumi.{stack}.yaml", secret_keys), plan_stack(stack)
        for read_only in (False, True):
            text = render(permissions(spec, plan, read_only))
            if args.write:
                document_path(stack, read_only).parent.mkdir(parents=True, exist_ok=True)
                document_path(stack, read_only).write_text(text)
            else:
                print(f"# {stack} {'preview' if read_only else 'deploy'}\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
