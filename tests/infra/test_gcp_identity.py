"""Workload Identity grants, IAM hygiene, labels, the billing budget and the GCP layer's stack outputs."""

from __future__ import annotations

import json
import re

import pulumi
import pytest

from components.contract import IdentityRequest
from components.gcp import GcpPlatform
from components.gcp.cluster import kubeconfig
from components.spec import PlatformSpec
from infra.plan.engine import ProgramFailed
from tests.infra.conftest import GCP_RENAMED, GCP_STACKS, component_plan, stack_spec
from tests.infra.test_gcp_support import gcp_run

BUCKET_GRANT = "gcp:storage/bucketIAMMember:BucketIAMMember"
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
# Every GCP resource type the layer creates; each is asserted on in the test_gcp_* modules.
GCP_TYPES = {
    "gcp:artifactregistry/repository:Repository",
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
    "gcp:compute/firewall:Firewall",
    "gcp:compute/globalAddress:GlobalAddress",
    "gcp:compute/network:Network",
    "gcp:compute/router:Router",
    "gcp:compute/routerNat:RouterNat",
    "gcp:compute/subnetwork:Subnetwork",
    "gcp:container/cluster:Cluster",
    "gcp:container/nodePool:NodePool",
    "gcp:kms/cryptoKey:CryptoKey",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
    "gcp:kms/keyRing:KeyRing",
    "gcp:projects/iAMMember:IAMMember",
    "gcp:projects/service:Service",
    "gcp:projects/serviceIdentity:ServiceIdentity",
    "gcp:redis/instance:Instance",
    "gcp:serviceaccount/account:Account",
    "gcp:serviceaccount/iAMMember:IAMMember",
    "gcp:servicenetworking/connection:Connection",
    "gcp:sql/databaseInstance:DatabaseInstance",
    "gcp:sql/user:User",
    "gcp:storage/bucket:Bucket",
    "gcp:storage/bucketIAMMember:BucketIAMMember",
}
BUDGET_TYPES = {"gcp:billing/budget:Budget", "gcp:monitoring/notificationChannel:NotificationChannel"}


def gsa(stack: str, name: str) -> str:
    return gcp_run(stack).one("gcp:serviceaccount/account:Account", f"-wi-{name}-gsa").urn


def bucket_grants(stack: str, name: str) -> dict[str, dict]:
    """Grants of one workload, keyed by bucket role."""
    run = gcp_run(stack)
    names = {
        run.one("gcp:storage/bucket:Bucket", f"-storage-{role}").inputs["name"]: role for role in run.platform.buckets
    }
    return {
        names[g.inputs["bucket"]]: g.inputs
        for g in run.plan.of_type(BUCKET_GRANT)
        if g.name.startswith(f"{stack_spec(stack).base_name}-wi-{name}-")
    }


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_resource_types_are_exactly_the_reviewed_set(stack: str) -> None:
    types = {r.type for r in gcp_run(stack).gcp_custom()}
    assert types == (GCP_TYPES | BUDGET_TYPES if stack == "gcp-prod" else GCP_TYPES)


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_no_authoritative_iam_anywhere(stack: str) -> None:
    authoritative = [r.type for r in gcp_run(stack).plan.resources if re.search(r"i[Aa][Mm](Binding|Policy)$", r.type)]
    assert authoritative == []


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_each_workload_identity_trusts_exactly_one_kubernetes_service_account(stack: str) -> None:
    run, spec = gcp_run(stack), stack_spec(stack)
    bindings = run.plan.of_type("gcp:serviceaccount/iAMMember:IAMMember")
    assert len(bindings) == 3
    for binding in bindings:
        name = binding.name.removeprefix(f"{spec.base_name}-wi-").removesuffix("-workload-identity")
        request = next(r for r in (run.identities[n].request for n in run.identities) if r.name == name)
        assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
        assert binding.inputs["member"] == (
            f"serviceAccount:{spec.gcp.project}.svc.id.goog[{request.namespace}/{request.service_account}]"
        )
        assert gsa(stack, name) in binding.dependencies


