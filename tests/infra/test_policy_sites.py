"""Every place a policy reports has its own deny test: the resource (as a preview would send it) that makes exactly
that report. `make mutation` deletes each report site in turn and requires one of these tests to fail."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from infra.plan.engine import Plan
from infra.render.objects import KubeObject, Origin
from policies.offline import PolicyConfigError, enforcement_levels, evaluate, rendered_type
from policies.rules import RESOURCE_POLICIES, STACK_POLICIES
from tests.infra.verify_sets import container, workload

OPTIONS = PolicyResourceOptions(False, [], False, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def resource_reports(type_: str, props: dict[str, Any]) -> list[str]:
    """`policy: message` for every report the resource policies make about one resource."""
    found: list[str] = []
    args = ResourceValidationArgs(type_, unknown_checking_proxy(props), f"urn:x::{type_}::r", "r", OPTIONS, None)
    for policy in RESOURCE_POLICIES:
        policy.validate(args, lambda message, urn=None, p=policy: found.append(f"{p.name}: {message}"))
    return found


def pod(namespace: str = "ml", **spec: Any) -> dict[str, Any]:
    manifest = workload("app", namespace, container("app", image="ghcr.io/acme/app:1.0.0"))
    manifest["spec"]["template"]["spec"].update(spec)
    return manifest


def app_container(**fields: Any) -> dict[str, Any]:
    base = container("app", image="ghcr.io/acme/app:1.0.0")
    base["securityContext"] |= {"runAsNonRoot": True}
    return {**base, **fields}


DEPLOYMENT = "kubernetes:apps/v1:Deployment"
GKE_POOL = {
    "nodeConfig": {
        "workloadMetadataConfig": {"mode": "GKE_METADATA"},
        "shieldedInstanceConfig": {"enableSecureBoot": True},
        "bootDiskKmsKey": "k",
    }
}
RESOURCE_SITES: list[Any] = [
    ("aws:iam/accessKey:AccessKey", {"user": "ci"}, "aws-no-iam-access-keys: static IAM access keys are forbidden"),
    (
        "aws:iam/rolePolicy:RolePolicy",
        {"policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]})},
        "aws-iam-least-privilege: IAM action 's3:*' is a wildcard",
    ),
    (
        "aws:iam/policy:Policy",
        {"policy": {"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}},
        "aws-iam-least-privilege: IAM statement on Resource '*' without a Condition",
    ),
    (
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        "aws-no-full-access-policies: AWS-managed policy arn:aws:iam::aws:policy/AdministratorAccess grants far more",
    ),
    (
        "aws:eks/cluster:Cluster",
        {
            "vpcConfig": {
                "endpointPublicAccess": True,
                "publicAccessCidrs": ["0.0.0.0/0"],
                "endpointPrivateAccess": True,
            },
            "encryptionConfig": {},
            "enabledClusterLogTypes": ["api", "audit", "authenticator"],
        },
        "aws-eks-endpoint-and-secrets: the EKS API endpoint is public to 0.0.0.0/0",
    ),
    ("aws:eks/cluster:Cluster", {"vpcConfig": {}}, "aws-eks-endpoint-and-secrets: the EKS private endpoint is off"),
    (
        "aws:eks/cluster:Cluster",
        {"vpcConfig": {"endpointPrivateAccess": True}},
        "aws-eks-endpoint-and-secrets: Kubernetes secrets are not envelope-encrypted",
    ),
    (
        "aws:eks/cluster:Cluster",
        {"enabledClusterLogTypes": ["api"]},
        "aws-eks-audit-logs: the EKS control plane does not log audit, authenticator",
    ),
    (
        "aws:ec2/launchTemplate:LaunchTemplate",
        {"metadataOptions": {"httpTokens": "optional"}},
        "aws-nodes-imdsv2: nodes must require IMDSv2 with hop limit 1",
    ),
    (
        "aws:ec2/launchTemplate:LaunchTemplate",
        {
            "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
            "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}],
        },
        "aws-node-volumes-encrypted: node volume /dev/xvda is not encrypted",
    ),
    (
        "aws:rds/instance:Instance",
        {"publiclyAccessible": False},
        "aws-rds-private-encrypted: RDS storage must be encrypted",
    ),
    (
        "aws:rds/instance:Instance",
        {"storageEncrypted": True, "publiclyAccessible": True},
        "aws-rds-private-encrypted: RDS must not be publicly accessible",
    ),
    (
        "aws:elasticache/replicationGroup:ReplicationGroup",
        {"atRestEncryptionEnabled": True},
        "aws-online-store-encrypted: the online store must encrypt in transit and at rest",
    ),
    (
        "aws:ecr/repository:Repository",
        {"imageTagMutability": "MUTABLE", "imageScanningConfiguration": {"scanOnPush": True}},
        "aws-ecr-immutable-scanned: ECR tags must be immutable",
    ),
    ("aws:ecr/repository:Repository", {"imageTagMutability": "IMMUTABLE"}, "aws-ecr-immutable-scanned: ECR must scan"),
    ("aws:kms/key:Key", {"enableKeyRotation": False}, "aws-kms-key-rotation: the KMS key does not rotate"),
    (
        "aws:cloudwatch/logGroup:LogGroup",
        {"kmsKeyId": "k"},
        "aws-log-retention-encrypted: the log group keeps logs forever",
    ),
    (
        "aws:cloudwatch/logGroup:LogGroup",
        {"retentionInDays": 30},
        "aws-log-retention-encrypted: the log group is not encrypted with the platform KMS key",
    ),
    (
        "aws:s3/bucketPolicy:BucketPolicy",
        {
            "policy": json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": "*"},
                            "Action": "s3:GetObject",
                            "Resource": "arn:aws:s3:::b/*",
                        }
                    ]
                }
            )
        },
        "aws-no-public-bucket-policy: the bucket policy allows anyone (Principal *) without a condition",
    ),
    (
        "gcp:projects/iAMBinding:IAMBinding",
        {"role": "roles/viewer"},
        "gcp-no-authoritative-project-iam: authoritative project IAM silently removes other members",
    ),
    (
        "gcp:storage/bucket:Bucket",
        {"publicAccessPrevention": "enforced", "encryption": {"defaultKmsKeyName": "k"}},
        "gcp-buckets-private-cmek: GCS buckets must use uniform bucket-level access",
    ),
    (
        "gcp:storage/bucket:Bucket",
        {"uniformBucketLevelAccess": True, "encryption": {"defaultKmsKeyName": "k"}},
        "gcp-buckets-private-cmek: GCS buckets must enforce public access prevention",
    ),
    (
        "gcp:storage/bucket:Bucket",
        {"uniformBucketLevelAccess": True, "publicAccessPrevention": "enforced"},
        "gcp-buckets-private-cmek: GCS buckets must be encrypted with the platform CMEK key",
    ),
    (
        "gcp:sql/databaseInstance:DatabaseInstance",
        {"settings": {"ipConfiguration": {"sslMode": "ENCRYPTED_ONLY"}}},
        "gcp-sql-private-ssl: Cloud SQL must have no public IP",
    ),
    (
        "gcp:sql/databaseInstance:DatabaseInstance",
        {"settings": {"ipConfiguration": {"ipv4Enabled": False}}},
        "gcp-sql-private-ssl: Cloud SQL must require SSL",
    ),
    (
        "gcp:container/cluster:Cluster",
        {"workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"}},
        "gke-private-workload-identity: GKE nodes must be private",
    ),
    (
        "gcp:container/cluster:Cluster",
        {"privateClusterConfig": {"enablePrivateNodes": True}},
        "gke-private-workload-identity: GKE Workload Identity must be enabled",
    ),
    (
        "gcp:container/cluster:Cluster",
        {"masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "0.0.0.0/0"}]}},
        "gke-private-workload-identity: the GKE control plane is open to 0.0.0.0/0",
    ),
    (
        "gcp:container/nodePool:NodePool",
        {"nodeConfig": {**GKE_POOL["nodeConfig"], "workloadMetadataConfig": {}}},
        "gke-nodes-hardened: nodes expose the Compute Engine metadata server",
    ),
    (
        "gcp:container/nodePool:NodePool",
        {"nodeConfig": {**GKE_POOL["nodeConfig"], "shieldedInstanceConfig": {}}},
        "gke-nodes-hardened: nodes boot without Shielded VM secure boot",
    ),
    (
        "gcp:container/nodePool:NodePool",
        {"nodeConfig": {**GKE_POOL["nodeConfig"], "bootDiskKmsKey": ""}},
        "gke-nodes-hardened: node boot disks are not encrypted",
    ),
    ("gcp:kms/cryptoKey:CryptoKey", {}, "gcp-kms-key-rotation: the KMS key never rotates"),
    (
        "gcp:kms/cryptoKey:CryptoKey",
        {"rotationPeriod": "31536000s"},
        "gcp-kms-key-rotation: the KMS key rotates every 365 days, more than 90",
    ),
    (
        DEPLOYMENT,
        pod(containers=[app_container(image="nginx:latest")]),
        "k8s-pinned-non-root-workloads: container app uses an unpinned image 'nginx:latest'",
    ),
    (
        DEPLOYMENT,
        pod(
            containers=[
                {
                    "name": "app",
                    "image": "ghcr.io/acme/app:1.0.0",
                    "securityContext": {"allowPrivilegeEscalation": False},
                }
            ]
        ),
        "k8s-pinned-non-root-workloads: container app may run as root",
    ),
    (
        DEPLOYMENT,
        pod(containers=[app_container(securityContext={"runAsNonRoot": True, "allowPrivilegeEscalation": True})]),
        "k8s-pinned-non-root-workloads: container app allows privilege escalation",
    ),
    (
        DEPLOYMENT,
        pod(containers=[app_container(securityContext={"runAsNonRoot": True, "privileged": True})]),
        "k8s-no-privileged-pods: container app is privileged",
    ),
    (DEPLOYMENT, pod(hostPID=True), "k8s-no-privileged-pods: the pod shares the node's hostPID"),
    (
        DEPLOYMENT,
        pod(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
        "k8s-no-host-path: volume root mounts the node's /",
    ),
    (
        DEPLOYMENT,
        pod(containers=[app_container(resources={"limits": {"memory": "1Gi"}, "requests": {"memory": "1Gi"}})]),
        "k8s-resource-requests: container app requests no CPU or no memory",
    ),
    (
        DEPLOYMENT,
        pod(containers=[app_container(resources={"requests": {"cpu": "1", "memory": "1Gi"}})]),
        "k8s-resource-requests: container app has no memory limit",
    ),
    (DEPLOYMENT, pod(namespace="default"), "k8s-no-default-namespace: Deployment app is created in the `default`"),
    (
        "kubernetes:core/v1:Service",
        {"kind": "Service", "metadata": {"name": "ui", "namespace": "ml"}, "spec": {"type": "LoadBalancer"}},
        "k8s-no-public-load-balancer: the Service is an internet-facing load balancer",
    ),
    ("kubernetes:helm.sh/v3:Release", {"chart": "grafana"}, "helm-charts-pinned: Helm release grafana has no pinned"),
]


@pytest.mark.parametrize(("type_", "props", "report"), RESOURCE_SITES, ids=[s[2].split(":")[0] for s in RESOURCE_SITES])
def test_each_resource_report_site_fires_on_its_defect(type_: str, props: dict[str, Any], report: str) -> None:
    assert any(found.startswith(report) for found in resource_reports(type_, props)), resource_reports(type_, props)


def test_compliant_workloads_and_node_agents_pass_the_kubernetes_policies() -> None:
    node_exporter = pod(
        namespace="monitoring",
        hostNetwork=True,
        volumes=[{"name": "proc", "hostPath": {"path": "/proc"}}],
        containers=[
            {
                "name": "exporter",
                "image": "quay.io/prometheus/node-exporter:v1.12.1",
                "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
            }
        ],
    )
    assert resource_reports(DEPLOYMENT, pod(containers=[app_container()])) == []
    assert resource_reports(DEPLOYMENT, node_exporter) == []


def stack_resource(
    type_: str, name: str, props: dict[str, Any], bucket: PolicyResource | None = None, protect: bool = False
) -> PolicyResource:
    options = PolicyResourceOptions(protect, [], False, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    dependencies = {"bucket": [bucket]} if bucket else {}
    return PolicyResource(
        type_, unknown_checking_proxy(props), f"urn:x::{type_}::{name}", name, options, None, None, [], dependencies
    )


def stack_reports(*resources: PolicyResource) -> list[str]:
    found: list[str] = []
    for policy in STACK_POLICIES:
        policy.validate(
            StackValidationArgs(list(resources)),
            lambda message, urn=None, p=policy: found.append(f"{p.name}: {message}"),
        )
    return found


def provider(environment: str, tags: dict[str, str] | None = None) -> PolicyResource:
    tags = tags or {
        "Project": "p",
        "Environment": environment,
        "Team": "t",
        "Owner": "o",
        "ManagedBy": "pulumi",
        "CostCenter": "c",
    }
    return stack_resource("pulumi:providers:aws", "aws", {"defaultTags": json.dumps({"tags": tags})})


TLS_DENY = json.dumps(
    {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    }
)


def locked_bucket(encrypted: bool = True, blocked: bool = True, tls: bool = True) -> list[PolicyResource]:
    bucket = stack_resource("aws:s3/bucket:Bucket", "data", {}, protect=True)
    flags = dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)
    found = [
        bucket,
        stack_resource(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "data",
            flags if blocked else {**flags, "blockPublicPolicy": False},
            bucket,
        ),
    ]
    if encrypted:
        found.append(
            stack_resource(
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                "data",
                {},
                bucket,
            )
        )
    if tls:
        found.append(stack_resource("aws:s3/bucketPolicy:BucketPolicy", "data", {"policy": TLS_DENY}, bucket))
    return found


STACK_SITES: list[Any] = [
    pytest.param(
        lambda: locked_bucket(encrypted=False),
        "aws-every-bucket-locked-down: bucket data has no server-side",
        id="unencrypted-bucket",
    ),
    pytest.param(
        lambda: locked_bucket(blocked=False),
        "aws-every-bucket-locked-down: bucket data lacks a public access",
        id="public-bucket",
    ),
    pytest.param(lambda: locked_bucket(tls=False), "aws-s3-tls-only: bucket data accepts plain HTTP", id="plain-http"),
    pytest.param(
        lambda: [provider("prod"), stack_resource("aws:kms/key:Key", "key", {})],
        "prod-state-protected: aws:kms/key:Key key is not protected in prod",
        id="unprotected-key",
    ),
    pytest.param(
        lambda: [
            provider("prod"),
            stack_resource("aws:rds/instance:Instance", "db", {"backupRetentionPeriod": 1}, protect=True),
        ],
        "prod-backups-kept: RDS db keeps backups 1 days in prod",
        id="rds-backups",
    ),
    pytest.param(
        lambda: [
            stack_resource(
                "pulumi:providers:gcp",
                "gcp",
                {
                    "defaultLabels": json.dumps(
                        {"project": "p", "environment": "prod", "team": "t", "owner": "o", "managed-by": "pulumi"}
                    )
                },
            ),
            stack_resource(
                "gcp:sql/databaseInstance:DatabaseInstance",
                "pg",
                {
                    "settings": {
                        "backupConfiguration": {"enabled": True, "backupRetentionSettings": {"retainedBackups": 3}}
                    }
                },
                protect=True,
            ),
        ],
        "prod-backups-kept: Cloud SQL pg keeps 3 backups in prod",
        id="sql-backups",
    ),
    pytest.param(
        lambda: [provider("dev", {"Project": "p", "Environment": "dev"})],
        "provider-default-tags: provider aws does not tag resources with Team, Owner",
        id="missing-tags",
    ),
]


@pytest.mark.parametrize(("resources", "report"), STACK_SITES)
def test_each_stack_report_site_fires_on_its_defect(resources: Any, report: str) -> None:
    found = stack_reports(*resources())
    assert any(f.startswith(report) for f in found), found


def test_a_locked_down_tagged_protected_stack_passes() -> None:
    assert stack_reports(provider("prod"), *locked_bucket()) == []


def test_the_pack_has_thirty_policies_each_described_with_a_remediation_and_a_level() -> None:
    policies = [*RESOURCE_POLICIES, *STACK_POLICIES]
    assert len(policies) >= 30 and len({p.name for p in policies}) == len(policies)
    assert all(p.description and p.remediation_steps and p.enforcement_level for p in policies)


def test_policy_configuration_overrides_levels_as_crossguard_does() -> None:
    defaults = enforcement_levels()
    assert defaults["k8s-resource-requests"] == EnforcementLevel.ADVISORY
    levels = enforcement_levels(
        {
            "all": "advisory",
            "k8s-resource-requests": {"enforcementLevel": "mandatory"},
            "helm-charts-pinned": "disabled",
        }
    )
    assert levels["aws-kms-key-rotation"] == EnforcementLevel.ADVISORY
    assert levels["k8s-resource-requests"] == EnforcementLevel.MANDATORY
    assert levels["helm-charts-pinned"] == EnforcementLevel.DISABLED
    with pytest.raises(PolicyConfigError, match=r"unknown policies \['aws-kms-rotation'\]"):
        enforcement_levels({"aws-kms-rotation": "mandatory"})
    with pytest.raises(PolicyConfigError, match="enforcement level 'strict' is not one of advisory, mandatory"):
        enforcement_levels({"all": "strict"})


def test_rendered_objects_are_judged_with_the_configured_levels() -> None:
    origin = Origin("helm", "urn:pulumi:dev::mlops::kubernetes:helm.sh/v3:Release::app", "app/templates/d.yaml")
    rendered = KubeObject(
        pod(containers=[app_container(resources={"requests": {"cpu": "1", "memory": "1Gi"}})]), origin
    )
    assert rendered_type(rendered) == "kubernetes:apps/v1:Deployment"
    assert rendered_type(KubeObject({"apiVersion": "v1", "kind": "Service"}, origin)) == "kubernetes:core/v1:Service"
    plan = Plan("mlops", "dev", [])
    (violation,) = evaluate(plan, [rendered])
    assert violation.policy == "k8s-resource-requests" and violation.advisory
    assert violation.urn == f"{origin.urn}$kubernetes:apps/v1:Deployment::ml/app"
    (mandatory,) = evaluate(plan, [rendered], {"k8s-resource-requests": "mandatory"})
    assert not mandatory.advisory
    assert evaluate(plan, [rendered], {"k8s-resource-requests": "disabled"}) == []
