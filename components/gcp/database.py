"""Cloud SQL: the shared PostgreSQL (MLflow, Feast) and Kubeflow Pipelines' MySQL, on a private IP only, TLS required,
CMEK, point-in-time recovery, REGIONAL when highly available, protected and retained in prod."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from components.renames import formerly
from components.spec import DatabaseSpec
from components.versions import MYSQL_ENGINES

ADMIN_USERNAME = "platform_admin"
# The longest a final backup may be kept (gcloud sql instances delete --final-backup-retention-days: 1 to 365).
FINAL_BACKUP_RETENTION_DAYS = 365


@dataclass(frozen=True)
class CloudSqlEngine:
    """What differs between the two instances: version, port, how point-in-time recovery is switched on."""

    former_type: str  # the component's type name before DatabaseServer (an alias keeps its URN)
    role: str  # physical-name infix
    database_version: str
    port: int
    binary_log: bool  # MySQL recovers to a point in time from its binary log; PostgreSQL from WAL (PITR flag)


def postgres_engine(version: str) -> CloudSqlEngine:
    return CloudSqlEngine("PostgresDatabase", "pg", f"POSTGRES_{version}", 5432, binary_log=False)


def mysql_engine(version: str) -> CloudSqlEngine:
    return CloudSqlEngine("MysqlDatabase", "mysql", MYSQL_ENGINES[version].cloud_sql_version, 3306, binary_log=True)


@dataclass(frozen=True)
class DatabaseServerArgs:
    base_name: str
    region: str
    engine: CloudSqlEngine
    sizing: DatabaseSpec
    vpc_id: pulumi.Input[str]
    private_services: pulumi.Resource  # the peering Cloud SQL's private IP lives on
    key_id: pulumi.Input[str]
    key_grant: pulumi.Resource  # the Cloud SQL service agent's permission on the key
    protect: bool
    labels: Mapping[str, str]  # settings.user_labels sit below the provider's default_labels reach
    final_backup: bool = False  # prod: deleting the instance, even on purpose, leaves a backup for a year


def edition(tier: str) -> str:
    """`db-custom-*` tiers exist only in Enterprise; PostgreSQL 16+ would otherwise default to Enterprise Plus."""
    return "ENTERPRISE_PLUS" if tier.startswith("db-perf-optimized") else "ENTERPRISE"


class DatabaseServer(pulumi.ComponentResource):
    instance: gcp.sql.DatabaseInstance
    private_ip: pulumi.Output[str]
    admin_password: pulumi.Output[str]
    port: int

    def __init__(self, name: str, args: DatabaseServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        engine, db = args.engine, args.sizing
        super().__init__("mlops:gcp:DatabaseServer", name, None, formerly(opts, f"mlops:gcp:{engine.former_type}"))
        child = pulumi.ResourceOptions(parent=self)
        # Instance names are blocked for a week after deletion: a suffix lets dev be destroyed and rebuilt.
        suffix = random.RandomId(f"{name}-suffix", byte_length=2, opts=child)
        retained = max(db.backup_retention_days, 1)
        self.instance = gcp.sql.DatabaseInstance(
            f"{name}-instance",
            name=suffix.hex.apply(lambda h: f"{args.base_name}-{engine.role}-{h}"),
            region=args.region,
            database_version=engine.database_version,
            encryption_key_name=args.key_id,
            deletion_protection=args.protect,
            settings=gcp.sql.DatabaseInstanceSettingsArgs(
                tier=db.instance_class,
                edition=edition(db.instance_class),
                availability_type="REGIONAL" if db.high_availability else "ZONAL",
                disk_type="PD_SSD",
                disk_size=db.storage_gb,
                disk_autoresize=True,
                disk_autoresize_limit=db.max_storage_gb,
                deletion_protection_enabled=args.protect,  # API-side guard, also against console deletes
                final_backup_config=gcp.sql.DatabaseInstanceSettingsFinalBackupConfigArgs(
                    enabled=True, retention_days=FINAL_BACKUP_RETENTION_DAYS
                )
                if args.final_backup
                else None,
                ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
                    ipv4_enabled=False, private_network=args.vpc_id, ssl_mode="ENCRYPTED_ONLY"
                ),
                backup_configuration=gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                    enabled=True,
                    point_in_time_recovery_enabled=None if engine.binary_log else True,
                    binary_log_enabled=True if engine.binary_log else None,
                    start_time="03:00",
                    transaction_log_retention_days=min(retained, 7),
                    backup_retention_settings=gcp.sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs(
                        retained_backups=retained, retention_unit="COUNT"
                    ),
                ),
                maintenance_window=gcp.sql.DatabaseInstanceSettingsMaintenanceWindowArgs(
                    day=7, hour=3, update_track="stable"
                ),
                insights_config=gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs(query_insights_enabled=True),
                user_labels=dict(args.labels),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[args.private_services, args.key_grant],
                protect=args.protect,
                retain_on_delete=args.protect,
            ),
        )
        password = random.RandomPassword(f"{name}-admin-password", length=32, special=False, opts=child)
        generated: pulumi.Output[str] = pulumi.Output.secret(password.result.apply(str))
        admin = gcp.sql.User(
            f"{name}-admin",
            instance=self.instance.name,
            name=ADMIN_USERNAME,
            password=generated,  # encrypted in state, never in plain outputs
            # A role that owns objects cannot be dropped; it goes away with the instance instead.
            deletion_policy="ABANDON",
            opts=child,
        )
        # Read back from the user, so whatever logs in with it (the bootstrap Jobs) waits until the user exists.
        read_back: pulumi.Output[str] = admin.password.apply(lambda value: value or "")
        self.admin_password = pulumi.Output.secret(read_back)
        self.private_ip = self.instance.private_ip_address
        self.port = engine.port
        self.register_outputs({"privateIp": self.private_ip})
