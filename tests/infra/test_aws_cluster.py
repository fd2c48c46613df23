"""The EKS control plane: endpoint exposure, logs, secrets encryption, access entries, add-ons, OIDC, storage class."""

from __future__ import annotations

import json

import pytest
from test_aws_plans import AWS_STACKS, aws_plan, named, plan_with

from components.aws import catalog
from components.spec import PlatformSpec
from components.versions import CLUSTER_AUTOSCALER_IMAGE_TAGS, EKS_ADDON_VERSIONS, SUPPORTED_KUBERNETES_VERSIONS
from infra.plan.manifests import validate_plan
from tests.infra.conftest import stack_spec

CLUSTER = "aws:eks/cluster:Cluster"


@pytest.mark.parametrize(("stack", "cidrs"), [("dev", ["203.0.113.0/24"]), ("prod", ["203.0.113.10/32"])])
def test_endpoint_is_private_and_public_only_for_admin_cidrs(stack: str, cidrs: list[str]) -> None:
    vpc = named(aws_plan(stack), CLUSTER, "-cluster").inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == cidrs
    assert "0.0.0.0/0" not in vpc["publicAccessCidrs"]


def test_no_public_endpoint_without_admin_cidrs() -> None:
    def private_only(spec: PlatformSpec) -> PlatformSpec:
        return spec.model_copy(update={"cluster": spec.cluster.model_copy(update={"public_access_cidrs": []})})

    plan, _ = plan_with("dev", private_only)
    vpc = named(plan, CLUSTER, "-cluster").inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_cluster_version_logs_encryption_and_authentication(stack: str) -> None:
    plan, spec = aws_plan(stack), stack_spec(stack)
    cluster = named(plan, CLUSTER, "-cluster")
    (key,) = plan.of_type("aws:kms/key:Key")
    assert cluster.inputs["name"] == spec.base_name
    assert cluster.inputs["version"] == stack_spec(stack).cluster.kubernetes_version
    assert cluster.inputs["version"] in SUPPORTED_KUBERNETES_VERSIONS["aws"]
    assert cluster.inputs["upgradePolicy"] == {"supportType": "STANDARD"}  # never billed for extended support
    assert cluster.inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]
    assert cluster.inputs["encryptionConfig"] == {"provider": {"keyArn": key.outputs["arn"]}, "resources": ["secrets"]}
    assert cluster.inputs["accessConfig"]["authenticationMode"] == "API"
    assert cluster.inputs["bootstrapSelfManagedAddons"] is False
    log_group = plan.of_type("aws:cloudwatch/logGroup:LogGroup")[0]
    assert log_group.inputs["name"] == f"/aws/eks/{spec.base_name}/cluster"
    assert log_group.inputs["retentionInDays"] == spec.cluster.log_retention_days
    assert log_group.inputs["kmsKeyId"] == key.outputs["arn"]
    assert log_group.urn in cluster.dependencies  # created first, so EKS does not create it unencrypted


@pytest.mark.parametrize(("stack", "protected"), [("dev", False), ("prod", True)])
def test_cluster_deletion_protection_follows_the_spec(stack: str, protected: bool) -> None:
    cluster = named(aws_plan(stack), CLUSTER, "-cluster")
    assert cluster.inputs["deletionProtection"] is protected
    assert (cluster.protect, cluster.retain_on_delete) == (protected, protected)


