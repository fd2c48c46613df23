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
    waived = {w.subject: w.reason for w in result.waived}
    assert waived["CKV_K8S_43 on *"].startswith("images are pinned")
    assert "Deployment.ml.api" in waived["CKV_K8S_43 on *"]  # what the waiver covered, in the table
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


def failure(check_id: str, resource: str) -> dict[str, str]:
    return {"check_id": check_id, "check_name": "a checkov check", "resource": resource, "file_path": "/pulumi.yaml"}


DEBUG_WAIVERS = {
    "CKV_K8S_16": (("Deployment.ml.debug", "a debugging pod that must see the host's devices, for this test only"),),
    "CKV_K8S_43": (("*", "images are pinned to version tags in every registry of this test set"),),
}


def judged(*found: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    result, _ = judge(lambda objects: peer_scan.judge(objects, list(found), DEBUG_WAIVERS), hardened("debug"))
    return [f"{v.subject} :: {v.reason}" for v in result.violations], {w.subject: w.reason for w in result.waived}


def test_a_waiver_is_listed_with_its_reason_and_what_it_covered() -> None:
    violations, waived = judged(
        failure("CKV_K8S_16", "Deployment.ml.debug"), failure("CKV_K8S_43", "Deployment.ml.debug")
    )
    assert violations == []
    assert waived == {
        "CKV_K8S_16 on Deployment.ml.debug": f"{DEBUG_WAIVERS['CKV_K8S_16'][0][1]} [Deployment.ml.debug]",
        "CKV_K8S_43 on *": f"{DEBUG_WAIVERS['CKV_K8S_43'][0][1]} [Deployment.ml.debug]",
    }


def test_a_waiver_whose_object_no_longer_fails_its_check_is_a_violation() -> None:
    # The debugging pod was fixed (checkov no longer finds CKV_K8S_16 on it) but its waiver stayed.
    violations, waived = judged(failure("CKV_K8S_43", "Deployment.ml.debug"))
    assert violations == [
        "waiver CKV_K8S_16 on Deployment.ml.debug :: checkov CKV_K8S_16 no longer fails on Deployment.ml.debug: "
        "remove the waiver from CHECKOV_WAIVERS (infra/verify/allowlists.py)"
    ]
    assert list(waived) == ["CKV_K8S_43 on *"]  # a pattern that finds nothing in a small set is not judged here


def test_a_finding_no_waiver_names_is_a_violation() -> None:
    violations, _ = judged(failure("CKV_K8S_16", "Deployment.ml.other"), failure("CKV_K8S_16", "Deployment.ml.debug"))
    assert violations == [
        "Deployment.ml.other :: checkov CKV_K8S_16: a checkov check (fix it, or waive it with a reason in "
        "CHECKOV_WAIVERS)"
    ]


def test_the_table_prints_waivers_beside_violations() -> None:
    from infra.verify.runner import table

    result, _ = judge(
        lambda objects: peer_scan.judge(objects, [failure("CKV_K8S_43", "Deployment.ml.debug")], DEBUG_WAIVERS),
        hardened("debug"),
    )
    text = table(peer_scan.CHECK, result, width=160)
    assert "1 violation(s), 1 waiver(s) applied" in text
    assert "| waived" in text and "CKV_K8S_43 on *" in text and "images are pinned" in text
    assert "waiver CKV_K8S_16 on Deployment.ml.debug" in text