@pytest.mark.parametrize("stack", [*GCP_STACKS, GCP_RENAMED])
def test_bucket_grants_are_exactly_the_requested_buckets_and_access(stack: str) -> None:
    assert {role: g["role"] for role, g in bucket_grants(stack, "training").items()} == {
        "data": "roles/storage.objectViewer",
        "models": "roles/storage.objectUser",
    }
    assert {role: g["role"] for role, g in bucket_grants(stack, "serving").items()} == {
        "models": "roles/storage.objectViewer"
    }
    for name in ("training", "serving", "mlflow"):
        email = gcp_run(stack).plan.outputs["identities"][name]
        assert {g["member"] for g in bucket_grants(stack, name).values()} == {f"serviceAccount:{email}"}


@pytest.mark.parametrize("stack", [*GCP_STACKS, GCP_RENAMED])
def test_prefix_requests_are_limited_by_an_iam_condition(stack: str) -> None:
    grant = bucket_grants(stack, "mlflow")["models"]
    bucket = grant["bucket"]
    assert grant["role"] == "roles/storage.objectUser"
    assert grant["condition"]["expression"] == (
        'resource.type == "storage.googleapis.com/Bucket" || '
        f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/mlflow/")'
    )
    assert "condition" not in bucket_grants(stack, "training")["models"]


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_registry_pull_is_granted_on_the_repository_only_when_requested(stack: str) -> None:
    run = gcp_run(stack)
    readers = [
        r for r in run.plan.of_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember") if "-wi-" in r.name
    ]
    email = run.plan.outputs["identities"]["training"]
    assert [(r.inputs["role"], r.inputs["member"]) for r in readers] == [
        ("roles/artifactregistry.reader", f"serviceAccount:{email}")
    ]


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_kubernetes_service_accounts_get_the_gsa_annotation(stack: str) -> None:
    run, spec = gcp_run(stack), stack_spec(stack)
    outputs = run.plan.outputs
    for name in ("mlflow", "training", "serving"):
        email = outputs["identities"][name]
        assert re.fullmatch(rf"{spec.base_name}-{name}@[a-z][-a-z0-9]+\.iam\.gserviceaccount\.com", email)
        assert outputs[f"annotations-{name}"] == {"iam.gke.io/gcp-service-account": email}
        assert outputs[f"principal-{name}"] == email


def test_a_request_for_an_unknown_bucket_fails_with_the_valid_roles() -> None:
    def build(spec: PlatformSpec) -> GcpPlatform:
        platform = GcpPlatform(spec.base_name, spec)
        bad = IdentityRequest(name="bad", namespace="x", service_account="x", buckets={"logs": "read"})  # type: ignore[dict-item]
        platform.grant_workload_identity(bad, pulumi.ResourceOptions())
        return platform

    with pytest.raises(ProgramFailed, match=r"buckets \['logs'\] do not exist; fix: request one of \['data'"):
        component_plan("gcp-dev", build)


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_one_labelled_provider_serves_every_gcp_resource(stack: str) -> None:
    run, spec = gcp_run(stack), stack_spec(stack)
    provider = run.plan.of_type("pulumi:providers:gcp")
    assert len(provider) == 1
    inputs = provider[0].inputs
    assert (inputs["project"], inputs["region"]) == (spec.gcp.project, spec.region)
    labels = (
        json.loads(inputs["defaultLabels"]) if isinstance(inputs["defaultLabels"], str) else inputs["defaultLabels"]
    )
    assert labels == {
        "project": "mlops",
        "environment": spec.environment,
        "team": "ml-platform",
        "owner": "ml-platform-example-com",
        "cost-center": "ml-research",
        "managed-by": "pulumi",
    }
    assert all(LABEL_VALUE.match(v) for v in labels.values())
    assert {r.provider.rsplit("::", 1)[0] for r in run.gcp_custom()} == {provider[0].urn}


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_platform_apis_are_enabled_and_never_disabled_on_destroy(stack: str) -> None:
    services = {r.inputs["service"]: r.inputs for r in gcp_run(stack).plan.of_type("gcp:projects/service:Service")}
    assert {"container.googleapis.com", "sqladmin.googleapis.com", "servicenetworking.googleapis.com"} <= set(services)
    assert ("billingbudgets.googleapis.com" in services) is (stack == "gcp-prod")
    assert all(s["disableOnDestroy"] is False for s in services.values())


