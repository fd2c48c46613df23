"""Check 12, peer scan: checkov (`--framework kubernetes`) over every object of the set, zero failures but waivers.

The set's objects, patches applied, are written to a temporary directory (one file per creator) and scanned by the
pinned checkov of its own locked environment (tools/checkov: checkov 3.3.30 pins packaging<24 and pulumi 3.272 needs
packaging>=26, so they cannot share the infra environment; `make setup` installs it into .tools/checkov). checkov
runs offline (`--skip-download`). Every failed check is a violation unless CHECKOV_WAIVERS
(infra/verify/allowlists.py) waives its check id for that object (`Kind.namespace.name`, fnmatch patterns) with a
reason; the table lists every waiver applied with what it covered, and a waiver whose objects no longer fail its
check is itself a violation. Results are cached under .cache/checkov by a digest of the manifests and the checkov
version, so an unchanged set is not scanned twice.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from infra.plan.engine import PROJECT_ROOT
from infra.render.objects import KubeObject, dump_yaml_all
from infra.verify.allowlists import CHECKOV_WAIVERS
from infra.verify.model import Check, CheckResult, ObjectSet, Violation

NAME = "peer-scan"
CHECKOV = PROJECT_ROOT / ".tools" / "checkov" / "bin" / "checkov"
CACHE = PROJECT_ROOT / ".cache" / "checkov"
CHECKOV_VERSION = "3.3.30"  # tools/checkov/pyproject.toml


class PeerScanError(RuntimeError):
    pass


def manifests(objects: Iterable[KubeObject]) -> dict[str, str]:
    """File name -> YAML of the objects each creator makes (Pulumi resources together, each release or directory)."""
    files: dict[str, list[Any]] = {}
    for obj in objects:
        name = "pulumi" if obj.origin.kind == "pulumi" else f"{obj.origin.kind}-{obj.origin.name}"
        files.setdefault(f"{name}.yaml", []).append(dict(obj.manifest))
    return {name: dump_yaml_all(documents) for name, documents in sorted(files.items())}


def scan(files: dict[str, str], checkov: Path = CHECKOV, cache: Path = CACHE) -> list[dict[str, Any]]:
    """checkov's failed checks over the files (cached by their digest)."""
    digest = hashlib.sha256(json.dumps([CHECKOV_VERSION, files], sort_keys=True).encode()).hexdigest()
    cached = cache / f"{digest}.json"
    if cached.is_file():
        result: list[dict[str, Any]] = json.loads(cached.read_text())
        return result
    if not checkov.is_file():
        raise PeerScanError(f"{checkov} not found: run `make setup` (it installs checkov into .tools/checkov)")
    with tempfile.TemporaryDirectory(prefix="peer-scan-") as scratch:
        for name, text in files.items():
            (Path(scratch) / name).write_text(text)
        environment = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_COLORS": "1"}
        completed = subprocess.run(
            [
                str(checkov),
                "--framework",
                "kubernetes",
                "-d",
                scratch,
                "-o",
                "json",
                "--quiet",
                "--compact",
                "--skip-download",
                "--soft-fail",
            ],
            capture_output=True,
            text=True,
            env=environment,
            check=False,
            timeout=900,
        )
    try:
        document = json.loads(completed.stdout or "{}")
    except json.JSONDecodeError as error:
        raise PeerScanError(
            f"checkov printed no JSON (exit {completed.returncode}): {completed.stderr[-2000:]}"
        ) from error
    reports = document if isinstance(document, list) else [document]
    failed = [
        {k: f.get(k) for k in ("check_id", "check_name", "resource", "file_path")}
        for report in reports
        for f in (report.get("results") or {}).get("failed_checks") or []
    ]
    cache.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(failed))
    return failed


Waivers = Mapping[str, tuple[tuple[str, str], ...]]
_WILDCARD = re.compile(r"[*?\[]")


def waiver(check_id: str, resource: str, waivers: Waivers = CHECKOV_WAIVERS) -> str | None:
    entry = waiver_entry(check_id, resource, waivers)
    return entry[1] if entry else None


