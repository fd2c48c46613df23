"""Check 4, Pod Security admission: every pod template is admitted at its namespace's enforce level.

The rules are the Pod Security Standards as the admission plugin evaluates them, rule by rule from
kubernetes/pod-security-admission at tag v0.35.6 (the stacks run Kubernetes 1.35; `enforce-version: latest` means the
API server's own version), file `policy/<file>`, function and line cited beside each rule. `baseline` runs the
baseline rules; `restricted` runs them all, where a restricted rule replaces the baseline rule it overrides
(`OverrideCheckIDs`: restrictedVolumes for hostPathVolumes, seccompProfile_restricted for the baseline one,
capabilities_restricted for the baseline one, procMount_restricted for procMount). `privileged`, or a namespace
without an enforce label, admits everything. Containers are visited as `policy/visitor.go` visits them: init
containers, containers and ephemeral containers.

A violation names the template, the level, the rule and what the admission plugin would answer. The pods
prometheus-operator builds from Prometheus and Alertmanager resources are not judged here: their containers' security
contexts are the operator's, not the set's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from infra.verify.cluster import PodTemplate
from infra.verify.model import Check, CheckResult, ObjectSet, Violation

NAME = "pod-security"
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
LEVELS = ("privileged", "baseline", "restricted")

Pod = Mapping[str, Any]  # {"metadata": ..., "spec": ...}
Rule = Callable[[Mapping[str, Any], Mapping[str, Any]], str | None]  # (metadata, spec) -> why it is forbidden


def _security(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return container.get("securityContext") or {}


def _containers(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """policy/visitor.go lines 27-37: init containers, containers, ephemeral containers."""
    keys = ("initContainers", "containers", "ephemeralContainers")
    return [c for key in keys for c in spec.get(key) or [] if isinstance(c, Mapping)]


def _names(containers: list[Mapping[str, Any]]) -> str:
    return ", ".join(f'"{c.get("name")}"' for c in containers)


def _user_namespace(spec: Mapping[str, Any]) -> bool:
    """policy/helpers.go line 41: `hostUsers: false` relaxes runAsNonRoot, runAsUser and baseline procMount."""
    return spec.get("hostUsers") is False


# --- baseline ------------------------------------------------------------------------------------------------------


def host_namespaces(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_hostNamespaces.go hostNamespaces_1_0 (line 58)."""
    found = [f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    return f"host namespaces ({', '.join(found)})" if found else None


def privileged(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_privileged.go privileged_1_0 (line 56)."""
    bad = [c for c in _containers(spec) if _security(c).get("privileged") is True]
    return f"privileged (containers {_names(bad)} must not set securityContext.privileged=true)" if bad else None


BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


def capabilities_baseline(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_capabilities_baseline.go capabilitiesBaseline_1_0 (line 79): only the default set may be added."""
    added = {
        str(cap): c
        for c in _containers(spec)
        for cap in (_security(c).get("capabilities") or {}).get("add") or []
        if str(cap) not in BASELINE_CAPABILITIES
    }
    if not added:
        return None
    return f"non-default capabilities ({', '.join(sorted(added))} in securityContext.capabilities.add)"


def host_path_volumes(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_hostPathVolumes.go hostPathVolumes_1_0 (line 58)."""
    bad = [str(v.get("name")) for v in spec.get("volumes") or [] if "hostPath" in v]
    return f"hostPath volumes ({', '.join(bad)})" if bad else None


def host_ports(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_hostPorts.go hostPorts_1_0 (line 60)."""
    bad = sorted({int(p["hostPort"]) for c in _containers(spec) for p in c.get("ports") or [] if p.get("hostPort")})
    return f"hostPort ({', '.join(map(str, bad))})" if bad else None


def host_probes_and_lifecycle(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_hostProbesAndhostLifecycle.go hostProbesAndHostLifecycleV1Dot34 (line 76): no `host` in probes and
    lifecycle handlers (httpGet, tcpSocket)."""
    hosts = []
    for container in _containers(spec):
        handlers = [container.get(p) for p in ("livenessProbe", "readinessProbe", "startupProbe")]
        handlers += [(container.get("lifecycle") or {}).get(h) for h in ("postStart", "preStop")]
        for handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = ((handler or {}).get(action) or {}).get("host")
                if host:
                    hosts.append(str(host))
    return f"probe or lifecycle host ({', '.join(hosts)})" if hosts else None


def app_armor(metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_appArmorProfile.go appArmorProfile_1_0 (line 83): RuntimeDefault or Localhost, in fields and in the
    deprecated annotations (runtime/default, localhost/*)."""
    allowed = {"RuntimeDefault", "Localhost"}
    bad = [
        str(profile.get("type"))
        for profile in [(spec.get("securityContext") or {}).get("appArmorProfile")]
        + [_security(c).get("appArmorProfile") for c in _containers(spec)]
        if profile and profile.get("type") not in allowed
    ]
    for key, value in (metadata.get("annotations") or {}).items():
        prefix = "container.apparmor.security.beta.kubernetes.io/"
        if key.startswith(prefix) and value and value != "runtime/default" and not value.startswith("localhost/"):
            bad.append(f"{key}={value}")
    return f"forbidden AppArmor profile ({', '.join(bad)})" if bad else None


SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})


def selinux(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_seLinuxOptions.go seLinuxOptions1_31 (line 86): allowed types, no user, no role."""
    options = [(spec.get("securityContext") or {}).get("seLinuxOptions")]
    options += [_security(c).get("seLinuxOptions") for c in _containers(spec)]
    bad = [
        o for o in options if o and (str(o.get("type") or "") not in SELINUX_TYPES or o.get("user") or o.get("role"))
    ]
    return f"seLinuxOptions ({bad})" if bad else None


def proc_mount_baseline(metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_procMount_baseline.go procMount1_35baseline (line 100): relaxed for user-namespace pods."""
    return None if _user_namespace(spec) else proc_mount(metadata, spec)


def proc_mount(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_procMount_baseline.go procMount_1_0 (line 66), also the restricted rule from 1.35
    (check_procMount_restricted.go line 51)."""
    bad = [c for c in _containers(spec) if _security(c).get("procMount") not in (None, "Default")]
    return f"procMount (containers {_names(bad)} must not set securityContext.procMount)" if bad else None


def _valid_seccomp(profile: Mapping[str, Any]) -> bool:
    return profile.get("type") in ("RuntimeDefault", "Localhost")


def seccomp_baseline(metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_seccompProfile_baseline.go seccompProfileBaseline_1_19 (line 121): if set, RuntimeDefault or Localhost."""
    profiles = [(spec.get("securityContext") or {}).get("seccompProfile")]
    profiles += [_security(c).get("seccompProfile") for c in _containers(spec)]
    bad = [str(p.get("type")) for p in profiles if p and not _valid_seccomp(p)]
    return f"seccompProfile ({', '.join(bad)})" if bad else None


SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
)


def sysctls(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_sysctls.go sysctlsV1Dot32 (the allowed set of 1.32+)."""
    bad = [str(s.get("name")) for s in (spec.get("securityContext") or {}).get("sysctls") or []]
    bad = [name for name in bad if name not in SAFE_SYSCTLS]
    return f"forbidden sysctls ({', '.join(bad)})" if bad else None


def windows_host_process(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_windowsHostProcess.go windowsHostProcess_1_0 (line 59)."""
    contexts = [spec.get("securityContext") or {}] + [_security(c) for c in _containers(spec)]
    bad = any((context.get("windowsOptions") or {}).get("hostProcess") is True for context in contexts)
    return "hostProcess (securityContext.windowsOptions.hostProcess=true)" if bad else None


# --- restricted ------------------------------------------------------------------------------------------------------

RESTRICTED_VOLUME_SOURCES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)


def restricted_volumes(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_restrictedVolumes.go restrictedVolumes_1_0 (line 88): only the listed inline volume sources."""
    bad = []
    for volume in spec.get("volumes") or []:
        sources = set(volume) - {"name"}
        if not sources & RESTRICTED_VOLUME_SOURCES:
            bad.append(f"{volume.get('name')} ({', '.join(sorted(sources)) or 'unknown'})")
    return f"restricted volume types ({', '.join(bad)})" if bad else None


def _windows(spec: Mapping[str, Any]) -> bool:
    return (spec.get("os") or {}).get("name") == "windows"


def allow_privilege_escalation(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_allowPrivilegeEscalation.go allowPrivilegeEscalation_1_25 (line 86): must be false (not Windows)."""
    if _windows(spec):
        return None
    bad = [c for c in _containers(spec) if _security(c).get("allowPrivilegeEscalation") is not False]
    if not bad:
        return None
    return f"allowPrivilegeEscalation != false (containers {_names(bad)} must set it to false)"


def run_as_non_root(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_runAsNonRoot.go runAsNonRoot1_35 (line 67) over runAsNonRoot1_0 (line 78): pod or every container
    sets runAsNonRoot=true, none sets false."""
    if _user_namespace(spec):
        return None
    pod_level = (spec.get("securityContext") or {}).get("runAsNonRoot")
    if pod_level is False:
        return "runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)"
    explicit = [c for c in _containers(spec) if _security(c).get("runAsNonRoot") is False]
    if explicit:
        return f"runAsNonRoot != true (containers {_names(explicit)} must not set securityContext.runAsNonRoot=false)"
    implicit = [c for c in _containers(spec) if _security(c).get("runAsNonRoot") is None and pod_level is not True]
    if implicit:
        return f"runAsNonRoot != true (pod or containers {_names(implicit)} must set securityContext.runAsNonRoot=true)"
    return None


def run_as_user(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_runAsUser.go runAsUser1_35 (line 68) over runAsUser1_23 (line 79): never runAsUser=0."""
    if _user_namespace(spec):
        return None
    contexts = [spec.get("securityContext") or {}] + [_security(c) for c in _containers(spec)]
    return "runAsUser=0 (must not set runAsUser=0)" if any(c.get("runAsUser") == 0 for c in contexts) else None


def seccomp_restricted(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_seccompProfile_restricted.go seccompProfileRestricted_1_25 (line 148) over _1_19 (line 69): the pod or
    every container sets RuntimeDefault or Localhost (not Windows)."""
    if _windows(spec):
        return None
    pod_profile = (spec.get("securityContext") or {}).get("seccompProfile")
    if pod_profile and not _valid_seccomp(pod_profile):
        return f"seccompProfile (pod must not set securityContext.seccompProfile.type to {pod_profile.get('type')})"
    explicit = [
        c
        for c in _containers(spec)
        if _security(c).get("seccompProfile") and not _valid_seccomp(_security(c)["seccompProfile"])
    ]
    if explicit:
        return f"seccompProfile (containers {_names(explicit)} set a forbidden securityContext.seccompProfile.type)"
    implicit = [c for c in _containers(spec) if not _security(c).get("seccompProfile") and not pod_profile]
    if implicit:
        return (
            f"seccompProfile (pod or containers {_names(implicit)} must set securityContext.seccompProfile.type to "
            '"RuntimeDefault" or "Localhost")'
        )
    return None


def capabilities_restricted(_: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """check_capabilities_restricted.go capabilitiesRestricted_1_25 (line 138) over _1_22 (line 79): drop ALL, add
    at most NET_BIND_SERVICE (not Windows)."""
    if _windows(spec):
        return None
    problems = []
    missing = [
        c for c in _containers(spec) if "ALL" not in ((_security(c).get("capabilities") or {}).get("drop") or [])
    ]
    if missing:
        problems.append(f'containers {_names(missing)} must set securityContext.capabilities.drop=["ALL"]')
    added = sorted(
        {
            str(cap)
            for c in _containers(spec)
            for cap in (_security(c).get("capabilities") or {}).get("add") or []
            if cap != "NET_BIND_SERVICE"
        }
    )
    if added:
        problems.append(f"must not add {', '.join(added)} in securityContext.capabilities.add")
    return f"unrestricted capabilities ({'; '.join(problems)})" if problems else None


@dataclass(frozen=True)
class PolicyRule:
    id: str  # the check ID in pod-security-admission
    level: str
    check: Rule
    overrides: str | None = None  # the baseline check ID this restricted rule replaces


RULES: tuple[PolicyRule, ...] = (
    PolicyRule("hostNamespaces", "baseline", host_namespaces),
    PolicyRule("privileged", "baseline", privileged),
    PolicyRule("capabilities_baseline", "baseline", capabilities_baseline),
    PolicyRule("hostPathVolumes", "baseline", host_path_volumes),
    PolicyRule("hostPorts", "baseline", host_ports),
    PolicyRule("hostProbesAndHostLifecycle", "baseline", host_probes_and_lifecycle),
    PolicyRule("appArmorProfile", "baseline", app_armor),
    PolicyRule("seLinuxOptions", "baseline", selinux),
    PolicyRule("procMount", "baseline", proc_mount_baseline),
    PolicyRule("seccompProfile_baseline", "baseline", seccomp_baseline),
    PolicyRule("sysctls", "baseline", sysctls),
    PolicyRule("windowsHostProcess", "baseline", windows_host_process),
    PolicyRule("restrictedVolumes", "restricted", restricted_volumes, overrides="hostPathVolumes"),
    PolicyRule("allowPrivilegeEscalation", "restricted", allow_privilege_escalation),
    PolicyRule("runAsNonRoot", "restricted", run_as_non_root),
    PolicyRule("runAsUser", "restricted", run_as_user),
    PolicyRule("seccompProfile_restricted", "restricted", seccomp_restricted, overrides="seccompProfile_baseline"),
    PolicyRule("capabilities_restricted", "restricted", capabilities_restricted, overrides="capabilities_baseline"),
    PolicyRule("procMount_restricted", "restricted", proc_mount, overrides="procMount"),
)


def rules_for(level: str) -> list[PolicyRule]:
    """The rules a level enforces: baseline's for baseline; for restricted, all, overridden baseline rules dropped."""
    if level == "baseline":
        return [r for r in RULES if r.level == "baseline"]
    if level == "restricted":
        overridden = {r.overrides for r in RULES if r.overrides}
        return [r for r in RULES if r.id not in overridden]
    return []


def evaluate(level: str, metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    """What the admission plugin would refuse a pod for at `level` (empty: admitted)."""
    found = []
    for rule in rules_for(level):
        reason = rule.check(metadata, spec)
        if reason:
            found.append(f"{rule.id}: {reason}")
    return found


def enforce_level(labels: Mapping[str, str]) -> str:
    """The namespace's enforce level; no label (or an unknown value, which the API server refuses) is privileged."""
    level = labels.get(ENFORCE_LABEL, "privileged")
    return level if level in LEVELS else "privileged"


def run(objects: ObjectSet) -> CheckResult:
    cluster = objects.cluster
    violations = []
    pods: list[PodTemplate] = [p for p in cluster.pods if p.owner.group != "monitoring.coreos.com"]
    for pod in pods:
        level = enforce_level(cluster.namespaces.get(pod.namespace, {}))
        for reason in evaluate(level, pod.metadata, pod.spec):
            violations.append(
                Violation(
                    NAME, pod.subject, f"refused by Pod Security `{level}` of namespace {pod.namespace}: {reason}"
                )
            )
    return CheckResult(NAME, len(pods), "pod templates", tuple(violations))


CHECK = Check(
    4,
    NAME,
    "every pod template is admitted at its namespace's Pod Security enforce level (baseline, restricted rules)",
    run,
)