def test_budget_alerts_at_50_80_90_100_percent_in_prod_only() -> None:
    assert gcp_run("gcp-dev").plan.of_type("gcp:billing/budget:Budget") == []
    spec = stack_spec("gcp-prod")
    budget = gcp_run("gcp-prod").plan.of_type("gcp:billing/budget:Budget")[0].inputs
    assert budget["billingAccount"] == spec.gcp.billing_account
    assert budget["budgetFilter"]["projects"] == ["projects/123456789012"]
    units = str(int(spec.budget.monthly_limit_usd))
    assert budget["amount"]["specifiedAmount"] == {"currencyCode": "USD", "units": units}
    # The plan records non-integral numbers as strings.
    current = [float(r["thresholdPercent"]) for r in budget["thresholdRules"] if r["spendBasis"] == "CURRENT_SPEND"]
    assert current == [0.5, 0.8, 0.9, 1.0]
    channels = gcp_run("gcp-prod").plan.of_type("gcp:monitoring/notificationChannel:NotificationChannel")
    assert [c.inputs["labels"] for c in channels] == [{"email_address": e} for e in spec.budget.notification_emails]
    assert all(c.inputs["userLabels"]["managed-by"] == "pulumi" for c in channels)
    assert len(budget["allUpdatesRule"]["monitoringNotificationChannels"]) == len(channels)


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_rbac_subjects_come_from_the_cluster_access_list(stack: str) -> None:
    subjects = gcp_run(stack).platform.role_subjects
    assert [(s.kind, s.name) for s in subjects["platform-admins"]] == [("Group", "ml-platform-admins@example.com")]
    assert [(s.kind, s.name) for s in subjects["data-scientists"]] == [("Group", "data-scientists@example.com")]
    assert subjects["viewers"] == ()


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_stack_outputs(stack: str) -> None:
    run, spec = gcp_run(stack), stack_spec(stack)
    outputs = run.plan.outputs
    assert outputs["clusterName"] == spec.base_name
    assert outputs["clusterEndpoint"]
    assert outputs["buckets"] == {r: f"{spec.base_name}-{r}-{spec.gcp.project}" for r in run.platform.buckets}
    assert re.fullmatch(r"10\.\d+\.\d+\.\d+", outputs["databasePrivateIp"])
    assert set(outputs["identities"]) == {"mlflow", "training", "serving"}
    assert run.plan.secret_outputs == ["kubeconfig"]
    assert run.platform.object_store_scheme == "gs"


def test_kubeconfig_authenticates_with_the_gke_auth_plugin_and_holds_no_credential() -> None:
    config = json.loads(kubeconfig("gke_p_europe-west1_team-prod", "34.1.2.3", "Q0E="))
    user = config["users"][0]["user"]
    assert set(user) == {"exec"}
    assert user["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert user["exec"]["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    cluster = config["clusters"][0]["cluster"]
    assert cluster == {"server": "https://34.1.2.3", "certificate-authority-data": "Q0E="}
    assert config["current-context"] == "gke_p_europe-west1_team-prod"


def test_read_and_write_prefixes_on_one_bucket_are_two_conditioned_grants() -> None:
    """A batch job: reads `m/inputs/` (objectViewer), writes `m/predictions/` (objectUser), each under its condition."""
    request = IdentityRequest(
        name="m-batch",
        namespace="team",
        service_account="m-batch",
        object_prefixes={"data": {"m/inputs/": "read", "m/predictions/": "readwrite"}},
    )

    def build(spec: PlatformSpec) -> None:
        GcpPlatform(spec.base_name, spec).grant_workload_identity(request, pulumi.ResourceOptions())

    plan = component_plan("gcp-dev", build)
    grants = [g.inputs for g in plan.of_type(BUCKET_GRANT) if "-wi-m-batch-" in g.name]
    bucket = {g["bucket"] for g in grants}
    assert len(bucket) == 1 and next(iter(bucket)).startswith(f"{stack_spec('gcp-dev').base_name}-data")
    by_role = {g["role"]: g["condition"]["expression"] for g in grants}
    prefix = f'resource.name.startsWith("projects/_/buckets/{next(iter(bucket))}/objects/'
    assert by_role == {
        "roles/storage.objectViewer": f'resource.type == "storage.googleapis.com/Bucket" || {prefix}m/inputs/")',
        "roles/storage.objectUser": f'resource.type == "storage.googleapis.com/Bucket" || {prefix}m/predictions/")',
    }
