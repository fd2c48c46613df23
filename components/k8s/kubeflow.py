"""Kubeflow Pipelines, standalone, from the upstream kustomize manifests at a pinned release tag.

Upstream has no Helm chart. `kustomize.v2.Directory` builds a remote directory as-is (it offers no patches or
transformations), so this component:

1. applies the cluster-scoped directories one by one (CRDs, cluster roles) — not `cluster-scoped-resources`, whose
   Namespace object would clash with our own `kubeflow` Namespace carrying Pod Security labels;
2. applies the pieces of the `platform-agnostic-postgresql` env overlay *without* its in-cluster SeaweedFS and
   PostgreSQL: `base/installs/generic/postgres` (API server, cache, UI, persistence agent, scheduler, ...),
   `base/metadata/overlays/postgres` (ML Metadata) and `third-party/argo/installs/namespace` (Argo);
3. then points those objects at the shared PostgreSQL server and the `pipelines` bucket with server-side-apply
   patches (`*Patch` resources with `pulumi.com/patchForce`), each listed in `UPSTREAM_PATCHES` below.

What patching cannot do offline: remove upstream objects. The ML Metadata overlay's own `metadata-postgres-db`
Deployment is scaled to zero and its PVC `metadata-postgres` stays (unused, 10Gi). The object-store client of the
API server is given an empty access key so it falls back to the pod's cloud identity (IRSA / GKE Workload
Identity); that behaviour depends on the KFP release and is verified only in a real cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.contract import CloudPlatform, IdentityRequest
from components.k8s.common import (
    KFP_API_HTTP_PORT,
    KFP_API_SERVICE,
    KUBEFLOW_NS,
    DatabaseLogin,
    Manifest,
    labels,
    service_url,
)
from components.spec import PlatformSpec
from components.versions import KFP_MANIFESTS_URL, KFP_VERSION

CLUSTER_SCOPED_DIRS = (
    "third-party/application/cluster-scoped",
    "third-party/argo/installs/namespace/cluster-scoped",
    "base/pipeline/cluster-scoped",
    "base/cache-deployer/cluster-scoped",
)
NAMESPACED_DIRS = (
    "base/installs/generic/postgres",
    "base/metadata/overlays/postgres",
    "third-party/argo/installs/namespace",
)
# Upstream object -> why we patch it.
UPSTREAM_PATCHES = {
    "ConfigMap/pipeline-install-config": "database host/port/names and bucket of the API server and cache",
    "Secret/postgres-secret-extended": "the kfp login instead of the sample user/password",
    "ConfigMap/metadata-postgres-db-parameters": "ML Metadata database name and port",
    "Secret/metadata-postgres-db-secrets": "ML Metadata login",
    "Deployment/metadata-grpc-deployment": "ML Metadata server host (was the in-cluster metadata-postgres-db)",
    "Deployment/metadata-postgres-db": "scaled to zero: the shared server replaces it",
    "Deployment/ml-pipeline": "object store endpoint (S3/GCS over TLS) and PGSSLMODE",
    "ConfigMap/workflow-controller-configmap": "Argo artifact repository in the pipelines bucket, cloud credentials",
    "ConfigMap/kfp-launcher": "default pipeline root in the pipelines bucket",
    "ServiceAccount/ml-pipeline": "workload identity of the API server (pipelines read-write)",
    "ServiceAccount/pipeline-runner": "workload identity of pipeline steps (data read, pipelines read-write)",
    "ServiceAccount/ml-pipeline-ui": "workload identity of the UI (pipelines read, artifact previews)",
}
PIPELINE_ROOT_PREFIX = "v2/artifacts"
OBJECT_STORE_ENDPOINTS = {"s3": "s3.amazonaws.com", "gs": "storage.googleapis.com"}
FORCE = {"pulumi.com/patchForce": "true"}  # take over fields the kustomize apply set


def directory_url(path: str) -> str:
    return f"{KFP_MANIFESTS_URL}/{path}?ref={KFP_VERSION}"


def artifact_repository(scheme: str, bucket: str) -> str:
    """Argo's artifactRepository (YAML string); credentials come from the pod identity, never from keys."""
    key_format = "private-artifacts/{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}"
    if scheme == "gs":
        return f'archiveLogs: true\ngcs:\n  bucket: {bucket}\n  keyFormat: "{key_format}"\n'
    return (
        f"archiveLogs: true\ns3:\n  endpoint: {OBJECT_STORE_ENDPOINTS['s3']}\n  bucket: {bucket}\n"
        f'  insecure: false\n  useSDKCreds: true\n  keyFormat: "{key_format}"\n'
    )


