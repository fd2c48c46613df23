"""The platform's guard rails as CrossGuard policies, importable without starting a policy server.

`policies/__main__.py` packs them for `pulumi preview --policy-pack policies`; `policies/offline.py` runs the same
functions over the offline plan. Props are resource inputs (camelCase); offline there are no provider defaults, so
every lookup uses `.get()` and treats a missing value as "not set".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
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

from components.contract import BUILD_CACHE_TAG
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
AUDIT_LOG_TYPES = frozenset({"api", "audit", "authenticator"})
MAX_ROTATION_SECONDS = 90 * 86400
MIN_PROD_BACKUP_DAYS = 7
# Namespaces whose node agents need host access by design (components/k8s/tenancy.py: `privileged` Pod Security).
NODE_AGENT_NAMESPACES = frozenset({"monitoring", "nvidia-gpu", "kube-system"})
# Service annotations that keep a cloud load balancer private (AWS Load Balancer Controller, GKE).
INTERNAL_LOAD_BALANCER = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": ("internal",),
    "service.beta.kubernetes.io/aws-load-balancer-internal": ("true", "0.0.0.0/0"),
    "networking.gke.io/load-balancer-type": ("Internal",),
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
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _object(value: Any) -> Mapping[str, Any]:
    """Provider config arrives JSON-encoded (providers take strings); resource props arrive as objects."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, Mapping) else {}


