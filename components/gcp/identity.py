"""Workload Identity: one Google service account per Kubernetes service account, with exactly the access requested.

Every grant is non-authoritative and scoped to one resource (the GSA, one bucket, the repository, one Cloud SQL
instance): nothing here can remove someone else's access. The one project-level binding, `roles/cloudsql.client`
for a database connector, carries an IAM condition naming the instance (Cloud SQL has no instance-level IAM).

A client that speaks only the S3 API cannot use Workload Identity against GCS: for it the account gets an HMAC key
instead of the Workload Identity binding (`credential="hmac-key"`), used through the S3-compatible XML API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_gcp as gcp

from components.contract import BucketAccess, IdentityRequest
from components.gcp.naming import account_id
from components.spec import BucketRole

WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
BUCKET_ROLES: Mapping[BucketAccess, str] = {
    "read": "roles/storage.objectViewer",
    "readwrite": "roles/storage.objectUser",  # read, write, delete objects; no bucket or IAM administration
}
REGISTRY_READER = "roles/artifactregistry.reader"
CLOUD_SQL_CLIENT = "roles/cloudsql.client"  # cloudsql.instances.connect + get: what the Cloud SQL Auth Proxy needs
GSA_ANNOTATION = "iam.gke.io/gcp-service-account"


def workload_member(project: str, namespace: str, service_account: str) -> str:
    """The Workload Identity principal of exactly one Kubernetes service account."""
    return f"serviceAccount:{project}.svc.id.goog[{namespace}/{service_account}]"


def prefix_condition(bucket: str, prefix: str) -> str:
    """CEL limiting object access to `prefix`. Listing is a bucket-level call, so the bucket itself stays allowed:
    the workload can list names in the bucket but read or write objects only under the prefix."""
    return (
        'resource.type == "storage.googleapis.com/Bucket" || '
        f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}")'
    )


def _condition(bucket: pulumi.Output[str], prefix: str) -> pulumi.Output[str]:
    return bucket.apply(lambda name: prefix_condition(name, prefix))


def instance_condition(project: str, instance: str) -> str:
    """CEL limiting a Cloud SQL role to one instance (resource name `projects/<p>/instances/<name>`)."""
    return f'resource.name == "projects/{project}/instances/{instance}"'


@dataclass(frozen=True)
class WorkloadServiceAccountArgs:
    base_name: str
    project: str
    request: IdentityRequest
    bucket_names: Mapping[BucketRole, pulumi.Output[str]]
    registry_name: pulumi.Input[str]
    registry_location: str
    sql_instance: pulumi.Output[str] | None = None  # the instance a `database_connector` request may connect to
    credential: Literal["workload-identity", "hmac-key"] = "workload-identity"


class WorkloadServiceAccount(pulumi.ComponentResource):
    email: pulumi.Output[str]
    hmac_key: gcp.storage.HmacKey | None = None

    def __init__(self, name: str, args: WorkloadServiceAccountArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:WorkloadServiceAccount", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        request = args.request
        account = gcp.serviceaccount.Account(
            f"{name}-gsa",
            account_id=account_id(args.base_name, request.name),
            project=args.project,
            display_name=f"{args.base_name} workload {request.namespace}/{request.service_account}",
            opts=child,
        )
        member = account.email.apply(lambda email: f"serviceAccount:{email}")
        if args.credential == "workload-identity":
            gcp.serviceaccount.IAMMember(
                f"{name}-workload-identity",
                service_account_id=account.name,
                role=WORKLOAD_IDENTITY_USER,
                member=workload_member(args.project, request.namespace, request.service_account),
                opts=child,
            )
        else:
            # Rotation: replace this key (`pulumi up --replace <its URN>`), then restart the pods that read it.
            self.hmac_key = gcp.storage.HmacKey(
                f"{name}-hmac", service_account_email=account.email, project=args.project, opts=child
            )
        grants = request.grants()
        for grant in grants:
            bucket, prefix = args.bucket_names[grant.bucket], grant.prefix
            slug = prefix.strip("/").replace("/", "-")
            condition = (
                gcp.storage.BucketIAMMemberConditionArgs(
                    title=f"{grant.bucket}-prefix-{slug}"[:100],
                    description=f"Objects under {prefix} only",
                    expression=_condition(bucket, prefix),
                )
                if prefix
                else None
            )
            # One member per bucket and access keeps the names stable; more prefixes on a bucket name theirs.
            alone = sum(g.bucket == grant.bucket and g.access == grant.access for g in grants) == 1
            gcp.storage.BucketIAMMember(
                f"{name}-{grant.bucket}-{grant.access}" + ("" if alone else f"-{slug}"),
                bucket=bucket,
                role=BUCKET_ROLES[grant.access],
                member=member,
                condition=condition,
                opts=child,
            )
        if request.database_connector:
            if args.sql_instance is None:
                raise ValueError(f"IdentityRequest {request.name!r} asks for a database connector, but none exists")
            gcp.projects.IAMMember(
                f"{name}-cloudsql-client",
                project=args.project,
                role=CLOUD_SQL_CLIENT,
                member=member,
                condition=gcp.projects.IAMMemberConditionArgs(
                    title="kubeflow-pipelines-instance-only",
                    description="Connect to the Kubeflow Pipelines MySQL instance only",
                    expression=args.sql_instance.apply(lambda instance: instance_condition(args.project, instance)),
                ),
                opts=child,
            )
        if request.registry_pull:
            gcp.artifactregistry.RepositoryIamMember(
                f"{name}-registry-reader",
                repository=args.registry_name,
                location=args.registry_location,
                role=REGISTRY_READER,
                member=member,
                opts=child,
            )
        self.email = account.email
        self.register_outputs({"email": self.email})
