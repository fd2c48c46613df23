"""`make cost` / `python -m infra.cost` and the budget line of `make plan`: outputs, files and exit status."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.cost import plans
from infra.cost.__main__ import OVER_BUDGET, main
from infra.plan import __main__ as plan_main
from infra.plan.engine import Plan
from tests.infra.test_cost_policies import recorded

StackPlan = Callable[[str], Plan]


def write(plan: Plan, path: Path) -> Path:
    path.write_text(plan.to_json())
    return path


def test_estimate_is_printed_and_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write(recorded(enforce=False, limit=100000), tmp_path / "plan.json")
    assert main(["--stack", "dev", "--plan", str(plan), "--out", str(tmp_path / "cost.json")]) == 0
    document = json.loads((tmp_path / "cost.json").read_text())
    out = capsys.readouterr().out
    assert f"${document['total']['typical']:,.2f}" in out and "TOTAL" in out and "Budget: typical" in out
    assert main(["--stack", "dev", "--plan", str(plan), "--out", str(tmp_path / "c2.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == document


def test_enforced_budget_fails_make_cost_and_make_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    over = recorded(enforce=True)
    plan = write(over, tmp_path / "plan.json")
    assert main(["--stack", "dev", "--plan", str(plan), "--out", str(tmp_path / "cost.json")]) == OVER_BUDGET
    monkeypatch.setattr(plan_main, "plan_stack", lambda stack: over)
    assert plan_main.run("dev", None, None, quiet=True) == plan_main.OVER_BUDGET
    assert "Budget: refused (budget.enforceEstimate: true)" in capsys.readouterr().out
    monkeypatch.setattr(plan_main, "plan_stack", lambda stack: recorded(enforce=False))
    assert plan_main.run("dev", None, None, quiet=True) == 0, "over budget without enforceEstimate only warns"


def test_unpriceable_plan_exits_1_with_the_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write(recorded(enforce=False, unpriceable=True), tmp_path / "plan.json")
    assert main(["--stack", "dev", "--plan", str(plan), "--out", str(tmp_path / "cost.json")]) == 1
    assert "aws.us-east-1.rds.postgres.db.x9.huge" in capsys.readouterr().err


def test_cost_change_against_a_base_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write(recorded(enforce=False, limit=100000), tmp_path / "base.json")
    head = write(recorded(enforce=False, limit=100000), tmp_path / "head.json")
    out = tmp_path / "diff.json"
    assert main(["--stack", "dev", "--plan", str(head), "--base", str(base), "--out", str(out), "--markdown"]) == 0
    assert "| **change** | **±$0.00** | **±$0.00** | **±$0.00** |" in capsys.readouterr().out
    assert json.loads(out.read_text())["change"]["total"] == {"idle": 0, "typical": 0, "peak": 0}


def test_missing_plan_is_planned_and_recorded(
    stack_plan: StackPlan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plans, "plan_stack", stack_plan)
    path = tmp_path / "plan" / "dev.json"
    planned = plans.load_plan("dev", path)
    assert path.exists() and Plan.from_json(path.read_text()).resources == planned.resources
