"""The platform's guard rails as CrossGuard policies, importable without starting a policy server.

`policies/__main__.py` packs them for `pulumi preview --policy-pack policies`; `policies/offline.py` runs the same
functions over the offline plan. Props are resource inputs (camelCase); offline there are no provider defaults, so
every lookup uses `.get()` and treats a missing value as "not set".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.cost.model import CostError, PricedResource, estimate, read_assumptions

MANDATORY = EnforcementLevel.MANDATORY
REQUIRED_AWS_TAGS = ("Project", "Environment", "Team", "Owner", "ManagedBy", "CostCenter")
REQUIRED_GCP_LABELS = ("project", "environment", "team", "owner", "managed-by")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}
STATEFUL_TYPES = {
    "aws:s3/bucket:Bucket",
    "aws:rds/instance:Instance",
    "aws:kms/key:Key",
    "aws:eks/cluster:Cluster",
    "aws:ecr/repository:Repository",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "gcp:storage/bucket:Bucket",
    "gcp:sql/databaseInstance:DatabaseInstance",
    "gcp:kms/cryptoKey:CryptoKey",
    "gcp:container/cluster:Cluster",
    "gcp:artifactregistry/repository:Repository",
    "gcp:redis/instance:Instance",
}
_UNPINNED_IMAGE = re.compile(r"(:latest$)|(^[^:@]+$)|(^[^@]+/[^:@/]+$)")


def _for_types(*types: str) -> Callable[[Callable[[Mapping[str, Any], ReportViolation], None]], Any]:
    """Decorate a props check so it runs only on the given resource types."""

    def decorate(check: Callable[[Mapping[str, Any], ReportViolation], None]) -> Any:
        def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
            if args.resource_type in types:
                check(args.props, report)

        validate.__doc__ = check.__doc__
        return validate

    return decorate


def _statements(policy_document: Any) -> list[Mapping[str, Any]]:
    document = json.loads(policy_document) if isinstance(policy_document, str) else policy_document or {}
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _object(value: Any) -> Mapping[str, Any]:
    """Provider config arrives JSON-encoded (providers take strings); resource props arrive as objects."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, Mapping) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


# --- AWS ---------------------------------------------------------------------------------------------------------


