"""The budget guard rails of the CrossGuard pack: the same cost model as `make cost`, advisory unless enforced."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from components.cost import CostAssumptions
from components.spec import PlatformSpec
from infra.cost.model import estimate
from infra.cost.plans import priced_resources
from infra.plan.engine import Plan, run_program
from policies.offline import Violation, evaluate

BUDGET_POLICIES = ("monthly-budget-estimate", "monthly-budget-enforced")


def over_budget(enforce: bool, limit: float = 1.0, unpriceable: bool = False) -> None:
    pool = {"instanceTypes": ["m6i.large"], "minSize": 1, "maxSize": 2}
    CostAssumptions("cost", PlatformSpec.model_validate({
        "cloud": "aws", "environment": "dev", "region": "us-east-1", "nodePools": {"system": pool, "cpu": pool},
        "budget": {"monthlyLimitUsd": limit, "enforceEstimate": enforce}}))  # fmt: skip
    opts = pulumi.ResourceOptions(provider=aws.Provider("aws", region="us-east-1"))
    aws.s3.Bucket("store-data", opts=opts)
    if unpriceable:
        aws.rds.Instance("db", engine="postgres", instance_class="db.x9.huge", allocated_storage=20, opts=opts)


def recorded(enforce: bool, limit: float = 1.0, unpriceable: bool = False) -> Plan:
    return run_program(lambda: over_budget(enforce, limit, unpriceable), project="mlops", stack="dev", config={})


def budget_violations(plan: Plan) -> list[Violation]:
    return [v for v in evaluate(plan) if v.policy in BUDGET_POLICIES]


def test_over_budget_warns_with_the_numbers_of_make_cost() -> None:
    plan = recorded(enforce=False)
    typical = estimate(priced_resources(plan), "dev").total().typical
    (violation,) = budget_violations(plan)
    assert violation.policy == "monthly-budget-estimate" and violation.advisory
    assert f"${typical:,.2f} is above budget.monthlyLimitUsd $1.00" in violation.message


def test_enforced_budget_is_a_mandatory_violation() -> None:
    (violation,) = budget_violations(recorded(enforce=True))
    assert violation.policy == "monthly-budget-enforced" and not violation.advisory
    assert "refused (budget.enforceEstimate: true)" in violation.message


@pytest.mark.parametrize("enforce", [False, True])
def test_within_budget_nothing_is_reported(enforce: bool) -> None:
    assert budget_violations(recorded(enforce=enforce, limit=100000)) == []


@pytest.mark.parametrize(("enforce", "policy"), [(False, "monthly-budget-estimate"), (True, "monthly-budget-enforced")])
def test_an_unpriceable_stack_cannot_pass_an_enforced_budget(enforce: bool, policy: str) -> None:
    (violation,) = budget_violations(recorded(enforce=enforce, limit=100000, unpriceable=True))
    assert violation.policy == policy
    assert "cannot be estimated" in violation.message and "aws.us-east-1.rds.postgres.db.x9.huge" in violation.message


def test_directory_children_of_a_real_preview_are_priced_once() -> None:
    """A real preview registers a kustomize directory's objects as its children and records no `directory` input."""

    def program() -> None:
        over_budget(enforce=False, limit=100000)
        parent = pulumi.ComponentResource("kubernetes:kustomize/v2:Directory", "kfp")
        k8s.core.v1.PersistentVolumeClaim("claim", metadata={"name": "metadata-postgres"}, spec={
            "resources": {"requests": {"storage": "20Gi"}}}, opts=pulumi.ResourceOptions(parent=parent))  # fmt: skip
        k8s.storage.v1.StorageClass("gp3", metadata={"name": "gp3", "annotations": {
            "storageclass.kubernetes.io/is-default-class": "true"}}, provisioner="ebs.csi.aws.com")  # fmt: skip

    plan = run_program(program, project="mlops", stack="dev", config={})
    volumes = [li for li in estimate(priced_resources(plan), "dev").lines if li.group == "persistent volumes"]
    assert [(li.type, li.item) for li in volumes] == [("kubernetes:core/v1:PersistentVolumeClaim", "metadata-postgres")]
