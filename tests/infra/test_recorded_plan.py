"""Plan once: render, verify, policy and cost read build/plan/<stack>.json, planned again only when it is missing or
older than one of the stack program's inputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pulumi_aws as aws
import pytest

from infra.plan import recorded
from infra.plan.engine import PROJECT_ROOT, Plan, run_program


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a stack file and a component; `plan_stack` replaced by a small real plan that logs its calls."""
    root = tmp_path / "project"
    (root / "components").mkdir(parents=True)
    (root / "components" / "bucket.py").write_text("NAME = 'data'\n")
    (root / "Pulumi.yaml").write_text("name: mlops\n")
    (root / "Pulumi.dev.yaml").write_text("config:\n  mlops:cloud: aws\n")

    def plan_stack(stack: str, project_dir: Path) -> Plan:
        with (project_dir / "calls.log").open("a") as log:
            log.write(f"{stack}\n")
        name = (project_dir / "components" / "bucket.py").read_text().split("'")[1]
        return run_program(lambda: aws.s3.Bucket(name) and None, project="mlops", stack=stack, config={})

    monkeypatch.setattr(recorded, "plan_stack", plan_stack)
    return root


def calls(root: Path) -> list[str]:
    log = root / "calls.log"
    return log.read_text().split() if log.is_file() else []


def age(path: Path, seconds: int) -> None:
    """Make `path` look `seconds` older: as if the recording was written before a later edit."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - seconds * 1_000_000_000))


def test_a_fresh_recording_is_read_back_and_a_stale_one_is_planned_again(project: Path) -> None:
    build = project / "build" / "plan"
    first = recorded.recorded_plan("dev", build, project)
    assert calls(project) == ["dev"] and (build / "dev.json").is_file()
    assert recorded.recorded_plan("dev", build, project) == first  # read from the JSON
    assert calls(project) == ["dev"]

    (project / "components" / "bucket.py").write_text("NAME = 'models'\n")
    age(build / "dev.json", 60)  # recorded before that edit
    assert not recorded.is_fresh("dev", build, project)
    again = recorded.recorded_plan("dev", build, project)
    assert calls(project) == ["dev", "dev"]
    assert [r.name for r in again.resources] == ["models"]

    age(build / "dev.json", 60)
    (project / "Pulumi.dev.yaml").write_text("config:\n  mlops:cloud: aws\n  mlops:region: eu-west-1\n")
    recorded.recorded_plan("dev", build, project)  # the stack's own config changed
    assert calls(project) == ["dev", "dev", "dev"]
    assert recorded.is_fresh("dev", build, project)
    assert not recorded.is_fresh("prod", build, project)  # another stack has its own recording


def test_an_edit_to_what_the_images_build_from_plans_again_and_a_file_outside_their_context_does_not(
    project: Path,
) -> None:
    """The image tags hash the build context (.dockerignore's allow-list) and the Dockerfiles: a workloads edit
    changes every image reference of the plan, so a recording older than it is stale."""
    (project / ".dockerignore").write_text("*\n!workloads/app\n**/__pycache__\n")
    for name in ("training", "serving", "monitoring", "mlflow"):
        dockerfile = project / "workloads" / "docker" / f"{name}.Dockerfile"
        dockerfile.parent.mkdir(parents=True, exist_ok=True)
        dockerfile.write_text("FROM scratch\n")
    (project / "workloads" / "app").mkdir(parents=True)
    (project / "workloads" / "app" / "serve.py").write_text("PORT = 8080\n")
    (project / "workloads" / "notes.md").write_text("not sent to the build\n")
    build = project / "build" / "plan"
    recording = recorded.plan_path("dev", build)
    recorded.recorded_plan("dev", build, project)
    at = recording.stat().st_mtime_ns

    def edited_after_the_recording(*edited: Path) -> bool:
        for path in project.rglob("*"):  # everything older than the recording, the edited files newer
            later = path in edited
            os.utime(path, ns=(at, at + 10**9 if later else at - 10**9))
        os.utime(recording, ns=(at, at))
        return not recorded.is_fresh("dev", build, project)

    assert not edited_after_the_recording()
    assert not edited_after_the_recording(project / "workloads" / "notes.md")  # outside the context: same images
    assert edited_after_the_recording(project / "workloads" / "app" / "serve.py")
    assert edited_after_the_recording(project / "workloads" / "docker" / "serving.Dockerfile")
    assert edited_after_the_recording(project / ".dockerignore")


READER = """
import sys, time
from pathlib import Path
import pulumi_aws as aws
from infra.plan import recorded
from infra.plan.engine import run_program

def plan_stack(stack, project_dir):
    with (project_dir / "calls.log").open("a") as log:
        log.write(stack + "\\n")
    time.sleep(1)  # plan slowly: the other processes ask meanwhile
    return run_program(lambda: aws.s3.Bucket("data") and None, project="mlops", stack=stack, config={})

recorded.plan_stack = plan_stack
root = Path(sys.argv[1])
print(len(recorded.recorded_plan("dev", root / "build" / "plan", root).resources))
"""


def test_concurrent_processes_plan_a_stack_once(project: Path) -> None:
    """Two pytest workers or parallel make targets asking for one stack: one plans, the others read its result."""
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(project)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [reader.communicate(timeout=300)[0].strip() for reader in readers]
    assert [reader.returncode for reader in readers] == [0, 0, 0]
    assert outputs == ["1", "1", "1"]
    assert calls(project) == ["dev"]
