"""The contract between a cloud layer and the cloud-neutral in-cluster layer.

A cloud layer (`components/aws`, `components/gcp`) builds the cluster and its backing services, then hands the
in-cluster layer (`components/k8s`) and the image builds (`components/images.py`) a `CloudPlatform`: plain data and
Pulumi outputs, no AWS or GCP type. The behaviour a cloud must provide: `grant_workload_identity` (make one Kubernetes
service account able to use exactly the buckets it names, returning the annotations that service account needs),
`grant_s3_credentials` (the same for a client that speaks only the S3 API), `container_registry` (where and with which
short-lived credentials images are pushed) and `image_digest` (what a tag CI pushed points to).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from components.spec import BucketRole, ImageName, PlatformRole, PoolName, TaintEffect

BucketAccess = Literal["read", "readwrite"]
ObjectStoreScheme = Literal["s3", "gs"]
CpuArchitecture = Literal["x86_64", "arm64"]
# The one mutable tag of the platform's registries: BuildKit's registry cache of each image, rewritten every build.
BUILD_CACHE_TAG = "buildcache"


@dataclass(frozen=True)
class Bucket:
    """An object-store bucket with one role in the platform."""

    role: BucketRole
    name: pulumi.Output[str]


@dataclass(frozen=True)
class Database:
    """The shared PostgreSQL server. The in-cluster layer creates one database and login per service on it."""

    host: pulumi.Output[str]
    port: int
    admin_username: str
    admin_password: pulumi.Output[str]  # always a Pulumi secret
    sslmode: Literal["require", "verify-full"] = "require"


@dataclass(frozen=True)
class DatabaseConnector:
    """A proxy the cluster runs in front of a managed database, under a cloud identity of its own (GCP: the Cloud SQL
    Auth Proxy, the way Kubeflow Pipelines' upstream env/gcp connects). Clients speak plain MySQL to its Service inside
    the cluster; the connector authorizes with IAM and encrypts the hop to the instance."""

    name: str  # Deployment, Service and service account name
    image: str
    uid: int
    args: tuple[pulumi.Input[str], ...]
    port: int  # where clients connect
    instance_port: int  # where it dials the instance (for egress policies)
    health_port: int
    probe_paths: Mapping[Literal["startup", "liveness", "readiness"], str]


@dataclass(frozen=True)
class MysqlServer:
    """The managed MySQL 8 of Kubeflow Pipelines: private, encrypted, and it accepts only TLS connections directly.
    With a `connector`, in-cluster clients go through it instead of `host`."""

    host: pulumi.Output[str]
    port: int
    admin_username: str
    admin_password: pulumi.Output[str]  # always a Pulumi secret
    connector: DatabaseConnector | None = None


@dataclass(frozen=True)
class S3Api:
    """The cloud's S3-compatible API, for clients that speak nothing else (HTTPS on 443)."""

    endpoint: str
    region: str  # the SigV4 signing region


@dataclass(frozen=True)
class S3Credentials:
    """What an S3-only client authenticates with for one `IdentityRequest`: static keys (a GCS HMAC key) or, with both
    keys empty, the pod's workload identity through `service_account_annotations`."""

    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]  # a Pulumi secret (empty with workload identity)
    service_account_annotations: Mapping[str, pulumi.Output[str]]
    principal: pulumi.Output[str]


@dataclass(frozen=True)
class OnlineStore:
    """The Feast online store: a TLS Redis endpoint with an AUTH token on both clouds."""

    host: pulumi.Output[str]
    port: int
    auth_token: pulumi.Output[str]  # always a Pulumi secret
    tls: bool = True
    ca_certificate: pulumi.Output[str] | None = None  # PEM of a private CA (Memorystore); None = public CA chain


@dataclass(frozen=True)
class ContainerRegistry:
    """The stack's registry as image builds need it: image `<name>` lives at `<url>/mlops-<name>`.

    The credentials are a short-lived token of the identity running `pulumi up` (never a stored key), read when the
    builds run; `ready` are the repositories, which must exist before anything is pushed.
    """

    url: pulumi.Output[str]
    cache_url: pulumi.Output[str]  # build caches (tag BUILD_CACHE_TAG) live under <cache_url>/mlops-<name>
    address: pulumi.Output[str]  # registry host the credentials are for
    username: pulumi.Output[str]
    password: pulumi.Output[str]  # always a Pulumi secret
    ready: tuple[pulumi.Resource, ...]


@dataclass(frozen=True)
class Toleration:
    key: str
    value: str
    effect: TaintEffect


