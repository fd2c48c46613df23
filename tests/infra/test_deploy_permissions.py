"""The deploy and preview identities' permissions: complete for what each stack creates, scoped, and current."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.deploy_permissions import (
    AWS_GRANTS,
    GCP_ROLES,
    READ_PREFIXES,
    document_path,
    permissions,
    render,
)
from infra.plan.engine import Plan
from tests.infra.conftest import AWS_STACKS, GCP_STACKS, STACKS, stack_spec

StackPlan = Callable[[str], Plan]
# ARNs shared by every stack of the account, which cannot carry the stack's name.
SHARED = ("oidc-provider/oidc.eks.", ":key/*", "parametergroup:default.", "autoScalingGroupName/eks-*")


def _types(plan: Plan) -> set[str]:
    return {r.type for r in plan.resources if r.custom and r.package in ("aws", "gcp")}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("read_only", [False, True], ids=["deploy", "preview"])
def test_committed_documents_are_current(stack_plan: StackPlan, stack: str, read_only: bool) -> None:
    generated = render(permissions(stack_spec(stack), stack_plan(stack), read_only))
    assert document_path(stack, read_only).read_text() == generated, "run `make deploy-permissions`"


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_type_the_stack_creates_has_its_permissions(stack_plan: StackPlan, stack: str) -> None:
    grants = AWS_GRANTS if stack_spec(stack).cloud == "aws" else GCP_ROLES
    assert _types(stack_plan(stack)) - set(grants) == set(), "add the new resource type to infra/deploy_permissions"


def test_no_permission_is_granted_for_a_resource_type_no_stack_creates(stack_plan: StackPlan) -> None:
    aws = set().union(*(_types(stack_plan(s)) for s in AWS_STACKS))
    gcp = set().union(*(_types(stack_plan(s)) for s in GCP_STACKS))
    assert set(AWS_GRANTS) - aws == set()
    assert set(GCP_ROLES) - gcp == set()


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_deploy_policy_is_scoped_to_the_stack(stack_plan: StackPlan, stack: str) -> None:
    spec = stack_spec(stack)
    document = permissions(spec, stack_plan(stack))
    for statement in document["Statement"]:
        actions = statement["Action"]
        assert all(not action.endswith(":*") and action != "*" for action in actions), actions
        resources = statement["Resource"]
        if resources == ["*"]:  # APIs without resource-level permissions: region-bound or service-bound
            assert statement["Condition"]["StringEquals"].keys() & {"aws:RequestedRegion", "iam:AWSServiceName"}
        else:
            assert all(spec.base_name in arn or any(s in arn for s in SHARED) for arn in resources), resources
    passes = [s for s in document["Statement"] if "iam:PassRole" in s["Action"]]
    assert [r for s in passes for r in s["Resource"]] == [f"arn:aws:iam::${{AWS_ACCOUNT_ID}}:role/{spec.base_name}-*"]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_preview_policy_only_reads(stack_plan: StackPlan, stack: str) -> None:
    document = permissions(stack_spec(stack), stack_plan(stack), read_only=True)
    actions = [a for s in document["Statement"] for a in s["Action"]]
    assert actions
    assert all(a.split(":")[1].startswith(READ_PREFIXES) for a in actions), actions


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_gcp_deploy_roles_exclude_owner_and_editor(stack_plan: StackPlan, stack: str) -> None:
    roles = permissions(stack_spec(stack), stack_plan(stack))
    assert not {"roles/owner", "roles/editor"} & set(roles["project"])
    assert ("billingAccount" in roles) is bool(stack_spec(stack).gcp and stack_spec(stack).gcp.billing_account)
