"""Kubeflow Pipelines' MySQL login and how each KFP client connects to the managed MySQL.

The login. One user, `kfp`, with every privilege on KFP's three databases and nothing else (no global privilege, no
other schema), created and re-keyed idempotently by a bootstrap Job keyed on a hash of its inputs
(`components.k8s.database.bootstrap_job`). It authenticates with mysql_native_password because ML Metadata's server
can do nothing else: it forces that plugin (google/ml-metadata@v1.14.0 ml_metadata/metadata_store/
mysql_metadata_source.cc:163) and its MariaDB client library is built without caching_sha2_password
(ml_metadata/libmysqlclient.BUILD:44-50 compiles only plugins/auth/my_auth.c and old_password.c, with TLS).
KFP creates its databases itself and needs CREATE on them (API server: backend/src/apiserver/client_manager/
client_manager.go:432-445 `CREATE DATABASE`; cache: backend/src/cache/client_manager.go:144-156; ML Metadata:
mysql_metadata_source.cc:194-200); the Job creates them first so the grants have something to name.

TLS. Directly, the server requires TLS (RDS `require_secure_transport`, Cloud SQL ENCRYPTED_ONLY) and every KFP
client speaks it:
- the API server and the cache server merge a JSON map of DSN parameters into the go-sql-driver DSN
  (backend/src/apiserver/client/sql.go:24-47, backend/src/cache/client/sql.go:23-46 at kubeflow/pipelines@2.17.0),
  which the driver parses back into its TLS setting (go-sql-driver/mysql@v1.9.3 dsn.go:643-659). `tls=skip-verify`
  encrypts without checking the server's certificate (dsn.go:203-204): `tls=true` checks it against the image's
  system roots (dsn.go:201-202), which do not hold the private RDS CA, and KFP registers no custom TLS config;
- ML Metadata enforces TLS when its config file has `ssl_options` (see the overlay's metadata-grpc.yaml);
- the bootstrap Job's mysql 8.4 client uses --ssl-mode=REQUIRED.
So the traffic is encrypted but the server is not authenticated; what keeps an impostor out is the network: the
database has only a private address, its security group / private services access admits only the cluster.
Through a connector (GCP's Cloud SQL Auth Proxy) clients speak plain MySQL to the proxy's in-cluster Service, and the
proxy authorizes with IAM and encrypts (mutual TLS) to the instance; network policies let only KFP pods reach it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.contract import CloudPlatform, MysqlServer
from components.k8s.common import BOOTSTRAP_NS, KUBEFLOW_NS, labels
from components.k8s.database import BootstrapJobArgs, bootstrap_job, digest
from components.spec import PlatformSpec
from components.versions import MYSQL_CLIENT_IMAGE, MYSQL_CLIENT_UID

USERNAME = "kfp"
# pipeline-install-config key -> database: upstream's names (manifests/kustomize/base/installs/generic/
# pipeline-install-config.yaml:18-20@2.17.0).
DATABASES = {"pipelineDb": "mlpipeline", "cacheDb": "cachedb", "mlmdDb": "metadb"}
BOOTSTRAP_SECRET = "kfp-db-bootstrap"  # noqa: S105 - a Secret's name
# The overlay labels the pods that connect to MySQL (ml-pipeline, cache-server, metadata-grpc: overlay/*.yaml);
# the egress policy to the database selects this label.
CLIENT_LABEL = {"mlops.io/pipelines-database-client": "true"}
TLS_DSN_PARAMS = {"tls": "skip-verify"}


def login_sql(username: str, password: str, databases: list[str]) -> str:
    """Idempotent: databases and user created when missing, the password re-applied, the grants reset to exactly
    `databases`. Names are this module's constants and the password is alphanumeric: nothing needs quoting."""
    lines = [f"CREATE DATABASE IF NOT EXISTS `{database}`;" for database in databases]
    identity = f"'{username}'@'%'"
    lines += [
        f"CREATE USER IF NOT EXISTS {identity} IDENTIFIED WITH mysql_native_password BY '{password}';",
        f"ALTER USER {identity} IDENTIFIED WITH mysql_native_password BY '{password}';",
        f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {identity};",
    ]
    lines += [f"GRANT ALL PRIVILEGES ON `{database}`.* TO {identity};" for database in databases]
    return "\n".join(lines) + "\n"


