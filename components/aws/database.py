"""The managed databases on RDS: the shared PostgreSQL (MLflow tracking, the Feast registry) and Kubeflow Pipelines'
MySQL, both private and TLS-only.

Each is one RDS instance in the private subnets, reachable on its port only from the cluster security group; storage
and Performance Insights encrypted with the platform key; a parameter group refuses plain connections. Prod runs
Multi-AZ (when configured) with deletion protection and a final snapshot, protected and retained by Pulumi; dev skips
them so it can be torn down. The master password is generated here and exists only as a Pulumi secret.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aws.common import PrivateServiceArgs, child, cluster_only_security_group, protected
from components.renames import formerly
from components.spec import DatabaseSpec
from components.versions import MYSQL_ENGINES

ADMIN_USERNAME = "mlops_admin"
# RDS refuses '/', '@', '"' and spaces in master passwords.
RDS_PASSWORD_SPECIALS = "!#$%^&*()-_=+[]{}<>:?"  # noqa: S105 (a character set, not a password)


@dataclass(frozen=True)
class RdsEngine:
    """What differs between the two servers: engine, version, port, the TLS-only parameter and the exported logs."""

    former_type: str  # the component's type name before DatabaseServer (an alias keeps its URN)
    role: str  # physical-name suffix
    label: str  # for descriptions
    engine: str
    version: str
    family: str
    port: int
    tls_only: tuple[str, str]  # parameter group (name, value) that refuses plain connections
    log_exports: tuple[str, ...]


def postgres_engine(version: str) -> RdsEngine:
    return RdsEngine(
        "PostgresServer", "postgres", "PostgreSQL", "postgres", version, f"postgres{version}", 5432,
        ("rds.force_ssl", "1"), ("postgresql",),
    )  # fmt: skip


def mysql_engine(version: str) -> RdsEngine:
    """Kubeflow Pipelines' MySQL. TLS is required because every KFP client can speak it: the API server and the
    cache server pass `tls` through their DSN extra parameters, ML Metadata through its config file's ssl_options
    (see components/k8s/kubeflow/), and the bootstrap Job's mysql client with --ssl-mode=REQUIRED."""
    engine = MYSQL_ENGINES[version]
    return RdsEngine(
        "MysqlServer", "mysql", "MySQL", "mysql", engine.rds_version, engine.rds_family, 3306,
        ("require_secure_transport", "1"), ("error", "slowquery"),
    )  # fmt: skip


@dataclass(frozen=True)
class DatabaseServerArgs:
    service: PrivateServiceArgs
    engine: RdsEngine
    sizing: DatabaseSpec


class DatabaseServer(pulumi.ComponentResource):
    instance: aws.rds.Instance
    admin_password: pulumi.Output[str]
    port: int

    def __init__(self, name: str, args: DatabaseServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        engine, db, service = args.engine, args.sizing, args.service
        super().__init__("mlops:aws:DatabaseServer", name, None, formerly(opts, f"mlops:aws:{engine.former_type}"))
        identifier = f"{service.base_name}-{engine.role}"
        subnets = aws.rds.SubnetGroup(
            name,
            name=identifier,
            subnet_ids=service.subnet_ids,
            description=f"{identifier}: private subnets",
            tags={"Name": identifier},
            opts=child(self),
        )
        group = cluster_only_security_group(
            self, name, identifier, service.vpc_id, engine.port, engine.label, service.cluster_security_group_id
        )
        parameters = aws.rds.ParameterGroup(
            name,
            name=identifier,
            family=engine.family,
            description=f"{identifier}: TLS only",
            parameters=[aws.rds.ParameterGroupParameterArgs(name=engine.tls_only[0], value=engine.tls_only[1])],
            tags={"Name": identifier},
            opts=child(self),
        )
        password = random.RandomPassword(
            f"{name}-admin",
            length=32,
            special=True,
            override_special=RDS_PASSWORD_SPECIALS,
            min_special=2,
            min_numeric=2,
            opts=child(self),
        )
        self.admin_password = pulumi.Output.secret(password.result)
        self.port = engine.port
        insights = service.is_prod
        # Deleting a prod instance, even on purpose (mlops:decommission), always leaves a final snapshot. Snapshots
        # outlive the instance: a fixed name would make the second teardown of a rebuilt prod fail with
        # DBSnapshotAlreadyExists, so each instance lifetime gets its own suffix.
        final_snapshot: pulumi.Output[str] | None = None
        if service.is_prod:
            suffix = random.RandomId(f"{name}-final-snapshot", byte_length=4, opts=child(self))
            final_snapshot = suffix.hex.apply(lambda h: f"{identifier}-final-{h}")
        self.instance = aws.rds.Instance(
            name,
            identifier=identifier,
            engine=engine.engine,
            engine_version=engine.version,
            instance_class=db.instance_class,
            allocated_storage=db.storage_gb,
            max_allocated_storage=db.max_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=service.key_arn,
            username=ADMIN_USERNAME,
            password=self.admin_password,
            port=engine.port,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[group.id],
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            multi_az=db.high_availability,
            backup_retention_period=db.backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=service.deletion_protection,
            skip_final_snapshot=not service.is_prod,
            final_snapshot_identifier=final_snapshot,
            performance_insights_enabled=insights,
            performance_insights_kms_key_id=service.key_arn if insights else None,
            performance_insights_retention_period=7 if insights else None,
            auto_minor_version_upgrade=True,
            enabled_cloudwatch_logs_exports=list(engine.log_exports),
            tags={"Name": identifier},
            opts=child(self, protected(service.deletion_protection)),
        )
        self.register_outputs({"address": self.instance.address})
