"""The demo's lifecycle, this checkout versus an earlier commit, side by side in one run.

Issue 15 made the platform model-agnostic (contracts, pipeline modules per model, serving by signature) and asked
that the demo still run the whole lifecycle of the fraud model in the same time or less. This script checks that:
it checks out ``--baseline`` (default: the last commit of main before the issue-15 work) into a git worktree,
installs its workloads environment from its own lock, then runs both demos at CI size (``--fast --skip-infra
--reset``, the ML steps only) alternately, on distinct ports, and prints each side's median wall time, its steps and
the ratio. Alternating the sides spreads any background load over both.

    python3 benchmarks/demo_bench.py [--baseline d8c582f] [--runs 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# d8c582f: main after issue 12's checks landed, before the first issue-15 commit (66a0edc, models as configuration).
DEFAULT_BASELINE = "d8c582f"
DEMO_FLAGS = ("--fast", "--skip-infra", "--reset")


@dataclass
class Side:
    name: str
    checkout: Path
    ports: tuple[int, int, int]  # mlflow, serving, s3
    seconds: list[float] = field(default_factory=list)
    steps: list[list[tuple[str, float]]] = field(default_factory=list)

    @property
    def python(self) -> Path:
        return self.checkout / "workloads" / ".venv" / "bin" / "python"

    def run(self, output: Path) -> None:
        mlflow, serving, s3 = self.ports
        command = [str(self.python), "-m", "mlops_workloads.demo", *DEMO_FLAGS, "--output", str(output)]
        command += ["--mlflow-port", str(mlflow), "--serving-port", str(serving), "--s3-port", str(s3)]
        log = output.with_suffix(".log")
        started = time.monotonic()
        with log.open("w") as handle:
            done = subprocess.run(command, cwd=self.checkout, stdout=handle, stderr=subprocess.STDOUT, check=False)
        elapsed = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"{self.name} demo failed with exit status {done.returncode}: see {log}")
        summary = json.loads((output / "summary.json").read_text())
        self.seconds.append(elapsed)
        self.steps.append([(s["name"], float(s["seconds"])) for s in summary["steps"]])

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def _checkout(baseline: str, into: Path) -> Path:
    """A worktree of ``baseline`` with its workloads environment installed from its own lock."""
    target = into / f"baseline-{baseline}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(target), baseline], check=True)
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    subprocess.run([uv, "sync", "--frozen", "--quiet"], cwd=target / "workloads", check=True)
    return target


def _report(sides: list[Side], baseline: str) -> dict[str, object]:
    before, after = sides
    print(f"\nDemo lifecycle ({' '.join(DEMO_FLAGS)}), {len(after.seconds)} run(s) per side, alternated")
    print(f"{'side':<12}{'median s':>10}   runs")
    for side in sides:
        print(f"{side.name:<12}{side.median:>10.1f}   {', '.join(f'{s:.1f}' for s in side.seconds)}")
    ratio = after.median / before.median
    print(f"ratio this checkout / {baseline}: {ratio:.2f} ({'same time or less' if ratio <= 1.0 else 'slower'})")
    for side in sides:
        print(f"\n{side.name}: steps of its last run (s)")
        for name, seconds in side.steps[-1]:
            print(f"  {seconds:>7.1f}  {name}")
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "baseline": baseline,
        "flags": list(DEMO_FLAGS),
        "sides": [asdict(side) | {"checkout": str(side.checkout)} for side in sides],
        "ratio": round(ratio, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help=f"commit to compare with ({DEFAULT_BASELINE})")
    parser.add_argument("--runs", type=int, default=1, help="runs per side (default 1)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    with tempfile.TemporaryDirectory(prefix="demo-bench-") as scratch:
        work = Path(scratch)
        checkout = _checkout(args.baseline, work)
        try:
            sides = [
                Side(f"baseline {args.baseline}", checkout, (15500, 18500, 19500)),
                Side("this checkout", ROOT, (15600, 18600, 19600)),
            ]
            for run in range(args.runs):
                for label, side in zip(("before", "after"), sides, strict=True):
                    side.run(work / f"{label}-{run}")
                    print(f"{side.name}: run {run + 1} took {side.seconds[-1]:.1f} s", flush=True)
            figures = _report(sides, args.baseline)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)], check=False)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
