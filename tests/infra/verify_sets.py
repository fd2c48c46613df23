"""Small, realistic object sets for the cross-object checks of `make verify` (checks 3-8, 10-12)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from infra.plan.engine import Plan, RecordedResource
from infra.render.objects import KubeObject, Origin
from infra.verify.model import CheckResult, ObjectSet

HELM = Origin("helm", "urn:pulumi:dev::mlops::kubernetes:helm.sh/v3:Release::app", "app/templates/deployment.yaml")
PULUMI = Origin("pulumi", "urn:pulumi:dev::mlops::kubernetes:apps/v1:Deployment::app")
Manifest = dict[str, Any]


def resource(
    type_: str, name: str, inputs: dict[str, Any], outputs: dict[str, Any] | None = None, id_: str = ""
) -> RecordedResource:
    """A recorded plan resource, as the plan engine records it."""
    return RecordedResource(
        urn=f"urn:pulumi:dev::mlops::{type_}::{name}",
        type=type_,
        name=name,
        custom=True,
        parent="",
        provider="",
        inputs=inputs,
        outputs={**inputs, **(outputs or {})},
        dependencies=[],
        property_dependencies={},
        protect=False,
        retain_on_delete=False,
        delete_before_replace=False,
        ignore_changes=[],
        replace_on_changes=[],
        additional_secret_outputs=[],
        secret_inputs=[],
        id=id_ or f"{name}-id",
    )


def judge(
    run: Callable[[ObjectSet], CheckResult],
    *manifests: Manifest,
    plan: list[RecordedResource] | None = None,
    outputs: dict[str, Any] | None = None,
    cloud: str = "aws",
) -> tuple[CheckResult, list[str]]:
    """Run a check over the manifests (and plan resources); returns the result and `subject :: reason` lines."""
    resources = [*(plan or [])]
    if cloud == "aws" and not any(r.package == "aws" for r in resources):
        resources.append(resource("pulumi:providers:aws", "aws", {"region": "us-east-1"}))
    if cloud == "gcp" and not any(r.package == "gcp" for r in resources):
        resources.append(resource("gcp:projects/service:Service", "apis", {"service": "container.googleapis.com"}))
    objects = ObjectSet(
        "dev",
        "1.35",
        [KubeObject(m, PULUMI) for m in manifests],
        plan=Plan("mlops", "dev", resources, outputs=outputs or {}),
    )
    result = run(objects)
    return result, [f"{v.subject} :: {v.reason}" for v in result.violations]


def with_changes(manifest: Manifest, change: Callable[[Manifest], None]) -> Manifest:
    copied = copy.deepcopy(manifest)
    change(copied)
    return copied


def namespace(name: str, level: str = "restricted") -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": level}},
    }


def service_account(name: str, ns: str, annotations: dict[str, str] | None = None, automount: bool = False) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "automountServiceAccountToken": automount,
        "metadata": {"name": name, "namespace": ns, "annotations": annotations or {}},
    }


def config_map(name: str, ns: str, data: dict[str, str], labels: dict[str, str] | None = None) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "data": data,
    }


def secret(name: str, ns: str, data: dict[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "stringData": data}


def service(
    name: str,
    ns: str,
    selector: dict[str, str],
    port: int,
    target: int | str,
    port_name: str = "http",
    labels: dict[str, str] | None = None,
) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "spec": {"selector": selector, "ports": [{"name": port_name, "port": port, "targetPort": target}]},
    }


RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def container(name: str, image: str = "ghcr.io/acme/app:1.0.0", **fields: Any) -> Manifest:
    return {
        "name": name,
        "image": image,
        "securityContext": dict(RESTRICTED_CONTAINER),
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        **fields,
    }


def workload(
    name: str,
    ns: str,
    *containers: Manifest,
    kind: str = "Deployment",
    labels: dict[str, str] | None = None,
    **pod: Any,
) -> Manifest:
    """A Deployment (or DaemonSet, Job, CronJob) whose pod template holds `containers` and `pod` fields."""
    template = {
        "metadata": {"labels": labels or {"app": name}},
        "spec": {"serviceAccountName": name, "containers": list(containers) or [container(name)], **pod},
    }
    group = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    spec: Manifest = {"selector": {"matchLabels": labels or {"app": name}}, "template": template}
    if kind == "CronJob":
        spec = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        spec = {"template": template}
    return {"apiVersion": group, "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec}


def pod_spec(manifest: Manifest) -> Manifest:
    spec = manifest["spec"]
    if manifest["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    result: Manifest = spec["template"]["spec"]
    return result
