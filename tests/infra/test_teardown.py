"""Teardown and rebuild: a dev stack survives `destroy` then `up`; a prod stack refuses to destroy its data.

Asserted on the plans of all four stacks, from each stack's spec (`deletionProtection`), never from names.

Names the cloud keeps after a delete, and so would collide on the next `up`: GCP key rings (never deleted), Cloud
SQL instance names (blocked for a week), RDS final snapshots (outlive the instance) and the log group EKS creates
itself when it is missing; each is handled below. Reusable at once after a delete, so left as they are: IAM roles,
the OIDC provider, KMS aliases, ECR and Artifact Registry repositories, S3 and GCS bucket names, Memorystore and
ElastiCache names, GCP service-account ids (a re-created account is a new identity, re-granted by the same stack).
The stacks create none of the soft-deleted kinds (Secrets Manager secrets, GCP custom IAM roles).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.plan.engine import Plan, RecordedResource
from tests.infra.conftest import DECOMMISSIONED, GCP_STACKS, STACKS, stack_spec

StackPlan = Callable[[str], Plan]
RANDOM_ID = "random:index/randomId:RandomId"

# Resources that hold data, and the cloud-side switch that refuses their deletion: (input path, value in prod).
# Each must also be protected and retained by Pulumi in prod (a mistaken `pulumi destroy` fails, state removal keeps
# them), and be freely deletable in dev.
STATEFUL: dict[str, tuple[tuple[str, ...], Any] | None] = {
    "aws:eks/cluster:Cluster": (("deletionProtection",), True),
    "aws:rds/instance:Instance": (("deletionProtection",), True),
    "aws:s3/bucket:Bucket": (("forceDestroy",), False),
    "aws:ecr/repository:Repository": (("forceDelete",), False),
    "aws:kms/key:Key": (("deletionWindowInDays",), 30),
    "aws:elasticache/replicationGroup:ReplicationGroup": None,
    "aws:cloudwatch/logGroup:LogGroup": None,
    "gcp:container/cluster:Cluster": (("deletionProtection",), True),
    "gcp:sql/databaseInstance:DatabaseInstance": (("settings", "deletionProtectionEnabled"), True),
    "gcp:storage/bucket:Bucket": (("forceDestroy",), False),
    "gcp:kms/keyRing:KeyRing": None,
    "gcp:kms/cryptoKey:CryptoKey": None,
    "gcp:redis/instance:Instance": None,
    "gcp:artifactregistry/repository:Repository": None,
}


# Keys encrypt what a prod teardown keeps (the final RDS snapshot / Cloud SQL backup): retained in prod, always.
KEYS = {"aws:kms/key:Key", "gcp:kms/keyRing:KeyRing", "gcp:kms/cryptoKey:CryptoKey"}
# What a deliberate teardown (mlops:decommission) switches off, and to what; nothing else may change.
LIFTED: dict[str, dict[tuple[str, ...], Any]] = {
    "aws:eks/cluster:Cluster": {("deletionProtection",): False},
    "aws:rds/instance:Instance": {("deletionProtection",): False},
    "aws:s3/bucket:Bucket": {("forceDestroy",): True},
    "aws:ecr/repository:Repository": {("forceDelete",): True},
    "gcp:container/cluster:Cluster": {("deletionProtection",): False},
    "gcp:sql/databaseInstance:DatabaseInstance": {
        ("deletionProtection",): False,
        ("settings", "deletionProtectionEnabled"): False,
    },
    "gcp:storage/bucket:Bucket": {("forceDestroy",): True},
}


def _get(inputs: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = inputs
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _stateful(plan: Plan) -> list[RecordedResource]:
    return [r for r in plan.resources if r.type in STATEFUL]


@pytest.mark.parametrize("stack", STACKS)
def test_data_is_protected_retained_and_deletion_protected_exactly_in_prod(stack_plan: StackPlan, stack: str) -> None:
    plan, protect = stack_plan(stack), stack_spec(stack).deletion_protection
    stateful = _stateful(plan)
    cloud = "gcp" if stack_spec(stack).cloud == "gcp" else "aws"
    assert {r.type for r in stateful} == {t for t in STATEFUL if t.startswith(cloud)}  # every kind is present
    for resource in stateful:
        retain = protect or (resource.type in KEYS and stack_spec(stack).is_prod)
        assert (resource.protect, resource.retain_on_delete) == (protect, retain), resource.urn
        guard = STATEFUL[resource.type]
        if guard is not None and protect:
            path, value = guard
            assert _get(resource.inputs, path) == value, (resource.urn, path)
    if stack_spec(stack).cloud == "gcp":
        (sql,) = plan.of_type("gcp:sql/databaseInstance:DatabaseInstance")
        assert sql.inputs["deletionProtection"] is protect  # the provider-side guard as well as the API-side one


def _name_source(plan: Plan, resource: RecordedResource, field: str) -> list[str]:
    """The types of the resources an input is computed from (e.g. a RandomId for a suffixed name)."""
    return [plan.by_urn(urn).type for urn in resource.property_dependencies.get(field, [])]


@pytest.mark.parametrize("stack", STACKS)
def test_names_the_cloud_keeps_after_a_delete_are_fresh_per_stack_lifetime(stack_plan: StackPlan, stack: str) -> None:
    """GCP never deletes key rings and blocks Cloud SQL names for a week; RDS snapshots outlive their instance.

    In dev each such name carries a random suffix held in state, so `up` after `destroy` creates new names instead
    of colliding. In prod the key ring keeps a stable name and is never deleted (it must keep decrypting retained
    data); the final snapshot of a deliberate teardown still gets a name no earlier teardown used."""
    plan, prod = stack_plan(stack), stack_spec(stack).is_prod
    for ring in plan.of_type("gcp:kms/keyRing:KeyRing"):
        if prod:
            assert RANDOM_ID not in _name_source(plan, ring, "name")
            assert ring.retain_on_delete
        else:
            assert RANDOM_ID in _name_source(plan, ring, "name"), ring.inputs["name"]
    for instance in plan.of_type("gcp:sql/databaseInstance:DatabaseInstance"):
        assert RANDOM_ID in _name_source(plan, instance, "name")
    for instance in plan.of_type("aws:rds/instance:Instance"):
        assert instance.inputs["skipFinalSnapshot"] is not prod
        if prod:
            assert RANDOM_ID in _name_source(plan, instance, "finalSnapshotIdentifier")
            assert instance.inputs["finalSnapshotIdentifier"].startswith(instance.inputs["identifier"])
        else:
            assert "finalSnapshotIdentifier" not in instance.inputs


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_private_services_connection_never_blocks_a_destroy(stack_plan: StackPlan, stack: str) -> None:
    """Deleting the connection fails while Cloud SQL still holds producer resources; REMOVE_PEERING then drops the
    peering so the network can go (ABANDON would leave the peering and block the network's deletion)."""
    (connection,) = stack_plan(stack).of_type("gcp:servicenetworking/connection:Connection")
    assert connection.inputs["deletionPolicy"] == "REMOVE_PEERING"


@pytest.mark.parametrize("stack", STACKS)
def test_eks_control_plane_log_group_outlives_the_cluster(stack_plan: StackPlan, stack: str) -> None:
    """The cluster depends on its log group, so a destroy removes the cluster first: EKS cannot recreate the group
    after Pulumi deleted it (which would make the next `up` fail with ResourceAlreadyExistsException)."""
    plan = stack_plan(stack)
    for cluster in plan.of_type("aws:eks/cluster:Cluster"):
        groups = [plan.by_urn(urn) for urn in cluster.dependencies]
        assert any(g.type == "aws:cloudwatch/logGroup:LogGroup" for g in groups)


def _without(inputs: dict[str, Any], paths: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    rest = dict(inputs)
    for path in paths:
        if len(path) == 1:
            rest.pop(path[0], None)
        else:
            rest[path[0]] = _without(rest.get(path[0], {}), {path[1:]: None})
    return rest


@pytest.mark.parametrize("stack", sorted(DECOMMISSIONED))
def test_a_deliberate_prod_teardown_lifts_the_guards_and_keeps_a_final_copy(stack_plan: StackPlan, stack: str) -> None:
    """README "Tearing prod down": `pulumi up` with mlops:decommission must leave nothing protected and every
    cloud-side guard off (or `pulumi destroy` fails half-way), yet keep a final database copy and the key it is
    encrypted with, and replace nothing: only the guards may change, never a name."""
    plan, shipped = stack_plan(stack), stack_plan(DECOMMISSIONED[stack])  # the same stack, reconfigured
    stateful = _stateful(plan)
    assert {r.urn for r in stateful} == {r.urn for r in _stateful(shipped)}
    for resource in stateful:
        assert not resource.protect, resource.urn
        assert resource.retain_on_delete is (resource.type in KEYS), resource.urn
        lifted = LIFTED.get(resource.type, {})
        for path, value in lifted.items():
            assert _get(resource.inputs, path) == value, (resource.urn, path)
        before = shipped.by_urn(resource.urn).inputs
        assert _without(resource.inputs, lifted) == _without(before, lifted), resource.urn
    for instance in plan.of_type("aws:rds/instance:Instance"):
        assert instance.inputs["skipFinalSnapshot"] is False
        assert instance.inputs["finalSnapshotIdentifier"].startswith(instance.inputs["identifier"])
    for instance in plan.of_type("gcp:sql/databaseInstance:DatabaseInstance"):
        assert instance.inputs["settings"]["finalBackupConfig"] == {"enabled": True, "retentionDays": 365}
