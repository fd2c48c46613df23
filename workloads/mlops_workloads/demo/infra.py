"""The infrastructure side of the demo: the offline plan and policy check of every shipped stack.

They run in the infra environment (``.venv``: Pulumi SDKs and the policy pack, which cannot share an environment
with kfp), one command after the other in the background while the ML lifecycle runs, at low CPU priority.
A failing or missing stack is reported, never fatal: the ML demo does not depend on it.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlops_workloads.demo.processes import ProcessSupervisor

STACKS = ("dev", "prod", "gcp-dev", "gcp-prod")
_TO_CREATE = re.compile(r"^\s*(\d+)\s+to create\s*$", re.MULTILINE)
_K8S_OBJECTS = re.compile(r"^Kubernetes objects: (\d+)", re.MULTILINE)
_POLICY_LINE = re.compile(r"^(\S+): (\d+) policies over (\d+) resources, (\d+) violation\(s\)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class CommandOutcome:
    command: str
    exit_code: int | None  # None: not finished in time
    log: str
    detail: str  # a one-line result or the failure's last line


@dataclass(frozen=True)
class StackCheck:
    stack: str
    resources: int | None
    kubernetes_objects: int | None
    violations: int | None
    policies: int | None
    plan: CommandOutcome
    policy: CommandOutcome

    @property
    def ok(self) -> bool:
        return self.plan.exit_code == 0 and self.policy.exit_code == 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def parse_plan_output(text: str) -> tuple[int | None, int | None]:
    """(resources to create, Kubernetes objects) from ``python -m infra.plan --quiet``; None where absent."""
    resources = _TO_CREATE.findall(text)
    objects = _K8S_OBJECTS.search(text)
    return (int(resources[-1]) if resources else None, int(objects.group(1)) if objects else None)


def parse_policy_output(text: str) -> tuple[int | None, int | None]:
    """(policies, violations) from the last summary line of ``python -m policies.offline``."""
    found = _POLICY_LINE.findall(text)
    if not found:
        return None, None
    _, policies, _, violations = found[-1]
    return int(policies), int(violations)


def last_meaningful_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


class InfraChecks:
    """Runs ``infra.plan`` and ``policies.offline`` for each stack on a background thread."""

    def __init__(
        self,
        supervisor: ProcessSupervisor,
        repo_root: Path,
        log_dir: Path,
        *,
        python: Path | None = None,
        stacks: tuple[str, ...] = STACKS,
        nice: int = 10,
    ) -> None:
        self.supervisor = supervisor
        self.repo_root = repo_root
        self.log_dir = log_dir
        self.python = python or repo_root / ".venv" / "bin" / "python"
        self.stacks = stacks
        self.nice = nice
        self.results: list[StackCheck] = []
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="infra-checks", daemon=True)

    @property
    def available(self) -> bool:
        return self.python.exists()

    def start(self) -> InfraChecks:
        if self.available:
            self._thread.start()
        return self

    def _command(self, name: str, args: list[str]) -> CommandOutcome:
        argv = ["nice", "-n", str(self.nice), str(self.python), "-m", *args]
        command = " ".join(["python", "-m", *args])
        if self._cancelled.is_set():
            return CommandOutcome(command, None, "", "cancelled")
        child = self.supervisor.start(f"infra-{name}", argv, cwd=self.repo_root)
        while child.process.poll() is None and not self._cancelled.is_set():
            time.sleep(0.2)
        if child.process.poll() is None:
            self.supervisor.stop(child)
            return CommandOutcome(command, None, str(child.log_path), "did not finish in time (stopped)")
        text = child.log_path.read_text(errors="replace")
        return CommandOutcome(command, child.process.returncode, str(child.log_path), last_meaningful_line(text))

    def _run(self) -> None:
        for stack in self.stacks:
            plan = self._command(f"plan-{stack}", ["infra.plan", "--stack", stack, "--quiet"])
            resources, objects = parse_plan_output(Path(plan.log).read_text(errors="replace") if plan.log else "")
            policy = self._command(f"policy-{stack}", ["policies.offline", "--stack", stack])
            policies, violations = parse_policy_output(
                Path(policy.log).read_text(errors="replace") if policy.log else ""
            )
            self.results.append(StackCheck(stack, resources, objects, violations, policies, plan, policy))

    def wait(self, timeout: float) -> list[StackCheck]:
        """Wait (bounded) for every stack; a check still running at the deadline is stopped and reported."""
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            self._cancelled.set()
            self._thread.join(30)
        return list(self.results)

    def cancel(self) -> None:
        self._cancelled.set()
