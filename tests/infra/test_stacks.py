"""The four shipped stacks, end to end: they plan, every Kubernetes object is schema-valid, every policy passes, and
the in-cluster layer is the same on both clouds."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from infra.plan.engine import Plan, RecordedResource
from infra.plan.manifests import validate_plan
from policies.offline import evaluate
from tests.infra.conftest import AWS_RENAMED, GCP_RENAMED, RENAMED, STACKS, stack_spec

StackPlan = Callable[[str], Plan]
IN_CLUSTER = "mlops:k8s:InClusterPlatform"
# What differs between the clouds by design: GKE manages the NVIDIA device plugin and DCGM metrics itself, so the
# in-cluster GPU plumbing (its component, and its namespace with that namespace's policies) exists on AWS only.
GPU_PLUMBING = "mlops:k8s:GpuPlumbing"
# And Kubeflow Pipelines' database connection: GCP reaches its Cloud SQL through the Cloud SQL Auth Proxy, the way
# upstream's env/gcp connects (a component with its Deployment, Service, ServiceAccount and, when highly available,
# PodDisruptionBudget); AWS reaches RDS directly over TLS. Nothing else of the in-cluster layer may differ.
DATABASE_CONNECTOR = "mlops:k8s:ConnectorDeployment"


def subtree(resources: list[RecordedResource], type_: str) -> list[RecordedResource]:
    """A component of `type_` and everything registered below it."""
    component = [r for r in resources if r.type == type_]
    return component + [
        r for r in resources if component and r.urn.startswith(component[0].urn.rsplit("::", 1)[0] + "$")
    ]


def gpu_plumbing(resources: list[RecordedResource]) -> list[RecordedResource]:
    component = [r for r in resources if r.type == GPU_PLUMBING]
    inside = subtree(resources, GPU_PLUMBING)[len(component) :]
    namespaces = {r.inputs.get("namespace") for r in inside if r.type == "kubernetes:helm.sh/v3:Release"}
    in_namespace = [
        r for r in resources if r.name in namespaces or any(r.name.startswith(f"{ns}-") for ns in namespaces)
    ]
    return component + inside + in_namespace


def in_cluster(plan: Plan) -> list[RecordedResource]:
    """Kubernetes objects and components of the in-cluster layer (the cloud identities it requests excluded)."""
    return [
        r for r in plan.resources
        if r.urn.split("::")[2].startswith(IN_CLUSTER) and r.type.startswith(("kubernetes:", "mlops:k8s:"))
    ]  # fmt: skip


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_object_is_schema_valid(stack_plan: StackPlan, stack: str) -> None:
    report = validate_plan(stack_plan(stack), stack_spec(stack).cluster.kubernetes_version)
    assert [str(e) for e in report.errors] == []
    assert len(report.objects) > 50
    assert {r["chart"] for r in report.helm_releases} >= {"mlflow", "kube-prometheus-stack", "feast-feature-server"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_policy_passes(stack_plan: StackPlan, stack: str) -> None:
    assert [str(v) for v in evaluate(stack_plan(stack))] == []


@pytest.mark.parametrize("stack", STACKS)
def test_cloud_resources_use_the_explicit_provider(stack_plan: StackPlan, stack: str) -> None:
    """Region/project come from the spec through one explicit provider, never from ambient CLI config."""
    plan = stack_plan(stack)
    package = "gcp" if stack.startswith("gcp") else "aws"
    providers = plan.of_type(f"pulumi:providers:{package}")
    assert len(providers) == 1
    region = providers[0].inputs["region"]
    assert region == stack_spec(stack).region
    cloud = [r for r in plan.resources if r.custom and r.package == package]
    assert cloud
    assert all(r.provider.startswith(f"{providers[0].urn}::") for r in cloud)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_outputs_hide_credentials(stack_plan: StackPlan, stack: str) -> None:
    plan = stack_plan(stack)
    assert "kubeconfig" in plan.secret_outputs
    assert {"clusterName", "clusterEndpoint", "registryUrl", "buckets"} <= set(plan.outputs)
    assert not any("password" in key.lower() or "token" in key.lower() for key in plan.outputs)


def _shape(resource: RecordedResource) -> tuple[str, str]:
    return resource.type, resource.name


@pytest.mark.parametrize(("aws_stack", "gcp_stack"), [("dev", "gcp-dev"), ("prod", "gcp-prod")])
def test_in_cluster_layer_gets_equivalent_inputs_from_both_clouds(
    stack_plan: StackPlan, aws_stack: str, gcp_stack: str
) -> None:
    """Same services, namespaces, service accounts and workloads on AWS and GCP; only GPU plumbing (AWS), KFP's
    Cloud SQL Auth Proxy (GCP) and the egress to GKE's metadata server for Workload Identity (GCP) differ."""
    aws_side, gcp_side = in_cluster(stack_plan(aws_stack)), in_cluster(stack_plan(gcp_stack))
    aws_gpu = {r.urn for r in gpu_plumbing(aws_side)}
    gcp_proxy = {r.urn for r in subtree(gcp_side, DATABASE_CONNECTOR)}
    gcp_metadata = {r.urn for r in gcp_side if r.name.endswith("-allow-cloud-identity-egress")}
    assert gcp_metadata and not any(r.name.endswith("-allow-cloud-identity-egress") for r in aws_side)
    assert {_shape(r) for r in aws_side if r.urn not in aws_gpu} == {
        _shape(r) for r in gcp_side if r.urn not in gcp_proxy | gcp_metadata
    }
    assert any(r.type == "kubernetes:helm.sh/v3:Release" for r in gpu_plumbing(aws_side))  # device plugin on AWS
    assert gpu_plumbing(gcp_side) == []  # GKE manages drivers, the device plugin and GPU metrics
    proxy_kinds = {r.type.rsplit(":", 1)[1] for r in subtree(gcp_side, DATABASE_CONNECTOR) if r.custom}
    assert {"Deployment", "Service", "ServiceAccount"} <= proxy_kinds <= {"Deployment", "Service", "ServiceAccount",
                                                                          "PodDisruptionBudget"}  # fmt: skip
    assert subtree(aws_side, DATABASE_CONNECTOR) == []

    def service_accounts(resources: list[RecordedResource]) -> dict[tuple[str, str], set[str]]:
        accounts = {}
        for r in resources:
            if r.type == "kubernetes:core/v1:ServiceAccount":
                metadata = r.inputs["metadata"]
                accounts[(metadata.get("namespace"), metadata["name"])] = set(metadata.get("annotations") or {})
        return accounts

    aws_accounts = service_accounts(aws_side)
    gcp_accounts = service_accounts([r for r in gcp_side if r.urn not in gcp_proxy])
    assert aws_accounts.keys() == gcp_accounts.keys()
    annotated = {key for key, annotations in aws_accounts.items() if annotations}
    assert annotated
    assert all(aws_accounts[k] == {"eks.amazonaws.com/role-arn"} for k in annotated)
    # KFP's API server speaks only S3: IRSA on AWS, an HMAC key on GCP (so its account has no Workload Identity).
    s3_only = {("kubeflow", "ml-pipeline")}
    assert s3_only <= annotated
    assert all(gcp_accounts[k] == {"iam.gke.io/gcp-service-account"} for k in annotated - s3_only)
    assert all(gcp_accounts[k] == set() for k in s3_only)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("stack", [AWS_RENAMED, GCP_RENAMED])
def test_every_name_follows_the_name_prefix(stack_plan: StackPlan, stack: str) -> None:
    """The whole program planned under another namePrefix: no resource, logical or physical, keeps the shipped
    stack's base name (a name written into a component instead of derived from the spec would)."""
    plan, renamed = stack_plan(stack), stack_spec(stack).base_name
    shipped = re.compile(rf"(?<![\w-]){re.escape(stack_spec(RENAMED[stack][0]).base_name)}(?![\w])")
    leaked = [(r.urn, text) for r in plan.resources for text in [r.name, *_strings(r.inputs)] if shipped.search(text)]
    assert leaked == []
    cloud = [r for r in plan.resources if r.package in ("aws", "gcp") and r.custom]
    assert sum(r.name.startswith(renamed) for r in cloud) > 0.9 * len(cloud)