@dataclass(frozen=True)
class NodePlacement:
    """How a pod lands on one node pool: the pool's labels as a node selector and tolerations for its taints."""

    pool: PoolName
    node_selector: Mapping[str, str]
    tolerations: tuple[Toleration, ...] = ()

    def pod_tolerations(self) -> list[dict[str, str]]:
        return [{"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect} for t in self.tolerations]


@dataclass(frozen=True)
class IdentityRequest:
    """One workload identity: a Kubernetes service account and the cloud access it needs, nothing more."""

    name: str  # short, unique: "mlflow", "kfp", "training", ...
    namespace: str
    service_account: str
    buckets: Mapping[BucketRole, BucketAccess] = field(default_factory=dict)
    bucket_prefixes: Mapping[BucketRole, str] = field(default_factory=dict)  # restrict to one key prefix
    # Finer grants: bucket -> {key prefix: access}, e.g. {"data": {"m/inputs/": "read", "m/predictions/": "readwrite"}}
    # (a bucket listed here is not listed in `buckets`).
    object_prefixes: Mapping[BucketRole, Mapping[str, BucketAccess]] = field(default_factory=dict)
    registry_pull: bool = False
    database_connector: bool = False  # runs the `MysqlServer.connector`: may connect to the instance through IAM

    def grants(self) -> tuple[ObjectGrant, ...]:
        """Every object-level grant of the request, both forms normalised, sorted by bucket then prefix."""
        both = sorted(set(self.buckets) & set(self.object_prefixes))
        if both:
            raise ValueError(f"identity {self.name!r} lists {both} in both buckets and object_prefixes; keep one")
        stray = sorted(set(self.bucket_prefixes) - set(self.buckets))
        if stray:
            raise ValueError(
                f"identity {self.name!r} sets bucket_prefixes for {stray} without access to them; "
                "add them to buckets or remove the prefixes"
            )
        found = [ObjectGrant(role, access, self.bucket_prefixes.get(role, "")) for role, access in self.buckets.items()]
        found += [
            ObjectGrant(role, access, prefix)
            for role, prefixes in self.object_prefixes.items()
            for prefix, access in prefixes.items()
        ]
        return tuple(sorted(found, key=lambda g: (g.bucket, g.prefix, g.access)))


@dataclass(frozen=True)
class ObjectGrant:
    """Access to the objects of one bucket, under one key prefix ("" = the whole bucket)."""

    bucket: BucketRole
    access: BucketAccess
    prefix: str = ""


@dataclass(frozen=True)
class WorkloadIdentity:
    """What the cloud returned for an `IdentityRequest`."""

    request: IdentityRequest
    service_account_annotations: Mapping[str, pulumi.Output[str]]
    principal: pulumi.Output[str]  # IAM role ARN on AWS, Google service account email on GCP


@dataclass(frozen=True)
class RbacSubject:
    """Who a platform role's RoleBindings name: a group the cloud maps identities to, or a user."""

    kind: Literal["Group", "User"]
    name: str


@dataclass(frozen=True)
class IdentityEndpoint:
    """An address outside the pod network that a pod with a cloud identity dials for its credentials (the cloud's
    token or metadata endpoint), which default-deny egress must let it reach."""

    cidr: str
    port: int
    reason: str


@dataclass(frozen=True)
class GpuSupport:
    """What the in-cluster layer must add for GPUs: AWS needs the NVIDIA device plugin, GKE installs its own."""

    pool_present: bool
    install_device_plugin: bool
    dcgm_exporter: bool
    resource_name: str = "nvidia.com/gpu"


class CloudPlatform(ABC):
    """Everything the in-cluster layer consumes from a cloud."""

    cloud: Literal["aws", "gcp"]
    provider: k8s.Provider
    buckets: Mapping[BucketRole, Bucket]
    database: Database
    pipelines_database: MysqlServer | None  # None when Kubeflow Pipelines is off
    online_store: OnlineStore
    s3_api: S3Api
    registry_url: pulumi.Output[str]
    placements: Mapping[PoolName, NodePlacement]
    architectures: Mapping[PoolName, CpuArchitecture]  # CPU architecture of each node pool (one per pool)
    gpu: GpuSupport
    storage_class: str
    role_subjects: Mapping[PlatformRole, tuple[RbacSubject, ...]]  # from the cluster access config
    cluster_name: pulumi.Output[str]
    # Where pods with a cloud identity get their credentials, beyond what every pod may reach (HTTPS): the in-cluster
    # layer opens exactly these to the namespaces whose pods carry one.
    identity_endpoints: tuple[IdentityEndpoint, ...]

    @property
    @abstractmethod
    def object_store_scheme(self) -> ObjectStoreScheme: ...

    def bucket_url(self, role: BucketRole) -> pulumi.Output[str]:
        return self.buckets[role].name.apply(lambda name: f"{self.object_store_scheme}://{name}")

    def child_options(self) -> pulumi.ResourceOptions:
        """Options for the in-cluster layer's components: the cluster's Kubernetes provider, after the cluster."""
        return pulumi.ResourceOptions(providers={"kubernetes": self.provider})

    @abstractmethod
    def stack_outputs(self) -> Mapping[str, pulumi.Input[object]]:
        """Stack outputs of the cloud layer: cluster name and endpoint, kubeconfig (secret), buckets, registry, ..."""

    @abstractmethod
    def container_registry(self) -> ContainerRegistry:
        """Where `pulumi up` pushes the images it builds, with push credentials of the deploying identity."""

    @abstractmethod
    def image_digest(self, image: ImageName, tag: str) -> pulumi.Output[str]:
        """`sha256:...` that `<registry_url>/mlops-<image>:<tag>` points to now (images CI pushed)."""

    @abstractmethod
    def grant_workload_identity(self, request: IdentityRequest, opts: pulumi.ResourceOptions) -> WorkloadIdentity:
        """Create the cloud identity for `request` (IRSA role / Google service account) with least privilege."""

    @abstractmethod
    def grant_s3_credentials(self, request: IdentityRequest, opts: pulumi.ResourceOptions) -> S3Credentials:
        """Credentials for a client that speaks only the S3 API (`s3_api`), with exactly `request.buckets`."""