def _as_list(value: Any) -> list[Any]:
    """A value that may be one item or a list (props are proxies: a Sequence, never a `list`)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [] if value is None else [value]


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
    # The one allowed exception: BuildKit's registry cache tag, which every image build rewrites.
    exclusions = [f.get("filter") for f in props.get("imageTagMutabilityExclusionFilters") or []]
    mutability = props.get("imageTagMutability")
    cache_only = mutability == "IMMUTABLE_WITH_EXCLUSION" and exclusions == [BUILD_CACHE_TAG]
    if mutability != "IMMUTABLE" and not cache_only:
        report(
            f"ECR tags must be immutable (only the build cache tag {BUILD_CACHE_TAG!r} may be excluded), so a "
            f"deployed tag always means the same image; got {mutability} excluding {exclusions}",
            None,
        )
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
        if args.resource_type.endswith("Patch") or _namespace(args) in NODE_AGENT_NAMESPACES:
            continue  # a patch keeps the upstream security context; node agents run as root by design
        security = container.get("securityContext") or {}
        pod_security = pod.get("securityContext") or {}
        if not (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
            report(f"container {container.get('name')} may run as root: set runAsNonRoot", None)
        if security.get("privileged") or security.get("allowPrivilegeEscalation", False):
            report(f"container {container.get('name')} allows privilege escalation", None)


def _helm_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == "kubernetes:helm.sh/v3:Release" and not args.props.get("version"):
        report(f"Helm release {args.props.get('chart')} has no pinned chart version", None)


@_for_types("aws:kms/key:Key")
def _kms_rotation(props: Mapping[str, Any], report: ReportViolation) -> None:
    if not props.get("enableKeyRotation"):
        report("the KMS key does not rotate its key material (enableKeyRotation)", None)


@_for_types("aws:cloudwatch/logGroup:LogGroup")
def _log_groups_kept_and_encrypted(props: Mapping[str, Any], report: ReportViolation) -> None:
    if not props.get("retentionInDays"):
        report("the log group keeps logs forever (no retentionInDays): set mlops:cluster.logRetentionDays", None)
    if not props.get("kmsKeyId"):
        report("the log group is not encrypted with the platform KMS key", None)


@_for_types("aws:ec2/launchTemplate:LaunchTemplate")
def _node_volumes_encrypted(props: Mapping[str, Any], report: ReportViolation) -> None:
    for mapping in _as_list(props.get("blockDeviceMappings")):
        if str((mapping.get("ebs") or {}).get("encrypted")).lower() != "true":
            report(f"node volume {mapping.get('deviceName')} is not encrypted", None)


@_for_types("aws:s3/bucketPolicy:BucketPolicy")
def _no_public_bucket_policy(props: Mapping[str, Any], report: ReportViolation) -> None:
    for statement in _statements(props.get("policy")):
        principal = statement.get("Principal")
        public = principal == "*" or (isinstance(principal, Mapping) and "*" in _as_list(principal.get("AWS")))
        if statement.get("Effect") == "Allow" and public and not statement.get("Condition"):
            report("the bucket policy allows anyone (Principal *) without a condition", None)


@_for_types("aws:eks/cluster:Cluster")
def _eks_audit_logs(props: Mapping[str, Any], report: ReportViolation) -> None:
    missing = sorted(AUDIT_LOG_TYPES - set(_as_list(props.get("enabledClusterLogTypes"))))
    if missing:
        report(f"the EKS control plane does not log {', '.join(missing)}", None)


@_for_types("gcp:kms/cryptoKey:CryptoKey")
def _gcp_kms_rotation(props: Mapping[str, Any], report: ReportViolation) -> None:
    period = str(props.get("rotationPeriod") or "")
    if not period:
        report("the KMS key never rotates (no rotationPeriod)", None)
    elif period.endswith("s") and period[:-1].isdigit() and int(period[:-1]) > MAX_ROTATION_SECONDS:
        report(f"the KMS key rotates every {int(period[:-1]) // 86400} days, more than 90", None)


@_for_types("gcp:container/nodePool:NodePool")
def _gke_nodes_hardened(props: Mapping[str, Any], report: ReportViolation) -> None:
    config = props.get("nodeConfig") or {}
    if (config.get("workloadMetadataConfig") or {}).get("mode") != "GKE_METADATA":
        report("nodes expose the Compute Engine metadata server to pods (workloadMetadataConfig GKE_METADATA)", None)
    if not (config.get("shieldedInstanceConfig") or {}).get("enableSecureBoot"):
        report("nodes boot without Shielded VM secure boot", None)
    if not config.get("bootDiskKmsKey"):
        report("node boot disks are not encrypted with the platform CMEK key", None)


def _kubernetes_pod(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    """The pod spec of a Kubernetes workload (a Pulumi object or a rendered one), else None."""
    if not args.resource_type.startswith("kubernetes:") or args.props.get("kind") not in WORKLOAD_KINDS:
        return None
    return _pod_spec(args.props) or {}


def _namespace(args: ResourceValidationArgs) -> str:
    return str((args.props.get("metadata") or {}).get("namespace") or "")


def _no_privileged_pods(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = _kubernetes_pod(args)
    if pod is None or _namespace(args) in NODE_AGENT_NAMESPACES:
        return
    for container in list(pod.get("containers") or []) + list(pod.get("initContainers") or []):
        if (container.get("securityContext") or {}).get("privileged"):
            report(f"container {container.get('name')} is privileged", None)
    shared = [key for key in ("hostNetwork", "hostPID", "hostIPC") if pod.get(key)]
    if shared:
        report(f"the pod shares the node's {', '.join(shared)}", None)


def _no_host_path(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = _kubernetes_pod(args)
    if pod is None or _namespace(args) in NODE_AGENT_NAMESPACES:
        return
    for volume in pod.get("volumes") or []:
        if "hostPath" in volume:
            report(f"volume {volume.get('name')} mounts the node's {volume['hostPath'].get('path')}", None)


def _resource_requests(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = _kubernetes_pod(args)
    if pod is None or args.resource_type.endswith("Patch"):
        return
    for container in list(pod.get("containers") or []):
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if not ({"cpu", "memory"} <= set(requests) | set(limits)):
            report(
                f"container {container.get('name')} requests no CPU or no memory: the scheduler cannot place it "
                "by need",
                None,
            )
        if "memory" not in limits:
            report(f"container {container.get('name')} has no memory limit: it can take the node's memory", None)


def _no_default_namespace(args: ResourceValidationArgs, report: ReportViolation) -> None:
    metadata = args.props.get("metadata") or {}
    if args.resource_type.startswith("kubernetes:") and metadata.get("namespace") == "default":
        report(f"{args.props.get('kind')} {metadata.get('name')} is created in the `default` namespace", None)


def _no_public_load_balancer(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.resource_type.startswith("kubernetes:") or args.props.get("kind") != "Service":
        return
    spec, annotations = args.props.get("spec") or {}, (args.props.get("metadata") or {}).get("annotations") or {}
    internal = any(annotations.get(key) in values for key, values in INTERNAL_LOAD_BALANCER.items())
    if spec.get("type") == "LoadBalancer" and not internal:
        report("the Service is an internet-facing load balancer: annotate it internal or use port-forward", None)


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


def _s3_tls_only(args: StackValidationArgs, report: ReportViolation) -> None:
    secure: set[str] = set()
    for policy in (r for r in args.resources if r.resource_type == "aws:s3/bucketPolicy:BucketPolicy"):
        denies = [
            s
            for s in _statements(policy.props.get("policy"))
            if s.get("Effect") == "Deny"
            and str(_object(s.get("Condition")).get("Bool", {}).get("aws:SecureTransport")).lower() == "false"
        ]
        if denies:
            secure.update(dep.urn for dep in policy.property_dependencies.get("bucket", []))
    for bucket in (r for r in args.resources if r.resource_type == "aws:s3/bucket:Bucket"):
        if bucket.urn not in secure:
            report(f"bucket {bucket.name} accepts plain HTTP: no policy denies aws:SecureTransport false", bucket.urn)


def _prod_backups(args: StackValidationArgs, report: ReportViolation) -> None:
    if _environment(args) != "prod":
        return
    for resource in args.resources:
        if resource.resource_type == "aws:rds/instance:Instance":
            days = int(resource.props.get("backupRetentionPeriod") or 0)
            if days < MIN_PROD_BACKUP_DAYS:
                report(f"RDS {resource.name} keeps backups {days} days in prod", resource.urn)
        if resource.resource_type == "gcp:sql/databaseInstance:DatabaseInstance":
            backup = _object(_object(resource.props.get("settings")).get("backupConfiguration"))
            kept = int(_object(backup.get("backupRetentionSettings")).get("retainedBackups") or 0)
            if not backup.get("enabled") or kept < MIN_PROD_BACKUP_DAYS:
                report(f"Cloud SQL {resource.name} keeps {kept} backups in prod", resource.urn)


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


ADVISORY = EnforcementLevel.ADVISORY
Validate = Callable[[Any, ReportViolation], Any]
# name, description, remediation, default enforcement level, validation. A stack overrides a level through policy
# configuration (`--policy-pack-config`, policies/config/; the offline evaluator reads the same file).
RESOURCE_TABLE: list[tuple[str, str, str, EnforcementLevel, Validate]] = [
    (
        "aws-no-iam-access-keys",
        "No static IAM access keys.",
        "Delete the access key; pods use IRSA (grant_workload_identity), people use SSO.",
        MANDATORY,
        _no_access_keys,
    ),
    (
        "aws-iam-least-privilege",
        "IAM policies name exact actions and resources.",
        "List the exact actions and ARNs; scope a '*' resource with a Condition.",
        MANDATORY,
        _iam_least_privilege,
    ),
    (
        "aws-no-full-access-policies",
        "No AWS-managed FullAccess/Admin policies.",
        "Attach a scoped managed policy or write an inline least-privilege one.",
        MANDATORY,
        _no_full_access_managed_policies,
    ),
    (
        "aws-eks-endpoint-and-secrets",
        "EKS: private endpoint, no open public endpoint, KMS secrets.",
        "Set mlops:cluster.publicAccessCidrs to admin CIDRs; keep the private endpoint and KMS envelope encryption.",
        MANDATORY,
        _eks_endpoint_and_secrets,
    ),
    (
        "aws-eks-audit-logs",
        "EKS control-plane api, audit and authenticator logs are on.",
        "Enable the api, audit and authenticator log types on the cluster.",
        MANDATORY,
        _eks_audit_logs,
    ),
    (
        "aws-nodes-imdsv2",
        "Launch templates require IMDSv2 with hop limit 1.",
        "Set metadataOptions httpTokens=required and httpPutResponseHopLimit=1.",
        MANDATORY,
        _imdsv2_only,
    ),
    (
        "aws-node-volumes-encrypted",
        "Node root volumes are encrypted.",
        "Set ebs.encrypted=true with the platform key on every block device mapping.",
        MANDATORY,
        _node_volumes_encrypted,
    ),
    (
        "aws-rds-private-encrypted",
        "RDS is private and encrypted.",
        "Set storageEncrypted=true with the platform key and publiclyAccessible=false.",
        MANDATORY,
        _rds_private_encrypted,
    ),
    (
        "aws-online-store-encrypted",
        "ElastiCache encrypts in transit and at rest.",
        "Enable transitEncryptionEnabled and atRestEncryptionEnabled.",
        MANDATORY,
        _redis_encrypted,
    ),
    (
        "aws-ecr-immutable-scanned",
        "ECR tags are immutable and scanned on push.",
        "Set imageTagMutability=IMMUTABLE and imageScanningConfiguration.scanOnPush=true.",
        MANDATORY,
        _ecr_immutable_scanned,
    ),
    (
        "aws-kms-key-rotation",
        "KMS keys rotate their key material.",
        "Set enableKeyRotation=true.",
        MANDATORY,
        _kms_rotation,
    ),
    (
        "aws-log-retention-encrypted",
        "Log groups have a retention and the platform key.",
        "Set retentionInDays (mlops:cluster.logRetentionDays) and kmsKeyId.",
        MANDATORY,
        _log_groups_kept_and_encrypted,
    ),
    (
        "aws-no-public-bucket-policy",
        "Bucket policies allow no anonymous access.",
        "Remove the Allow for Principal '*' or restrict it with a Condition.",
        MANDATORY,
        _no_public_bucket_policy,
    ),
    (
        "gcp-no-authoritative-project-iam",
        "Only non-authoritative project IAM members.",
        "Use gcp.projects.IAMMember instead of IAMBinding/IAMPolicy.",
        MANDATORY,
        _no_authoritative_project_iam,
    ),
    (
        "gcp-buckets-private-cmek",
        "GCS: uniform access, public access prevention, CMEK.",
        "Set uniformBucketLevelAccess, publicAccessPrevention=enforced and encryption.defaultKmsKeyName.",
        MANDATORY,
        _gcs_private_cmek,
    ),
    (
        "gcp-sql-private-ssl",
        "Cloud SQL: private IP only, SSL required.",
        "Set settings.ipConfiguration.ipv4Enabled=false and sslMode=ENCRYPTED_ONLY.",
        MANDATORY,
        _cloud_sql_private_ssl,
    ),
    (
        "gke-private-workload-identity",
        "GKE: private nodes, Workload Identity, closed control plane.",
        "Enable private nodes and the workload pool; list admin CIDRs in master authorized networks.",
        MANDATORY,
        _gke_private_workload_identity,
    ),
    (
        "gke-nodes-hardened",
        "GKE nodes: GKE metadata server, secure boot, CMEK boot disks.",
        "Set workloadMetadataConfig.mode=GKE_METADATA, shieldedInstanceConfig.enableSecureBoot and bootDiskKmsKey.",
        MANDATORY,
        _gke_nodes_hardened,
    ),
    (
        "gcp-kms-key-rotation",
        "Cloud KMS keys rotate at least every 90 days.",
        "Set rotationPeriod to 7776000s or less.",
        MANDATORY,
        _gcp_kms_rotation,
    ),
    (
        "k8s-pinned-non-root-workloads",
        "Workload containers use pinned images and run as non-root.",
        "Pin a version tag or digest; set runAsNonRoot and allowPrivilegeEscalation=false.",
        MANDATORY,
        _kubernetes_workloads,
    ),
    (
        "k8s-no-privileged-pods",
        "No privileged containers or host namespaces outside the node-agent namespaces.",
        "Drop privileged/hostNetwork/hostPID/hostIPC, or run the node agent in a node-agent namespace.",
        MANDATORY,
        _no_privileged_pods,
    ),
    (
        "k8s-no-host-path",
        "No hostPath volumes outside the node-agent namespaces.",
        "Use an emptyDir, a ConfigMap/Secret or a PersistentVolumeClaim instead.",
        MANDATORY,
        _no_host_path,
    ),
    (
        "k8s-resource-requests",
        "Containers request CPU and memory and limit memory.",
        "Set resources.requests cpu and memory and resources.limits.memory.",
        ADVISORY,
        _resource_requests,
    ),
    (
        "k8s-no-default-namespace",
        "Nothing is created in the `default` namespace.",
        "Give the object a platform namespace.",
        MANDATORY,
        _no_default_namespace,
    ),
    (
        "k8s-no-public-load-balancer",
        "No internet-facing load balancer Services.",
        "Annotate the Service internal, or reach it with kubectl port-forward.",
        MANDATORY,
        _no_public_load_balancer,
    ),
    (
        "helm-charts-pinned",
        "Every Helm release pins its chart version.",
        "Set the chart version from components/versions.py.",
        MANDATORY,
        _helm_pinned,
    ),
]

STACK_TABLE: list[tuple[str, str, str, EnforcementLevel, Validate]] = [
    (
        "aws-every-bucket-locked-down",
        "Every S3 bucket is encrypted and blocks public access.",
        "Give the bucket a BucketServerSideEncryptionConfiguration and a BucketPublicAccessBlock with all four flags.",
        MANDATORY,
        _every_s3_bucket_locked_down,
    ),
    (
        "aws-s3-tls-only",
        "Every S3 bucket refuses plain HTTP.",
        "Add a bucket policy statement denying s3:* when aws:SecureTransport is false.",
        MANDATORY,
        _s3_tls_only,
    ),
    (
        "prod-state-protected",
        "Stateful resources are protected in prod.",
        "Keep mlops:deletionProtection true in prod (decommission deliberately, README).",
        MANDATORY,
        _prod_state_protected,
    ),
    (
        "prod-backups-kept",
        "Prod databases keep at least 7 days of backups.",
        "Set mlops:database.backupRetentionDays to 7 or more.",
        MANDATORY,
        _prod_backups,
    ),
    (
        "provider-default-tags",
        "Providers tag every resource with the platform tags.",
        "Set the platform tags or labels as the provider's default tags/labels.",
        MANDATORY,
        _provider_tags,
    ),
    (
        "monthly-budget-estimate",
        "The typical monthly cost estimate stays within budget.monthlyLimitUsd.",
        "Shrink the pools or raise mlops:budget.monthlyLimitUsd (make cost shows the estimate).",
        ADVISORY,
        _monthly_budget(enforced=False),
    ),
    (
        "monthly-budget-enforced",
        "With budget.enforceEstimate, the typical monthly estimate must stay within budget.monthlyLimitUsd.",
        "Shrink the pools or raise mlops:budget.monthlyLimitUsd.",
        MANDATORY,
        _monthly_budget(enforced=True),
    ),
]

RESOURCE_POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=level, remediation_steps=remediation
    )
    for name, description, remediation, level, validate in RESOURCE_TABLE
]
STACK_POLICIES: list[StackValidationPolicy] = [
    StackValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=level, remediation_steps=remediation
    )
    for name, description, remediation, level, validate in STACK_TABLE
]
