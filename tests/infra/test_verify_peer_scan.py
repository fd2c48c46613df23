"""Check 12, peer scan: checkov over the set finds nothing but waivers that carry a reason; a realistic defect is
reported with checkov's own check id."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.verify.checks import peer_scan
from tests.infra.verify_sets import Manifest, container, judge, namespace, service_account, workload


def hardened(name: str) -> Manifest:
    probe = {"httpGet": {"path": "/healthz", "port": 8080}}
    app = container(
        name,
        image="ghcr.io/acme/app:1.0.0",
        readinessProbe=probe,
        livenessProbe=probe,
        imagePullPolicy="IfNotPresent",
        ports=[{"containerPort": 8080}],
    )
    app["securityContext"] |= {"readOnlyRootFilesystem": True, "runAsUser": 10001, "runAsGroup": 10001}
    return workload(
        name,
        "ml",
        app,
        securityContext={"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
    )


@pytest.mark.skipif(not peer_scan.CHECKOV.is_file(), reason="checkov's tool environment: make setup")
def test_checkov_findings_are_waived_with_reasons_or_reported(tmp_path: Path) -> None:
    bad = hardened("debug")
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    netpol = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "namespace": "ml"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    result, found = judge(
        peer_scan.run,
        namespace("ml"),
        service_account("api", "ml"),
        service_account("debug", "ml"),
        hardened("api"),
        bad,
        netpol,
    )
    assert found
    assert all(f.startswith("Deployment.ml.debug :: checkov CKV_K8S_") for f in found), found
    assert any("CKV_K8S_16: Container should not be privileged" in f for f in found)
    assert any(n.startswith("CKV_K8S_43 (Image should use digest): images are pinned") for n in result.notes)
    assert any(n.startswith("CKV_K8S_38 (service account tokens): not mounted") for n in result.notes)


def test_waivers_match_objects_by_pattern_and_carry_a_reason() -> None:
    assert peer_scan.waiver("CKV_K8S_16", "DaemonSet.nvidia-gpu.nvidia-device-plugin")
    assert peer_scan.waiver("CKV_K8S_16", "Deployment.ml.debug") is None
    assert peer_scan.waiver("CKV_K8S_43", "Deployment.ml.anything")
    assert all(reason and len(reason) > 40 for waivers in peer_scan.CHECKOV_WAIVERS.values() for _, reason in waivers)


def test_the_set_is_written_one_file_per_creator() -> None:
    from infra.render.objects import KubeObject
    from tests.infra.verify_sets import HELM, PULUMI

    files = peer_scan.manifests([KubeObject(namespace("ml"), PULUMI), KubeObject(hardened("api"), HELM)])
    assert sorted(files) == ["helm-app.yaml", "pulumi.yaml"]
    assert "kind: Deployment" in files["helm-app.yaml"] and "kind: Namespace" in files["pulumi.yaml"]
