"""Kubeflow Pipelines 2.17.0, standalone, on the cloud's managed MySQL and its object store.

Upstream has no Helm chart. The repository's kustomize overlay (`overlay/`, next to this file) composes the upstream
directories at the pinned tag and applies every project-specific change at build time, so nothing is created in a
state it cannot leave. What only the deploy knows (database host, bucket, identities) lives in objects this component
creates first, under the names upstream reads; the overlay deletes upstream's copies and the Directory depends on ours:

- ConfigMap `pipeline-install-config`: database host/port/names and DSN parameters, bucket, object-store endpoint;
- Secret `mysql-secret`: the `kfp` login (API server and cache server); Secret `metadata-grpc-db-config`: ML Metadata's
  connection file; Secret `ml-pipeline-object-store`: the API server's S3 keys (empty on AWS: IRSA; an HMAC key on
  GCP); Secret `ml-pipeline-ui-signing`: the UI's TensorBoard proxy signing key;
- ConfigMap `kfp-launcher`: the pipeline root, read by the v2 driver and launcher; ConfigMap `artifact-repositories`:
  Argo's default artifact repository for the namespace (logs of every step);
- ServiceAccounts `ml-pipeline`, `pipeline-runner`, `ml-pipeline-ui` with their cloud identities;
- the MySQL login Job, and on GCP the Cloud SQL Auth Proxy (`connector.py`).

How the pipeline root is reached. Every run's pods (the driver, the launcher inside each step, Argo's executor) run as
`pipeline-runner` (DEFAULTPIPELINERUNNERSERVICEACCOUNT, backend/src/apiserver/config/config.json:23@2.17.0), whose
cloud identity has read-write on the pipelines bucket. The driver and launcher read `kfp-launcher`
(backend/src/v2/config/env.go:37-41,72-92): s3:// with credentials `fromEnv` builds an AWS SDK client from the default
chain, i.e. IRSA (config/s3.go:98-127, objectstore/object_store.go:297-339); gs:// with `fromEnv` opens the bucket by
URL with application default credentials, i.e. Workload Identity (config/gcs.go:78-86, object_store.go:68-80,107-108,
270-277). Argo's executor uses the SDK chain for s3 with `useSDKCreds` (argoproj/argo-workflows@v4.0.5
workflow/artifacts/s3/s3.go:445-447,400-411) and Workload Identity for gcs without a key (workflow/artifacts/gcs/
gcs.go:71-76,91-96).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components.contract import CloudPlatform, IdentityRequest, MysqlServer, S3Api, S3Credentials
from components.k8s.common import (
    KFP_API_HTTP_PORT,
    KFP_API_SERVICE,
    KUBEFLOW_NS,
    labels,
    service_account,
    service_url,
)
from components.k8s.kubeflow.connector import ConnectorArgs, ConnectorDeployment
from components.k8s.kubeflow.database import (
    DATABASES,
    USERNAME,
    ClientConnection,
    PipelinesLogin,
    PipelinesLoginArgs,
    client_connection,
    metadata_store_config,
)
from components.spec import PlatformSpec
from components.versions import KFP_CACHE_IMAGE, KFP_VERSION

OVERLAY_DIR = Path(__file__).resolve().parent / "overlay"
PROJECT_ROOT = Path(__file__).resolve().parents[3]
PIPELINE_ROOT_PREFIX = "v2/artifacts"
# Upstream's key format: the date keeps pod names from colliding over the cluster's life
# (third-party/argo/base/workflow-controller-configmap-patch.yaml:20-31@2.17.0).
ARTIFACT_KEY_FORMAT = (
    "private-artifacts/{{workflow.namespace}}/{{workflow.name}}/{{workflow.creationTimestamp.Y}}/"
    "{{workflow.creationTimestamp.m}}/{{workflow.creationTimestamp.d}}/{{pod.name}}"
)
DEFAULT_ARTIFACT_REPOSITORY = "workflows.argoproj.io/default-artifact-repository"


def overlay_path() -> str:
    """The overlay as the Pulumi program sees it: relative to the project root, Pulumi's working directory."""
    return OVERLAY_DIR.relative_to(PROJECT_ROOT).as_posix()