def _no_access_keys(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == "aws:iam/accessKey:AccessKey":
        report("static IAM access keys are forbidden: pods use IRSA, humans use SSO", None)


@_for_types("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy")
def _iam_least_privilege(props: Mapping[str, Any], report: ReportViolation) -> None:
    for statement in _statements(props.get("policy")):
        if statement.get("Effect") != "Allow":
            continue
        for action in _as_list(statement.get("Action")):
            if action == "*" or str(action).endswith(":*"):
                report(f"IAM action {action!r} is a wildcard: grant the exact actions the workload needs", None)
        for resource in _as_list(statement.get("Resource")):
            if resource == "*" and not statement.get("Condition"):
                report("IAM statement on Resource '*' without a Condition: scope it to exact ARNs", None)


@_for_types("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
def _no_full_access_managed_policies(props: Mapping[str, Any], report: ReportViolation) -> None:
    arn = str(props.get("policyArn", ""))
    if arn.endswith(("FullAccess", "/AdministratorAccess", "/PowerUserAccess")):
        report(f"AWS-managed policy {arn} grants far more than any workload needs", None)


@_for_types("aws:eks/cluster:Cluster")
def _eks_endpoint_and_secrets(props: Mapping[str, Any], report: ReportViolation) -> None:
    vpc = props.get("vpcConfig") or {}
    if vpc.get("endpointPublicAccess") and "0.0.0.0/0" in _as_list(vpc.get("publicAccessCidrs")):
        report("the EKS API endpoint is public to 0.0.0.0/0: list admin CIDRs in mlops:cluster.publicAccessCidrs", None)
    if not vpc.get("endpointPrivateAccess"):
        report("the EKS private endpoint is off: nodes would reach the API server over the internet", None)
    if not props.get("encryptionConfig"):
        report("Kubernetes secrets are not envelope-encrypted with the platform KMS key", None)


@_for_types("aws:ec2/launchTemplate:LaunchTemplate")
def _imdsv2_only(props: Mapping[str, Any], report: ReportViolation) -> None:
    metadata = props.get("metadataOptions") or {}
    if metadata.get("httpTokens") != "required" or metadata.get("httpPutResponseHopLimit") != 1:
        report("nodes must require IMDSv2 with hop limit 1 so pods cannot borrow node credentials", None)


@_for_types("aws:rds/instance:Instance")
def _rds_private_encrypted(props: Mapping[str, Any], report: ReportViolation) -> None:
    if not props.get("storageEncrypted"):
        report("RDS storage must be encrypted", None)
    if props.get("publiclyAccessible"):
        report("RDS must not be publicly accessible", None)


@_for_types("aws:elasticache/replicationGroup:ReplicationGroup")
def _redis_encrypted(props: Mapping[str, Any], report: ReportViolation) -> None:
    if not (props.get("transitEncryptionEnabled") and props.get("atRestEncryptionEnabled")):
        report("the online store must encrypt in transit and at rest", None)


@_for_types("aws:ecr/repository:Repository")
def _ecr_immutable_scanned(props: Mapping[str, Any], report: ReportViolation) -> None:
    if props.get("imageTagMutability") != "IMMUTABLE":
        report("ECR tags must be immutable so a deployed tag always means the same image", None)
    if not (props.get("imageScanningConfiguration") or {}).get("scanOnPush"):
        report("ECR must scan images on push", None)


# --- GCP ---------------------------------------------------------------------------------------------------------


def _no_authoritative_project_iam(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in ("gcp:projects/iAMBinding:IAMBinding", "gcp:projects/iAMPolicy:IAMPolicy"):
        report("authoritative project IAM silently removes other members: use gcp.projects.IAMMember", None)


@_for_types("gcp:storage/bucket:Bucket")
def _gcs_private_cmek(props: Mapping[str, Any], report: ReportViolation) -> None:
    if not props.get("uniformBucketLevelAccess"):
        report("GCS buckets must use uniform bucket-level access", None)
    if props.get("publicAccessPrevention") != "enforced":
        report("GCS buckets must enforce public access prevention", None)
    if not (props.get("encryption") or {}).get("defaultKmsKeyName"):
        report("GCS buckets must be encrypted with the platform CMEK key", None)


@_for_types("gcp:sql/databaseInstance:DatabaseInstance")
def _cloud_sql_private_ssl(props: Mapping[str, Any], report: ReportViolation) -> None:
    ip = (props.get("settings") or {}).get("ipConfiguration") or {}
    if ip.get("ipv4Enabled", True):
        report("Cloud SQL must have no public IP (settings.ipConfiguration.ipv4Enabled = false)", None)
    if ip.get("sslMode") not in ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"):
        report("Cloud SQL must require SSL (sslMode ENCRYPTED_ONLY)", None)


@_for_types("gcp:container/cluster:Cluster")
def _gke_private_workload_identity(props: Mapping[str, Any], report: ReportViolation) -> None:
    if not (props.get("privateClusterConfig") or {}).get("enablePrivateNodes"):
        report("GKE nodes must be private", None)
    if not (props.get("workloadIdentityConfig") or {}).get("workloadPool"):
        report("GKE Workload Identity must be enabled", None)
    networks = ((props.get("masterAuthorizedNetworksConfig") or {}).get("cidrBlocks")) or []
    if any(block.get("cidrBlock") == "0.0.0.0/0" for block in networks):
        report("the GKE control plane is open to 0.0.0.0/0", None)


# --- Kubernetes ----------------------------------------------------------------------------------------------------


def _pod_spec(props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    kind = props.get("kind")
    spec = props.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    return (spec.get("template") or {}).get("spec")


def _kubernetes_workloads(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.resource_type.startswith("kubernetes:") or args.props.get("kind") not in WORKLOAD_KINDS:
        return
    pod = _pod_spec(args.props) or {}
    containers = list(pod.get("containers") or []) + list(pod.get("initContainers") or [])
    for container in containers:
        image = str(container.get("image", ""))
        if _UNPINNED_IMAGE.search(image):
            report(f"container {container.get('name')} uses an unpinned image {image!r}: pin a version tag", None)
        if args.resource_type.endswith("Patch"):
            continue  # a patch changes a few fields of an upstream object; its security context stays as it was
        security = container.get("securityContext") or {}
        pod_security = pod.get("securityContext") or {}
        if not (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
            report(f"container {container.get('name')} may run as root: set runAsNonRoot", None)
        if security.get("privileged") or security.get("allowPrivilegeEscalation", False):
            report(f"container {container.get('name')} allows privilege escalation", None)


def _helm_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == "kubernetes:helm.sh/v3:Release" and not args.props.get("version"):
        report(f"Helm release {args.props.get('chart')} has no pinned chart version", None)


# --- Stack-wide ----------------------------------------------------------------------------------------------------


def _bucket_refs(resources: Iterable[PolicyResource], type_: str) -> set[str]:
    """URNs of the buckets that resources of `type_` configure (through their `bucket` property dependency)."""
    found: set[str] = set()
    for resource in resources:
        if resource.resource_type == type_:
            found.update(dep.urn for dep in resource.property_dependencies.get("bucket", []))
    return found


def _every_s3_bucket_locked_down(args: StackValidationArgs, report: ReportViolation) -> None:
    buckets = [r for r in args.resources if r.resource_type == "aws:s3/bucket:Bucket"]
    encrypted = _bucket_refs(
        args.resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    blocked = {
        dep.urn
        for r in args.resources
        if r.resource_type == "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
        and all(
            r.props.get(k)
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        for dep in r.property_dependencies.get("bucket", [])
    }
    for bucket in buckets:
        if bucket.urn not in encrypted:
            report(f"bucket {bucket.name} has no server-side encryption configuration", bucket.urn)
        if bucket.urn not in blocked:
            report(f"bucket {bucket.name} lacks a public access block with all four flags", bucket.urn)


def _environment(args: StackValidationArgs) -> str | None:
    for resource in args.resources:
        if resource.resource_type == "pulumi:providers:aws":
            return _object(_object(resource.props.get("defaultTags")).get("tags")).get("Environment")
        if resource.resource_type == "pulumi:providers:gcp":
            return _object(resource.props.get("defaultLabels")).get("environment")
    return None


def _prod_state_protected(args: StackValidationArgs, report: ReportViolation) -> None:
    if _environment(args) != "prod":
        return
    for resource in args.resources:
        if resource.resource_type in STATEFUL_TYPES and not resource.opts.protect:
            report(f"{resource.resource_type} {resource.name} is not protected in prod", resource.urn)


def _provider_tags(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource in args.resources:
        if resource.resource_type == "pulumi:providers:aws":
            tags = _object(_object(resource.props.get("defaultTags")).get("tags"))
            missing = [t for t in REQUIRED_AWS_TAGS if not tags.get(t)]
        elif resource.resource_type == "pulumi:providers:gcp":
            labels = _object(resource.props.get("defaultLabels"))
            missing = [t for t in REQUIRED_GCP_LABELS if not labels.get(t)]
        else:
            continue
        if missing:
            report(f"provider {resource.name} does not tag resources with {', '.join(missing)}", resource.urn)


def _priced(resources: Iterable[PolicyResource]) -> list[PricedResource]:
    return [
        PricedResource(
            urn=r.urn,
            type=r.resource_type,
            name=r.name,
            props=r.props,
            property_dependencies={key: [d.urn for d in deps] for key, deps in r.property_dependencies.items()},
            parent=r.parent.urn if r.parent is not None else "",
        )
        for r in resources
    ]


def _monthly_budget(enforced: bool) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """The typical monthly estimate (infra/cost/model.py, as `make cost`) against budget.monthlyLimitUsd.

    Two policies share it, because a policy's enforcement level is fixed: the advisory one reports stacks that
    only warn, the mandatory one stacks with budget.enforceEstimate: true (an unpriceable stack fails it too).
    """

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = _priced(args.resources)
        assumptions = read_assumptions(resources)
        if assumptions.budget_limit is None or assumptions.enforce != enforced:
            return
        stack = resources[0].urn.split("::")[0].removeprefix("urn:pulumi:") if resources else ""
        try:
            check = estimate(resources, stack).budget()
        except CostError as error:
            report(f"the monthly cost cannot be estimated, so the budget is unchecked: {error}", None)
            return
        if check is not None and check.exceeded:
            report(check.message(), None)

    return validate


RESOURCE_POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(name=name, description=description, validate=validate, enforcement_level=MANDATORY)
    for name, description, validate in (
        ("aws-no-iam-access-keys", "No static IAM access keys.", _no_access_keys),
        ("aws-iam-least-privilege", "IAM policies name exact actions and resources.", _iam_least_privilege),
        ("aws-no-full-access-policies", "No AWS-managed FullAccess/Admin policies.", _no_full_access_managed_policies),
        ("aws-eks-endpoint-and-secrets", "EKS: private endpoint, no open public endpoint, KMS secrets.",
         _eks_endpoint_and_secrets),
        ("aws-nodes-imdsv2", "Launch templates require IMDSv2 with hop limit 1.", _imdsv2_only),
        ("aws-rds-private-encrypted", "RDS is private and encrypted.", _rds_private_encrypted),
        ("aws-online-store-encrypted", "ElastiCache encrypts in transit and at rest.", _redis_encrypted),
        ("aws-ecr-immutable-scanned", "ECR tags are immutable and scanned on push.", _ecr_immutable_scanned),
        ("gcp-no-authoritative-project-iam", "Only non-authoritative project IAM members.",
         _no_authoritative_project_iam),
        ("gcp-buckets-private-cmek", "GCS: uniform access, public access prevention, CMEK.", _gcs_private_cmek),
        ("gcp-sql-private-ssl", "Cloud SQL: private IP only, SSL required.", _cloud_sql_private_ssl),
        ("gke-private-workload-identity", "GKE: private nodes, Workload Identity, closed control plane.",
         _gke_private_workload_identity),
        ("k8s-pinned-non-root-workloads", "Workload containers use pinned images and run as non-root.",
         _kubernetes_workloads),
        ("helm-charts-pinned", "Every Helm release pins its chart version.", _helm_pinned),
    )
]  # fmt: skip

STACK_POLICIES: list[StackValidationPolicy] = [
    StackValidationPolicy(name=name, description=description, validate=validate, enforcement_level=level)
    for name, description, validate, level in (
        ("aws-every-bucket-locked-down", "Every S3 bucket is encrypted and blocks public access.",
         _every_s3_bucket_locked_down, MANDATORY),
        ("prod-state-protected", "Stateful resources are protected in prod.", _prod_state_protected, MANDATORY),
        ("provider-default-tags", "Providers tag every resource with the platform tags.", _provider_tags, MANDATORY),
        ("monthly-budget-estimate", "The typical monthly cost estimate stays within budget.monthlyLimitUsd.",
         _monthly_budget(enforced=False), EnforcementLevel.ADVISORY),
        ("monthly-budget-enforced", "With budget.enforceEstimate, the typical monthly estimate must stay within "
         "budget.monthlyLimitUsd.", _monthly_budget(enforced=True), MANDATORY),
    )
]  # fmt: skip
