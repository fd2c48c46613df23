"""The Feast online store: an ElastiCache Redis replication group with TLS, AUTH and KMS encryption at rest.

Why Redis and not DynamoDB: the GCP layer serves Feast from Memorystore for Redis with AUTH and TLS, so with
Redis here the Feast `online_store` block (type redis, host, port, password, ssl) is identical on both clouds and
the in-cluster layer needs no per-cloud code path; latency is sub-millisecond inside the VPC. With replicas
(`onlineStore.replicas` ≥ 1) the group fails over automatically across zones.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aws.common import PrivateServiceArgs, child, cluster_only_security_group, protected
from components.contract import OnlineStore
from components.spec import OnlineStoreSpec
from components.versions import ELASTICACHE_ENGINE, ELASTICACHE_ENGINE_VERSION, ELASTICACHE_PARAMETER_GROUP

REDIS_PORT = 6379
AUTH_TOKEN_SPECIALS = "!&#$^<>-"  # noqa: S105 (the only specials ElastiCache accepts in an AUTH token)


@dataclass(frozen=True)
class RedisOnlineStoreArgs:
    service: PrivateServiceArgs
    store: OnlineStoreSpec


class RedisOnlineStore(pulumi.ComponentResource):
    group: aws.elasticache.ReplicationGroup
    online_store: OnlineStore

    def __init__(self, name: str, args: RedisOnlineStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:RedisOnlineStore", name, None, opts)
        service, store = args.service, args.store
        identifier = f"{service.base_name}-feast"
        subnets = aws.elasticache.SubnetGroup(
            name,
            name=identifier,
            subnet_ids=service.subnet_ids,
            description=f"{identifier}: private subnets",
            opts=child(self),
        )
        group = cluster_only_security_group(
            self, name, identifier, service.vpc_id, REDIS_PORT, "Redis", service.cluster_security_group_id
        )
        token = random.RandomPassword(
            f"{name}-auth", length=64, special=True, override_special=AUTH_TOKEN_SPECIALS, opts=child(self)
        )
        auth_token: pulumi.Output[str] = pulumi.Output.secret(token.result)
        replicated = store.replicas >= 1
        self.group = aws.elasticache.ReplicationGroup(
            name,
            replication_group_id=identifier,
            description=f"{service.base_name}: Feast online store",
            engine=ELASTICACHE_ENGINE,
            engine_version=ELASTICACHE_ENGINE_VERSION,
            parameter_group_name=ELASTICACHE_PARAMETER_GROUP,
            node_type=store.node_type,
            num_cache_clusters=1 + store.replicas,
            automatic_failover_enabled=replicated,
            multi_az_enabled=replicated,
            port=REDIS_PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[group.id],
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            kms_key_id=service.key_arn,
            auth_token=auth_token,
            auto_minor_version_upgrade=True,
            # Online features are rebuilt by materialisation; prod keeps daily snapshots for a fast restore.
            snapshot_retention_limit=7 if service.is_prod else 0,
            apply_immediately=not service.is_prod,
            tags={"Name": identifier},
            opts=child(self, protected(service.deletion_protection)),
        )
        self.online_store = OnlineStore(
            host=self.group.primary_endpoint_address, port=REDIS_PORT, auth_token=auth_token, tls=True
        )
        self.register_outputs({"primaryEndpoint": self.group.primary_endpoint_address})