def artifact_repository(scheme: str, bucket: str, endpoint: str, region: str) -> str:
    """Argo's artifact repository (YAML) in the pipelines bucket; credentials come from the pod identity, never keys."""
    if scheme == "gs":
        repository = {"archiveLogs": True, "gcs": {"bucket": bucket, "keyFormat": ARTIFACT_KEY_FORMAT}}
    else:
        repository = {
            "archiveLogs": True,
            "s3": {
                "endpoint": endpoint,
                "region": region,
                "bucket": bucket,
                "insecure": False,
                "useSDKCreds": True,
                "keyFormat": ARTIFACT_KEY_FORMAT,
            },
        }
    return yaml.safe_dump(repository, sort_keys=False)


def launcher_providers(scheme: str, region: str) -> str:
    """`providers` of kfp-launcher (backend/src/v2/config/env.go:51-55,164-175@2.17.0): credentials from the pod's
    environment (its workload identity). S3 also names the region and virtual-hosted addressing; the AWS endpoint
    is left to the SDK (object_store.go:350-368 skips s3.amazonaws.com)."""
    default: dict[str, object] = {"credentials": {"fromEnv": True}}
    if scheme == "s3":
        default |= {"endpoint": "s3.amazonaws.com", "region": region, "forcePathStyle": False}
    return yaml.safe_dump({scheme: {"default": default}}, sort_keys=False)


def install_config(
    connection: ClientConnection, bucket: pulumi.Output[str], pipeline_root: pulumi.Output[str], s3_api: S3Api
) -> dict[str, pulumi.Input[str]]:
    """`pipeline-install-config`: upstream's keys that its pods read (base/installs/generic/pipeline-install-config.yaml
    @2.17.0) with this platform's values, and the object-store and DSN keys the overlay's patches add."""
    return {
        "appName": "pipeline",
        "appVersion": KFP_VERSION,
        "dbType": "mysql",
        "mysqlHost": connection.host,
        "mysqlPort": str(connection.port),
        "mysqlExtraParams": connection.dsn_params,
        **DATABASES,
        "ConMaxLifeTime": "120s",  # upstream's advice for external databases (pipeline-install-config.yaml:87-93)
        "bucketName": bucket,
        "defaultPipelineRoot": pipeline_root,
        "objectStoreHost": s3_api.endpoint,
        "objectStorePort": "443",
        "objectStoreSecure": "true",
        "objectStoreRegion": s3_api.region,
        "autoUpdatePipelineDefaultVersion": "true",
        "cronScheduleTimezone": "UTC",
        "cacheImage": KFP_CACHE_IMAGE,
        "cacheNodeRestrictions": "false",
        "MAXIMUM_CACHE_STALENESS": "",
        "DEFAULT_CACHE_STALENESS": "",
        "ARTIFACTS_PROXY_ENABLED": "false",
        "LOG_LEVEL": "info",
    }


@dataclass
class KubeflowArgs:
    spec: PlatformSpec
    cloud: CloudPlatform
    namespace: k8s.core.v1.Namespace
    bootstrap_namespace: k8s.core.v1.Namespace


