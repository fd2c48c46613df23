"""Check 3, references: whatever an object names exists in the set (or on the allowlist, with its reason)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.render.objects import KubeObject, Origin
from infra.verify.checks import references
from infra.verify.model import ObjectSet
from tests.infra.verify_sets import (
    Manifest,
    config_map,
    container,
    judge,
    namespace,
    pod_spec,
    secret,
    service,
    service_account,
    workload,
)

MLFLOW_URL = "http://mlflow.mlflow.svc.cluster.local:5000"


def platform() -> list[Manifest]:
    """An inference Deployment that names everything a real one does, and all of it."""
    app = container(
        "inference",
        env=[
            {"name": "MLFLOW_TRACKING_URI", "value": MLFLOW_URL},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            {"name": "MODEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "model"}}},
        ],
        envFrom=[{"secretRef": {"name": "api-keys"}}],
        ports=[{"name": "http", "containerPort": 8080}],
    )
    deployment = workload(
        "inference",
        "ml",
        app,
        volumes=[
            {"name": "config", "configMap": {"name": "settings", "items": [{"key": "model", "path": "model"}]}},
            {"name": "cache", "persistentVolumeClaim": {"claimName": "cache"}},
            {"name": "token", "projected": {"sources": [{"secret": {"name": "db"}}]}},
        ],
        imagePullSecrets=[{"name": "registry"}],
    )
    mlflow = workload("mlflow", "mlflow", container("mlflow", ports=[{"name": "http", "containerPort": 5000}]))
    return [
        namespace("ml"),
        namespace("mlflow"),
        service_account("inference", "ml"),
        service_account("mlflow", "mlflow"),
        config_map("settings", "ml", {"model": "fraud"}),
        secret("db", "ml", {"password": "x"}),
        secret("api-keys", "ml", {"KEY": "y"}),
        secret("registry", "ml", {".dockerconfigjson": "{}"}),
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "cache", "namespace": "ml"},
            "spec": {"storageClassName": "gp3", "resources": {"requests": {"storage": "1Gi"}}},
        },
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "gp3"}, "provisioner": "x"},
        deployment,
        mlflow,
        service("mlflow", "mlflow", {"app": "mlflow"}, 5000, "http"),
        service("inference", "ml", {"app": "inference"}, 80, "http"),
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "inference", "namespace": "ml"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "inference"},
                "maxReplicas": 3,
            },
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "view", "namespace": "ml"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "inference", "namespace": "ml"}],
        },
    ]


def find(objects: list[Manifest], kind: str, name: str) -> Manifest:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def test_a_set_whose_references_all_resolve_is_admitted() -> None:
    result, found = judge(references.run, *platform())
    assert found == []
    assert result.checked >= 15


def _inference(objects: list[Manifest]) -> Manifest:
    return pod_spec(find(objects, "Deployment", "inference"))


def _env(objects: list[Manifest], name: str) -> dict[str, Any]:
    return next(e for e in _inference(objects)["containers"][0]["env"] if e["name"] == name)


Defect = Callable[[list[Manifest]], None]
DEFECTS: list[Any] = [
    pytest.param(
        lambda o: _inference(o).update(serviceAccountName="inferense"),
        "service account ServiceAccount ml/inferense does not exist",
        id="service-account-typo",
    ),
    pytest.param(
        lambda o: o.remove(find(o, "ConfigMap", "settings")),
        "volume config: ConfigMap ml/settings does not exist",
        id="configmap-nothing-creates",
    ),
    pytest.param(
        lambda o: _env(o, "DB_PASSWORD")["valueFrom"]["secretKeyRef"].update(key="passwd"),
        "names key 'passwd' of Secret ml/db, which has password",
        id="secret-key-typo",
    ),
    pytest.param(
        lambda o: o.remove(find(o, "Secret", "api-keys")),
        "container inference envFrom: Secret ml/api-keys does not exist",
        id="envfrom-secret-missing",
    ),
    pytest.param(
        lambda o: o.remove(find(o, "PersistentVolumeClaim", "cache")),
        "volume cache: PersistentVolumeClaim ml/cache does not exist",
        id="claim-missing",
    ),
    pytest.param(
        lambda o: o.remove(find(o, "Secret", "registry")),
        "image pull secret Secret ml/registry does not exist",
        id="pull-secret-missing",
    ),
    pytest.param(
        lambda o: _env(o, "MLFLOW_TRACKING_URI").update(value="http://mlfow.mlflow.svc.cluster.local:5000"),
        "Service mlflow/mlfow does not exist",
        id="service-host-typo",
    ),
    pytest.param(
        lambda o: _env(o, "MLFLOW_TRACKING_URI").update(value="http://mlflow.mlflow:80"),
        "uses port 80 of Service mlflow/mlflow, which serves 5000",
        id="service-wrong-port",
    ),
    pytest.param(
        lambda o: o.remove(find(o, "Namespace", "mlflow")),
        "its namespace mlflow is neither created by the set nor a system namespace",
        id="namespace-missing",
    ),
    pytest.param(
        lambda o: find(o, "Service", "mlflow")["spec"].update(selector={"app": "ml-flow"}),
        "picks no pod of the set",
        id="service-selector-typo",
    ),
    pytest.param(
        lambda o: find(o, "Service", "mlflow")["spec"]["ports"][0].update(targetPort="web"),
        "targets the named port 'web', which none of its pods declares",
        id="target-port-name",
    ),
    pytest.param(
        lambda o: find(o, "HorizontalPodAutoscaler", "inference")["spec"]["scaleTargetRef"].update(name="inference-v2"),
        "scaleTargetRef Deployment ml/inference-v2 does not exist",
        id="hpa-target",
    ),
    pytest.param(
        lambda o: find(o, "RoleBinding", "view")["roleRef"].update(kind="Role", name="viewer"),
        "roleRef Role ml/viewer does not exist",
        id="rolebinding-role",
    ),
    pytest.param(
        lambda o: find(o, "PersistentVolumeClaim", "cache")["spec"].pop("storageClassName"),
        "needs a default StorageClass",
        id="claim-without-default-class",
    ),
]


@pytest.mark.parametrize(("defect", "expected"), DEFECTS)
def test_a_reference_to_nothing_is_a_violation(defect: Defect, expected: str) -> None:
    objects = platform()
    defect(objects)
    _, found = judge(references.run, *objects)
    assert found and any(expected in f for f in found), found


def test_a_cluster_role_binding_to_a_service_account_without_namespace_is_refused() -> None:
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "x"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "cache-deployer"}],
    }
    _, found = judge(references.run, binding)
    assert found == [
        "ClusterRoleBinding x from pulumi resource app :: subject ServiceAccount cache-deployer names no "
        "namespace: the API server rejects a ServiceAccount subject without one"
    ]


def test_monitors_and_webhooks_must_reach_an_existing_port() -> None:
    objects = platform()
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "mlflow", "namespace": "mlflow"},
        "spec": {"selector": {"matchLabels": {"app": "mlflow"}}, "endpoints": [{"port": "metrics"}]},
    }
    find(objects, "Service", "mlflow")["metadata"]["labels"] = {"app": "mlflow"}
    webhook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "hook"},
        "webhooks": [
            {"name": "v.mlflow", "clientConfig": {"service": {"namespace": "mlflow", "name": "mlflow-webhook"}}}
        ],
    }
    _, found = judge(references.run, *objects, monitor, webhook)
    assert [f.split(" :: ")[1] for f in found] == [
        "endpoint port 'metrics' is not a port of the Services it selects (http)",
        "webhook v.mlflow Service mlflow/mlflow-webhook does not exist in the set (create it, fix the name, or list "
        "it on OBJECTS_OUTSIDE_THE_SET in infra/verify/allowlists.py)",
    ]


def test_optional_references_and_allowlisted_objects_pass_with_a_note() -> None:
    objects = platform()
    objects.remove(find(objects, "ConfigMap", "settings"))
    spec = _inference(objects)
    spec["volumes"][0]["configMap"]["optional"] = True
    spec["containers"][0]["env"] = [e for e in spec["containers"][0]["env"] if e["name"] != "MODEL"]
    spec["volumes"].append({"name": "tls", "secret": {"secretName": "kube-prometheus-stack-admission"}})
    find(objects, "Deployment", "inference")["metadata"]["namespace"] = "monitoring"
    for obj in objects:
        if obj["metadata"].get("namespace") == "ml":
            obj["metadata"]["namespace"] = "monitoring"
    objects.append(namespace("monitoring", "privileged"))
    for rb in (o for o in objects if o["kind"] == "RoleBinding"):
        rb["subjects"][0]["namespace"] = "monitoring"
    result, found = judge(references.run, *objects)
    assert found == []
    assert any(n.startswith("Secret monitoring/kube-prometheus-stack-admission: ") for n in result.notes)


def test_a_patch_of_an_object_nothing_creates_is_a_violation() -> None:
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ml-pipeline", "namespace": "kubeflow"},
        "spec": {"template": {"spec": {"containers": [{"name": "api", "env": [{"name": "X", "value": "1"}]}]}}},
    }
    origin = Origin("pulumi", "urn:pulumi:dev::mlops::kubernetes:apps/v1:DeploymentPatch::kfp-ml-pipeline")
    objects = ObjectSet(
        "dev", "1.35", [KubeObject(namespace("kubeflow", "baseline"), origin), KubeObject(patch, origin, partial=True)]
    )
    found = [f"{v.subject} :: {v.reason}" for v in references.run(objects).violations]
    assert len(found) == 1 and "patches an object that nothing in the set creates" in found[0]
