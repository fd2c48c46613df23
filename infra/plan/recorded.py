"""Plan once: the recorded plan of a stack, `build/plan/<stack>.json`, read back by render, verify, policy and cost.

The stack program runs again only when the JSON is missing or older than one of its inputs (the stack file, the
project file, the locked dependencies, `components/`, the stack program, the plan engine, and the images' build
context and Dockerfiles, whose digest is in every image tag). A file lock keeps two
processes (pytest workers, parallel make targets) from planning one stack twice.
"""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from components.images import DOCKERIGNORE, ContextRules, dockerfile
from components.spec import IMAGE_NAMES, PlatformSpec
from infra.config import parse_spec
from infra.plan.engine import PROJECT_ROOT, Plan, load_stack_config, plan_stack

BUILD_DIR = PROJECT_ROOT / "build" / "plan"
PLAN_INPUTS = (
    "Pulumi.yaml",
    "pyproject.toml",
    "uv.lock",
    "components",
    "infra/__main__.py",
    "infra/config.py",
    "infra/cron.py",  # the stack validation's imports outside components/
    "infra/quantity.py",
    "infra/plan",
)
_SOURCE_SUFFIXES = {".py", ".yaml", ".yml", ".json", ".toml", ".lock"}


def plan_path(stack: str, build_dir: Path = BUILD_DIR) -> Path:
    return build_dir / f"{stack}.json"


def plan_inputs(stack: str, project_dir: Path = PROJECT_ROOT) -> list[Path]:
    """The files a stack's plan depends on."""
    files = [project_dir / f"Pulumi.{stack}.yaml"]
    for name in PLAN_INPUTS:
        path = project_dir / name
        if path.is_dir():
            files += [p for p in path.rglob("*") if p.suffix in _SOURCE_SUFFIXES and "__pycache__" not in p.parts]
        elif path.is_file():
            files.append(path)
    if (project_dir / DOCKERIGNORE).is_file():  # the image tags hash these (components/images.py: fingerprint)
        files += [project_dir / DOCKERIGNORE, *(project_dir / dockerfile(name) for name in IMAGE_NAMES)]
        files += [project_dir / relative for relative in ContextRules.read(project_dir).files(project_dir)]
    return files


def is_fresh(stack: str, build_dir: Path = BUILD_DIR, project_dir: Path = PROJECT_ROOT) -> bool:
    path = plan_path(stack, build_dir)
    if not path.is_file():
        return False
    recorded = path.stat().st_mtime_ns
    return all(source.stat().st_mtime_ns <= recorded for source in plan_inputs(stack, project_dir))


def write_plan(plan: Plan, path: Path) -> None:
    """Write atomically: a reader never sees half a plan."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".partial") as handle:
        handle.write(plan.to_json())
    Path(handle.name).replace(path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def recorded_plan(stack: str, build_dir: Path = BUILD_DIR, project_dir: Path = PROJECT_ROOT) -> Plan:
    """The stack's recorded plan; planned (and recorded) first when missing or older than its inputs."""
    path = plan_path(stack, build_dir)
    with _locked(path):
        if is_fresh(stack, build_dir, project_dir):
            return Plan.from_json(path.read_text())
        plan = plan_stack(stack, project_dir)
        write_plan(plan, path)
        return plan


def stack_spec(stack: str, project_dir: Path = PROJECT_ROOT) -> PlatformSpec:
    """The typed spec of `Pulumi.<stack>.yaml` (raises StackConfigError with every problem)."""
    config, _ = load_stack_config(project_dir, stack)
    return parse_spec(config, source=f"Pulumi.{stack}.yaml")