def admin_options(host: str, port: int, user: str, password: str) -> str:
    """A mysql option file for the admin login: over TLS, password quoted (RDS passwords carry `#`)."""
    return (
        f'[client]\nhost={host}\nport={port}\nuser={user}\npassword="{password}"\n'
        "ssl-mode=REQUIRED\nconnect-timeout=10\n"
    )


@dataclass(frozen=True)
class ClientConnection:
    """Where KFP's pods connect and with which driver parameters."""

    host: pulumi.Output[str]
    port: int
    tls: bool  # False through a connector: the proxy encrypts, and a second TLS layer inside it is not spoken

    @property
    def dsn_params(self) -> str:
        return json.dumps(TLS_DSN_PARAMS if self.tls else {})


def client_connection(mysql: MysqlServer) -> ClientConnection:
    if mysql.connector is not None:
        host = f"{mysql.connector.name}.{KUBEFLOW_NS}.svc.cluster.local"
        return ClientConnection(pulumi.Output.from_input(host), mysql.connector.port, tls=False)
    return ClientConnection(mysql.host, mysql.port, tls=True)


def metadata_store_config(host: str, port: int, tls: bool, password: str) -> str:
    """ML Metadata's MetadataStoreServerConfig in text format (google/ml-metadata@v1.14.0 ml_metadata/proto/
    metadata_store.proto:597-646 MySQLDatabaseConfig, :747-771 MigrationOptions, :843-864): upstream's flags
    (--enable_database_upgrade=true) as a file, plus ssl_options when the connection is direct."""
    ssl = "    ssl_options { verify_server_cert: false }\n" if tls else ""
    return (
        "connection_config {\n  mysql {\n"
        f'    host: "{host}"\n    port: {port}\n    database: "{DATABASES["mlmdDb"]}"\n'
        f'    user: "{USERNAME}"\n    password: "{password}"\n{ssl}'
        "  }\n}\nmigration_options { enable_upgrade_migration: true }\n"
    )


@dataclass(frozen=True)
class PipelinesLoginArgs:
    spec: PlatformSpec
    cloud: CloudPlatform
    mysql: MysqlServer
    bootstrap_namespace: k8s.core.v1.Namespace


class PipelinesLogin(pulumi.ComponentResource):
    """The `kfp` password (a Pulumi secret) and the Job that applies it, with its grants, to the managed MySQL."""

    password: pulumi.Output[str]
    job: k8s.batch.v1.Job

    def __init__(self, name: str, args: PipelinesLoginArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:PipelinesLogin", name, None, opts)
        mysql = args.mysql
        generated = random.RandomPassword(
            f"{name}-password", length=32, special=False, min_numeric=2, opts=pulumi.ResourceOptions(parent=self)
        )
        self.password = pulumi.Output.secret(generated.result)
        databases = list(DATABASES.values())
        files = pulumi.Output.all(mysql.host, mysql.admin_password, self.password).apply(
            lambda v: {
                "client.cnf": admin_options(v[0], mysql.port, mysql.admin_username, v[1]),
                "login.sql": login_sql(USERNAME, v[2], databases),
            }
        )
        # The admin password lives in the bootstrap namespace only; KFP gets its own login (mysql-secret).
        secret = k8s.core.v1.Secret(
            BOOTSTRAP_SECRET,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=BOOTSTRAP_SECRET, namespace=BOOTSTRAP_NS, labels=labels(args.spec, "database-bootstrap")
            ),
            type="Opaque",
            string_data=files,  # secret: derived from the passwords, which are secrets
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.bootstrap_namespace]),
        )
        fingerprint = files.apply(lambda f: digest(MYSQL_CLIENT_IMAGE, f["client.cnf"], f["login.sql"]))
        self.job = bootstrap_job(
            BootstrapJobArgs(
                name="kfp-db-bootstrap",
                spec=args.spec,
                cloud=args.cloud,
                container={
                    "name": "mysql",
                    "image": MYSQL_CLIENT_IMAGE,
                    # --defaults-extra-file must come first; `source` runs the script without a shell.
                    "command": [
                        "mysql",
                        "--defaults-extra-file=/bootstrap/client.cnf",
                        "--batch",
                        "--execute=source /bootstrap/login.sql",
                    ],
                },
                uid=MYSQL_CLIENT_UID,
                files={"name": "login", "secret": {"secretName": BOOTSTRAP_SECRET, "defaultMode": 0o440}},
                fingerprint=fingerprint,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[secret]),
        )
        self.register_outputs({"job": self.job.metadata.name})