class KubeflowPipelines(pulumi.ComponentResource):
    def __init__(self, name: str, args: KubeflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:KubeflowPipelines", name, None, opts)
        mysql = args.cloud.pipelines_database
        if mysql is None:
            raise ValueError("services.kubeflow is on but the cloud layer created no pipelines database")
        self._args = args
        self._in_ns = pulumi.ResourceOptions(parent=self, depends_on=[args.namespace])
        self._labels = labels(args.spec, "kubeflow")
        # Everything upstream's manifests expect to exist before they are applied.
        self._owned: list[pulumi.Resource] = []
        api = self._identities()
        password = self._database(mysql)
        self._configuration(client_connection(mysql), password, api)
        self.directory = k8s.kustomize.v2.Directory(
            "kubeflow-pipelines",
            directory=overlay_path(),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.namespace, *self._owned]),
        )
        self.api_url = service_url(KFP_API_SERVICE, KUBEFLOW_NS, KFP_API_HTTP_PORT)
        self.register_outputs({"apiUrl": self.api_url})

    def _identities(self) -> S3Credentials:
        """The API server is an S3-only client (keys on GCP), the runner and the UI use workload identity. Upstream's
        pods use the Kubernetes API through these accounts (token mounted, as upstream's accounts do)."""
        cloud, child = self._args.cloud, pulumi.ResourceOptions(parent=self)
        api = cloud.grant_s3_credentials(
            IdentityRequest("kfp", KUBEFLOW_NS, "ml-pipeline", {"pipelines": "readwrite"}), child
        )
        runner = cloud.grant_workload_identity(
            IdentityRequest(
                "training",
                KUBEFLOW_NS,
                "pipeline-runner",
                {"data": "read", "pipelines": "readwrite"},
                registry_pull=True,
            ),
            child,
        )
        ui = cloud.grant_workload_identity(
            IdentityRequest("kfp-ui", KUBEFLOW_NS, "ml-pipeline-ui", {"pipelines": "read"}), child
        )
        self._owned += [
            service_account(sa, KUBEFLOW_NS, annotations, self._args.spec, self._in_ns, automount=True)
            for sa, annotations in (
                ("ml-pipeline", api.service_account_annotations),
                ("pipeline-runner", runner.service_account_annotations),
                ("ml-pipeline-ui", ui.service_account_annotations),
            )
        ]
        return api

    def _database(self, mysql: MysqlServer) -> pulumi.Output[str]:
        """KFP's login on its MySQL (and the connector in front of it, where the cloud has one); its password."""
        spec, cloud, child = self._args.spec, self._args.cloud, pulumi.ResourceOptions(parent=self)
        login = PipelinesLogin(
            "kfp-database", PipelinesLoginArgs(spec, cloud, mysql, self._args.bootstrap_namespace), child
        )
        self._owned.append(login.job)
        if mysql.connector is not None:
            self._owned.append(
                ConnectorDeployment(
                    "kfp-database-connector", ConnectorArgs(spec, cloud, mysql.connector, self._args.namespace), child
                )
            )
        return login.password

    def _configuration(self, connection: ClientConnection, password: pulumi.Output[str], api: S3Credentials) -> None:
        """The ConfigMaps and Secrets upstream's pods read: database, object store, launcher and artifact settings."""
        cloud = self._args.cloud
        scheme, bucket = cloud.object_store_scheme, cloud.buckets["pipelines"].name
        pipeline_root = cloud.bucket_url("pipelines").apply(lambda url: f"{url}/{PIPELINE_ROOT_PREFIX}")
        self._config_map("pipeline-install-config", install_config(connection, bucket, pipeline_root, cloud.s3_api))
        self._secret("mysql-secret", {"username": USERNAME, "password": password})
        self._secret(
            "metadata-grpc-db-config",
            pulumi.Output.all(connection.host, password).apply(
                lambda v: {"config.pbtxt": metadata_store_config(v[0], connection.port, connection.tls, v[1])}
            ),
        )
        self._secret("ml-pipeline-object-store", {"accesskey": api.access_key_id, "secretkey": api.secret_access_key})
        signing = random.RandomPassword(
            "kfp-ui-signing", length=48, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self._secret("ml-pipeline-ui-signing", {"secret": signing.result})
        self._config_map(
            "kfp-launcher",
            {"defaultPipelineRoot": pipeline_root, "providers": launcher_providers(scheme, cloud.s3_api.region)},
        )
        self._config_map(
            "artifact-repositories",
            {
                "default": bucket.apply(
                    lambda b: artifact_repository(scheme, b, cloud.s3_api.endpoint, cloud.s3_api.region)
                )
            },
            annotations={DEFAULT_ARTIFACT_REPOSITORY: "default"},
        )

    def _config_map(
        self,
        config_name: str,
        data: pulumi.Input[dict[str, pulumi.Input[str]]],
        annotations: dict[str, str] | None = None,
    ) -> None:
        self._owned.append(
            k8s.core.v1.ConfigMap(
                f"{KUBEFLOW_NS}-{config_name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=config_name, namespace=KUBEFLOW_NS, labels=self._labels, annotations=annotations
                ),
                data=data,
                opts=self._in_ns,
            )
        )

    def _secret(self, secret_name: str, data: pulumi.Input[dict[str, pulumi.Input[str]]]) -> None:
        self._owned.append(
            k8s.core.v1.Secret(
                f"{KUBEFLOW_NS}-{secret_name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=KUBEFLOW_NS, labels=self._labels),
                type="Opaque",
                string_data=pulumi.Output.secret(data),
                opts=self._in_ns,
            )
        )
