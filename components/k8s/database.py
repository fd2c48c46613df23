"""Database bootstrap: one database and one login per service on the shared PostgreSQL server, by an in-cluster Job.

The Job is idempotent (roles created only when missing, passwords re-applied, databases created only when missing)
and re-runs only when its inputs change: its name carries a hash of the script, the image, the server and the
passwords, so a change replaces it (delete before replace) and an unchanged input set leaves the finished Job alone.
`bootstrap_job` builds such a Job for any client image; Kubeflow Pipelines' MySQL login uses it too
(components/k8s/kubeflow/database.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.contract import CloudPlatform
from components.k8s.common import (
    BOOTSTRAP_NS,
    DatabaseLogin,
    Manifest,
    labels,
    placement_fields,
    resources,
    restricted_container_security,
    restricted_pod_security,
)
from components.spec import PlatformSpec
from components.versions import POSTGRES_CLIENT_IMAGE, POSTGRES_CLIENT_UID

ADMIN_PASSWORD_KEY = "admin-password"  # noqa: S105 - a Secret key name
SCRIPT_PATH = "/bootstrap/bootstrap.sql"


@dataclass(frozen=True)
class ServiceDatabase:
    service: str  # login (role) name, also the Secret key prefix
    databases: tuple[str, ...]

    @property
    def env_var(self) -> str:
        return f"{self.service.upper()}_PASSWORD"

    @property
    def secret_key(self) -> str:
        return f"{self.service}-password"


def service_databases(spec: PlatformSpec) -> list[ServiceDatabase]:
    """The logins and databases the enabled services need on PostgreSQL (Kubeflow Pipelines has its own MySQL)."""
    found = []
    if spec.services.mlflow:
        mlflow_dbs = ("mlflow", "mlflow_auth") if spec.mlflow.auth == "basic" else ("mlflow",)
        found.append(ServiceDatabase("mlflow", mlflow_dbs))
    if spec.services.feast:
        found.append(ServiceDatabase("feast", ("feast_registry",)))
    return found


def bootstrap_sql(services: list[ServiceDatabase]) -> str:
    """psql script; passwords come from the environment (`\\getenv`), never from the script or the pod spec."""
    lines = ["\\set ON_ERROR_STOP on"]
    for item in services:
        role = item.service
        lines += [
            f"-- {role}",
            f"\\getenv {role}_password {item.env_var}",
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
            f'CREATE ROLE "{role}" LOGIN; END IF; END $$;',
            f"ALTER ROLE \"{role}\" WITH LOGIN PASSWORD :'{role}_password';",
            # PostgreSQL 16+: the admin must be able to SET ROLE to make the role a database owner.
            f'GRANT "{role}" TO CURRENT_USER;',
        ]
        for database in item.databases:
            lines += [
                # CREATE DATABASE cannot run inside a DO block (no transaction): \gexec runs it only when missing.
                # Identifiers are this module's constants, never user input.
                f"SELECT format('CREATE DATABASE %I OWNER %I', '{database}', '{role}') "  # noqa: S608
                f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{database}') \\gexec",
                f'ALTER DATABASE "{database}" OWNER TO "{role}";',
                f'REVOKE ALL ON DATABASE "{database}" FROM PUBLIC;',
            ]
    return "\n".join(lines) + "\n"


@dataclass
class DatabaseBootstrapArgs:
    spec: PlatformSpec
    cloud: CloudPlatform
    namespace: k8s.core.v1.Namespace


class DatabaseBootstrap(pulumi.ComponentResource):
    """Generated per-service passwords (Pulumi secrets) and the Job that applies them to the shared server."""

    def __init__(self, name: str, args: DatabaseBootstrapArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:DatabaseBootstrap", name, None, opts)
        spec, cloud, database = args.spec, args.cloud, args.cloud.database
        child = pulumi.ResourceOptions(parent=self)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[args.namespace])
        meta_labels = labels(spec, "database-bootstrap")
        self.services = service_databases(spec)
        self.logins: dict[str, DatabaseLogin] = {}
        for item in self.services:
            password = random.RandomPassword(
                f"{item.service}-db-password", length=32, special=False, min_numeric=2, opts=child
            )
            self.logins[item.service] = DatabaseLogin(
                service=item.service,
                database=item.databases[0],
                username=item.service,
                password=pulumi.Output.secret(password.result),
            )
        secret_data: dict[str, pulumi.Input[str]] = {ADMIN_PASSWORD_KEY: database.admin_password}
        secret_data |= {item.secret_key: self.logins[item.service].password for item in self.services}
        # The admin password exists in this namespace only; services get their own login's Secret.
        secret = k8s.core.v1.Secret(
            "db-bootstrap",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="db-bootstrap", namespace=BOOTSTRAP_NS, labels=meta_labels),
            type="Opaque",
            string_data=pulumi.Output.secret(secret_data),
            opts=in_ns,
        )
        script = bootstrap_sql(self.services)
        config = k8s.core.v1.ConfigMap(
            "db-bootstrap-script",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="db-bootstrap-script", namespace=BOOTSTRAP_NS, labels=meta_labels),
            data={"bootstrap.sql": script},
            opts=in_ns,
        )
        fingerprint = pulumi.Output.all(
            database.host, database.admin_password, *(self.logins[item.service].password for item in self.services)
        ).apply(lambda values: digest(script, POSTGRES_CLIENT_IMAGE, database.sslmode, str(database.port), *values))
        env = [
            {"name": "PGHOST", "value": database.host},
            {"name": "PGPORT", "value": str(database.port)},
            {"name": "PGUSER", "value": database.admin_username},
            {"name": "PGDATABASE", "value": "postgres"},
            {"name": "PGSSLMODE", "value": database.sslmode},
            {"name": "PGCONNECT_TIMEOUT", "value": "10"},
            {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-bootstrap", "key": ADMIN_PASSWORD_KEY}}},
        ] + [
            {"name": item.env_var, "valueFrom": {"secretKeyRef": {"name": "db-bootstrap", "key": item.secret_key}}}
            for item in self.services
        ]
        self.job = bootstrap_job(
            BootstrapJobArgs(
                name="db-bootstrap",
                spec=spec,
                cloud=cloud,
                container={
                    "name": "psql",
                    "image": POSTGRES_CLIENT_IMAGE,
                    "command": ["psql", "--no-psqlrc", "--file", SCRIPT_PATH],
                    "env": env,
                },
                uid=POSTGRES_CLIENT_UID,
                files={"name": "script", "configMap": {"name": "db-bootstrap-script"}},
                fingerprint=fingerprint,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[secret, config]),
        )
        self.register_outputs({"job": self.job.metadata.name})


@dataclass(frozen=True)
class BootstrapJobArgs:
    """A one-shot database client run: its container, the files it reads (one volume, mounted at /bootstrap) and a
    fingerprint of every input, which names the Job."""

    name: str
    spec: PlatformSpec
    cloud: CloudPlatform
    container: Manifest  # name, image, command, env
    uid: int  # the image's non-root user
    files: Manifest  # the volume (without mount) holding the script
    fingerprint: pulumi.Output[str]


def bootstrap_job(args: BootstrapJobArgs, opts: pulumi.ResourceOptions) -> k8s.batch.v1.Job:
    """A restricted-PSS Job in the bootstrap namespace named `<name>-<fingerprint>`: a changed input replaces it
    (delete before replace), unchanged inputs leave the finished Job alone."""
    meta_labels = labels(args.spec, "database-bootstrap")
    job_name = pulumi.Output.unsecret(args.fingerprint).apply(lambda value: f"{args.name}-{value}")
    container: dict[str, Any] = {
        **args.container,
        "securityContext": restricted_container_security(args.uid),
        "resources": resources("50m", "64Mi", memory_limit="128Mi"),
        "volumeMounts": [{"name": args.files["name"], "mountPath": "/bootstrap", "readOnly": True}],
    }
    return k8s.batch.v1.Job(
        args.name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=job_name, namespace=BOOTSTRAP_NS, labels=meta_labels),
        spec={
            "backoffLimit": 6,
            "activeDeadlineSeconds": 900,
            "template": {
                "metadata": {"labels": meta_labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": restricted_pod_security(args.uid),
                    **placement_fields(args.cloud.placements.get("system")),
                    "containers": [container],
                    "volumes": [args.files],
                },
            },
        },
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(delete_before_replace=True, replace_on_changes=["spec"])
        ),
    )


def digest(*parts: str) -> str:
    """A short, stable hash of a Job's inputs (secrets included: only the hash is visible)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:10]
