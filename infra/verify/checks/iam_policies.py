"""Check 11, IAM: every AWS policy document of the plan passes parliament, and every managed policy exists.

- Documents: role (inline) policies, managed policies, bucket policies, key policies, repository policies and trust
  policies, linted with parliament (duo-labs/parliament 1.6.4, `analyze_policy_string`, its pinned database of
  actions, resources and condition keys): an unknown action or service prefix, a resource that does not fit its
  action, a condition key or operator the action does not take, a malformed statement is a violation, unless
  IAM_FINDING_WAIVERS (infra/verify/allowlists.py) waives it with its reason. Trust policies have no Resource by design;
  their federated principal must be an OIDC provider the plan creates (parliament cannot know it).
- Managed policies: every `policyArn` attached to a role, and every EKS access policy associated with an access
  entry, is on the pinned list of existing ones (infra/verify/data/aws-managed-policies.json, with source and date).
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infra.plan.engine import Plan, RecordedResource
from infra.verify import iam
from infra.verify.allowlists import IAM_FINDING_WAIVERS
from infra.verify.model import Check, CheckResult, ObjectSet, Violation

NAME = "iam"
MANAGED_POLICIES_FILE = Path(__file__).parents[1] / "data" / "aws-managed-policies.json"
FAILING = frozenset(
    {
        "UNKNOWN_ACTION",
        "UNKNOWN_PREFIX",
        "RESOURCE_MISMATCH",
        "MALFORMED",
        "UNKNOWN_CONDITION_FOR_ACTION",
        "MISMATCHED_TYPE",
        "UNKNOWN_OPERATOR",
        "INVALID_ARN",
        "UNKNOWN_PRINCIPAL",
        "UNKNOWN_FEDERATION_SOURCE",
        "MALFORMED_JSON",
        "INVALID_SID",
        "DENY_STAR",
    }
)
DOCUMENT_FIELDS = {  # resource type -> input holding a policy document
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/role:Role": "assumeRolePolicy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:kms/key:Key": "policy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "policy",
}


@functools.cache
def managed_policies() -> tuple[frozenset[str], frozenset[str]]:
    """(IAM managed policy ARNs, EKS access policy ARNs) that exist, from the pinned list."""
    document: dict[str, Any] = json.loads(MANAGED_POLICIES_FILE.read_text())
    return frozenset(document["iamManagedPolicies"]), frozenset(document["eksAccessPolicies"])


def findings(document: str) -> list[tuple[str, str]]:
    """(issue, detail) parliament reports for a policy document."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parliament imports the deprecated pkg_resources
        from parliament import analyze_policy_string

        policy = analyze_policy_string(document)
    return [
        (str(f.issue), json.dumps(f.detail, sort_keys=True) if not isinstance(f.detail, str) else f.detail)
        for f in policy.findings
    ]


def waiver(issue: str, detail: str) -> str | None:
    for (waived_issue, fragment), reason in IAM_FINDING_WAIVERS.items():
        if issue == waived_issue and fragment in detail:
            return reason
    return None


def documents(plan: Plan) -> Iterator[tuple[RecordedResource, str, str]]:
    for resource in plan.resources:
        field = DOCUMENT_FIELDS.get(resource.type)
        value = resource.inputs.get(field) if field else None
        if field and value:
            yield resource, field, value if isinstance(value, str) else json.dumps(value)


def _trust_problems(document: str, providers: set[str]) -> list[str]:
    found = []
    for statement in iam.statements(document):
        federated = iam._as_list((statement.get("Principal") or {}).get("Federated"))
        found += [
            f"trusts the federated principal {p}, which is not an OIDC provider of the plan"
            for p in federated
            if p not in providers
        ]
    return found


def run(objects: ObjectSet) -> CheckResult:
    plan = objects.plan
    if plan is None or not any(r.package == "aws" for r in plan.resources):
        return CheckResult(NAME, 0, "policy documents", notes=("no AWS resource: nothing to lint",))
    providers = {str(p.outputs.get("arn")) for p in plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")}
    violations: list[Violation] = []
    notes: set[str] = set()
    checked = 0
    for resource, field, document in documents(plan):
        checked += 1
        trust = field == "assumeRolePolicy"
        subject = f"{resource.type} {resource.name} ({field})"
        for issue, detail in findings(document):
            if trust and issue == "MALFORMED" and "Resource" in detail:
                continue  # a trust policy names no Resource: the role is the resource
            if trust and issue == "UNKNOWN_FEDERATION_SOURCE":
                continue  # judged below against the plan's own OIDC providers
            if issue not in FAILING:
                continue
            reason = waiver(issue, detail)
            if reason:
                notes.add(f"{issue} {detail[:80]}: {reason}")
                continue
            violations.append(Violation(NAME, subject, f"parliament {issue}: {detail}"))
        if trust:
            violations += [Violation(NAME, subject, problem) for problem in _trust_problems(document, providers)]
    iam_policies, access_policies = managed_policies()
    for attachment in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        checked += 1
        arn = str(attachment.inputs.get("policyArn") or "")
        if arn.startswith("arn:aws:iam::aws:policy/") and arn not in iam_policies:
            violations.append(
                Violation(
                    NAME,
                    f"{attachment.type} {attachment.name}",
                    (
                        f"managed policy {arn} does not exist (not on the pinned list, infra/verify/data/"
                        "aws-managed-policies.json): the attachment fails with NoSuchEntity"
                    ),
                )
            )
    for association in plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation"):
        checked += 1
        arn = str(association.inputs.get("policyArn") or "")
        if arn not in access_policies:
            violations.append(
                Violation(
                    NAME,
                    f"{association.type} {association.name}",
                    f"EKS access policy {arn} is not on the pinned list of access policies",
                )
            )
    return CheckResult(NAME, checked, "policy documents and managed policies", tuple(violations), tuple(sorted(notes)))


CHECK = Check(
    11,
    NAME,
    "every AWS policy document passes parliament (actions, resources, conditions); every managed policy exists",
    run,
)