def waiver_entry(check_id: str, resource: str, waivers: Waivers = CHECKOV_WAIVERS) -> tuple[str, str] | None:
    """The first (pattern, reason) of the check's waivers whose pattern matches the resource."""
    return next((e for e in waivers.get(check_id, ()) if fnmatch.fnmatchcase(resource, e[0])), None)


def resource_name(obj: KubeObject) -> str:
    """checkov's name of an object: `Kind.namespace.name`, `default` for cluster-scoped ones."""
    return f"{obj.kind}.{obj.namespace or 'default'}.{obj.name}"


def token_not_mounted(objects: ObjectSet, resource: str) -> bool:
    """CKV_K8S_38 reads only the pod spec; the kubelet also honours the service account's
    `automountServiceAccountToken: false` when the pod says nothing (kubernetes/kubernetes
    plugin/pkg/admission/serviceaccount/admission.go, shouldAutomount)."""
    kind, _, rest = resource.partition(".")
    namespace, _, name = rest.partition(".")
    for pod in objects.cluster.pods:
        if (pod.owner.kind, pod.namespace, pod.owner.name) == (kind, namespace, name):
            if pod.spec.get("automountServiceAccountToken") is not None:
                return pod.spec["automountServiceAccountToken"] is False
            account = objects.cluster.get("ServiceAccount", namespace, pod.service_account)
            return account is not None and account.manifest.get("automountServiceAccountToken") is False
    return False


def covered(resources: list[str], limit: int = 3) -> str:
    shown = ", ".join(resources[:limit])
    return shown + (f" and {len(resources) - limit} more" if len(resources) > limit else "")


def judge(objects: ObjectSet, found: list[dict[str, Any]], waivers: Waivers = CHECKOV_WAIVERS) -> CheckResult:
    """checkov's failures against the waivers: each failure is waived (by the first matching entry) or a violation.
    A waiver for one object of the set on which its check no longer fails is a violation too, so no waiver outlives
    its reason. (A pattern may name no object of a set: a component this stack leaves off, or a small test set; and
    tests/infra/test_verify_stacks.py requires every waiver, patterns included, to apply to a shipped stack.)"""
    violations = []
    notes = set()
    applied: dict[tuple[str, str], list[str]] = {}
    for failure in found:
        check_id, resource = str(failure["check_id"]), str(failure["resource"])
        if check_id == "CKV_K8S_38" and token_not_mounted(objects, resource):
            notes.add(
                "CKV_K8S_38 (service account tokens): not mounted, the pod's service account sets "
                "automountServiceAccountToken: false"
            )
            continue
        entry = waiver_entry(check_id, resource, waivers)
        if entry:
            applied.setdefault((check_id, entry[0]), []).append(resource)
            continue
        violations.append(
            Violation(
                NAME,
                resource,
                f"checkov {check_id}: {failure['check_name']} (fix it, or waive it with a reason in CHECKOV_WAIVERS)",
            )
        )
    names = sorted({resource_name(o) for o in objects.cluster.objects})
    waived = []
    for check_id, entries in sorted(waivers.items()):
        for pattern, reason in entries:
            if (check_id, pattern) in applied:
                resources = sorted(set(applied[check_id, pattern]))
                waived.append(Violation(NAME, f"{check_id} on {pattern}", f"{reason} [{covered(resources)}]"))
            elif not _WILDCARD.search(pattern) and (matching := fnmatch.filter(names, pattern)):
                violations.append(
                    Violation(
                        NAME,
                        f"waiver {check_id} on {pattern}",
                        f"checkov {check_id} no longer fails on {covered(matching)}: remove the waiver from "
                        "CHECKOV_WAIVERS (infra/verify/allowlists.py)",
                    )
                )
    return CheckResult(
        NAME, len(objects.cluster.objects), "objects", tuple(violations), tuple(sorted(notes)), tuple(waived)
    )


def run(objects: ObjectSet) -> CheckResult:
    return judge(objects, scan(manifests(objects.cluster.objects)))


CHECK = Check(12, NAME, "checkov (--framework kubernetes) finds nothing but reasoned waivers", run)
