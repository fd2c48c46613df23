"""A fake `CloudPlatform` for planning the in-cluster layer alone, shaped like AWS or like GCP.

Only for offline plans in tests: every value is a plausible constant, and `grant_workload_identity` records the
requests and returns the annotations the real cloud layer would.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import pulumi
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
    Toleration,
    WorkloadIdentity,
)
from components.spec import BUCKET_ROLES, PLATFORM_ROLES, ImageName, PlatformSpec

if TYPE_CHECKING:
    from infra.plan.engine import Plan

Flavour = Literal["aws", "gcp"]
FAKE_DB_ADMIN_PASSWORD = "fake-db-admin-password-7Qx"
FAKE_REDIS_TOKEN = "fake-redis-auth-token-9Wz"
FAKE_MYSQL_ADMIN_PASSWORD = "fake-mysql-admin-password-3Kd"
FAKE_HMAC_ACCESS_ID = "GOOG1EFAKEHMACACCESSID0000000000000000000000000000000000"
FAKE_HMAC_SECRET = "fake-hmac-secret-5Tq"
# What the GCP layer hands over: the Cloud SQL Auth Proxy in front of the instance (components/gcp/platform.py).
FAKE_CONNECTOR = DatabaseConnector(
    name="cloudsql-proxy",
    image="gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3",
    uid=65532,
    args=("--private-ip", "--address=0.0.0.0", "--port=3306", "mock-project:us-central1:kfp"),
    port=3306,
    instance_port=3307,
    health_port=9090,
    probe_paths={"startup": "/startup", "liveness": "/liveness", "readiness": "/readiness"},
)
FAKE_SLACK_WEBHOOK = "https://hooks.slack.com/services/T000/B000/fakeslacksecret"
FAKE_PAGERDUTY_KEY = "fakepagerdutyroutingkey0123456789"
FAKE_REGISTRY_TOKEN = "fake-registry-push-token-4Kp"
POOL_LABEL = "mlops.io/pool"
IDENTITY_ANNOTATION = {"aws": "eks.amazonaws.com/role-arn", "gcp": "iam.gke.io/gcp-service-account"}


class FakeCloud(CloudPlatform):
    def __init__(self, flavour: Flavour, spec: PlatformSpec, gpu_pool: bool = True) -> None:
        self.cloud = flavour
        self.flavour = flavour
        self.base = spec.base_name
        self.provider = k8s.Provider("fake-cluster", kubeconfig="{}")
        self.buckets = {role: Bucket(role, pulumi.Output.from_input(f"{self.base}-{role}")) for role in BUCKET_ROLES}
        self.database = Database(
            host=pulumi.Output.from_input(f"{self.base}.db.internal.example"),
            port=5432,
            admin_username="mlops_admin",
            admin_password=pulumi.Output.secret(FAKE_DB_ADMIN_PASSWORD),
        )
        self.pipelines_database = (
            MysqlServer(
                host=pulumi.Output.from_input(f"{self.base}.mysql.internal.example"),
                port=3306,
                admin_username="mlops_admin",
                admin_password=pulumi.Output.secret(FAKE_MYSQL_ADMIN_PASSWORD),
                connector=FAKE_CONNECTOR if flavour == "gcp" else None,
            )
            if spec.services.kubeflow
            else None
        )
        self.s3_api = (
            S3Api("s3.us-east-1.amazonaws.com", "us-east-1")
            if flavour == "aws"
            else S3Api("storage.googleapis.com", "auto")
        )
        self.online_store = OnlineStore(
            host=pulumi.Output.from_input(f"{self.base}.redis.internal.example"),
            port=6379,
            auth_token=pulumi.Output.secret(FAKE_REDIS_TOKEN),
        )
        registry = (
            f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{self.base}"
            if flavour == "aws"
            else f"us-central1-docker.pkg.dev/mock-project/{self.base}"
        )
        self.registry_url = pulumi.Output.from_input(registry)
        self.registry_host = registry.split("/", 1)[0]
        gpu_taint = (Toleration("nvidia.com/gpu", "present", "NoSchedule"),)
        self.placements = {
            "system": NodePlacement("system", {POOL_LABEL: "system"}),
            "cpu": NodePlacement("cpu", {POOL_LABEL: "cpu"}),
        }
        if gpu_pool:
            self.placements["gpu"] = NodePlacement("gpu", {POOL_LABEL: "gpu", "gpu-enabled": "true"}, gpu_taint)
        self.architectures = {pool: "x86_64" for pool in self.placements}
        self.gpu = GpuSupport(
            pool_present=gpu_pool, install_device_plugin=flavour == "aws", dcgm_exporter=flavour == "aws"
        )
        self.storage_class = "gp3" if flavour == "aws" else "standard-rwo"
        self.identity_endpoints = (
            (IdentityEndpoint("169.254.169.254/32", 80, "metadata"), IdentityEndpoint("169.254.169.252/32", 988, "gke"))
            if flavour == "gcp"
            else ()
        )
        self.role_subjects = {role: (RbacSubject("Group", f"mlops:{role}"),) for role in PLATFORM_ROLES}
        self.cluster_name = pulumi.Output.from_input(self.base)
        self.granted: list[IdentityRequest] = []

    @property
    def object_store_scheme(self) -> ObjectStoreScheme:
        return "s3" if self.flavour == "aws" else "gs"

    def stack_outputs(self) -> Mapping[str, pulumi.Input[object]]:
        return {"clusterName": self.cluster_name}

    def container_registry(self) -> ContainerRegistry:
        return ContainerRegistry(
            url=self.registry_url,
            cache_url=self.registry_url,
            address=pulumi.Output.from_input(self.registry_host),
            username=pulumi.Output.from_input("AWS" if self.flavour == "aws" else "oauth2accesstoken"),
            password=pulumi.Output.secret(FAKE_REGISTRY_TOKEN),
            ready=(),
        )

    def image_digest(self, image: ImageName, tag: str) -> pulumi.Output[str]:
        return pulumi.Output.from_input(f"sha256:{hashlib.sha256(f'{image}:{tag}'.encode()).hexdigest()}")

    def _principal(self, request: IdentityRequest) -> pulumi.Output[str]:
        self.granted.append(request)
        principal = (
            f"arn:aws:iam::123456789012:role/{self.base}-{request.name}"
            if self.flavour == "aws"
            else f"{self.base}-{request.name}@mock-project.iam.gserviceaccount.com"
        )
        return pulumi.Output.from_input(principal)

    def grant_workload_identity(self, request: IdentityRequest, opts: pulumi.ResourceOptions) -> WorkloadIdentity:
        output = self._principal(request)
        return WorkloadIdentity(request, {IDENTITY_ANNOTATION[self.flavour]: output}, output)

    def grant_s3_credentials(self, request: IdentityRequest, opts: pulumi.ResourceOptions) -> S3Credentials:
        """As the clouds do: IRSA and empty keys on AWS, an HMAC key and no annotation on GCP."""
        principal = self._principal(request)
        if self.flavour == "aws":
            empty = pulumi.Output.from_input("")
            return S3Credentials(empty, pulumi.Output.secret(empty), {IDENTITY_ANNOTATION["aws"]: principal}, principal)
        return S3Credentials(
            pulumi.Output.from_input(FAKE_HMAC_ACCESS_ID), pulumi.Output.secret(FAKE_HMAC_SECRET), {}, principal
        )


def flavour_of(stack: str) -> Flavour:
    return "gcp" if stack.startswith("gcp") else "aws"


@functools.cache
def fake_cloud_plan(
    stack: str,
    flavour: Flavour | None = None,
    alerting: bool = True,
    gpu_pool: bool = True,
    overrides: tuple[tuple[str, str], ...] = (),
) -> tuple[Plan, tuple[IdentityRequest, ...]]:
    """Plan the in-cluster layer alone for `Pulumi.<stack>.yaml` on a fake cloud; also the identities it asked for.

    `overrides` replaces stack config values (`("mlops:services", '{"feast": false}')`). Cached: planning is the
    slow part, and every test reads the same graph.
    """
    from components.images import WorkloadImages, WorkloadImagesArgs
    from components.k8s import AlertingSecrets, InClusterPlatform, InClusterPlatformArgs
    from infra.config import parse_spec
    from infra.plan.engine import PROJECT_ROOT, load_stack_config, project_name, run_program

    config, secret_keys = load_stack_config(PROJECT_ROOT, stack)
    config = {**config, **dict(overrides)}
    spec = parse_spec(config, source=f"Pulumi.{stack}.yaml")
    granted: list[IdentityRequest] = []

    def program() -> None:
        cloud = FakeCloud(flavour or flavour_of(stack), spec, gpu_pool=gpu_pool)
        secrets = AlertingSecrets(
            pulumi.Output.secret(FAKE_SLACK_WEBHOOK) if alerting else None,
            pulumi.Output.secret(FAKE_PAGERDUTY_KEY) if alerting else None,
        )
        images = WorkloadImages(spec.base_name, WorkloadImagesArgs(spec, cloud))
        platform = InClusterPlatform(
            spec.base_name, InClusterPlatformArgs(spec, cloud, secrets, images.refs), opts=cloud.child_options()
        )
        for key, value in platform.stack_outputs().items():
            pulumi.export(key, value)
        granted.extend(cloud.granted)

    plan = run_program(program, project=project_name(PROJECT_ROOT), stack=stack, config=config, secret_keys=secret_keys)
    return plan, tuple(granted)


def kube_objects(plan: Plan, kind: str, namespace: str | None = None) -> list[dict[str, object]]:
    """Manifests (recorded inputs) of every `kind` object in the plan, optionally in one namespace."""
    found = []
    for resource in plan.resources:
        if not resource.type.startswith("kubernetes:") or not resource.type.endswith(f":{kind}"):
            continue
        manifest = resource.inputs
        assert isinstance(manifest, dict)
        metadata = manifest.get("metadata") or {}
        assert isinstance(metadata, dict)
        if namespace is None or metadata.get("namespace") == namespace:
            found.append(manifest)
    return found
