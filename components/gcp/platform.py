"""`GcpPlatform`: the GCP cloud layer, composed of small components, handed to the in-cluster layer as a
`CloudPlatform`. Every GCP resource goes through one explicit provider that stamps the platform labels on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.contract import (
    Bucket,
    CloudPlatform,
    ContainerRegistry,
    Database,
    DatabaseConnector,
    GpuSupport,
    IdentityEndpoint,
    IdentityRequest,
    MysqlServer,
    NodePlacement,
    ObjectStoreScheme,
    OnlineStore,
    RbacSubject,
    S3Api,
    S3Credentials,
    WorkloadIdentity,
)
from components.gcp import catalog
from components.gcp.apis import BUDGET_APIS, PLATFORM_APIS, ProjectApis
from components.gcp.budget import Budget, BudgetArgs
from components.gcp.cluster import GkeCluster, GkeClusterArgs, cluster_location
from components.gcp.database import (
    ADMIN_USERNAME,
    CloudSqlEngine,
    DatabaseServer,
    DatabaseServerArgs,
    mysql_engine,
    postgres_engine,
)
from components.gcp.identity import GSA_ANNOTATION, WorkloadServiceAccount, WorkloadServiceAccountArgs
from components.gcp.kms import PlatformKey, PlatformKeyArgs
from components.gcp.naming import platform_labels, service_agent
from components.gcp.network import Network, NetworkArgs
from components.gcp.nodepools import NodeIdentities, NodeIdentitiesArgs, NodePools, NodePoolsArgs, placement, pools_of
from components.gcp.online_store import RedisOnlineStore, RedisOnlineStoreArgs
from components.gcp.registry import ImageRegistry, ImageRegistryArgs
from components.gcp.storage import Buckets, BucketsArgs
from components.gcp.storage_class import STORAGE_CLASS_NAME, cmek_storage_class
from components.k8s.common import app_labels
from components.renames import formerly
from components.spec import (
    PLATFORM_ROLES,
    BucketRole,
    DatabaseSpec,
    GcpSpec,
    ImageName,
    NodePoolSpec,
    PlatformRole,
    PlatformSpec,
    PoolName,
)
from components.versions import CLOUD_SQL_PROXY_IMAGE, CLOUD_SQL_PROXY_UID

# Service agents (Google-managed identities) that encrypt with the platform key, by their agent domain.
KEY_USERS = {
    "gke-agent": "container-engine-robot",  # Kubernetes Secrets in etcd
    "compute-agent": "compute-system",  # node boot disks and persistent volumes
    "redis-agent": "cloud-redis",
    "registry-agent": "gcp-sa-artifactregistry",
}
# GCS's S3-compatible XML API: what the KFP 2.17.0 API server (an S3-only client) uses for the pipelines bucket.
# SigV4 requests to it name the region `auto`.
GCS_S3_API = S3Api(endpoint="storage.googleapis.com", region="auto")
# Workload Identity: every Google client library asks the metadata address (169.254.169.254:80) for tokens, and the
# GKE metadata server that answers for it listens on 169.254.169.252:988; GKE's network policy guide requires egress
# to both for pods under Workload Identity when NetworkPolicies restrict egress (https://cloud.google.com/
# kubernetes-engine/docs/how-to/network-policy, "Workload Identity Federation for GKE": 169.254.169.252/32 port 988
# on GKE 1.21.0-gke.1000 and later, 169.254.169.254/32 port 80 with GKE Dataplane V2).
GKE_METADATA_ENDPOINTS = (
    IdentityEndpoint("169.254.169.254/32", 80, "the metadata address Google client libraries request tokens from"),
    IdentityEndpoint("169.254.169.252/32", 988, "the GKE metadata server, which answers for it"),
)
# Where the Cloud SQL Auth Proxy dials an instance: the server-side proxy port (GoogleCloudPlatform/
# cloud-sql-go-connector dialer.go:57 `serverProxyPort = "3307"`, the connector library the proxy is built on).
CLOUD_SQL_SERVER_PROXY_PORT = 3307


def cloud_sql_proxy(connection_name: pulumi.Output[str]) -> DatabaseConnector:
    """The Cloud SQL Auth Proxy v2 the way upstream KFP env/gcp runs v1 (manifests/kustomize/env/gcp/cloudsql-proxy/
    cloudsql-proxy-deployment.yaml@2.17.0: listen on 0.0.0.0:3306, HTTP health checks, 10 s grace on shutdown) with
    v2's flags (GoogleCloudPlatform/cloud-sql-proxy@v2.25.3 cmd/root.go:538,556-558,566,612-620), on the private IP."""
    return DatabaseConnector(
        name="cloudsql-proxy",
        image=CLOUD_SQL_PROXY_IMAGE,
        uid=CLOUD_SQL_PROXY_UID,
        args=(
            "--private-ip",
            "--address=0.0.0.0",
            "--port=3306",
            "--health-check",
            "--http-address=0.0.0.0",
            "--http-port=9090",
            "--max-sigterm-delay=10s",
            "--structured-logs",
            connection_name,
        ),
        port=3306,
        instance_port=CLOUD_SQL_SERVER_PROXY_PORT,
        health_port=9090,
        probe_paths={"startup": "/startup", "liveness": "/liveness", "readiness": "/readiness"},  # root.go:1195-1197
    )


