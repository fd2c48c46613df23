"""The end of the demo: rich tables on the console and ``summary.json`` for machines (the e2e test reads it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

METRICS = ("f1", "precision", "recall", "roc_auc", "accuracy")
TOP_DRIFT_FEATURES = 6


def write_summary(summary: dict[str, Any], path: Path) -> Path:
    """Write atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(summary, indent=2, default=str))
    partial.replace(path)
    return path


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def versions_table(summary: dict[str, Any]) -> Table:
    aliases = summary.get("aliases", {})
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    table = Table(title="Model versions (MLflow registry)", title_justify="left")
    table.add_column("version", justify="right")
    table.add_column("aliases")
    table.add_column("origin")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    for entry in summary.get("versions", []):
        metrics = entry.get("metrics", {})
        table.add_row(
            entry["version"],
            ", ".join(by_version.get(entry["version"], [])) or "—",
            entry.get("origin", ""),
            *(_fmt(metrics.get(m)) for m in METRICS),
        )
    return table


def gates_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Quality gates and promotions", title_justify="left")
    table.add_column("run")
    table.add_column("gates")
    table.add_column("compared with champion")
    table.add_column("promotion")
    promotions = {p.get("when"): p for p in summary.get("promotions", [])}
    labels = {"initial": "initial", "retrain": "after retraining (monitoring job)"}
    for run, gate in (summary.get("gates") or {}).items():
        gate = gate or {}
        champion = gate.get("champion_metrics")
        compared = "no champion yet" if not champion else f"champion f1 {_fmt(champion.get('f1'))}"
        promotion = promotions.get(labels.get(run, run), {})
        promoted = promotion.get("promoted")
        verdict = (
            f"v{promotion.get('challenger_version')} → champion"
            if promoted
            else ("; ".join(promotion.get("reasons", [])) or "—")
        )
        passed = gate.get("passed")
        table.add_row(
            run,
            "[green]passed[/green]" if passed else ("[red]failed[/red]" if passed is False else "—"),
            compared,
            verdict,
        )
    return table


def traffic_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Inference traffic (client-side latency)", title_justify="left")
    for column in ("phase", "requests", "ok", "failed", "req/s", "p50 ms", "p95 ms", "p99 ms", "versions"):
        table.add_column(column, justify="right" if column not in ("phase", "versions") else "left")
    for phase, stats in summary.get("traffic", {}).items():
        latency = stats.get("latency_ms", {})
        table.add_row(
            phase.replace("_", " "),
            str(stats.get("sent")),
            str(stats.get("ok")),
            str(stats.get("failed")),
            _fmt(stats.get("throughput_rps"), 1),
            _fmt(latency.get("p50"), 1),
            _fmt(latency.get("p95"), 1),
            _fmt(latency.get("p99"), 1),
            ", ".join(f"v{v}: {n}" for v, n in stats.get("versions", {}).items()),
        )
    return table


def drift_table(summary: dict[str, Any]) -> Table:
    drift = summary.get("drift", {})
    table = Table(
        title=f"Drift on the new window (drift share {_fmt(drift.get('drift_share'), 2)}, "
        f"decision: {drift.get('decision', '—')})",
        title_justify="left",
    )
    for column in ("feature", "method", "score", "PSI", "severity", "ref mean", "current mean", "drifted"):
        table.add_column(column, justify="left" if column in ("feature", "method", "severity") else "right")
    for feature in drift.get("features", [])[:TOP_DRIFT_FEATURES]:
        table.add_row(
            feature["feature"],
            feature["method"],
            _fmt(feature["score"]),
            _fmt(feature["psi"]),
            feature["severity"],
            _fmt(feature["reference_mean"], 2),
            _fmt(feature["current_mean"], 2),
            "[red]yes[/red]" if feature["drifted"] else "no",
        )
    return table


def infra_table(summary: dict[str, Any]) -> Table | str:
    infra = summary.get("infra", {})
    if "stacks" not in infra:
        return f"Infrastructure: {infra.get('skipped', 'not run')}"
    table = Table(title="Infrastructure stacks (offline plan + policy pack, no cloud account)", title_justify="left")
    for column in ("stack", "resources", "k8s objects", "policies", "violations", "result"):
        table.add_column(column, justify="left" if column in ("stack", "result") else "right")
    for stack in infra["stacks"]:
        if stack["ok"]:
            result = "[green]ok[/green]"
        else:
            failed = stack["plan"] if stack["plan"]["exit_code"] != 0 else stack["policy"]
            result = f"[yellow]{failed['detail'][:90]}[/yellow] ({failed['log']})"
        table.add_row(
            stack["stack"],
            _fmt(stack["resources"]),
            _fmt(stack["kubernetes_objects"]),
            _fmt(stack["policies"]),
            _fmt(stack["violations"]),
            result,
        )
    return table


def print_summary(console: Console, summary: dict[str, Any]) -> None:
    console.rule("[bold]Summary")
    for table in (versions_table(summary), gates_table(summary), traffic_table(summary), drift_table(summary)):
        console.print(table)
    reload = summary.get("reload", {})
    if reload:
        after = reload.get("seconds_after_promotion")
        console.print(
            f"Hot reload: the running service (pid {reload.get('service_pid_unchanged')}) switched from "
            f"v{reload.get('from_version')} to v{reload.get('to_version')}"
            + (f" {after:.1f} s after the promotion" if after is not None else "")
            + " without a restart.",
            highlight=False,
        )
    console.print(infra_table(summary))
    paths = Table(title="Reports and logs", title_justify="left", show_header=False)
    paths.add_column("what")
    paths.add_column("where", overflow="fold")
    for name, path in summary.get("reports", {}).items():
        paths.add_row(name.replace("_", " "), str(path))
    paths.add_row("batch predictions", str(summary.get("batch", {}).get("output", "—")))
    paths.add_row("feast repository", str(summary.get("feature_store", {}).get("repo", "—")))
    for name, path in summary.get("logs", {}).items():
        paths.add_row(f"log: {name}", str(path))
    paths.add_row("summary.json", str(Path(summary["output"]) / "summary.json"))
    console.print(paths)
    mlflow = summary.get("services", {}).get("mlflow", {})
    output = summary["output"]
    console.print(
        "[bold]Explore further[/bold]\n"
        f"  • MLflow UI (while the demo runs; keep it up with --keep-running): {mlflow.get('url', '—')}\n"
        f"  • Evidently drift report: open {summary.get('reports', {}).get('evidently_html', '—')} in a browser\n"
        f"  • Runs and metrics afterwards: workloads/.venv/bin/mlflow ui --backend-store-uri "
        f"sqlite:///{output}/mlflow/mlflow.db (artifacts lived in the in-memory S3 server)\n"
        "  • Infrastructure: make plan STACK=dev, make policy STACK=prod\n"
        "  • The pipeline for Kubeflow: workloads/.venv/bin/python -m mlops_workloads.submit "
        "--model-name fraud-detection --compile-only build/fraud-detection.yaml",
        highlight=False,
    )
