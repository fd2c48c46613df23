"""`make verify`: a registry of numbered checks, a table per check, build/verify/<stack>.json, and the exit status a
CI job or a user's shell acts on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.plan.engine import Plan
from infra.render.objects import KubeObject, Origin
from infra.render.renderer import RenderError, Rendering
from infra.verify import __main__ as verify_cli
from infra.verify import runner
from infra.verify.model import Check, CheckResult, ObjectSet, Violation
from infra.verify.registry import CHECKS, check
from tests.infra.render_fixtures import deployment

ORIGIN = Origin("helm", "urn:pulumi:dev::mlops::kubernetes:helm.sh/v3:Release::mlflow", "mlflow/templates/deploy.yaml")


def test_checks_are_registered_once_with_a_number_a_name_and_a_summary() -> None:
    assert len({c.number for c in CHECKS}) == len({c.name for c in CHECKS}) == len(CHECKS) >= 3
    assert [c.number for c in CHECKS] == sorted(c.number for c in CHECKS)
    assert all(c.summary and "\n" not in c.summary for c in CHECKS)
    assert check("images").number == 9
    with pytest.raises(LookupError, match="no check 'imgs'; checks: schemas, helm-values, references, pod-security"):
        check("imgs")


def test_a_table_names_each_object_and_reason_in_full() -> None:
    reason = (
        "image someone/mlflow:3.15.1 comes from docker.io/someone/mlflow, which is neither the stack's registry " * 2
    )
    result = CheckResult(
        "images",
        4,
        "images",
        (
            Violation(
                "images", "Deployment mlflow/mlflow from helm release mlflow (mlflow/templates/deployment.yaml)", reason
            ),
        ),
    )
    text = runner.table(check("images"), result, width=100)
    assert text.splitlines()[:2] == [f"[9] images: {check('images').summary}", "    4 images checked: 1 violation(s)"]
    assert max(len(line) for line in text.splitlines()[2:]) <= 100
    assert " ".join(text.split()).count("docker.io/someone/mlflow") == 2  # wrapped, never cut
    assert "Deployment mlflow/mlflow" in text
    assert runner.table(check("images"), CheckResult("images", 0, "images")).endswith("0 images checked: ok")


def fake_set(image: str) -> tuple[ObjectSet, Rendering]:
    objects = [KubeObject(deployment("mlflow", "mlflow", image), ORIGIN)]
    plan = Plan("mlops", "dev", [], outputs={"registryUrl": "123456789012.dkr.ecr.us-east-1.amazonaws.com/p"})
    return ObjectSet("dev", "1.33", objects, plan=plan), Rendering("1.33", [], [], Path("/cache"))


@pytest.mark.parametrize(("image", "status"), [("ghcr.io/kubeflow/kfp-frontend:2.17.0", 0), ("someone/x:latest", 1)])
def test_verify_exits_non_zero_on_a_violation_and_writes_the_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], image: str, status: int
) -> None:
    monkeypatch.setattr(verify_cli, "stack_objects", lambda stack: fake_set(image))
    monkeypatch.setattr(verify_cli, "VERIFY_DIR", tmp_path)
    monkeypatch.setattr(verify_cli, "rendered_dir", lambda stack: tmp_path / stack / "rendered")
    # Only the images check: the other checks judge a whole platform, not one Deployment.
    assert verify_cli.main(["--stack", "dev", "--check", "images"]) == status
    assert (tmp_path / "dev" / "rendered" / "index.yaml").is_file()  # what it judged, as `make render` writes it
    report = json.loads((tmp_path / "dev.json").read_text())
    assert report["passed"] is (status == 0)
    assert [c["name"] for c in report["checks"]] == ["images"]
    images = next(c for c in report["checks"] if c["name"] == "images")
    assert images["checked"] == 1
    assert len(images["violations"]) == 2 * status  # unpinned and not from an allowed source
    out = capsys.readouterr().out
    assert "[9] images" in out and "[1] schemas" not in out


def test_verify_exits_2_when_the_stack_cannot_be_rendered(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(stack: str) -> tuple[ObjectSet, Rendering]:
        raise RenderError("mlflow-1.11.5.tgz not found")

    monkeypatch.setattr(verify_cli, "stack_objects", broken)
    assert verify_cli.main(["--stack", "dev"]) == 2
    assert "verify failed for stack dev: mlflow-1.11.5.tgz not found" in capsys.readouterr().err


def test_a_new_check_plugs_into_the_runner() -> None:
    """What a later check needs: the set in, a result out; the runner does the rest."""

    def no_latest(objects: ObjectSet) -> CheckResult:
        found = [Violation("no-latest", str(o), "latest") for o in objects.objects if "latest" in str(o.manifest)]
        return CheckResult("no-latest", len(objects.objects), "objects", tuple(found))

    extra = Check(99, "no-latest", "nothing runs latest", no_latest)
    objects, _ = fake_set("someone/x:latest")
    ((found, result),) = runner.verify(objects, [extra])
    assert found is extra and not result.passed
    assert result.violations[0].subject.startswith("Deployment mlflow/mlflow from helm release mlflow")
