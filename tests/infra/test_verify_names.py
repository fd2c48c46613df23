"""Check 10, cloud names and catalogs: names fit their cloud's rules for every prefix the config accepts (the
program planned under generated prefixes: no naming logic is repeated here), add-ons match the cluster's minor, and
instance, machine and accelerator types exist in the pinned catalogs."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from components.spec import PlatformSpec
from components.versions import EKS_ADDON_VERSIONS
from infra.config import StackConfigError, parse_spec
from infra.plan.engine import PROJECT_ROOT, Plan, load_stack_config, run_program, stack_program
from infra.verify.checks import names
from tests.infra.verify_sets import container, judge, resource, workload

NAME_PREFIX_PATTERN = str(PlatformSpec.model_fields["name_prefix"].metadata[0].pattern)
PREFIXES = st.from_regex(NAME_PREFIX_PATTERN, fullmatch=True)


def planned(stack: str, prefix: str, environment: str) -> Plan:
    config, secret_keys = load_stack_config(PROJECT_ROOT, stack)
    config = {**config, "mlops:namePrefix": prefix, "mlops:environment": environment}
    return run_program(
        stack_program(), project="mlops", stack=f"{prefix}-{environment}", config=config, secret_keys=secret_keys
    )


@pytest.mark.parametrize("stack", ["dev", "gcp-dev"])
@settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=PREFIXES, environment=st.sampled_from(["dev", "staging"]))
@example(prefix="a" * 26, environment="staging")  # the longest base name the config accepts
@example(prefix="a", environment="dev")
def test_every_name_fits_its_cloud_for_every_accepted_prefix(stack: str, prefix: str, environment: str) -> None:
    checked, violations = names.name_violations(planned(stack, prefix, environment))
    assert checked > 20 and violations == []


def test_a_prefix_too_long_for_the_clouds_is_refused_before_anything_is_planned() -> None:
    config, secret_keys = load_stack_config(PROJECT_ROOT, "dev")
    with pytest.raises(StackConfigError, match="namePrefix"):
        parse_spec({**config, "mlops:namePrefix": "a" * 27}, "Pulumi.dev.yaml", secret_keys)
    assert re.fullmatch(NAME_PREFIX_PATTERN, "a" * 26)


@pytest.mark.parametrize(
    ("type_", "field", "name", "problem"),
    [
        (
            "aws:elasticache/replicationGroup:ReplicationGroup",
            "replicationGroupId",
            "a" * 35 + "-feast",
            "is 41 characters; ReplicationGroup names take 1-40",
        ),
        ("aws:s3/bucket:Bucket", "bucket", "Mlops-dev-data", "does not match"),
        ("aws:s3/bucket:Bucket", "bucket", "xn--mlops-data", "uses a reserved prefix or suffix"),
        ("aws:rds/instance:Instance", "identifier", "mlops--dev", "contains two consecutive hyphens"),
        ("gcp:serviceaccount/account:Account", "accountId", "ml-x", "is 4 characters; Account names take 6-30"),
        ("gcp:storage/bucket:Bucket", "name", "google-data-acme", 'contains "google"'),
        ("gcp:container/nodePool:NodePool", "name", "GPU", "does not match"),
        ("aws:iam/role:Role", "name", "mlops-dev-" + "x" * 60, "is 70 characters; Role names take 1-64"),
    ],
)
def test_a_name_the_cloud_refuses_is_a_violation(type_: str, field: str, name: str, problem: str) -> None:
    _, found = judge(names.run, plan=[resource(type_, "r", {field: name})])
    found = [f for f in found if " name " in f]  # a bare resource also lacks its node type or tier
    assert len(found) == 1 and problem in found[0], found


def test_two_resources_with_one_name_are_a_violation() -> None:
    plan = [resource("aws:iam/role:Role", f"r{i}", {"name": "mlops-dev-identity"}) for i in range(2)]
    _, found = judge(names.run, plan=plan)
    assert found == [
        "aws:iam/role:Role r0, r1 :: 2 resources are named 'mlops-dev-identity': the cloud creates the "
        "first and refuses the others"
    ]


def cluster_plan(minor: str, addons: dict[str, str]) -> list:  # type: ignore[type-arg]
    return [
        resource("aws:eks/cluster:Cluster", "eks", {"name": "mlops-dev", "version": minor}),
        *(
            resource("aws:eks/addon:Addon", name, {"addonName": name, "addonVersion": version})
            for name, version in addons.items()
        ),
    ]


def test_add_ons_and_the_autoscaler_follow_the_cluster_minor() -> None:
    _, found = judge(names.run, plan=cluster_plan("1.35", EKS_ADDON_VERSIONS["1.35"]))
    assert found == []
    stale = cluster_plan("1.36", EKS_ADDON_VERSIONS["1.35"])  # the cluster upgraded, the add-on pins not
    _, found = judge(names.run, plan=stale)
    reasons = [f.split(" :: ")[1] for f in found]
    assert "kube-proxy v1.35.3-eksbuild.13 is for Kubernetes 1.35, the cluster runs 1.36" in reasons
    assert any(
        r.startswith("kube-proxy v1.35.3-eksbuild.13 is not the version the catalog lists for Kubernetes 1.36")
        for r in reasons
    )
    _, found = judge(names.run, plan=cluster_plan("1.34", {}))
    assert found == []  # no add-on: nothing to judge (config validation refuses 1.34 anyway)
    autoscaler = workload(
        "cluster-autoscaler",
        "kube-system",
        container("ca", image="registry.k8s.io/autoscaling/cluster-autoscaler:v1.35.2"),
    )
    _, found = judge(names.run, autoscaler, plan=cluster_plan("1.36", EKS_ADDON_VERSIONS["1.36"]))
    assert len(found) == 1 and "runs cluster-autoscaler v1.35.2 on Kubernetes 1.36" in found[0]


def test_instance_machine_and_accelerator_types_come_from_the_catalogs() -> None:
    plan = [
        resource("aws:eks/nodeGroup:NodeGroup", "gpu", {"instanceTypes": ["g5.xlarge", "g5.xlarg"]}),
        resource(
            "gcp:container/nodePool:NodePool",
            "gpu",
            {"nodeConfig": {"machineType": "g2-standard-8", "guestAccelerators": [{"type": "nvidia-l4", "count": 2}]}},
        ),
        resource("gcp:container/nodePool:NodePool", "cpu", {"nodeConfig": {"machineType": "n2-standard-3"}}),
    ]
    _, found = judge(names.run, plan=plan)
    assert [f.split(" :: ")[1] for f in found] == [
        "instance type g5.xlarg is not in components/aws/catalog.py",
        "g2-standard-8 takes nvidia-l4 in counts (1,), not 2",
        "machine type n2-standard-3 is not in components/gcp/catalog.py",
    ]