def test_access_entries_map_principals_to_platform_groups() -> None:
    plan = aws_plan("dev")
    entries = {e.inputs["principalArn"]: e.inputs for e in plan.of_type("aws:eks/accessEntry:AccessEntry")}
    admin, scientist = "arn:aws:iam::123456789012:role/PlatformAdmin", "arn:aws:iam::123456789012:role/DataScientist"
    assert entries[admin]["kubernetesGroups"] == ["mlops:platform-admins"]
    assert entries[scientist]["kubernetesGroups"] == ["mlops:data-scientists"]
    assert {e["type"] for e in entries.values()} == {"STANDARD"}  # node access entries are EKS's own business
    (association,) = plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert association.inputs["principalArn"] == admin
    assert association.inputs["policyArn"] == catalog.EKS_CLUSTER_ADMIN_POLICY
    assert association.inputs["accessScope"] == {"type": "cluster"}
    assert plan.of_type("kubernetes:core/v1:ConfigMap") == []  # no aws-auth editing


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_addons_are_pinned_and_ordered_around_the_node_groups(stack: str) -> None:
    plan = aws_plan(stack)
    addons = {a.inputs["addonName"]: a for a in plan.of_type("aws:eks/addon:Addon")}
    pinned = EKS_ADDON_VERSIONS[stack_spec(stack).cluster.kubernetes_version]
    assert {name: a.inputs["addonVersion"] for name, a in addons.items()} == pinned
    groups = {g.urn for g in plan.of_type("aws:eks/nodeGroup:NodeGroup")}
    node_component = plan.of_type("mlops:aws:NodePools")[0]
    for early in ("vpc-cni", "kube-proxy"):
        assert addons[early].urn in node_component.dependencies  # nodes need the CNI to become Ready
    for late in ("coredns", "aws-ebs-csi-driver"):
        assert node_component.urn in addons[late].dependencies or groups & set(addons[late].dependencies)
    assert json.loads(addons["coredns"].inputs["configurationValues"]) == {"nodeSelector": {"node-pool": "system"}}
    ebs_config = json.loads(addons["aws-ebs-csi-driver"].inputs["configurationValues"])
    assert ebs_config == {"controller": {"nodeSelector": {"node-pool": "system"}}}
    roles = {r.outputs["arn"]: r.inputs["name"] for r in plan.of_type("aws:iam/role:Role")}
    base = stack_spec(stack).base_name
    assert roles[addons["vpc-cni"].inputs["serviceAccountRoleArn"]] == f"{base}-vpc-cni"
    assert roles[addons["aws-ebs-csi-driver"].inputs["serviceAccountRoleArn"]] == f"{base}-ebs-csi"


@pytest.mark.parametrize("minor", SUPPORTED_KUBERNETES_VERSIONS["aws"])
def test_addon_and_autoscaler_versions_follow_the_kubernetes_minor(minor: str) -> None:
    def on_minor(spec: PlatformSpec) -> PlatformSpec:
        return spec.model_copy(update={"cluster": spec.cluster.model_copy(update={"kubernetes_version": minor})})

    plan, _ = plan_with("dev", on_minor)
    assert named(plan, CLUSTER, "-cluster").inputs["version"] == minor
    addons = {a.inputs["addonName"]: a.inputs["addonVersion"] for a in plan.of_type("aws:eks/addon:Addon")}
    assert addons == EKS_ADDON_VERSIONS[minor]
    assert addons["kube-proxy"].startswith(f"v{minor}.")  # kube-proxy is built per control-plane minor
    release = plan.of_type("kubernetes:helm.sh/v3:Release")[0]
    assert release.inputs["values"]["image"]["tag"] == CLUSTER_AUTOSCALER_IMAGE_TAGS[minor]
    assert release.inputs["values"]["image"]["tag"].startswith(f"v{minor}.")  # the autoscaler's minor = the cluster's


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_oidc_provider_trusts_the_cluster_issuer(stack: str) -> None:
    plan = aws_plan(stack)
    cluster = named(plan, CLUSTER, "-cluster")
    (oidc,) = plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["url"] == cluster.outputs["identities"][0]["oidcs"][0]["issuer"]
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert oidc.inputs["thumbprintLists"] == [catalog.EKS_OIDC_ROOT_CA_THUMBPRINT]


@pytest.mark.parametrize(("stack", "reclaim"), [("dev", "Delete"), ("prod", "Retain")])
def test_default_storage_class_is_encrypted_gp3(stack: str, reclaim: str) -> None:
    plan = aws_plan(stack)
    (storage_class,) = plan.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
    (key,) = plan.of_type("aws:kms/key:Key")
    inputs = storage_class.inputs
    assert inputs["metadata"]["name"] == "gp3-encrypted"
    assert inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert inputs["provisioner"] == "ebs.csi.aws.com"
    assert inputs["parameters"]["type"] == "gp3"
    assert inputs["parameters"]["encrypted"] == "true"
    assert inputs["parameters"]["kmsKeyId"] == key.outputs["arn"]
    assert inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert inputs["allowVolumeExpansion"] is True
    assert inputs["reclaimPolicy"] == reclaim
    report = validate_plan(plan, stack_spec(stack).cluster.kubernetes_version)
    assert report.errors == []
    assert [o["kind"] for o in report.objects] == ["StorageClass"]


def test_kubernetes_provider_waits_for_nodes_and_addons() -> None:
    plan = aws_plan("dev")
    (provider,) = plan.of_type("pulumi:providers:kubernetes")
    late = [
        a.urn for a in plan.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] in ("coredns", "aws-ebs-csi-driver")
    ]
    assert set(late) <= set(provider.dependencies)
