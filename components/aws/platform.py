"""`AwsPlatform`: the whole AWS layer as one component implementing the `CloudPlatform` contract.

Resources are created through an explicit `aws.Provider` (region and default tags from the spec, so every taggable
resource carries Project/Environment/Team/Owner/ManagedBy/CostCenter) and a `kubernetes.Provider` for the new
cluster. The Kubernetes provider waits for the node groups and the managed add-ons, so everything the in-cluster
layer deploys through it lands on a working cluster (nodes Ready, DNS and the EBS CSI driver running).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.aws import catalog
from components.aws.autoscaler import AutoscalerArgs, ClusterAutoscaler
from components.aws.budget import Budget, BudgetArgs
from components.aws.cluster import EARLY_ADDONS, LATE_ADDONS, ClusterArgs, EksCluster, role_groups
from components.aws.common import PrivateServiceArgs, caller_account, platform_tags
from components.aws.database import ADMIN_USERNAME, DatabaseServer, DatabaseServerArgs, mysql_engine, postgres_engine
from components.aws.identity import irsa_role, workload_policy
from components.aws.kms import PlatformKey
from components.aws.network import Network, NetworkArgs
from components.aws.nodegroups import NodePools, NodePoolsArgs
from components.aws.online_store import RedisOnlineStore, RedisOnlineStoreArgs
from components.aws.registry import ImageRegistry, RegistryArgs
from components.aws.storage import Buckets, BucketsArgs
from components.aws.storage_class import EncryptedGp3StorageClass
from components.contract import (
    Bucket,
    CloudPlatform,
    ContainerRegistry,
    Database,
    GpuSupport,
    IdentityRequest,
    MysqlServer,
    ObjectStoreScheme,
    RbacSubject,
    S3Api,
    S3Credentials,
    WorkloadIdentity,
)
from components.k8s.common import app_labels
from components.renames import formerly
from components.spec import ImageName, NodePoolSpec, PlatformSpec, PoolName

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# Suffixes of the layer's own role names (`<base_name>-<suffix>`): a workload identity must not collide with them.
RESERVED_IDENTITY_NAMES = frozenset({"control-plane", "node", "vpc-cni", "ebs-csi", "cluster-autoscaler"})


class AwsPlatform(pulumi.ComponentResource, CloudPlatform):
    """VPC, EKS with managed node groups, S3, RDS PostgreSQL and MySQL, ElastiCache Redis, ECR, KMS, IRSA, a budget."""

    cloud = "aws"

    def __init__(self, name: str, spec: PlatformSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:AwsPlatform", name, None, formerly(opts, "mlops:aws:Platform"))
        if spec.cloud != "aws":
            raise ValueError(f"AwsPlatform needs mlops:cloud = aws, got {spec.cloud!r}; use GcpPlatform for gcp")
        self._name, self._spec = name, spec
        self.cluster_name_plain = spec.base_name
        self.tags = platform_tags(spec)
        self.aws_provider = aws.Provider(
            f"{name}-aws",
            region=spec.region,
            default_tags=aws.ProviderDefaultTagsArgs(tags=self.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._on_aws = pulumi.ResourceOptions(parent=self, providers=[self.aws_provider])
        self.account = caller_account(self.aws_provider, spec.region)
        self.s3_api = S3Api(endpoint=self.account.service_endpoint("s3"), region=self.account.region)
        # IRSA: the SDKs exchange the projected token with STS's regional endpoint over HTTPS
        # (AssumeRoleWithWebIdentity), which every pod may reach (tenancy's allow-https-egress); the platform does not
        # use EKS Pod Identity (169.254.170.23:80), so no link-local endpoint is needed.
        self.identity_endpoints = ()
        self.key = PlatformKey(
            f"{name}-kms",
            spec.base_name,
            spec.deletion_protection,
            spec.is_prod,
            self.account,
            self.cluster_name_plain,
            opts=self._on_aws,
        )
        self.network = Network(
            f"{name}-network", NetworkArgs(spec.network, self.cluster_name_plain, self.account), opts=self._on_aws
        )
        self._cluster_and_node_groups()
        self.bucket_resources = Buckets(
            f"{name}-buckets", BucketsArgs(spec, self.account, self.key.arn), opts=self._on_aws
        ).buckets
        self.buckets = {role: Bucket(role=role, name=b.bucket) for role, b in self.bucket_resources.items()}
        self.registry = ImageRegistry(
            f"{name}-registry",
            RegistryArgs(
                spec.base_name,
                self.account,
                self.key.arn,
                spec.deletion_protection,
                spec.storage.force_destroy,
            ),
            opts=self._on_aws,
        )
        self.registry_url = pulumi.Output.from_input(self.registry.url)
        self._data_services()
        Budget(f"{name}-budget", BudgetArgs(spec.base_name, spec.environment, spec.budget), opts=self._on_aws)

        self.cluster_name = self.eks.cluster.name
        self.gpu = GpuSupport(
            pool_present=spec.node_pools.gpu is not None, install_device_plugin=True, dcgm_exporter=True
        )
        # A role's Kubernetes group is bound only when an access entry maps someone to it (as on GKE).
        granted = {entry.role for entry in spec.cluster.access}
        self.role_subjects = {
            role: (RbacSubject(kind="Group", name=group),) if role in granted else ()
            for role, group in role_groups().items()
        }
        self._identities: dict[str, pulumi.Output[str]] = {
            "cluster-autoscaler": self.autoscaler.role.arn,
            **{name_: role.arn for name_, role in self.eks.addon_roles.items()},
        }
        self._granted: set[str] = set()
        self.register_outputs({"clusterName": self.cluster_name, "endpoint": self.eks.cluster.endpoint})

    def _cluster_and_node_groups(self) -> None:
        """EKS, its node groups between the early and the late add-ons, the Kubernetes provider once both are up,
        the encrypted default StorageClass and the cluster autoscaler."""
        name, spec, cluster_name, key_arn = self._name, self._spec, self.cluster_name_plain, self.key.arn
        self.eks = EksCluster(
            f"{name}-eks",
            ClusterArgs(spec, cluster_name, self.account, key_arn, self.network.private_subnet_ids),
            opts=self._on_aws,
        )
        early = self.eks.addons(EARLY_ADDONS, spec, pulumi.ResourceOptions())
        self.node_groups = NodePools(
            f"{name}-nodes",
            NodePoolsArgs(spec, self.eks.cluster, cluster_name, key_arn, self.network.private_subnet_ids, self.tags),
            opts=pulumi.ResourceOptions.merge(self._on_aws, pulumi.ResourceOptions(depends_on=early)),
        )
        late = self.eks.addons(LATE_ADDONS, spec, pulumi.ResourceOptions(depends_on=[self.node_groups]))
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.eks.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.node_groups, *late]),
        )
        on_cluster = pulumi.ResourceOptions(parent=self, providers=[self.aws_provider, self.provider])
        self.storage_class = EncryptedGp3StorageClass(
            f"{name}-storage-class",
            key_arn,
            spec.deletion_protection,
            app_labels(spec.base_name, "storage"),
            opts=on_cluster,
        ).name
        self.placements = self.node_groups.placements
        pools: dict[PoolName, NodePoolSpec | None] = {
            "system": spec.node_pools.system,
            "cpu": spec.node_pools.cpu,
            "gpu": spec.node_pools.gpu,
        }
        # Config validation keeps one architecture per pool, so its first instance type speaks for it.
        self.architectures = {
            pool: catalog.INSTANCE_TYPES[pool_spec.instance_types[0]].architecture
            for pool, pool_spec in pools.items()
            if pool_spec is not None
        }
        self.autoscaler = ClusterAutoscaler(
            f"{name}-autoscaler",
            AutoscalerArgs(
                cluster_name,
                spec.cluster.kubernetes_version,
                self.account,
                self.eks.issuer,
                self.placements["system"].node_selector,
            ),
            opts=on_cluster,
        )

    def _data_services(self) -> None:
        """RDS PostgreSQL (shared), Kubeflow Pipelines' own MySQL when KFP is deployed (KFP connects directly, over
        TLS: no connector), and the ElastiCache online store, all in the private subnets."""
        name, spec = self._name, self._spec
        data_args = PrivateServiceArgs(
            spec.base_name,
            spec.is_prod,
            spec.deletion_protection,
            self.network.vpc_id,
            self.network.private_subnet_ids,
            self.eks.security_group_id,
            self.key.arn,
        )
        self.postgres = DatabaseServer(
            f"{name}-postgres",
            DatabaseServerArgs(data_args, postgres_engine(spec.database.engine_version), spec.database),
            opts=self._on_aws,
        )
        self.database = Database(
            host=self.postgres.instance.address,
            port=self.postgres.port,
            admin_username=ADMIN_USERNAME,
            admin_password=self.postgres.admin_password,
        )
        self.mysql: DatabaseServer | None = None
        self.pipelines_database: MysqlServer | None = None
        if spec.services.kubeflow:
            sizing = spec.pipelines_database
            self.mysql = DatabaseServer(
                f"{name}-mysql",
                DatabaseServerArgs(data_args, mysql_engine(sizing.engine_version), sizing),
                opts=self._on_aws,
            )
            self.pipelines_database = MysqlServer(
                host=self.mysql.instance.address,
                port=self.mysql.port,
                admin_username=ADMIN_USERNAME,
                admin_password=self.mysql.admin_password,
            )
        self.redis = RedisOnlineStore(
            f"{name}-feast-online", RedisOnlineStoreArgs(data_args, spec.online_store), opts=self._on_aws
        )
        self.online_store = self.redis.online_store

    @property
    def object_store_scheme(self) -> ObjectStoreScheme:
        return "s3"

    def grant_s3_credentials(self, request: IdentityRequest, opts: pulumi.ResourceOptions) -> S3Credentials:
        """No keys on AWS: the S3 client finds the pod's IRSA web-identity token through the SDK's default chain."""
        identity = self.grant_workload_identity(request, opts)
        empty = pulumi.Output.from_input("")
        return S3Credentials(
            empty, pulumi.Output.secret(empty), identity.service_account_annotations, identity.principal
        )

    def container_registry(self) -> ContainerRegistry:
        # A 12-hour ECR token of the deploying role, read at every `pulumi up` (no stored key); build caches live in
        # the image repositories themselves under their one mutable tag.
        token = aws.ecr.get_authorization_token_output(
            registry_id=self.account.account_id, opts=pulumi.InvokeOutputOptions(provider=self.aws_provider)
        )
        return ContainerRegistry(
            url=self.registry_url,
            cache_url=self.registry_url,
            address=pulumi.Output.from_input(self.registry.host),
            username=token.user_name,
            password=pulumi.Output.secret(token.password),
            ready=tuple(self.registry.repositories.values()),
        )

    def image_digest(self, image: ImageName, tag: str) -> pulumi.Output[str]:
        found = aws.ecr.get_image_output(
            repository_name=self.registry.repositories[image].name,
            image_tag=tag,
            registry_id=self.account.account_id,
            opts=pulumi.InvokeOutputOptions(provider=self.aws_provider),
        )
        digest: pulumi.Output[str] = found.image_digest
        return digest

    def grant_workload_identity(self, request: IdentityRequest, opts: pulumi.ResourceOptions) -> WorkloadIdentity:
        if request.name in RESERVED_IDENTITY_NAMES:
            raise ValueError(
                f"workload identity name {request.name!r} is taken by the platform's own IAM roles "
                f"({', '.join(sorted(RESERVED_IDENTITY_NAMES))}); choose another name"
            )
        if request.database_connector:
            raise ValueError(
                f"workload identity {request.name!r} asks to run a database connector, but on AWS clients reach RDS "
                "directly (pipelines_database.connector is None); remove database_connector"
            )
        if request.name in self._granted:
            raise ValueError(f"workload identity {request.name!r} was granted twice; give each request a unique name")
        self._granted.add(request.name)
        # The role is an AWS resource of this layer: always this layer's provider, kept under this component.
        options = pulumi.ResourceOptions.merge(
            opts or pulumi.ResourceOptions(), pulumi.ResourceOptions(parent=self, provider=self.aws_provider)
        )
        prefix = f"{self._name}-identity-{request.name}"
        role = irsa_role(
            prefix,
            f"{self._spec.base_name}-{request.name}",
            self.eks.issuer,
            request.namespace,
            request.service_account,
            options,
        )
        bucket_arns = {r: b.arn for r, b in self.bucket_resources.items()}
        repository_arns = [r.arn for r in self.registry.repositories.values()]
        document = pulumi.Output.all(
            buckets=pulumi.Output.all(**bucket_arns), key=self.key.arn, repositories=pulumi.Output.all(*repository_arns)
        ).apply(lambda v: workload_policy(request, self.account, v["buckets"], v["key"], v["repositories"]))
        if request.grants() or request.registry_pull:
            aws.iam.RolePolicy(prefix, role=role.id, policy=document.apply(lambda d: d or ""), opts=options)
        self._identities[request.name] = role.arn
        return WorkloadIdentity(
            request=request, service_account_annotations={IRSA_ANNOTATION: role.arn}, principal=role.arn
        )

    def stack_outputs(self) -> Mapping[str, pulumi.Input[object]]:
        # Read at call time: the in-cluster layer grants its identities after this component was constructed.
        return {
            "clusterName": self.cluster_name,
            "clusterEndpoint": self.eks.cluster.endpoint,
            "kubeconfig": self.eks.kubeconfig,
            "buckets": {role: bucket.name for role, bucket in self.buckets.items()},
            "ecrRepositories": {image: repo.repository_url for image, repo in self.registry.repositories.items()},
            "registryUrl": self.registry_url,
            "databaseEndpoint": self.postgres.instance.endpoint,
            **({"pipelinesDatabaseEndpoint": self.mysql.instance.endpoint} if self.mysql else {}),
            "onlineStoreEndpoint": self.redis.group.primary_endpoint_address,
            "identities": dict(self._identities),
        }
