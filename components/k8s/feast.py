"""Feast: the online feature server (feast-feature-server chart), `feast apply` and scheduled materialization.

`feature_store.yaml` carries the registry and Redis credentials, so it is a Kubernetes Secret mounted as a file;
the chart's `feature_store_yaml_base64` value (a plain env var in the pod spec) stays empty.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.contract import CloudPlatform, IdentityRequest
from components.images import ImageRefs, split_ref
from components.k8s.common import (
    FEAST_CONTAINER_PORT,
    FEAST_NS,
    FEAST_PORT,
    FEAST_SERVICE,
    TMP_MOUNT,
    TMP_VOLUME,
    DatabaseLogin,
    as_secret,
    helm_release,
    labels,
    placement_fields,
    resources,
    restricted_container_security,
    restricted_pod_security,
    service_account,
    service_url,
)
from components.spec import ImageName, PlatformSpec
from components.versions import FEAST_FEATURE_SERVER_CHART

CONFIG_SECRET = "feast-feature-store"  # noqa: S105 - a Secret name
CONFIG_DIR = "/etc/feast"
CONFIG_PATH = f"{CONFIG_DIR}/feature_store.yaml"
# Where the training image keeps the feature repository (workloads/feature_repo); `feast apply` runs from there.
FEATURE_REPO_PATH = "/app/feature_repo"
# The training image carries the feature repository and the Feast of workloads/uv.lock (with its PostgreSQL and Redis
# clients): `feast apply`, materialization and the feature server all run the Feast version that writes the registry.
FEAST_IMAGE: ImageName = "training"
SERVICE_ACCOUNT = "feast"
MATERIALIZE_SCHEDULE = "*/30 * * * *"


def feast_project(spec: PlatformSpec) -> str | None:
    """The Feast project the models read their features from (the spec allows one), or None when no model does."""
    projects = sorted({model.features.project for model in spec.models if model.features is not None})
    return projects[0] if projects else None


def registry_project(spec: PlatformSpec) -> str:
    """The project of the feature store: the models', or (no model reads Feast) one named after the platform, empty
    until a team applies its own repository."""
    return feast_project(spec) or spec.name_prefix.replace("-", "_")


def feature_store_yaml(
    project: str,
    host: str,
    port: int,
    password: str,
    sslmode: str,
    redis_host: str,
    redis_port: int,
    redis_token: str,
    redis_tls: bool,
) -> str:
    """The feature store config: SQL registry on the shared server, Redis online store, Parquet offline store."""
    registry = (
        f"postgresql+psycopg://feast:{urllib.parse.quote(password, safe='')}@{host}:{port}/feast_registry"
        f"?sslmode={sslmode}"
    )
    redis = f"{redis_host}:{redis_port},ssl={'true' if redis_tls else 'false'},password={redis_token}"
    document = {
        "project": project,
        "provider": "local",
        "registry": {
            "registry_type": "sql",
            "path": registry,
            "cache_ttl_seconds": 60,
            "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
        },
        "online_store": {"type": "redis", "connection_string": redis},
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }
    return yaml.safe_dump(document, sort_keys=False)


def feast_values(spec: PlatformSpec, cloud: CloudPlatform, image: pulumi.Output[str]) -> dict[str, Any]:
    """Chart values (keys of feast-feature-server 0.66.0 values.yaml); the config is mounted from the Secret."""
    return {
        "fullnameOverride": FEAST_SERVICE,
        "replicaCount": 2 if spec.is_prod else 1,
        # templates/deployment.yaml:41 renders `<repository>:<tag>`: the tag carries the digest, so the server runs
        # the same `<repository>:<tag>@<digest>` as the Feast jobs.
        "image": {
            "repository": image.apply(lambda ref: split_ref(ref)[0]),
            "tag": image.apply(lambda ref: "{1}@{2}".format(*split_ref(ref))),
        },
        "feature_store_yaml_base64": "",
        "commandArgs": [
            "feast",
            "--feature-store-yaml",
            CONFIG_PATH,
            "serve",
            "-h",
            "0.0.0.0",  # noqa: S104 - the pod's interface, reached through the Service
            "-p",
            str(FEAST_CONTAINER_PORT),
        ],
        "serviceAccount": {"name": SERVICE_ACCOUNT},
        # The image's user (workloads/docker/training.Dockerfile) with a read-only root: HOME is /tmp, an emptyDir.
        "podSecurityContext": restricted_pod_security(),
        "securityContext": restricted_container_security(),
        "service": {"type": "ClusterIP", "port": FEAST_PORT},
        "resources": resources("250m", "512Mi", memory_limit="1Gi"),
        "volumes": [{"name": "feature-store", "secret": {"secretName": CONFIG_SECRET}}, TMP_VOLUME],
        "volumeMounts": [{"name": "feature-store", "mountPath": CONFIG_DIR, "readOnly": True}, TMP_MOUNT],
        "extraEnvs": [{"name": "FEAST_USAGE", "value": "False"}],
        **placement_fields(cloud.placements.get("system")),
    }


@dataclass
class FeastArgs:
    spec: PlatformSpec
    cloud: CloudPlatform
    login: DatabaseLogin
    images: ImageRefs
    depends_on: list[pulumi.Resource]


class Feast(pulumi.ComponentResource):
    def __init__(self, name: str, args: FeastArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:Feast", name, None, opts)
        spec, cloud, login = args.spec, args.cloud, args.login
        meta_labels = labels(spec, "feast")
        child = pulumi.ResourceOptions(parent=self, depends_on=args.depends_on)
        identity = cloud.grant_workload_identity(
            IdentityRequest("feast", FEAST_NS, SERVICE_ACCOUNT, {"data": "read"}, registry_pull=True),
            pulumi.ResourceOptions(parent=self),
        )
        sa = service_account(
            SERVICE_ACCOUNT,
            FEAST_NS,
            identity.service_account_annotations,
            spec,
            pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(aliases=[pulumi.Alias(name="feast-sa")])),
        )
        db, redis = cloud.database, cloud.online_store
        project = registry_project(spec)
        config = pulumi.Output.all(db.host, login.password, redis.host, redis.auth_token).apply(
            lambda v: feature_store_yaml(project, v[0], db.port, v[1], db.sslmode, v[2], redis.port, v[3], redis.tls)
        )
        secret = k8s.core.v1.Secret(
            "feast-feature-store",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CONFIG_SECRET, namespace=FEAST_NS, labels=meta_labels),
            type="Opaque",
            string_data={"feature_store.yaml": as_secret(config)},
            opts=child,
        )
        ready = [*args.depends_on, sa, secret]
        image = args.images[FEAST_IMAGE]
        # `feast apply` and materialization only when a model reads features from the image's feature repository.
        applied = [self._apply_job(cloud, image, meta_labels, ready)] if feast_project(spec) else []
        self.release = helm_release(
            "feast-feature-server",
            FEAST_FEATURE_SERVER_CHART,
            FEAST_NS,
            feast_values(spec, cloud, image),
            pulumi.ResourceOptions(parent=self, depends_on=[*ready, *applied]),
        )
        if applied:
            self._materialize(cloud, image, meta_labels, [*ready, *applied])
        self.url = service_url(FEAST_SERVICE, FEAST_NS, FEAST_PORT)
        self.register_outputs({"url": self.url})

    def _apply_job(
        self, cloud: CloudPlatform, image: pulumi.Output[str], meta_labels: dict[str, str], ready: list[pulumi.Resource]
    ) -> k8s.batch.v1.Job:
        return k8s.batch.v1.Job(
            "feast-apply",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=image.apply(lambda ref: f"feast-apply-{_digest_suffix(ref)}"),
                namespace=FEAST_NS,
                labels=meta_labels,
            ),
            spec={
                "backoffLimit": 4,
                "template": {
                    "metadata": {"labels": meta_labels},
                    "spec": self._pod(cloud, image, ["apply"], "OnFailure"),
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=ready, delete_before_replace=True, replace_on_changes=["spec"]
            ),
        )

    def _materialize(
        self, cloud: CloudPlatform, image: pulumi.Output[str], meta_labels: dict[str, str], ready: list[pulumi.Resource]
    ) -> None:
        # `feast materialize-incremental` needs an end date; the shell supplies "now" in UTC at run time.
        materialize = [
            "sh",
            "-c",
            f"exec feast --chdir {FEATURE_REPO_PATH} --feature-store-yaml {CONFIG_PATH} "
            'materialize-incremental "$(date -u +%Y-%m-%dT%H:%M:%S)"',
        ]
        k8s.batch.v1.CronJob(
            "feast-materialize",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="feast-materialize", namespace=FEAST_NS, labels=meta_labels),
            spec={
                "schedule": MATERIALIZE_SCHEDULE,
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {
                        "backoffLimit": 2,
                        "template": {
                            "metadata": {"labels": meta_labels},
                            "spec": self._pod(cloud, image, materialize, "Never", raw_command=True),
                        },
                    }
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
        )

    @staticmethod
    def _pod(
        cloud: CloudPlatform, image: pulumi.Output[str], command: list[str], restart: str, raw_command: bool = False
    ) -> dict[str, Any]:
        offline_root = cloud.bucket_url("data").apply(lambda url: f"{url}/features")
        full = (
            command
            if raw_command
            else ["feast", "--chdir", FEATURE_REPO_PATH, "--feature-store-yaml", CONFIG_PATH, *command]
        )
        return {
            "serviceAccountName": SERVICE_ACCOUNT,
            "restartPolicy": restart,
            "securityContext": restricted_pod_security(),
            **placement_fields(cloud.placements.get("cpu")),
            "containers": [
                {
                    "name": "feast",
                    "image": image,
                    "command": full,
                    "env": [
                        {"name": "FEAST_USAGE", "value": "False"},
                        {"name": "HOME", "value": "/tmp"},  # noqa: S108 - emptyDir
                        # File/Parquet offline store: the repository's sources live under this prefix.
                        {"name": "FEAST_OFFLINE_ROOT", "value": offline_root},
                    ],
                    "securityContext": restricted_container_security(),
                    "resources": resources("500m", "1Gi", memory_limit="4Gi"),
                    "volumeMounts": [{"name": "feature-store", "mountPath": CONFIG_DIR, "readOnly": True}, TMP_MOUNT],
                }
            ],
            "volumes": [{"name": "feature-store", "secret": {"secretName": CONFIG_SECRET}}, TMP_VOLUME],
        }


def _digest_suffix(ref: str) -> str:
    """Job specs are immutable: a new image (a new feature repository) means a new `feast apply` Job."""
    return split_ref(ref)[2].removeprefix("sha256:")[:16]
