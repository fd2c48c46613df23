"""GCP naming rules: label values, service-account ids, bucket names, RBAC subjects, and the prod CIDR guard."""

from __future__ import annotations

import re

import pytest

from components.gcp.database import edition
from components.gcp.naming import account_id, bucket_name, label_value
from components.gcp.online_store import tier
from components.gcp.platform import rbac_subject
from components.spec import OnlineStoreSpec
from infra.config import StackConfigError, parse_spec
from infra.plan.engine import PROJECT_ROOT, load_stack_config

ACCOUNT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")


@pytest.mark.parametrize(
    ("raw", "label"),
    [("ml-platform@example.com", "ml-platform-example-com"), ("ML Platform", "ml-platform"), ("prod", "prod")],
)
def test_label_values_are_lowercase_and_gcp_safe(raw: str, label: str) -> None:
    assert label_value(raw) == label


def test_long_label_values_are_cut_to_63_characters() -> None:
    assert len(label_value("x" * 100)) == 63


@pytest.mark.parametrize("name", ["mlflow", "training", "a-very-long-workload-name-for-batch-scoring", "kfp"])
def test_service_account_ids_are_valid_for_any_request_name(name: str) -> None:
    assert ACCOUNT_ID.match(account_id("team-prod", name)), account_id("team-prod", name)


def test_long_service_account_ids_stay_distinct() -> None:
    a = account_id("team-staging", "feature-materialization-a")
    b = account_id("team-staging", "feature-materialization-b")
    assert max(len(a), len(b)) <= 30
    assert a != b


def test_bucket_names_fit_the_63_character_limit_and_stay_unique() -> None:
    project = "a-very-long-project-id-of-30ch"
    names = {bucket_name("platform-long-prefix-name-staging", role, project) for role in ("data", "monitoring")}
    assert len(names) == 2
    assert all(len(n) <= 63 for n in names)
    assert bucket_name("team-dev", "data", "acme-ml-dev") == "team-dev-data-acme-ml-dev"


@pytest.mark.parametrize(
    ("principal", "kind", "name"),
    [
        ("group:ml-admins@example.com", "Group", "ml-admins@example.com"),
        ("user:ana@example.com", "User", "ana@example.com"),
    ],
)
def test_access_principals_become_rbac_subjects(principal: str, kind: str, name: str) -> None:
    subject = rbac_subject(principal)
    assert (subject.kind, subject.name) == (kind, name)


@pytest.mark.parametrize(("replicas", "expected"), [(0, "BASIC"), (1, "STANDARD_HA"), (3, "STANDARD_HA")])
def test_redis_tier_follows_replicas(replicas: int, expected: str) -> None:
    assert tier(OnlineStoreSpec(replicas=replicas)) == expected


@pytest.mark.parametrize(
    ("tier_name", "expected"), [("db-custom-2-7680", "ENTERPRISE"), ("db-perf-optimized-N-4", "ENTERPRISE_PLUS")]
)
def test_cloud_sql_edition_matches_the_tier(tier_name: str, expected: str) -> None:
    assert edition(tier_name) == expected


def test_prod_refuses_an_api_server_open_to_the_internet() -> None:
    config, _ = load_stack_config(PROJECT_ROOT, "gcp-prod")
    config["mlops:cluster"] = config["mlops:cluster"].replace("203.0.113.10/32", "0.0.0.0/0")
    with pytest.raises(StackConfigError, match=r"cluster\.publicAccessCidrs = \[\"0\.0\.0\.0/0\"\] together cover"):
        parse_spec(config, source="Pulumi.gcp-prod.yaml")
