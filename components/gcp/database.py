"""Cloud SQL for PostgreSQL on a private IP only, TLS required, CMEK, PITR backups, HA and protection in prod."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from components.contract import Database
from components.spec import DatabaseSpec

ADMIN_USERNAME = "platform_admin"
POSTGRES_PORT = 5432
# The longest a final backup may be kept (gcloud sql instances delete --final-backup-retention-days: 1 to 365).
FINAL_BACKUP_RETENTION_DAYS = 365


@dataclass(frozen=True)
class PostgresArgs:
    base_name: str
    region: str
    database: DatabaseSpec
    vpc_id: pulumi.Input[str]
    private_services: pulumi.Resource  # the peering Cloud SQL's private IP lives on
    key_id: pulumi.Input[str]
    grant_key: Callable[[str, pulumi.Input[str]], pulumi.Resource]  # PlatformKey.allow, for the SQL service agent
    protect: bool
    labels: Mapping[str, str]  # settings.user_labels sit below the provider's default_labels reach
    final_backup: bool = False  # prod: deleting the instance, even on purpose, leaves a backup for a year


def edition(tier: str) -> str:
    """`db-custom-*` tiers exist only in Enterprise; PostgreSQL 16+ would otherwise default to Enterprise Plus."""
    return "ENTERPRISE_PLUS" if tier.startswith("db-perf-optimized") else "ENTERPRISE"


class PostgresDatabase(pulumi.ComponentResource):
    database: Database
    private_ip: pulumi.Output[str]

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:PostgresDatabase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        db = args.database
        agent = gcp.projects.ServiceIdentity(f"{name}-sql-agent", service="sqladmin.googleapis.com", opts=child)
        grant = args.grant_key("sql-agent", agent.email.apply(lambda email: f"serviceAccount:{email}"))
        # Instance names are blocked for a week after deletion: a suffix lets dev be destroyed and rebuilt.
        suffix = random.RandomId(f"{name}-suffix", byte_length=2, opts=child)
        retained = max(db.backup_retention_days, 1)
        instance = gcp.sql.DatabaseInstance(
            f"{name}-instance",
            name=suffix.hex.apply(lambda h: f"{args.base_name}-pg-{h}"),
            region=args.region,
            database_version=f"POSTGRES_{db.engine_version}",
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
                    point_in_time_recovery_enabled=True,
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
                depends_on=[args.private_services, grant],
                protect=args.protect,
                retain_on_delete=args.protect,
            ),
        )
        password = random.RandomPassword(f"{name}-admin-password", length=32, special=False, opts=child)
        secret_password: pulumi.Output[str] = pulumi.Output.secret(password.result.apply(str))
        gcp.sql.User(
            f"{name}-admin",
            instance=instance.name,
            name=ADMIN_USERNAME,
            password=secret_password,  # encrypted in state, never in plain outputs
            # A PostgreSQL role that owns objects cannot be dropped; it goes away with the instance instead.
            deletion_policy="ABANDON",
            opts=child,
        )
        self.private_ip = instance.private_ip_address
        self.database = Database(
            host=instance.private_ip_address,
            port=POSTGRES_PORT,
            admin_username=ADMIN_USERNAME,
            admin_password=secret_password,
            sslmode="require",
        )
        self.register_outputs({"privateIp": self.private_ip})
