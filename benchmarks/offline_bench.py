"""Offline pipeline benchmark: plan per command (the old way) versus plan once (``make bench``).

For one stack, and then for all four, runs the four commands a change goes through — plan, render, verify, policy
(`make plan/render/verify/policy`) — two ways, side by side in one run, and prints wall times and ratios:

- old way: every command plans the stack itself (the recorded plan is deleted before each one), Python compiles the
  provider SDKs from source each time (no bytecode cache, as with PYTHONDONTWRITEBYTECODE and no cache prefix), and
  every chart is rendered afresh;
- new way, after a code change: the first command plans and records the plan, the others read it; bytecode comes
  from `.cache/pycache`; rendered charts come from the render cache when their inputs did not change;
- new way, two commands: `make verify` (plans the stale stack in its own process, renders, writes the rendered
  files, verifies) and `make policy`: the same work with two interpreters instead of four;
- new way, first run on a fresh clone: the four commands with empty bytecode and render caches.

Each scenario runs its stacks two at a time (the machine has 2 cores). Exit status 0 unless a command fails (verify
may report violations: its exit status 1 counts as a run).

    .venv/bin/python benchmarks/offline_bench.py [--stack prod] [--only one|all] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
STACKS = ("dev", "prod", "gcp-dev", "gcp-prod")
TARGET_ONE, TARGET_ALL = 8.0, 30.0
COMMANDS = {
    "plan": [
        "-m",
        "infra.plan",
        "--quiet",
        "--json",
        "build/plan/{stack}.json",
        "--manifests",
        "build/plan/{stack}/manifests",
    ],
    "render": ["-m", "infra.render"],
    "verify": ["-m", "infra.verify"],
    "policy": ["-m", "policies.offline"],
}
OK_STATUS = {"plan": {0}, "render": {0}, "verify": {0, 1}, "policy": {0, 1}}
TWO_COMMANDS = ("verify", "policy")


@dataclass(frozen=True)
class Run:
    scenario: str
    stacks: tuple[str, ...]
    seconds: float  # wall time of the scenario (stacks two at a time)
    cpu: float  # CPU seconds of every command: about the wall time of the commands run one after another, idle
    per_command: dict[str, float]  # wall seconds per command, summed over stacks


def command(name: str, stack: str) -> list[str]:
    return [str(PYTHON), *(part.format(stack=stack) for part in COMMANDS[name]), "--stack", stack]


def run_command(name: str, stack: str, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and the helm/kubectl processes it waited for)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        process = subprocess.Popen(command(name, stack), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode not in OK_STATUS[name]:
            out.seek(0)
            tail = out.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(command(name, stack))} exited {process.returncode}:\n{tail}")
    return seconds, usage.ru_utime + usage.ru_stime


def plan_file(stack: str) -> Path:
    return ROOT / "build" / "plan" / f"{stack}.json"


def make_stale(stack: str) -> None:
    """As after editing the program: the recorded plan is older than its sources."""
    path = plan_file(stack)
    if path.exists():
        os.utime(path, (0, 0))


def forget(stack: str) -> None:
    plan_file(stack).unlink(missing_ok=True)


def environment(bytecode: Path | None, render_cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE"}}
    env["MLOPS_RENDER_CACHE"] = str(render_cache)
    if bytecode is None:  # the old way: nothing cached, every process compiles what it imports
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="no-bytecode-")
    else:
        env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    return env


def pipeline(
    stack: str,
    env: Callable[[], dict[str, str]],
    before_each: Callable[[str], None] | None,
    commands: tuple[str, ...],
) -> tuple[dict[str, float], float]:
    times, cpu = dict.fromkeys(COMMANDS, 0.0), 0.0
    for name in commands:
        if before_each:
            before_each(stack)
        times[name], used = run_command(name, stack, env())
        cpu += used
    return times, cpu


def scenario(
    name: str,
    stacks: tuple[str, ...],
    env: Callable[[], dict[str, str]],
    before_each: Callable[[str], None] | None,
    before: Callable[[str], None] | None,
    commands: tuple[str, ...] = tuple(COMMANDS),
) -> Run:
    for stack in stacks:
        if before:
            before(stack)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda s: pipeline(s, env, before_each, commands), stacks))
    seconds = time.perf_counter() - start
    per_command = {c: round(sum(times[c] for times, _ in results), 2) for c in COMMANDS}
    return Run(name, stacks, round(seconds, 2), round(sum(cpu for _, cpu in results), 2), per_command)


def measure(stacks: tuple[str, ...], scratch: Path) -> list[Run]:
    fresh = lambda: environment(None, Path(tempfile.mkdtemp(dir=scratch, prefix="render-")))  # noqa: E731
    bytecode, renders = ROOT / ".cache" / "pycache", ROOT / ".cache" / "render"
    warm = lambda: environment(bytecode, renders)  # noqa: E731
    first_bytecode, first_renders = Path(tempfile.mkdtemp(dir=scratch)), Path(tempfile.mkdtemp(dir=scratch))
    first = lambda: environment(first_bytecode, first_renders)  # noqa: E731
    for stack in stacks:  # warm the caches the way a previous `make verify` leaves them
        for name in ("render", "verify", "policy"):
            run_command(name, stack, warm())
    return [
        scenario("old way: plan per command", stacks, fresh, forget, None),
        scenario("new way: after a code change", stacks, warm, None, make_stale),
        scenario("new way: make verify + make policy", stacks, warm, None, make_stale, TWO_COMMANDS),
        scenario("new way: first run, empty caches", stacks, first, None, make_stale),
    ]


def report(runs: list[Run], target: float) -> list[str]:
    old = runs[0]
    header = f"{'scenario':<36} {'wall s':>7} {'old/new':>8} {'CPU s':>7} {'old/new':>8}   "
    lines = [f"stacks: {', '.join(old.stacks)}", header + "  ".join(f"{c + ' s':>8}" for c in COMMANDS)]
    for run in runs:
        cells = "  ".join(f"{run.per_command[c]:>8.2f}" for c in COMMANDS)
        lines.append(
            f"{run.scenario:<36} {run.seconds:>7.2f} {old.seconds / run.seconds:>7.2f}x {run.cpu:>7.2f} "
            f"{old.cpu / run.cpu:>7.2f}x   {cells}"
        )
    best = min(runs[1:3], key=lambda run: run.seconds)
    met = "met" if best.seconds <= target else "NOT met"
    lines.append(
        f"target: at most {target:.0f} s after a change: {met} on the wall clock ({best.seconds:.2f} s, "
        f"{best.scenario.removeprefix('new way: ')}, load average now {os.getloadavg()[0]:.2f}); "
        f"CPU {best.cpu:.2f} s"
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="prod", help="the single-stack case (default prod)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--only", choices=("one", "all"), help="only the single-stack case, or only all four stacks")
    args = parser.parse_args()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.2f}; per-command columns are summed over "
        "stacks\n"
    )
    results = {}
    with tempfile.TemporaryDirectory(prefix="offline-bench-") as scratch:
        cases = {"one": ((args.stack,), TARGET_ONE), "all": (STACKS, TARGET_ALL)}
        for stacks, target in [cases[args.only]] if args.only else cases.values():
            runs = measure(stacks, Path(scratch))
            print("\n".join(report(runs, target)), end="\n\n")
            results[",".join(stacks)] = [asdict(run) for run in runs]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
