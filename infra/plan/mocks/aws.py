"""Mocked outputs for pulumi-aws resources and invokes: the computed attributes the AWS layer's apply chains read.

Each factory returns what the AWS API would fill in (ARNs in their real shape, endpoints, ids), derived from the
resource's inputs and name so plans are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from infra.plan.mocks.common import InvokeFailure, MockContext, short_hash

Factory = Callable[[str, Mapping[str, Any], MockContext], dict[str, Any]]


def default_outputs(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    return {"arn": f"arn:aws:mock:{ctx.aws_region}:{ctx.aws_account_id}:{name}"}


def _region(inputs: Mapping[str, Any], ctx: MockContext) -> str:
    return str(inputs.get("region") or ctx.aws_region)


def eks_cluster(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    cluster = str(inputs.get("name") or name)
    region = _region(inputs, ctx)
    oidc_id = short_hash(ctx.stack, cluster, length=32).upper()
    host = f"{short_hash(cluster, length=32).upper()}.gr7.{region}.eks.amazonaws.com"
    vpc_config = dict(inputs.get("vpcConfig") or {})
    vpc_config["clusterSecurityGroupId"] = f"sg-{short_hash(cluster, 'cluster-sg', length=17)}"
    vpc_config["vpcId"] = f"vpc-{short_hash(cluster, 'vpc', length=17)}"
    return {
        "name": cluster,
        "arn": f"arn:aws:eks:{region}:{ctx.aws_account_id}:cluster/{cluster}",
        "endpoint": f"https://{host}",
        "certificateAuthority": {
            "data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1PQ0sKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
        },
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{oidc_id}"}]}],
        "vpcConfig": vpc_config,
        "platformVersion": "eks.1",
        "status": "ACTIVE",
    }


def eks_node_group(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    cluster, group = str(inputs.get("clusterName")), str(inputs.get("nodeGroupName") or name)
    uid = f"{short_hash(cluster, group, length=8)}-0000-4000-8000-{short_hash(group, length=12)}"
    return {
        "arn": f"arn:aws:eks:{_region(inputs, ctx)}:{ctx.aws_account_id}:nodegroup/{cluster}/{group}/{uid}",
        "status": "ACTIVE",
        "resources": [{"autoscalingGroups": [{"name": f"eks-{group}-{uid}"}], "remoteAccessSecurityGroupId": ""}],
    }


def iam_role(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    role = str(inputs.get("name") or name)
    return {
        "arn": f"arn:aws:iam::{ctx.aws_account_id}:role{inputs.get('path') or '/'}{role}",
        "name": role,
        "uniqueId": f"AROA{short_hash(role, length=17).upper()}",
    }


def oidc_provider(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    url = str(inputs.get("url") or "").removeprefix("https://")
    return {"arn": f"arn:aws:iam::{ctx.aws_account_id}:oidc-provider/{url}"}


def kms_key(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    key_id = f"{short_hash(name, length=8)}-0000-4000-8000-{short_hash(ctx.stack, name, length=12)}"
    return {"arn": f"arn:aws:kms:{_region(inputs, ctx)}:{ctx.aws_account_id}:key/{key_id}", "keyId": key_id}


def kms_alias(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    return {"arn": f"arn:aws:kms:{_region(inputs, ctx)}:{ctx.aws_account_id}:{inputs.get('name') or name}"}


def s3_bucket(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    bucket = str(inputs.get("bucket") or name)
    return {
        "arn": f"arn:aws:s3:::{bucket}",
        "bucket": bucket,
        "bucketRegionalDomainName": f"{bucket}.s3.{_region(inputs, ctx)}.amazonaws.com",
    }


def rds_instance(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    identifier = str(inputs.get("identifier") or name)
    address = f"{identifier}.c{short_hash(ctx.stack, length=11)}.{_region(inputs, ctx)}.rds.amazonaws.com"
    port = int(inputs.get("port") or 5432)
    return {
        "arn": f"arn:aws:rds:{_region(inputs, ctx)}:{ctx.aws_account_id}:db:{identifier}",
        "address": address,
        "endpoint": f"{address}:{port}",
        "port": port,
    }


def replication_group(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    group = str(inputs.get("replicationGroupId") or name)
    suffix = f"{short_hash(ctx.stack, length=6)}.ng.0001.{ctx.aws_region.replace('-', '')[:4]}.cache.amazonaws.com"
    return {
        "arn": f"arn:aws:elasticache:{_region(inputs, ctx)}:{ctx.aws_account_id}:replicationgroup:{group}",
        "primaryEndpointAddress": f"master.{group}.{suffix}",
        "readerEndpointAddress": f"replica.{group}.{suffix}",
    }


def ecr_repository(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    repo, region = str(inputs.get("name") or name), _region(inputs, ctx)
    return {
        "arn": f"arn:aws:ecr:{region}:{ctx.aws_account_id}:repository/{repo}",
        "registryId": ctx.aws_account_id,
        "repositoryUrl": f"{ctx.aws_account_id}.dkr.ecr.{region}.amazonaws.com/{repo}",
    }


def launch_template(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    template_id = f"lt-{short_hash(ctx.stack, name, length=17)}"
    return {
        "id": template_id,
        "latestVersion": 1,
        "defaultVersion": 1,
        "arn": f"arn:aws:ec2:{_region(inputs, ctx)}:{ctx.aws_account_id}:launch-template/{template_id}",
    }


def _ec2_with_id(prefix: str) -> Factory:
    def factory(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
        resource_id = f"{prefix}-{short_hash(ctx.stack, name, length=17)}"
        kind = {"vpc": "vpc", "subnet": "subnet", "sg": "security-group", "rtb": "route-table"}.get(prefix, prefix)
        arn = f"arn:aws:ec2:{_region(inputs, ctx)}:{ctx.aws_account_id}:{kind}/{resource_id}"
        return {"id": resource_id, "arn": arn}

    return factory


def log_group(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    group = str(inputs.get("name") or name)
    return {"arn": f"arn:aws:logs:{_region(inputs, ctx)}:{ctx.aws_account_id}:log-group:{group}"}


RESOURCE_OUTPUTS: dict[str, Factory] = {
    "aws:eks/cluster:Cluster": eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": eks_node_group,
    "aws:iam/role:Role": iam_role,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": oidc_provider,
    "aws:kms/key:Key": kms_key,
    "aws:kms/alias:Alias": kms_alias,
    "aws:s3/bucket:Bucket": s3_bucket,
    "aws:rds/instance:Instance": rds_instance,
    "aws:elasticache/replicationGroup:ReplicationGroup": replication_group,
    "aws:ecr/repository:Repository": ecr_repository,
    "aws:ec2/launchTemplate:LaunchTemplate": launch_template,
    "aws:ec2/vpc:Vpc": _ec2_with_id("vpc"),
    "aws:ec2/subnet:Subnet": _ec2_with_id("subnet"),
    "aws:ec2/securityGroup:SecurityGroup": _ec2_with_id("sg"),
    "aws:ec2/routeTable:RouteTable": _ec2_with_id("rtb"),
    "aws:ec2/natGateway:NatGateway": _ec2_with_id("nat"),
    "aws:ec2/internetGateway:InternetGateway": _ec2_with_id("igw"),
    "aws:ec2/eip:Eip": _ec2_with_id("eipalloc"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _ec2_with_id("vpce"),
    "aws:cloudwatch/logGroup:LogGroup": log_group,
}


def _availability_zones(args: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    region = ctx.aws_region
    names = [f"{region}{letter}" for letter in "abcdef"]
    return {
        "names": names,
        "zoneIds": [f"use1-az{i}" for i in range(1, 7)],
        "id": region,
        "groupNames": [region],
        "state": args.get("state", "available"),
    }


def _subnet(args: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    subnet_id, vpc_id = str(args.get("id")), str(args.get("vpcId"))
    region = str(args.get("region") or ctx.aws_region)
    if ctx.aws_subnets:
        vpc_and_zone = ctx.aws_subnets.get(subnet_id)
        if vpc_and_zone is None or vpc_and_zone[0] != vpc_id:
            raise InvokeFailure(f"no matching EC2 Subnet found (id {subnet_id}, vpc-id {vpc_id})", "id")
        zone = vpc_and_zone[1]
    else:
        zone = f"{region}-offline-{subnet_id}"
    return {"id": subnet_id, "vpcId": vpc_id, "availabilityZone": zone, "region": region,
            "arn": f"arn:aws:ec2:{region}:{ctx.aws_account_id}:subnet/{subnet_id}"}  # fmt: skip


INVOKES: dict[str, Any] = {
    "aws:ec2/getSubnet:getSubnet": _subnet,
    "aws:index/getCallerIdentity:getCallerIdentity": lambda args, ctx: {
        "accountId": ctx.aws_account_id,
        "arn": f"arn:aws:iam::{ctx.aws_account_id}:user/mock",
        "userId": "AIDAMOCK",
        "id": ctx.aws_account_id,
    },
    "aws:index/getPartition:getPartition": lambda args, ctx: {"partition": "aws", "dnsSuffix": "amazonaws.com"},
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
}

__all__ = ["INVOKES", "RESOURCE_OUTPUTS", "default_outputs", "short_hash"]
