"""``python -m mlops_workloads.demo``: the whole ML lifecycle on this machine, no cloud account, Docker or cluster.

Exit codes: 0 success, 1 a step failed (the message names the step, the reason and its log), 2 bad options or a
port already in use, 130 interrupted (Ctrl-C, SIGTERM, SIGHUP). Every child process is stopped in every case.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from mlops_workloads.demo.config import (
    DEFAULT_MLFLOW_PORT,
    DEFAULT_OUTPUT,
    DEFAULT_S3_PORT,
    DEFAULT_SERVING_PORT,
    FAST,
    FRESH_EACH_RUN,
    NORMAL,
    DemoConfig,
    prepare_output,
)
from mlops_workloads.demo.lifecycle import Lifecycle, StepFailed, python_path_for_pipelines, stream_to
from mlops_workloads.demo.processes import (
    DemoInterrupted,
    LogFollower,
    PortInUseError,
    ProcessSupervisor,
    deferred_signals,
    install_signal_handlers,
    resolve_port,
)
from mlops_workloads.demo.report import print_summary, write_summary

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_workloads.demo",
        description=(
            "Run the whole ML lifecycle locally: S3 (moto) + MLflow server, synthetic data, Feast, the kfp training "
            "pipeline, promotion, the inference service under load, drift, the monitoring job with retraining, and "
            "the hot reload of the new champion."
        ),
        epilog=(
            f"Outputs go to --output (default {DEFAULT_OUTPUT}). Without --reset a run keeps the directory and the "
            f"cached generated frames (data/cache, reused when seed and size match) but wipes what must be fresh: "
            f"{', '.join(FRESH_EACH_RUN)}. "
            "Pass a port of 0 to use any free port."
        ),
    )
    parser.add_argument("--fast", action="store_true", help="CI size: 3k rows per window, 40 trees, 400 requests")
    parser.add_argument("--verbose", "-v", action="store_true", help="stream every service and step log")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="output directory (default: .demo/)")
    parser.add_argument("--reset", action="store_true", help="wipe the output directory first")
    parser.add_argument("--mlflow-port", type=int, default=DEFAULT_MLFLOW_PORT, help="MLflow tracking server port")
    parser.add_argument("--serving-port", type=int, default=DEFAULT_SERVING_PORT, help="inference service port")
    parser.add_argument("--s3-port", type=int, default=DEFAULT_S3_PORT, help="S3-compatible server (moto) port")
    parser.add_argument("--seed", type=int, default=42, help="seed of the synthetic data")
    parser.add_argument("--skip-infra", action="store_true", help="skip the offline plans and policy checks")
    parser.add_argument(
        "--service-timeout",
        type=float,
        default=600.0,
        help="seconds a service may take to become healthy (default 600: generous for a busy 2-core machine)",
    )
    parser.add_argument(
        "--infra-timeout",
        type=float,
        default=600.0,
        help="seconds to wait, after the ML steps, for the background infrastructure checks (default 600)",
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="after the summary, keep the services up until Ctrl-C"
    )
    return parser


def resolve_ports(args: argparse.Namespace) -> tuple[int, int, int]:
    """Check every port before starting anything: a taken one stops the demo with a message saying what to do."""
    taken: list[int] = []
    resolved = []
    for requested, service, option in (
        (args.s3_port, "S3-compatible server (moto)", "--s3-port"),
        (args.mlflow_port, "MLflow tracking server", "--mlflow-port"),
        (args.serving_port, "inference service", "--serving-port"),
    ):
        port = resolve_port(requested, service, option, taken)
        taken.append(port)
        resolved.append(port)
    return resolved[0], resolved[1], resolved[2]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for option in ("service_timeout", "infra_timeout"):
        if getattr(args, option) <= 0:
            parser.error(f"--{option.replace('_', '-')} must be > 0 seconds, got {getattr(args, option)}")
    # Bound to the real stdout now: the steps redirect sys.stdout into their logs. Logs and CI get 120 columns.
    console = Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 120)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the step logs
    try:
        s3_port, mlflow_port, serving_port = resolve_ports(args)
    except (PortInUseError, ValueError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return EXIT_USAGE
    output = args.output.resolve()
    config = DemoConfig(
        output=output,
        size=FAST if args.fast else NORMAL,
        mlflow_port=mlflow_port,
        serving_port=serving_port,
        s3_port=s3_port,
        seed=args.seed,
        infra=not args.skip_infra,
        keep_running=args.keep_running,
        service_timeout=args.service_timeout,
        infra_timeout=args.infra_timeout,
    )
    removed = prepare_output(output, reset=args.reset)
    python_path_for_pipelines()
    follower = LogFollower(stream_to(console)) if args.verbose else None
    supervisor = ProcessSupervisor(config.logs, follower=follower)
    lifecycle = Lifecycle(config, console, supervisor)
    if follower is not None:
        for name in ("demo", "feast", "pipeline-initial", "monitoring"):
            path = config.logs / f"{name}.log"
            path.touch()
            follower.follow(name, path)
    console.rule(f"[bold]MLOps platform demo[/bold] — {config.size.name} size, everything on 127.0.0.1")
    console.print(
        f"output {output}" + (f" (cleaned: {len(removed)} entries)" if removed else "") + f"; ports: S3 {s3_port}, "
        f"MLflow {mlflow_port}, serving {serving_port}",
        highlight=False,
    )
    started = time.monotonic()
    code = run_lifecycle(config, console, supervisor, lifecycle)
    lifecycle.summary["duration_seconds"] = round(time.monotonic() - started, 1)
    write_summary(lifecycle.summary, config.summary_path)
    if code == EXIT_OK:
        console.print(
            f"[green]Done in {lifecycle.summary['duration_seconds']:.0f} s.[/green] Summary: {config.summary_path}"
        )
    else:
        console.print(f"Summary (partial): {config.summary_path}")
    return code


def run_lifecycle(config: DemoConfig, console: Console, supervisor: ProcessSupervisor, lifecycle: Lifecycle) -> int:
    """Run every step (then keep the services up with --keep-running); stop everything however it ends."""
    code = EXIT_OK
    try:
        with install_signal_handlers():
            try:
                lifecycle.run()
                print_summary(console, lifecycle.summary)
                if config.keep_running:
                    console.print(
                        f"[bold]Services keep running[/bold]: MLflow {config.tracking_uri}, inference "
                        f"{config.serving_url}. Press Ctrl-C to stop."
                    )
                    while True:
                        time.sleep(1)
            except StepFailed as exc:
                code = EXIT_FAILED
                lifecycle.summary.update(
                    status="failed", failed_step=exc.step, error=exc.reason, error_log=str(exc.log)
                )
                console.print(f"[red]✘ step failed:[/red] {escape(exc.step)}\n  why: {escape(exc.reason)}")
                if exc.log:
                    console.print(f"  log: {exc.log}")
            except (KeyboardInterrupt, DemoInterrupted) as exc:
                code = EXIT_INTERRUPTED
                if not (config.keep_running and lifecycle.summary["status"] == "ok"):
                    lifecycle.summary.update(status="interrupted", error=f"interrupted ({exc or 'Ctrl-C'})")
                console.print("[yellow]interrupted: stopping every service…[/yellow]")
                if config.keep_running and lifecycle.summary["status"] == "ok":
                    code = EXIT_OK
            finally:
                shutdown(console, supervisor, lifecycle)
    except (KeyboardInterrupt, DemoInterrupted):  # a second Ctrl-C during the shutdown: finish it anyway
        shutdown(console, supervisor, lifecycle)
        code = EXIT_INTERRUPTED
    return code


def shutdown(console: Console, supervisor: ProcessSupervisor, lifecycle: Lifecycle) -> None:
    if lifecycle.infra is not None:
        lifecycle.infra.cancel()
    with console.status("Stopping the services…"), deferred_signals():  # a second Ctrl-C cannot cut the cleanup short
        supervisor.stop_all()
    survivors = supervisor.survivors()
    lifecycle.summary["pids"] = supervisor.started_pids()
    lifecycle.summary["shutdown"] = {"clean": not survivors, "survivors": survivors}
    if survivors:
        console.print(f"[red]processes still alive after the shutdown: {survivors}[/red]")
    else:
        console.print(f"[dim]stopped {len(supervisor.children)} child processes; none left running[/dim]")


if __name__ == "__main__":
    sys.exit(main())
