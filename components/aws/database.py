"""The shared PostgreSQL server (MLflow tracking, KFP metadata, the Feast registry), private and TLS-only.

One RDS instance in the private subnets, reachable on 5432 only from the cluster security group; storage and
Performance Insights encrypted with the platform key; `rds.force_ssl=1` refuses plain connections. Prod runs
Multi-AZ with deletion protection and a final snapshot; dev skips both so it can be torn down. The master
password is generated here and exists only as a Pulumi secret.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.aws.common import PrivateServiceArgs, child, cluster_only_security_group, protected
from components.contract import Database

POSTGRES_PORT = 5432
ADMIN_USERNAME = "mlops_admin"
# RDS refuses '/', '@', '"' and spaces in master passwords.
RDS_PASSWORD_SPECIALS = "!#$%^&*()-_=+[]{}<>:?"  # noqa: S105 (a character set, not a password)


class PostgresServer(pulumi.ComponentResource):
    instance: aws.rds.Instance
    database: Database

    def __init__(self, name: str, args: PrivateServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:PostgresServer", name, None, opts)
        spec, db = args.spec, args.spec.database
        identifier = f"{spec.base_name}-postgres"
        subnets = aws.rds.SubnetGroup(
            name,
            name=identifier,
            subnet_ids=args.subnet_ids,
            description=f"{identifier}: private subnets",
            tags={"Name": identifier},
            opts=child(self),
        )
        group = cluster_only_security_group(
            self, name, identifier, args.vpc_id, POSTGRES_PORT, "PostgreSQL", args.cluster_security_group_id
        )
        parameters = aws.rds.ParameterGroup(
            name,
            name=identifier,
            family=f"postgres{db.engine_version}",
            description=f"{identifier}: TLS only",
            parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1")],
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
        secret_password: pulumi.Output[str] = pulumi.Output.secret(password.result)
        insights = spec.is_prod
        # Deleting a prod instance, even on purpose (mlops:decommission), always leaves a final snapshot. Snapshots
        # outlive the instance: a fixed name would make the second teardown of a rebuilt prod fail with
        # DBSnapshotAlreadyExists, so each instance lifetime gets its own suffix.
        final_snapshot: pulumi.Output[str] | None = None
        if spec.is_prod:
            suffix = random.RandomId(f"{name}-final-snapshot", byte_length=4, opts=child(self))
            final_snapshot = suffix.hex.apply(lambda h: f"{identifier}-final-{h}")
        self.instance = aws.rds.Instance(
            name,
            identifier=identifier,
            engine="postgres",
            engine_version=db.engine_version,
            instance_class=db.instance_class,
            allocated_storage=db.storage_gb,
            max_allocated_storage=db.max_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.key_arn,
            username=ADMIN_USERNAME,
            password=secret_password,
            port=POSTGRES_PORT,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[group.id],
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            multi_az=db.high_availability,
            backup_retention_period=db.backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=spec.deletion_protection,
            skip_final_snapshot=not spec.is_prod,
            final_snapshot_identifier=final_snapshot,
            performance_insights_enabled=insights,
            performance_insights_kms_key_id=args.key_arn if insights else None,
            performance_insights_retention_period=7 if insights else None,
            auto_minor_version_upgrade=True,
            enabled_cloudwatch_logs_exports=["postgresql"],
            tags={"Name": identifier},
            opts=child(self, protected(spec)),
        )
        self.database = Database(
            host=self.instance.address,
            port=POSTGRES_PORT,
            admin_username=ADMIN_USERNAME,
            admin_password=secret_password,
            sslmode="require",
        )
        self.register_outputs({"address": self.instance.address})
