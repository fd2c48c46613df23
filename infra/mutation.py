"""`make mutation`: delete each report site of the policy pack in turn; a test must fail for every one.

A report site is a statement that calls a policy's `report(...)` callback in policies/rules.py. For each one, the
module is copied with that statement replaced by `pass`, loaded as `policies.rules` in a fresh interpreter, and the
policy tests run against it (the fast per-site tests first, then the rest only if those still pass). A site whose
deletion no test notices "survives": the run prints it and exits 1. Figures go to build/mutation.json.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from infra.plan.engine import PROJECT_ROOT

RULES = PROJECT_ROOT / "policies" / "rules.py"
REPORT = PROJECT_ROOT / "build" / "mutation.json"
TEST_STAGES = (
    ["tests/infra/test_policy_sites.py"],
    ["tests/infra/test_policies.py", "tests/infra/test_cost_policies.py"],
)
REPORT_CALLBACKS = frozenset({"report", "report_violation"})
# Load the mutant as `policies.rules` before pytest imports anything that imports it.
BOOT = """
import importlib.util, sys
import policies
spec = importlib.util.spec_from_file_location("policies.rules", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules["policies.rules"] = module
spec.loader.exec_module(module)
policies.rules = module
import pytest
sys.exit(pytest.main(sys.argv[2:]))
"""


@dataclass(frozen=True)
class Site:
    line: int
    end_line: int
    text: str


@dataclass(frozen=True)
class Outcome:
    site: Site
    killed: bool
    by: str  # the test stage that noticed, or "" for a survivor


def report_sites(source: str) -> list[Site]:
    """Every statement of the module that is a call of a report callback."""
    lines = source.splitlines()
    sites = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Name) and func.id in REPORT_CALLBACKS:
                end = node.end_lineno or node.lineno
                sites.append(Site(node.lineno, end, " ".join(lines[node.lineno - 1].split())))
    return sorted(sites, key=lambda s: s.line)


def mutant(source: str, site: Site) -> str:
    """The module with the site's statement replaced by `pass` (same indentation, same line count)."""
    lines = source.splitlines()
    first = lines[site.line - 1]
    indent = first[: len(first) - len(first.lstrip())]
    replaced = [f"{indent}pass  # mutant: report site deleted"] + [""] * (site.end_line - site.line)
    return "\n".join(lines[: site.line - 1] + replaced + lines[site.end_line :]) + "\n"


def run_tests(rules: Path, tests: list[str]) -> int:
    command = [sys.executable, "-c", BOOT, str(rules), "-x", "-q", "-p", "no:cacheprovider", *tests]
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False).returncode


def main() -> int:
    source = RULES.read_text()
    sites = report_sites(source)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        original = Path(scratch) / "rules.py"
        original.write_text(source)
        if any(run_tests(original, stage) != 0 for stage in TEST_STAGES):
            print("the policy tests fail on the unmutated pack: fix them first", file=sys.stderr)
            return 2
        outcomes = []
        for index, site in enumerate(sites, 1):
            path = Path(scratch) / f"rules_{site.line}.py"
            path.write_text(mutant(source, site))
            by = next((" ".join(stage) for stage in TEST_STAGES if run_tests(path, stage) != 0), "")
            outcomes.append(Outcome(site, bool(by), by))
            print(f"[{index}/{len(sites)}] line {site.line}: {'killed' if by else 'SURVIVED'}  {site.text[:90]}")
    survivors = [o for o in outcomes if not o.killed]
    summary = {
        "module": str(RULES.relative_to(PROJECT_ROOT)),
        "sites": len(sites),
        "killed": len(outcomes) - len(survivors),
        "survived": len(survivors),
        "seconds": round(time.monotonic() - started),
        "outcomes": [asdict(o) for o in outcomes],
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"{summary['sites']} report sites, {summary['killed']} killed, {summary['survived']} survived "
        f"({summary['seconds']} s); {REPORT.relative_to(PROJECT_ROOT)}"
    )
    for outcome in survivors:
        print(f"survived: policies/rules.py line {outcome.site.line}: {outcome.site.text}", file=sys.stderr)
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