def agent_member(project_number: pulumi.Output[str], domain: str) -> pulumi.Output[str]:
    return project_number.apply(lambda number: service_agent(number, domain))


def rbac_subject(principal: str) -> RbacSubject:
    """`group:x@y` → Group x@y (Google Groups for RBAC), `user:x@y` → User x@y (GKE maps users by email)."""
    kind, _, name = principal.partition(":")
    return RbacSubject(kind="Group" if kind == "group" else "User", name=name)


def role_subjects(spec: PlatformSpec) -> dict[PlatformRole, tuple[RbacSubject, ...]]:
    return {
        role: tuple(rbac_subject(a.principal) for a in spec.cluster.access if a.role == role) for role in PLATFORM_ROLES
    }


def gcp_settings(spec: PlatformSpec) -> GcpSpec:
    if spec.gcp is None:
        raise ValueError("mlops:gcp is not set although cloud = gcp; fix: set mlops:gcp.project in the stack file")
    return spec.gcp


class GcpPlatform(pulumi.ComponentResource, CloudPlatform):
    cloud = "gcp"

    def __init__(self, name: str, spec: PlatformSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:GcpPlatform", name, None, formerly(opts, "mlops:gcp:Platform"))
        settings = gcp_settings(spec)
        self._name_prefix = name
        self._spec = spec
        self.project = settings.project
        self.labels = platform_labels(spec)
        project_number = self._provider_and_apis(settings)
        self._key = PlatformKey(
            f"{name}-kms",
            PlatformKeyArgs(spec.base_name, spec.region, spec.deletion_protection, keep=spec.is_prod),
            opts=self._child(self._after_apis),
        )
        self._grants = self._key_grants(project_number)
        self._network = Network(
            f"{name}-network",
            NetworkArgs(spec.base_name, spec.region, spec.network, flow_logs=spec.is_prod),
            opts=self._child(self._after_apis),
        )
        self.registry = ImageRegistry(
            f"{name}-registry",
            ImageRegistryArgs(
                spec.base_name,
                settings.project,
                spec.region,
                self._key.key_id,
                self._grants["registry-agent"],
                spec.deletion_protection,
            ),
            opts=self._child(self._after_apis),
        )
        pools = pools_of(spec)
        self._cluster, node_pools = self._cluster_and_pools(pools)
        store = Buckets(
            f"{name}-storage",
            BucketsArgs(
                spec.base_name,
                settings.project,
                spec.region,
                spec.storage,
                self._key.key_id,
                self._grants["gcs-agent"],
                spec.deletion_protection,
            ),
            opts=self._child(self._after_apis),
        )
        postgres = self._databases()
        redis = self._online_store()
        if settings.billing_account:
            Budget(
                f"{name}-budget",
                BudgetArgs(spec.base_name, settings.billing_account, project_number, spec.budget, self.labels),
                opts=self._child(self._after_apis),
            )

        # Kubernetes resources wait for the node pools: Helm releases need nodes to become ready.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self._cluster.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[node_pools]),
        )
        cmek_storage_class(
            f"{name}-{STORAGE_CLASS_NAME}",
            self._key.key_id,
            retain=spec.deletion_protection,
            labels=app_labels(spec.base_name, "storage"),
            opts=pulumi.ResourceOptions(
                parent=self, provider=self.provider, depends_on=[self._grants["compute-agent"]]
            ),
        )
        self._expose(store, postgres, redis, pools)

    def _provider_and_apis(self, settings: GcpSpec) -> pulumi.Output[str]:
        """The one GCP provider (platform labels on every resource) and the project's APIs; the project number."""
        name, spec = self._name_prefix, self._spec
        self.gcp_provider = gcp.Provider(
            f"{name}-gcp",
            project=settings.project,
            region=spec.region,
            default_labels=self.labels,
            # Billing budgets and some service-usage calls need a quota project with user credentials.
            billing_project=settings.project,
            user_project_override=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        apis = ProjectApis(
            f"{name}-apis",
            PLATFORM_APIS + (BUDGET_APIS if settings.billing_account else ()),
            opts=self._child(),
        )
        self._after_apis: list[pulumi.Resource] = [apis]
        number: pulumi.Output[str] = gcp.organizations.get_project_output(
            project_id=settings.project, opts=pulumi.InvokeOutputOptions(provider=self.gcp_provider)
        ).number
        return number

    def _key_grants(self, project_number: pulumi.Output[str]) -> dict[str, pulumi.Resource]:
        """The service agents' permissions on the platform key, by agent: each data service waits for its own."""
        key, name = self._key, self._name_prefix
        grants = {agent: key.allow(agent, agent_member(project_number, domain)) for agent, domain in KEY_USERS.items()}
        # The Cloud SQL agent exists once the API is used: ServiceIdentity creates it, then it may use the key.
        sql_agent = gcp.projects.ServiceIdentity(
            f"{name}-sql-agent", service="sqladmin.googleapis.com", opts=self._child(self._after_apis)
        )
        grants["sql-agent"] = key.allow("sql-agent", sql_agent.email.apply(lambda email: f"serviceAccount:{email}"))
        gcs_agent = gcp.storage.get_project_service_account_output(
            project=self.project, opts=pulumi.InvokeOutputOptions(provider=self.gcp_provider)
        )
        grants["gcs-agent"] = key.allow("gcs-agent", gcs_agent.email_address.apply(lambda e: f"serviceAccount:{e}"))
        return grants

    def _cluster_and_pools(self, pools: Mapping[PoolName, NodePoolSpec]) -> tuple[GkeCluster, NodePools]:
        """The GKE cluster and its node pools, each pool under a node identity of its own."""
        spec, name = self._spec, self._name_prefix
        node_identities = NodeIdentities(
            f"{name}-node-identities",
            NodeIdentitiesArgs(spec.base_name, self.project, tuple(pools), self.registry.repository.name, spec.region),
            opts=self._child(self._after_apis),
        )
        cluster = GkeCluster(
            f"{name}-gke",
            GkeClusterArgs(
                spec=spec,
                project=self.project,
                network=self._network,
                key_id=self._key.key_id,
                key_grant=self._grants["gke-agent"],
                default_pool_service_account=node_identities.emails["system"],
            ),
            opts=self._child(self._after_apis),
        )
        node_pools = NodePools(
            f"{name}-pools",
            NodePoolsArgs(
                spec=spec,
                cluster_id=cluster.cluster.id,
                cluster_location=cluster.location,
                regional=cluster_location(spec) == spec.region,
                node_tag=self._network.node_tag,
                identities=node_identities,
                boot_disk_key_id=self._key.key_id,
                boot_disk_key_grant=self._grants["compute-agent"],
                resource_labels=self.labels,
            ),
            opts=self._child(),
        )
        return cluster, node_pools

    def _database_server(self, role: str, engine: CloudSqlEngine, sizing: DatabaseSpec) -> DatabaseServer:
        spec = self._spec
        return DatabaseServer(
            f"{self._name_prefix}-{role}",
            DatabaseServerArgs(
                base_name=spec.base_name,
                region=spec.region,
                engine=engine,
                sizing=sizing,
                vpc_id=self._network.vpc_id,
                private_services=self._network.private_services,
                key_id=self._key.key_id,
                key_grant=self._grants["sql-agent"],
                protect=spec.deletion_protection,
                labels=self.labels,
                final_backup=spec.is_prod,
            ),
            opts=self._child(self._after_apis),
        )

    def _databases(self) -> DatabaseServer:
        """The shared PostgreSQL, and Kubeflow Pipelines' own MySQL only when KFP is deployed (in-cluster clients
        reach it through the Cloud SQL Auth Proxy)."""
        spec = self._spec
        postgres = self._database_server("postgres", postgres_engine(spec.database.engine_version), spec.database)
        self._mysql: DatabaseServer | None = None
        self.pipelines_database: MysqlServer | None = None
        if spec.services.kubeflow:
            sizing = spec.pipelines_database
            self._mysql = self._database_server("mysql", mysql_engine(sizing.engine_version), sizing)
            self.pipelines_database = MysqlServer(
                host=self._mysql.private_ip,
                port=self._mysql.port,
                admin_username=ADMIN_USERNAME,
                admin_password=self._mysql.admin_password,
                connector=cloud_sql_proxy(self._mysql.instance.connection_name),
            )
        return postgres

    def _online_store(self) -> RedisOnlineStore:
        spec = self._spec
        return RedisOnlineStore(
            f"{self._name_prefix}-online-store",
            RedisOnlineStoreArgs(
                spec.base_name,
                spec.region,
                spec.online_store,
                self._network.vpc_id,
                self._network.private_services,
                self._key.key_id,
                self._grants["redis-agent"],
                spec.deletion_protection,
            ),
            opts=self._child(self._after_apis),
        )

    def _expose(
        self, store: Buckets, postgres: DatabaseServer, redis: RedisOnlineStore, pools: Mapping[PoolName, NodePoolSpec]
    ) -> None:
        """The `CloudPlatform` contract the in-cluster layer reads."""
        self._database_private_ip = postgres.private_ip
        self._identities: dict[str, pulumi.Output[str]] = {}
        self.buckets: Mapping[BucketRole, Bucket] = store.buckets
        self.database: Database = Database(
            host=postgres.private_ip,
            port=postgres.port,
            admin_username=ADMIN_USERNAME,
            admin_password=postgres.admin_password,
            sslmode="require",
        )
        self.s3_api = GCS_S3_API
        self.online_store: OnlineStore = redis.online_store
        self.registry_url: pulumi.Output[str] = self.registry.url
        self.placements: Mapping[PoolName, NodePlacement] = {pool: placement(pool, s) for pool, s in pools.items()}
        # Config validation keeps one architecture per pool, so its first machine type speaks for it.
        self.architectures = {
            pool: catalog.MACHINE_TYPES[s.instance_types[0]].architecture for pool, s in pools.items()
        }
        # GKE installs the NVIDIA driver and device plugin and scales pools itself; DCGM metrics come from GKE too.
        self.gpu = GpuSupport(pool_present="gpu" in pools, install_device_plugin=False, dcgm_exporter=False)
        self.storage_class = STORAGE_CLASS_NAME
        self.identity_endpoints = GKE_METADATA_ENDPOINTS
        self.role_subjects: Mapping[PlatformRole, tuple[RbacSubject, ...]] = role_subjects(self._spec)
        self.cluster_name: pulumi.Output[str] = self._cluster.name
        self.register_outputs(
            {
                "clusterName": self._cluster.name,
                "registryUrl": self.registry_url,
                "databasePrivateIp": postgres.private_ip,
            }
        )

    def _child(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        """Options of a sub-component: under this platform, on the explicit provider, after the APIs are on."""
        return pulumi.ResourceOptions(parent=self, providers={"gcp": self.gcp_provider}, depends_on=depends_on)

    @property
    def object_store_scheme(self) -> ObjectStoreScheme:
        return "gs"

    def container_registry(self) -> ContainerRegistry:
        # The deploying identity's own OAuth access token (about an hour), read at every `pulumi up`; Artifact
        # Registry accepts it as the password of the user `oauth2accesstoken`.
        client = gcp.organizations.get_client_config_output(opts=pulumi.InvokeOutputOptions(provider=self.gcp_provider))
        return ContainerRegistry(
            url=self.registry_url,
            cache_url=self.registry.cache_url,
            address=pulumi.Output.from_input(self.registry.host),
            username=pulumi.Output.from_input("oauth2accesstoken"),
            password=pulumi.Output.secret(client.access_token),
            ready=(self.registry.repository, self.registry.cache),
        )

    def image_digest(self, image: ImageName, tag: str) -> pulumi.Output[str]:
        found = gcp.artifactregistry.get_docker_image_output(
            project=self.project,
            location=self.registry.location,
            repository_id=self.registry.repository.repository_id,
            image_name=f"mlops-{image}:{tag}",
            opts=pulumi.InvokeOutputOptions(provider=self.gcp_provider),
        )
        # selfLink is `<host>/<project>/<repository>/<image>@sha256:...`.
        digest: pulumi.Output[str] = found.self_link.apply(lambda link: link.split("@", 1)[1])
        return digest

    def _service_account(
        self,
        request: IdentityRequest,
        opts: pulumi.ResourceOptions,
        credential: Literal["workload-identity", "hmac-key"],
    ) -> WorkloadServiceAccount:
        unknown = sorted({g.bucket for g in request.grants()} - set(self.buckets))
        if unknown:
            raise ValueError(
                f"IdentityRequest {request.name!r}: buckets {unknown} do not exist; "
                f"fix: request one of {sorted(self.buckets)}"
            )
        account = WorkloadServiceAccount(
            f"{self._name_prefix}-wi-{request.name}",
            WorkloadServiceAccountArgs(
                base_name=self._spec.base_name,
                project=self.project,
                request=request,
                bucket_names={role: bucket.name for role, bucket in self.buckets.items()},
                registry_name=self.registry.repository.name,
                registry_location=self.registry.location,
                sql_instance=self._mysql.instance.name if self._mysql else None,
                credential=credential,
            ),
            # The caller's parent and dependencies, plus this platform's GCP provider (a k8s parent has none).
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(providers={"gcp": self.gcp_provider})),
        )
        self._identities[request.name] = account.email
        return account

    def grant_workload_identity(self, request: IdentityRequest, opts: pulumi.ResourceOptions) -> WorkloadIdentity:
        account = self._service_account(request, opts, "workload-identity")
        return WorkloadIdentity(
            request=request, service_account_annotations={GSA_ANNOTATION: account.email}, principal=account.email
        )

    def grant_s3_credentials(self, request: IdentityRequest, opts: pulumi.ResourceOptions) -> S3Credentials:
        """An HMAC key of a dedicated service account for GCS's S3 XML API (`s3_api`). KFP 2.17.0's API server can
        only use static keys there: its object store is an AWS SDK S3 client (backend/src/apiserver/client_manager/
        client_manager.go:1021-1052), which cannot use Workload Identity. No Workload Identity binding is made."""
        account = self._service_account(request, opts, "hmac-key")
        assert account.hmac_key is not None  # credential="hmac-key" creates it
        return S3Credentials(
            access_key_id=account.hmac_key.access_id,
            secret_access_key=pulumi.Output.secret(account.hmac_key.secret),
            service_account_annotations={},
            principal=account.email,
        )

    def stack_outputs(self) -> Mapping[str, pulumi.Input[object]]:
        return {
            "cloud": "gcp",
            "gcpProject": self.project,
            "region": self._spec.region,
            "clusterName": self._cluster.name,
            "clusterLocation": self._cluster.location,
            "clusterEndpoint": self._cluster.endpoint,
            "kubeconfig": self._cluster.kubeconfig,
            "buckets": {role: bucket.name for role, bucket in self.buckets.items()},
            "registryUrl": self.registry_url,
            "databasePrivateIp": self._database_private_ip,
            **({"pipelinesDatabasePrivateIp": self._mysql.private_ip} if self._mysql else {}),
            "onlineStoreEndpoint": self.online_store.host.apply(lambda host: f"{host}:{self.online_store.port}"),
            # Called after the in-cluster layer has requested its identities: every granted GSA is listed.
            "identities": dict(self._identities),
        }
