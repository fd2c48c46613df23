"""Run the registered checks over a stack's object set; print a table per check and write build/verify/<stack>.json."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Iterable
from pathlib import Path

from infra.plan.engine import PROJECT_ROOT
from infra.plan.recorded import recorded_plan, stack_spec
from infra.render.renderer import Rendering, render_plan
from infra.verify.model import Check, CheckResult, ObjectSet
from infra.verify.registry import CHECKS

VERIFY_DIR = PROJECT_ROOT / "build" / "verify"


def stack_objects(stack: str) -> tuple[ObjectSet, Rendering]:
    """The recorded plan of `stack` (planned first if stale), rendered: everything its deploy creates."""
    spec = stack_spec(stack)
    plan = recorded_plan(stack)
    rendering = render_plan(plan, spec.cluster.kubernetes_version)
    return ObjectSet.of_plan(stack, plan, rendering, spec), rendering


def verify(objects: ObjectSet, checks: Iterable[Check] = CHECKS) -> list[tuple[Check, CheckResult]]:
    return [(check, check.run(objects)) for check in checks]


def table(check: Check, result: CheckResult, width: int = 0) -> str:
    """One check: header, what it judged, then every violation as object | reason, wrapped to the terminal."""
    width = width or max(100, min(shutil.get_terminal_size((160, 24)).columns, 200))
    status = "ok" if result.passed else f"{len(result.violations)} violation(s)"
    if result.waived:
        status += f", {len(result.waived)} waiver(s) applied"
    lines = [f"[{check.number}] {check.name}: {check.summary}", f"    {result.checked} {result.unit} checked: {status}"]
    left = max(40, (width - 11) * 9 // 20)  # "    | " + left + " | " + right + " |"
    right = width - 11 - left
    for heading, rows in (("object", result.violations), ("waived", result.waived)):
        if not rows:
            continue
        rule = f"    +{'-' * (left + 2)}+{'-' * (right + 2)}+"
        lines += [rule, f"    | {heading:<{left}} | {'reason':<{right}} |", rule]
        for row in rows:
            subject = textwrap.wrap(row.subject, left) or [""]
            reason = textwrap.wrap(row.reason, right) or [""]
            for index in range(max(len(subject), len(reason))):
                a = subject[index] if index < len(subject) else ""
                b = reason[index] if index < len(reason) else ""
                lines.append(f"    | {a:<{left}} | {b:<{right}} |")
            lines.append(rule)
    lines += [f"    allowed: {note}" for note in result.notes]
    return "\n".join(lines)


def report(stack: str, objects: ObjectSet, results: list[tuple[Check, CheckResult]]) -> dict[str, object]:
    return {
        "stack": stack,
        "kubernetesVersion": objects.kubernetes_version,
        "objects": len(objects.objects),
        "passed": all(result.passed for _, result in results),
        "checks": [
            {
                "number": check.number,
                "name": check.name,
                "summary": check.summary,
                "checked": result.checked,
                "unit": result.unit,
                "violations": [{"subject": v.subject, "reason": v.reason} for v in result.violations],
                "notes": list(result.notes),
                "waived": [{"subject": w.subject, "reason": w.reason} for w in result.waived],
            }
            for check, result in results
        ],
    }


def write_report(document: dict[str, object], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
