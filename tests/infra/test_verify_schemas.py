"""Check 1, schemas: built-in kinds against the strict schema of the stack's Kubernetes version, custom resources
against their CRD's structural schema, and custom resources without a CRD refused unless allowlisted."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.render.objects import KubeObject, Origin
from infra.verify import allowlists
from infra.verify.checks import schemas
from infra.verify.model import ObjectSet
from tests.infra.render_fixtures import SERVICE_MONITOR_CRD, deployment, service_monitor

CHART = Origin("helm", "urn:pulumi:dev::mlops::kubernetes:helm.sh/v3:Release::monitoring", "stack/templates/x.yaml")
PULUMI = Origin("pulumi", "urn:pulumi:dev::mlops::kubernetes:apps/v1:Deployment::api")


def judge(*manifests: dict[str, Any], version: str = "1.33", partial: bool = False) -> list[str]:
    objects = [KubeObject(m, PULUMI, partial=partial and m["kind"] != "CustomResourceDefinition") for m in manifests]
    result = schemas.run(ObjectSet("dev", version, objects))
    assert result.checked == len(manifests)
    return [f"{v.subject} :: {v.reason}" for v in result.violations]


def test_valid_objects_and_custom_resources_are_admitted() -> None:
    monitor = service_monitor(
        "api", "ml", targetPort=8080, relabelings=None, params={"module": ["http_2xx"]}, honorLabels=None
    )  # null is unset to the API server
    other_port = service_monitor("web", "ml", targetPort="http")
    assert judge(deployment("api", "ml", "ghcr.io/org/api:1.0.0"), SERVICE_MONITOR_CRD, monitor, other_port) == []


def test_a_misspelt_or_mistyped_field_of_a_built_in_kind_is_a_violation() -> None:
    bad = deployment("api", "ml", "ghcr.io/org/api:1.0.0")
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    bad["spec"]["replicas"] = "two"
    found = judge(bad)
    assert any("spec/template/spec/containers/0" in f and "imagePullPolcy" in f for f in found), found
    assert any("spec/replicas: 'two' is not of type 'integer'" in f for f in found), found
    assert all(f.startswith("Deployment ml/api from pulumi resource api") for f in found)


def test_an_api_version_the_cluster_no_longer_serves_is_a_violation() -> None:
    budget = {
        "apiVersion": "policy/v1beta1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "api", "namespace": "ml"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "api"}}},
    }
    assert judge(budget) == [
        "PodDisruptionBudget ml/api from pulumi resource api :: policy/v1beta1 PodDisruptionBudget is not served by "
        "Kubernetes 1.33"
    ]
    served = copy.deepcopy(budget) | {"apiVersion": "policy/v1"}
    assert judge(served) == []


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ({"intervall": "30s"}, "Additional properties are not allowed ('intervall' was unexpected)"),
        ({"port": 8080}, "spec/endpoints/0/port: 8080 is not of type 'string'"),
        ({"interval": "30 seconds"}, "spec/endpoints/0/interval: '30 seconds' does not match"),
        ({"targetPort": [8080]}, "spec/endpoints/0/targetPort: [8080] is not valid under any of the given schemas"),
        ({"honorLabels": "true"}, "spec/endpoints/0/honorLabels: 'true' is not of type 'boolean'"),
    ],
)
def test_a_custom_resource_is_judged_against_its_crd(endpoint: dict[str, Any], message: str) -> None:
    found = judge(SERVICE_MONITOR_CRD, service_monitor("api", "ml", **endpoint))
    assert len(found) == 1 and message in found[0], found
    assert found[0].endswith("(CRD servicemonitors.monitoring.coreos.com)")


def test_a_custom_resource_of_a_version_the_crd_does_not_serve_is_a_violation() -> None:
    monitor = service_monitor("api", "ml") | {"apiVersion": "monitoring.coreos.com/v1beta1"}
    assert judge(SERVICE_MONITOR_CRD, monitor) == [
        "ServiceMonitor ml/api from pulumi resource api :: its CRD servicemonitors.monitoring.coreos.com serves v1, "
        "not v1beta1"
    ]
    unserved = copy.deepcopy(SERVICE_MONITOR_CRD)
    unserved["spec"]["versions"][0]["served"] = False
    assert judge(unserved, service_monitor("api", "ml"))[0].endswith(
        "version v1 of CRD servicemonitors.monitoring.coreos.com is not served"
    )


def test_a_custom_resource_without_its_crd_is_a_violation_unless_allowlisted(monkeypatch: pytest.MonkeyPatch) -> None:
    found = judge(service_monitor("api", "ml"))
    assert found == [
        "ServiceMonitor ml/api from pulumi resource api :: custom resource of monitoring.coreos.com/ServiceMonitor, "
        "whose CRD is not in the set and not on CRDS_OUTSIDE_THE_SET (infra/verify/allowlists.py)"
    ]
    monkeypatch.setitem(
        allowlists.CRDS_OUTSIDE_THE_SET,
        "monitoring.coreos.com/ServiceMonitor",
        "installed by the managed Prometheus add-on",
    )
    result = schemas.run(ObjectSet("dev", "1.33", [KubeObject(service_monitor("api", "ml"), CHART)]))
    assert result.passed
    assert result.notes == (
        "monitoring.coreos.com/ServiceMonitor: CRD created outside the set (installed by the "
        "managed Prometheus add-on)",
    )


def test_a_server_side_apply_patch_may_omit_required_fields_but_not_mistype_them() -> None:
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ml-pipeline", "namespace": "kubeflow"},
        "spec": {"template": {"spec": {"containers": [{"name": "api", "env": [{"name": "X", "value": "1"}]}]}}},
    }
    assert judge(patch, partial=True) == []
    assert judge(patch) != []  # as a whole object it lacks the selector
    patch["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = 1
    assert any("env/0/value: 1 is not of type 'string'" in f for f in judge(patch, partial=True))


def test_structural_schema_semantics() -> None:
    schema = schemas.structural(
        {
            "type": "object",
            "properties": {
                "size": {"x-kubernetes-int-or-string": True},
                "labels": {"type": "object", "nullable": True, "additionalProperties": {"type": "string"}},
                "raw": {
                    "type": "object",
                    "properties": {"a": {"type": "string"}},
                    "x-kubernetes-preserve-unknown-fields": True,
                },
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object"}},
                },
            },
        },
        root=True,
    )
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) >= {"apiVersion", "kind", "metadata"}
    assert schema["properties"]["size"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert {"type": "null"} in schema["properties"]["labels"]["anyOf"]
    assert "additionalProperties" not in schema["properties"]["raw"]
    assert set(schema["properties"]["template"]["properties"]) == {"apiVersion", "kind", "metadata", "spec"}
