"""One supported Kubernetes range per cloud drives the default, the add-on and autoscaler pins and the schemas."""

from __future__ import annotations

import re

import pytest

from components.aws.cluster import EARLY_ADDONS, LATE_ADDONS
from components.spec import ClusterSpec
from components.versions import (
    CLUSTER_AUTOSCALER_IMAGE_TAGS,
    DEFAULT_KUBERNETES_VERSION,
    EKS_ADDON_VERSIONS,
    POSTGRES_CLIENT_IMAGE,
    POSTGRES_MAJOR_VERSIONS,
    SUPPORTED_KUBERNETES_VERSIONS,
)
from infra import eks_addons
from infra.plan.engine import Plan
from infra.plan.manifests import bundled_schema_versions, schema_dir, validate_plan
from tests.infra.conftest import STACKS, stack_spec

ALL_MINORS = sorted({v for minors in SUPPORTED_KUBERNETES_VERSIONS.values() for v in minors})


def test_the_default_is_supported_on_every_cloud_and_is_the_spec_default() -> None:
    assert all(DEFAULT_KUBERNETES_VERSION in minors for minors in SUPPORTED_KUBERNETES_VERSIONS.values())
    assert ClusterSpec().kubernetes_version == DEFAULT_KUBERNETES_VERSION


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_run_a_supported_minor(stack: str) -> None:
    spec = stack_spec(stack)
    assert spec.cluster.kubernetes_version in SUPPORTED_KUBERNETES_VERSIONS[spec.cloud]


def test_pins_exist_for_exactly_the_supported_eks_minors() -> None:
    """No pin is missing for a supported minor, and none is left behind for a minor that was dropped."""
    eks = set(SUPPORTED_KUBERNETES_VERSIONS["aws"])
    assert set(EKS_ADDON_VERSIONS) == eks
    assert set(CLUSTER_AUTOSCALER_IMAGE_TAGS) == eks
    for minor in eks:
        assert set(EKS_ADDON_VERSIONS[minor]) == {*EARLY_ADDONS, *LATE_ADDONS}
        assert all(re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", v) for v in EKS_ADDON_VERSIONS[minor].values())
        assert EKS_ADDON_VERSIONS[minor]["kube-proxy"].startswith(f"v{minor}.")
        assert re.fullmatch(rf"v{re.escape(minor)}\.\d+", CLUSTER_AUTOSCALER_IMAGE_TAGS[minor])


@pytest.mark.parametrize("minor", ALL_MINORS)
def test_every_supported_minor_has_its_own_bundled_schema(minor: str) -> None:
    assert minor in bundled_schema_versions()
    assert schema_dir(minor) == f"v{minor}.0-local-strict"


def test_a_minor_without_its_own_schema_is_refused_not_validated_against_an_older_one() -> None:
    with pytest.raises(ValueError, match=r"bundles no schema for Kubernetes 1\.99 \(bundled: 1\.25, .*1\.37\)"):
        validate_plan(Plan(project="mlops", stack="dev", resources=[]), "1.99")


def test_psql_client_is_pinned_by_version_and_digest_and_speaks_every_server_major() -> None:
    match = re.fullmatch(
        r"docker\.io/library/postgres:(\d+)\.\d+-alpine[\d.]+@sha256:[0-9a-f]{64}", POSTGRES_CLIENT_IMAGE
    )
    assert match, POSTGRES_CLIENT_IMAGE
    assert int(match.group(1)) >= max(int(v) for v in POSTGRES_MAJOR_VERSIONS)  # psql talks to older servers


@pytest.mark.parametrize("stack", STACKS)
def test_the_deploy_workflows_check_exactly_the_addons_the_stack_pins(
    stack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = stack_spec(stack)
    assert eks_addons.main(["--stack", stack]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    if spec.cloud == "gcp":
        assert lines == []
        return
    minor = spec.cluster.kubernetes_version
    assert {name: version for name, version, _ in lines} == EKS_ADDON_VERSIONS[minor]
    assert {line_minor for _, _, line_minor in lines} == {minor}
