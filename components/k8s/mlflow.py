"""MLflow tracking server and model registry (community-charts `mlflow` chart) on the shared PostgreSQL server.

Artifacts go to `<models bucket>/mlflow` through the server (`--serve-artifacts`): clients need MLflow access only,
never bucket rights, and the server reaches the bucket through workload identity (no static keys). The server and its
schema migration run the platform's `mlflow` image, built from workloads/uv.lock: the same MLflow as every client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.contract import CloudPlatform, Database, IdentityRequest
from components.images import ImageRefs, split_ref
from components.k8s.common import (
    MLFLOW_NS,
    MLFLOW_PORT,
    MLFLOW_SERVICE,
    DatabaseLogin,
    helm_release,
    labels,
    placement_fields,
    resources,
    service_monitor,
    service_url,
)
from components.spec import PlatformSpec
from components.versions import MLFLOW_CHART

DB_SECRET = "mlflow-db"  # noqa: S105 - Secret names
ADMIN_SECRET = "mlflow-admin"  # noqa: S105
MLFLOW_UID = 10001  # USER of workloads/docker/mlflow.Dockerfile
# SQLAlchemy driver of the backend store: psycopg 3 from workloads/uv.lock (the Feast registry uses it too); MLflow
# 3.17.2 binds its parameters explicitly for it (mlflow/store/tracking/sqlalchemy_store.py, "psycopg v3" comments).
DB_DRIVER = "psycopg"
# MLflow's own default allowed hosts include these private-address patterns (mlflow 3.17.2,
# mlflow/server/security_utils.py:54-76 get_private_ip_patterns, used by get_default_allowed_hosts at :172-183), but
# an explicit list replaces the defaults (:79-83, fastapi_security.py:136-138), and only /health and /version are
# exempt (security_utils.py:24). Prometheus scrapes `/metrics` by pod IP (Host: <pod IP>:5000), so the list keeps
# them: an IP-literal Host is no DNS-rebinding vector, which is what the check guards against.
PRIVATE_ADDRESS_PATTERNS = ("10.*", "192.168.*", *(f"172.{i}.*" for i in range(16, 32)), "fc00:*", "fd00:*")
ARTIFACT_PREFIX = "mlflow"
METRICS_DIR = "/tmp/prometheus"  # noqa: S108 - an emptyDir in the pod; --expose-prometheus needs a writable multiprocess directory


def allowed_hosts() -> list[str]:
    """Host headers MLflow 3 accepts (DNS-rebinding protection): every in-cluster form of the service name, loopback,
    and pod IPs (fnmatch patterns; `10.*` matches `10.1.2.3:5000`)."""
    names = [
        MLFLOW_SERVICE,
        f"{MLFLOW_SERVICE}.{MLFLOW_NS}",
        f"{MLFLOW_SERVICE}.{MLFLOW_NS}.svc",
        f"{MLFLOW_SERVICE}.{MLFLOW_NS}.svc.cluster.local",
        "localhost",
        "127.0.0.1",
    ]
    return names + [f"{name}:{MLFLOW_PORT}" for name in names] + list(PRIVATE_ADDRESS_PATTERNS)


def image_values(image: pulumi.Output[str]) -> dict[str, Any]:
    """The server's and the migration init container's image: the one MLflow image, by digest."""
    parts = image.apply(split_ref)
    return {
        # templates/_helpers.tpl:124-131 renders `<repository>:<tag>@<digest>` (the chart's default is 3.15.1).
        "image": {
            "repository": parts.apply(lambda p: p[0]),
            "tag": parts.apply(lambda p: p[1]),
            "digest": parts.apply(lambda p: p[2]),
        },
        # The schema migration init container (templates/deployment.yaml:183 renders `<repository>:<tag>`, no digest
        # field) must migrate with the server's MLflow, not the chart's app version.
        "initImages": {
            "mlflowDbMigration": {
                "repository": parts.apply(lambda p: p[0]),
                "tag": parts.apply(lambda p: f"{p[1]}@{p[2]}"),
            }
        },
    }


def security_values() -> dict[str, Any]:
    """Restricted pod and container security contexts in the chart's keys."""
    return {
        "podSecurityContext": {
            "fsGroup": MLFLOW_UID,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # The image keeps HOME and its working directory on /tmp, an emptyDir the chart mounts in every container.
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "privileged": False,
            "runAsUser": MLFLOW_UID,
            "runAsGroup": MLFLOW_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def auth_values(db: Database) -> dict[str, Any]:
    """MLflow's basic auth: the admin from a Secret, users and permissions in PostgreSQL."""
    return {
        "enabled": True,
        "existingAdminSecret": {"name": ADMIN_SECRET, "usernameKey": "username", "passwordKey": "password"},
        "defaultPermission": "READ",
        # Auth state in PostgreSQL so every replica sees the same users (SQLite would be per pod).
        "postgres": {
            "enabled": True,
            "host": db.host,
            "port": db.port,
            "database": "mlflow_auth",
            "driver": DB_DRIVER,
            "existingSecret": {"name": DB_SECRET, "usernameKey": "username", "passwordKey": "password"},
        },
    }


def mlflow_values(
    spec: PlatformSpec,
    cloud: CloudPlatform,
    login: DatabaseLogin,
    sa_annotations: dict[str, pulumi.Output[str]],
    image: pulumi.Output[str],
) -> dict[str, Any]:
    """Chart values (keys of community-charts/mlflow 1.11.5 values.yaml); credentials only as Secret references."""
    bucket = cloud.buckets["models"].name
    store = {"s3": {"enabled": True, "bucket": bucket, "path": ARTIFACT_PREFIX}}
    if cloud.object_store_scheme == "gs":
        store = {"gcs": {"enabled": True, "bucket": bucket, "path": ARTIFACT_PREFIX}}
    db = cloud.database
    values: dict[str, Any] = {
        "fullnameOverride": MLFLOW_SERVICE,
        "replicaCount": spec.mlflow.replicas,
        **image_values(image),
        "serviceAccount": {"create": True, "name": "mlflow", "automount": False, "annotations": sa_annotations},
        **security_values(),
        "service": {"enabled": True, "type": "ClusterIP", "port": MLFLOW_PORT},
        "telemetry": {"enabled": False},
        "backendStore": {
            "databaseMigration": True,
            # No busybox `dbchecker` init container (templates/deployment.yaml:93-101): the release already waits for
            # the database and its login (Pulumi depends_on), the migration init container retries a database that
            # is not up, and the chart offers no resources for it.
            "databaseConnectionCheck": False,
            "postgres": {
                "enabled": True,
                "host": db.host,
                "port": db.port,
                "database": login.database,
                "driver": DB_DRIVER,
            },
            "existingDatabaseSecret": {"name": DB_SECRET, "usernameKey": "username", "passwordKey": "password"},
        },
        "artifactRoot": {"proxiedArtifactStorage": True, **store},
        "serverAllowedHosts": allowed_hosts(),
        # libpq reads PGSSLMODE: TLS to the database is required, never negotiated down.
        "extraEnvVars": {"PGSSLMODE": db.sslmode, "PROMETHEUS_MULTIPROC_DIR": METRICS_DIR},
        "extraArgs": {"exposePrometheus": METRICS_DIR, "workers": "2"},
        "extraVolumes": [{"name": "prometheus-multiproc", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "prometheus-multiproc", "mountPath": METRICS_DIR}],
        "resources": resources("250m", "1Gi", memory_limit="2Gi"),
        "livenessProbe": {"initialDelaySeconds": 30, "periodSeconds": 20, "timeoutSeconds": 5, "failureThreshold": 6},
        "readinessProbe": {"initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3},
        "serviceMonitor": {"enabled": False},  # our own ServiceMonitor, created after the Prometheus CRDs exist
        **placement_fields(cloud.placements.get("system")),
    }
    if spec.mlflow.auth == "basic":
        values["auth"] = auth_values(db)
    return values


@dataclass
class MlflowArgs:
    spec: PlatformSpec
    cloud: CloudPlatform
    login: DatabaseLogin
    images: ImageRefs
    depends_on: list[pulumi.Resource]
    monitoring: list[pulumi.Resource] | None  # the Prometheus stack release: CRDs for the ServiceMonitor


class Mlflow(pulumi.ComponentResource):
    def __init__(self, name: str, args: MlflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:Mlflow", name, None, opts)
        spec, cloud = args.spec, args.cloud
        meta_labels = labels(spec, "mlflow")
        child = pulumi.ResourceOptions(parent=self, depends_on=args.depends_on)
        identity = cloud.grant_workload_identity(
            IdentityRequest(
                name="mlflow", namespace=MLFLOW_NS, service_account="mlflow", buckets={"models": "readwrite"}
            ),
            pulumi.ResourceOptions(parent=self),
        )
        db_secret = k8s.core.v1.Secret(
            "mlflow-db",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=DB_SECRET, namespace=MLFLOW_NS, labels=meta_labels),
            type="Opaque",
            string_data={"username": args.login.username, "password": args.login.password},
            opts=child,
        )
        secrets: list[pulumi.Resource] = [db_secret]
        if spec.mlflow.auth == "basic":
            admin = random.RandomPassword(
                "mlflow-admin-password", length=24, special=False, opts=pulumi.ResourceOptions(parent=self)
            )
            secrets.append(
                k8s.core.v1.Secret(
                    "mlflow-admin",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=ADMIN_SECRET, namespace=MLFLOW_NS, labels=meta_labels),
                    type="Opaque",
                    string_data={"username": "admin", "password": admin.result},
                    opts=child,
                )
            )
        values = mlflow_values(
            spec, cloud, args.login, dict(identity.service_account_annotations), args.images["mlflow"]
        )
        self.release = helm_release(
            "mlflow",
            MLFLOW_CHART,
            MLFLOW_NS,
            values,
            pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, *secrets]),
        )
        selector = {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/instance": "mlflow"}
        if spec.mlflow.replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                "mlflow-pdb",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="mlflow", namespace=MLFLOW_NS, labels=meta_labels),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    min_available=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)
                ),
                opts=child,
            )
        if args.monitoring is not None:
            service_monitor(
                "mlflow",
                MLFLOW_NS,
                selector,
                "http",
                "/metrics",
                spec,
                pulumi.ResourceOptions(parent=self, depends_on=[*args.monitoring, self.release]),
            )
        self.url = service_url(MLFLOW_SERVICE, MLFLOW_NS, MLFLOW_PORT)
        self.register_outputs({"url": self.url})
