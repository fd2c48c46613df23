"""Check 4, Pod Security admission: each rule of the baseline and restricted standards refuses what upstream refuses
(kubernetes/pod-security-admission v0.35.6 policy/check_*.go), and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.verify.checks import pod_security
from tests.infra.verify_sets import Manifest, container, judge, namespace, pod_spec, workload


def restricted_pod() -> Manifest:
    return workload(
        "app",
        "ml",
        container("app"),
        securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    )


def test_a_restricted_pod_is_admitted_at_every_level() -> None:
    for level in ("restricted", "baseline", "privileged"):
        _, found = judge(pod_security.run, namespace("ml", level), restricted_pod())
        assert found == [], level


Change = Callable[[Manifest], None]


def _container(spec: Manifest) -> dict[str, Any]:
    result: dict[str, Any] = spec["containers"][0]
    return result


BASELINE: list[Any] = [
    pytest.param(
        lambda s: s.update(hostNetwork=True), "hostNamespaces: host namespaces (hostNetwork=true)", id="host-network"
    ),
    pytest.param(lambda s: s.update(hostPID=True), "hostNamespaces", id="host-pid"),
    pytest.param(lambda s: _container(s)["securityContext"].update(privileged=True), "privileged", id="privileged"),
    pytest.param(
        lambda s: _container(s)["securityContext"].update(capabilities={"add": ["SYS_ADMIN"]}),
        "capabilities_baseline: non-default capabilities (SYS_ADMIN",
        id="sys-admin",
    ),
    pytest.param(
        lambda s: s.update(volumes=[{"name": "proc", "hostPath": {"path": "/proc"}}]),
        "hostPathVolumes: hostPath volumes (proc)",
        id="host-path",
    ),
    pytest.param(
        lambda s: _container(s).update(ports=[{"containerPort": 80, "hostPort": 80}]),
        "hostPorts: hostPort (80)",
        id="host-port",
    ),
    pytest.param(
        lambda s: _container(s).update(livenessProbe={"httpGet": {"host": "10.0.0.1", "port": 80}}),
        "hostProbesAndHostLifecycle",
        id="probe-host",
    ),
    pytest.param(
        lambda s: _container(s)["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
        "appArmorProfile: forbidden AppArmor profile (Unconfined)",
        id="apparmor",
    ),
    pytest.param(
        lambda s: s.setdefault("securityContext", {}).update(seLinuxOptions={"user": "system_u"}),
        "seLinuxOptions",
        id="selinux-user",
    ),
    pytest.param(lambda s: _container(s)["securityContext"].update(procMount="Unmasked"), "procMount", id="proc-mount"),
    pytest.param(
        lambda s: _container(s)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "seccompProfile",
        id="seccomp-unconfined",
    ),
    pytest.param(
        lambda s: s.setdefault("securityContext", {}).update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
        "sysctls: forbidden sysctls (kernel.msgmax)",
        id="sysctl",
    ),
    pytest.param(
        lambda s: _container(s)["securityContext"].update(windowsOptions={"hostProcess": True}),
        "windowsHostProcess",
        id="host-process",
    ),
]


@pytest.mark.parametrize(("change", "rule"), BASELINE)
def test_baseline_refuses_what_its_rules_refuse(change: Change, rule: str) -> None:
    pod = restricted_pod()
    change(pod_spec(pod))
    _, found = judge(pod_security.run, namespace("ml", "baseline"), pod)
    assert len(found) == 1 and "refused by Pod Security `baseline` of namespace ml: " in found[0], found
    assert rule in found[0]
    _, privileged = judge(pod_security.run, namespace("ml", "privileged"), pod)
    assert privileged == []


RESTRICTED: list[Any] = [
    pytest.param(
        lambda s: s.update(volumes=[{"name": "data", "nfs": {"server": "nfs", "path": "/"}}]),
        "restrictedVolumes: restricted volume types (data (nfs))",
        id="nfs-volume",
    ),
    pytest.param(
        lambda s: _container(s)["securityContext"].pop("allowPrivilegeEscalation"),
        "allowPrivilegeEscalation != false",
        id="privilege-escalation-unset",
    ),
    pytest.param(
        lambda s: (s["securityContext"].pop("runAsNonRoot"), _container(s)["securityContext"].pop("runAsNonRoot")),
        'runAsNonRoot != true (pod or containers "app" must set',
        id="may-run-as-root",
    ),
    pytest.param(lambda s: _container(s)["securityContext"].update(runAsUser=0), "runAsUser: runAsUser=0", id="uid-0"),
    pytest.param(
        lambda s: (s["securityContext"].pop("seccompProfile"), _container(s)["securityContext"].pop("seccompProfile")),
        "seccompProfile_restricted",
        id="seccomp-unset",
    ),
    pytest.param(
        lambda s: _container(s)["securityContext"].update(capabilities={"drop": ["NET_RAW"]}),
        'must set securityContext.capabilities.drop=["ALL"]',
        id="capabilities-not-dropped",
    ),
    pytest.param(
        lambda s: _container(s)["securityContext"].update(capabilities={"drop": ["ALL"], "add": ["CHOWN"]}),
        "must not add CHOWN",
        id="capability-added",
    ),
]


@pytest.mark.parametrize(("change", "rule"), RESTRICTED)
def test_restricted_refuses_what_only_it_refuses(change: Change, rule: str) -> None:
    pod = restricted_pod()
    change(pod_spec(pod))
    _, found = judge(pod_security.run, namespace("ml", "restricted"), pod)
    assert len(found) == 1 and rule in found[0], found
    _, baseline = judge(pod_security.run, namespace("ml", "baseline"), pod)
    assert baseline == []


def test_restricted_replaces_the_baseline_rules_it_overrides() -> None:
    """hostPath is refused once, by restrictedVolumes (OverrideCheckIDs), not twice."""
    pod = restricted_pod()
    pod_spec(pod)["volumes"] = [{"name": "sys", "hostPath": {"path": "/sys"}}]
    _, found = judge(pod_security.run, namespace("ml", "restricted"), pod)
    assert len(found) == 1 and "restrictedVolumes: restricted volume types (sys (hostPath))" in found[0]


def test_init_and_ephemeral_containers_are_judged_and_user_namespaces_relax_root_rules() -> None:
    pod = restricted_pod()
    pod_spec(pod)["initContainers"] = [
        {"name": "init", "image": "busybox:1.37.0", "securityContext": {"privileged": True}}
    ]
    _, found = judge(pod_security.run, namespace("ml", "baseline"), pod)
    assert len(found) == 1 and "privileged" in found[0]
    rootful = restricted_pod()
    del pod_spec(rootful)["securityContext"]["runAsNonRoot"]
    del pod_spec(rootful)["containers"][0]["securityContext"]["runAsNonRoot"]
    pod_spec(rootful)["hostUsers"] = False
    _, found = judge(pod_security.run, namespace("ml", "restricted"), rootful)
    assert found == []


def test_a_namespace_without_an_enforce_label_admits_anything() -> None:
    pod = restricted_pod()
    pod_spec(pod)["hostNetwork"] = True
    _, found = judge(pod_security.run, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml"}}, pod)
    assert found == []
