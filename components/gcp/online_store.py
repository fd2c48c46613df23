"""Memorystore for Redis as the Feast online store: private service access, TLS, AUTH, CMEK."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.contract import OnlineStore
from components.renames import formerly
from components.spec import OnlineStoreSpec
from components.versions import MEMORYSTORE_REDIS_VERSION

TLS_PORT = 6378  # Memorystore serves TLS on 6378 when transit encryption is on
READ_REPLICA_MIN_GB = 5


@dataclass(frozen=True)
class RedisOnlineStoreArgs:
    base_name: str
    region: str
    online_store: OnlineStoreSpec
    vpc_id: pulumi.Input[str]
    private_services: pulumi.Resource
    key_id: pulumi.Input[str]
    key_grant: pulumi.Resource  # the Memorystore service agent's permission on the key
    protect: bool  # prod: the online store is stateful (materialised features), like AWS's replication group


def tier(spec: OnlineStoreSpec) -> str:
    """Replicas ask for failover: STANDARD_HA keeps a replica in another zone; BASIC is one node (dev)."""
    return "STANDARD_HA" if spec.replicas >= 1 else "BASIC"


class RedisOnlineStore(pulumi.ComponentResource):
    online_store: OnlineStore

    def __init__(self, name: str, args: RedisOnlineStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:RedisOnlineStore", name, None, formerly(opts, "mlops:gcp:RedisStore"))
        spec = args.online_store
        # Read replicas need at least 5 GB; smaller STANDARD_HA instances keep the failover replica only.
        replicas = tier(spec) == "STANDARD_HA" and spec.memory_size_gb >= READ_REPLICA_MIN_GB
        instance = gcp.redis.Instance(
            f"{name}-redis",
            name=f"{args.base_name}-feast",
            region=args.region,
            tier=tier(spec),
            memory_size_gb=spec.memory_size_gb,
            redis_version=MEMORYSTORE_REDIS_VERSION,
            authorized_network=args.vpc_id,
            connect_mode="PRIVATE_SERVICE_ACCESS",
            auth_enabled=True,
            transit_encryption_mode="SERVER_AUTHENTICATION",
            customer_managed_key=args.key_id,
            replica_count=spec.replicas if replicas else None,
            read_replicas_mode="READ_REPLICAS_ENABLED" if replicas else None,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[args.private_services, args.key_grant],
                protect=args.protect,
                retain_on_delete=args.protect,
            ),
        )
        # Memorystore signs its TLS certificate with a per-instance CA: clients verify against it.
        self.online_store = OnlineStore(
            host=instance.host,
            port=TLS_PORT,
            auth_token=pulumi.Output.secret(instance.auth_string),
            tls=True,
            ca_certificate=instance.server_ca_certs.apply(lambda certs: "\n".join(c.cert or "" for c in certs or [])),
        )
        self.register_outputs({"host": instance.host})