def _spec(value: Manifest) -> Manifest:
    """A partial object spec for a server-side-apply patch (validated by the API server, not the SDK types)."""
    return value


def _meta(name: str, annotations: dict[str, Any] | None = None) -> k8s.meta.v1.ObjectMetaPatchArgs:
    return k8s.meta.v1.ObjectMetaPatchArgs(
        name=name, namespace=KUBEFLOW_NS, annotations={**FORCE, **(annotations or {})}
    )


@dataclass
class KubeflowArgs:
    spec: PlatformSpec
    cloud: CloudPlatform
    login: DatabaseLogin
    depends_on: list[pulumi.Resource]


class KubeflowPipelines(pulumi.ComponentResource):
    def __init__(self, name: str, args: KubeflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:KubeflowPipelines", name, None, opts)
        spec, cloud, login, db = args.spec, args.cloud, args.login, args.cloud.database
        bucket = cloud.buckets["pipelines"].name
        scheme = cloud.object_store_scheme
        identities = {
            "ml-pipeline": IdentityRequest("kfp", KUBEFLOW_NS, "ml-pipeline", {"pipelines": "readwrite"}),
            "pipeline-runner": IdentityRequest(
                "training",
                KUBEFLOW_NS,
                "pipeline-runner",
                {"data": "read", "pipelines": "readwrite"},
                registry_pull=True,
            ),
            "ml-pipeline-ui": IdentityRequest("kfp-ui", KUBEFLOW_NS, "ml-pipeline-ui", {"pipelines": "read"}),
        }
        granted = {
            sa: cloud.grant_workload_identity(request, pulumi.ResourceOptions(parent=self))
            for sa, request in identities.items()
        }

        cluster_scoped = [
            k8s.kustomize.v2.Directory(
                f"kfp-{path.replace('/', '-')}",
                directory=directory_url(path),
                opts=pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
            )
            for path in CLUSTER_SCOPED_DIRS
        ]
        namespaced = [
            k8s.kustomize.v2.Directory(
                f"kfp-{path.replace('/', '-')}",
                directory=directory_url(path),
                namespace=KUBEFLOW_NS,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, *cluster_scoped]),
            )
            for path in NAMESPACED_DIRS
        ]
        after = pulumi.ResourceOptions(parent=self, depends_on=namespaced)
        meta_labels = labels(spec, "kubeflow")
        # Upstream references this Secret but only the SeaweedFS overlay (not applied) defines it. Empty keys: the
        # clients use the pod's workload identity.
        k8s.core.v1.Secret(
            "mlpipeline-minio-artifact",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="mlpipeline-minio-artifact", namespace=KUBEFLOW_NS, labels=meta_labels
            ),
            type="Opaque",
            string_data={"accesskey": "", "secretkey": ""},
            opts=pulumi.ResourceOptions(parent=self, depends_on=args.depends_on),
        )
        k8s.core.v1.ConfigMapPatch(
            "kfp-pipeline-install-config",
            metadata=_meta("pipeline-install-config"),
            data={
                "postgresHost": db.host,
                "postgresPort": str(db.port),
                "pipelineDb": "mlpipeline",
                "cacheDb": "cachedb",
                "mlmdDb": "metadb",
                "bucketName": bucket,
                "defaultPipelineRoot": cloud.bucket_url("pipelines").apply(lambda u: f"{u}/{PIPELINE_ROOT_PREFIX}"),
            },
            opts=after,
        )
        k8s.core.v1.SecretPatch(
            "kfp-postgres-secret-extended",
            metadata=_meta("postgres-secret-extended"),
            string_data={"username": login.username, "password": login.password},
            opts=after,
        )
        k8s.core.v1.ConfigMapPatch(
            "kfp-metadata-postgres-db-parameters",
            metadata=_meta("metadata-postgres-db-parameters"),
            data={"POSTGRES_DBNAME": "metadb", "POSTGRES_PORT": str(db.port)},
            opts=after,
        )
        k8s.core.v1.SecretPatch(
            "kfp-metadata-postgres-db-secrets",
            metadata=_meta("metadata-postgres-db-secrets"),
            string_data={"POSTGRES_USER": login.username, "POSTGRES_PASSWORD": login.password},
            opts=after,
        )
        ssl_env = {"name": "PGSSLMODE", "value": db.sslmode}
        k8s.apps.v1.DeploymentPatch(
            "kfp-metadata-grpc-deployment",
            metadata=_meta("metadata-grpc-deployment"),
            spec=_spec(
                {
                    "template": {
                        "spec": {
                            "initContainers": [
                                {"name": "wait-for-database", "env": [{"name": "WAIT_HOST", "value": db.host}]}
                            ],
                            "containers": [
                                {
                                    "name": "container",
                                    "env": [{"name": "MLMD_DB_HOST", "value": db.host}, ssl_env],
                                    # args is an atomic list: the upstream list, with the host taken from MLMD_DB_HOST.
                                    "args": [
                                        "--grpc_port=$(METADATA_GRPC_SERVICE_PORT)",
                                        "--metadata_source_config_type=postgresql",
                                        "--postgres_config_host=$(MLMD_DB_HOST)",
                                        "--postgres_config_port=$(POSTGRES_PORT)",
                                        "--postgres_config_dbname=$(POSTGRES_DBNAME)",
                                        "--postgres_config_user=$(POSTGRES_USER)",
                                        "--postgres_config_password=$(POSTGRES_PASSWORD)",
                                        "--enable_database_upgrade=true",
                                    ],
                                }
                            ],
                        }
                    }
                }
            ),
            opts=after,
        )
        k8s.apps.v1.DeploymentPatch(
            "kfp-metadata-postgres-db",
            metadata=_meta("metadata-postgres-db"),
            spec={"replicas": 0},
            opts=after,
        )
        endpoint = OBJECT_STORE_ENDPOINTS[scheme]
        k8s.apps.v1.DeploymentPatch(
            "kfp-ml-pipeline",
            metadata=_meta("ml-pipeline"),
            spec=_spec(
                {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "ml-pipeline-api-server",
                                    "env": [
                                        {"name": "OBJECTSTORECONFIG_HOST", "value": endpoint},
                                        {"name": "OBJECTSTORECONFIG_PORT", "value": "443"},
                                        {"name": "OBJECTSTORECONFIG_SECURE", "value": "true"},
                                        ssl_env,
                                    ],
                                }
                            ]
                        }
                    }
                }
            ),
            opts=after,
        )
        k8s.core.v1.ConfigMapPatch(
            "kfp-workflow-controller-configmap",
            metadata=_meta("workflow-controller-configmap"),
            data={"artifactRepository": bucket.apply(lambda b: artifact_repository(scheme, b))},
            opts=after,
        )
        k8s.core.v1.ConfigMapPatch(
            "kfp-launcher",
            metadata=_meta("kfp-launcher"),
            data={"defaultPipelineRoot": cloud.bucket_url("pipelines").apply(lambda u: f"{u}/{PIPELINE_ROOT_PREFIX}")},
            opts=after,
        )
        for sa, identity in granted.items():
            k8s.core.v1.ServiceAccountPatch(
                f"kfp-sa-{sa}",
                metadata=_meta(sa, dict(identity.service_account_annotations)),
                opts=after,
            )
        self.api_url = service_url(KFP_API_SERVICE, KUBEFLOW_NS, KFP_API_HTTP_PORT)
        self.ready: list[pulumi.Resource] = list(namespaced)
        self.register_outputs({"apiUrl": self.api_url})
