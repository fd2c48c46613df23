"""The demo's steps: the whole ML lifecycle on one machine, through the same code the cluster runs.

services → data → features (Feast) → training pipeline (kfp local) → promotion → serving + traffic → drift →
batch scoring → monitoring job (Evidently report, drift, local retraining, promotion) → hot reload → summary.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pandas as pd
from rich.console import Console
from rich.markup import escape

from mlops_workloads.data import generate_transactions, inject_drift, write_partitions
from mlops_workloads.demo.config import ARTIFACT_BUCKET, DATA_MANIFEST, DRIFT_SCALE, DRIFT_SHIFT, REPO_ROOT, DemoConfig
from mlops_workloads.demo.infra import InfraChecks
from mlops_workloads.demo.processes import ManagedProcess, ProcessSupervisor
from mlops_workloads.demo.services import (
    BIN,
    child_env,
    launch_object_store,
    launch_tracking_server,
    setup_feature_store,
    start_inference_service,
    wait_object_store,
    wait_tracking_server,
)
from mlops_workloads.demo.traffic import BackgroundTraffic, request_rows, send_burst
from mlops_workloads.features import EVENT_TIMESTAMP, FEATURE_NAMES, LABEL, TRANSACTION_ID

TRAINING_START = "2026-01-01"
TRAINING_DAYS = 7
LIVE_DAY = "2026-01-08"
DRIFT_DAY = "2026-01-09"
GENERATOR_VERSION = 1  # bump when the way the demo generates its frames changes: cached frames are then rebuilt


class StepFailed(RuntimeError):
    """One step of the demo failed: which one, why, and where its log is."""

    def __init__(self, step: str, reason: str, log: Path | None) -> None:
        self.step, self.reason, self.log = step, reason, log
        where = f" (log: {log})" if log else ""
        super().__init__(f"step '{step}' failed: {reason}{where}")


@dataclass(frozen=True)
class Frames:
    training: pd.DataFrame
    live: pd.DataFrame
    drifted: pd.DataFrame
    reused: bool


@contextlib.contextmanager
def captured(log_path: Path) -> Iterator[TextIO]:
    """Send this process's prints and log records (kfp, MLflow, the monitoring job) to ``log_path`` for a block."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", buffering=1) as handle:
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        previous_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
                yield handle
        finally:
            root.removeHandler(handler)
            root.setLevel(previous_level)


class Lifecycle:
    """Runs the steps in order, recording every outcome in ``summary`` (what summary.json holds)."""

    def __init__(self, config: DemoConfig, console: Console, supervisor: ProcessSupervisor) -> None:
        self.config = config
        self.console = console
        self.supervisor = supervisor
        self.summary: dict[str, Any] = {
            "status": "running",
            "size": config.size.name,
            "seed": config.seed,
            "output": str(config.output),
            "model_name": config.model_name,
            "ports": {"mlflow": config.mlflow_port, "serving": config.serving_port, "s3": config.s3_port},
            "services": {},
            "steps": [],
            "versions": [],
            "promotions": [],
            "traffic": {},
            "logs": {},
            "reports": {},
        }
        self.infra: InfraChecks | None = None
        self._client: Any = None

    # --- helpers ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def step(self, title: str, log: Path | None = None) -> Iterator[None]:
        """Show a spinner while the step runs; record its duration; turn any error into :class:`StepFailed`."""
        started = time.monotonic()
        record: dict[str, Any] = {"name": title, "status": "running"}
        self.summary["steps"].append(record)
        try:
            with self.console.status(f"[bold]{title}[/bold]…", spinner="dots"):
                yield
        except KeyboardInterrupt:
            record["status"] = "interrupted"
            raise
        except StepFailed:
            record["status"] = "failed"
            raise
        except Exception as exc:
            record["status"] = "failed"
            raise StepFailed(title, f"{type(exc).__name__}: {exc}", log) from exc
        finally:
            record["seconds"] = round(time.monotonic() - started, 2)
        record["status"] = "ok"
        self.console.print(f"[green]✔[/green] {title} [dim]({record['seconds']:.1f} s)[/dim]")

    def note(self, text: str) -> None:
        self.console.print(f"  [dim]│[/dim] {text}", highlight=False)

    def log(self, name: str) -> Path:
        path = self.config.logs / f"{name}.log"
        self.summary["logs"][name] = str(path)
        return path

    @property
    def client(self) -> Any:
        if self._client is None:
            import mlflow

            uri = self.config.tracking_uri
            self._client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        return self._client

    # --- the steps -------------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        os.environ.update({"FEAST_USAGE": "False", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"})
        s3, tracking = self.launch_services()
        frames = self.prepare_data()
        self.feature_store(frames)  # while the services start
        self.wait_services(s3, tracking)
        if self.config.infra:
            self.start_infra_checks()
        first = self.train_initial()
        self.serve_and_burst(frames, first)
        self.drift_and_retrain(frames, first)
        self.summary["aliases"] = self.aliases()
        self.collect_infra()
        self.summary["status"] = "ok"
        return self.summary

    def prepare_data(self) -> Frames:
        log = self.log("demo")
        with self.step("Generate synthetic card transactions", log):
            frames = self._frames()
            written = write_partitions(frames.training, self.config.transactions)
            frames.training.to_parquet(self.config.data / "training.parquet", index=False)
        fraud_rate = float(frames.training[LABEL].mean())
        self.summary["data"] = {
            "training_rows": len(frames.training),
            "training_partitions": [str(p.parent.name) for p in written],
            "live_rows": len(frames.live),
            "drifted_rows": len(frames.drifted),
            "fraud_rate": round(fraud_rate, 4),
            "reused_cached_frames": frames.reused,
            "transactions_root": str(self.config.transactions),
            "drift": {"shift_std": DRIFT_SHIFT, "scale": DRIFT_SCALE},
        }
        self.note(
            f"{len(frames.training):,} transactions over {TRAINING_DAYS} days ({fraud_rate:.1%} fraud) in "
            f"{len(written)} date partitions; live day {LIVE_DAY}: {len(frames.live):,}; "
            f"next day {DRIFT_DAY}: {len(frames.drifted):,}"
            + (" [dim](cached frames reused)[/dim]" if frames.reused else "")
        )
        return frames

    def _frames(self) -> Frames:
        """Generate (seeded) or reuse the three frames: training week, live day, and the day that will drift."""
        size, seed, data = self.config.size, self.config.seed, self.config.data
        manifest = {
            "generator": GENERATOR_VERSION,
            "seed": seed,
            "training_rows": size.training_rows,
            "window_rows": size.window_rows,
            "drift": {"shift": DRIFT_SHIFT, "scale": DRIFT_SCALE},
        }
        cache = {name: data / "cache" / f"{name}.parquet" for name in ("training", "live", "drifted")}
        manifest_path = data / "cache" / DATA_MANIFEST
        cached = manifest_path.exists() and all(path.exists() for path in cache.values())
        if cached and json.loads(manifest_path.read_text()) == manifest:
            loaded = {name: pd.read_parquet(path) for name, path in cache.items()}
            return Frames(loaded["training"], loaded["live"], loaded["drifted"], reused=True)
        training = generate_transactions(size.training_rows, seed=seed, start=TRAINING_START, days=TRAINING_DAYS)
        live = generate_transactions(size.window_rows, seed=seed + 1, start=LIVE_DAY, days=1)
        upcoming = generate_transactions(size.window_rows, seed=seed + 2, start=DRIFT_DAY, days=1)
        drifted = inject_drift(upcoming, shift=DRIFT_SHIFT, scale=DRIFT_SCALE, seed=seed)
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        for name, frame in (("training", training), ("live", live), ("drifted", drifted)):
            frame.to_parquet(cache[name], index=False)
        manifest_path.write_text(json.dumps(manifest, indent=2))
        return Frames(training, live, drifted, reused=False)

    def launch_services(self) -> tuple[ManagedProcess, ManagedProcess]:
        """Start S3 and MLflow now; they boot while the data and the features are prepared."""
        config = self.config
        with self.step("Launch the S3-compatible object store (moto) and the MLflow tracking server", self.log("demo")):
            s3 = launch_object_store(config, self.supervisor)
            tracking = launch_tracking_server(config, self.supervisor)
        self.log("s3")
        self.log("mlflow")
        return s3, tracking

    def wait_services(self, s3: ManagedProcess, tracking: ManagedProcess) -> None:
        config = self.config
        with self.step("Wait for S3 and MLflow to be healthy", self.log("mlflow")):
            wait_object_store(config, s3)
            wait_tracking_server(config, tracking)
        self.summary["services"]["s3"] = {"url": config.s3_endpoint, "pid": s3.pid, "bucket": ARTIFACT_BUCKET}
        self.summary["services"]["mlflow"] = {
            "url": config.tracking_uri,
            "pid": tracking.pid,
            "ready_seconds": round(time.monotonic() - tracking.started_at, 2),
            "backend": str(config.mlflow_dir / "mlflow.db"),
            "artifacts": f"s3://{ARTIFACT_BUCKET}/artifacts (proxied by the server)",
        }
        self.note(f"S3 (moto) {config.s3_endpoint}: bucket s3://{ARTIFACT_BUCKET} (pid {s3.pid})")
        self.note(
            f"MLflow {config.tracking_uri}: sqlite backend, artifacts proxied to S3 (pid {tracking.pid}, up "
            f"{self.summary['services']['mlflow']['ready_seconds']:.0f} s after launch)"
        )

    def start_infra_checks(self) -> None:
        self.infra = InfraChecks(self.supervisor, REPO_ROOT, self.config.logs).start()
        if self.infra.available:
            self.note("offline plans and policy checks of the 4 stacks run in the background (infra env)")

    def feature_store(self, frames: Frames) -> None:
        log = self.log("feast")
        with self.step("Register and materialise the features (Feast)", log), captured(log):
            result = setup_feature_store(self.config, frames.training)
        self.summary["feature_store"] = {
            "repo": str(result.repo_path),
            "feature_views": result.feature_views,
            "materialized_rows": result.materialized_rows,
            "cards_online": result.cards_online,
            "offline_store": "file",
            "online_store": str(result.repo_path / "data" / "online_store.db"),
        }
        self.note(
            f"feast apply: {', '.join(result.feature_views)}; materialised {result.cards_online:,} cards into the "
            f"sqlite online store"
        )

    def _pipeline_params(self) -> dict[str, Any]:
        """The pipeline's parameters in the demo: its size, and the dev stacks' release policy (auto promotion)."""
        from mlops_workloads.release import ReleasePolicy

        return {**self.config.size.pipeline_params(), **ReleasePolicy(promotion="auto").pipeline_arguments()}

    def _run_pipeline(self, name: str, source: Path) -> Any:
        from pipelines.fraud_detection import run_locally

        return run_locally(
            pipeline_root=self.config.pipelines / name,
            source_uri=str(source),
            tracking_uri=self.config.tracking_uri,
            model_name=self.config.model_name,
            **self._pipeline_params(),
        )

    def _gate_report(self, pipeline_root: Path) -> dict[str, Any] | None:
        reports = sorted(pipeline_root.rglob("evaluation"), key=lambda p: p.stat().st_mtime)
        files = [p for p in reports if p.is_file()]
        return json.loads(files[-1].read_text()) if files else None

    def _record_version(self, version: str, origin: str) -> dict[str, Any]:
        details = self.client.get_model_version(self.config.model_name, version)
        metrics = {k: round(float(v), 4) for k, v in self.client.get_run(details.run_id).data.metrics.items()}
        entry = {"version": str(version), "run_id": details.run_id, "origin": origin, "metrics": metrics}
        self.summary["versions"].append(entry)
        return entry

    def train_initial(self) -> str:
        log = self.log("pipeline-initial")
        title = "Train with the kfp pipeline (local runner): gates, registration, promotion (policy auto)"
        with self.step(title, log), captured(log):
            result = self._run_pipeline("initial", self.config.transactions)
        gates = self._gate_report(result.pipeline_root)
        self.summary.setdefault("gates", {})["initial"] = gates
        self._record_version(result.version, "initial training")
        self.summary["promotions"].append({"when": "initial", **result.promotion})
        shown = ", ".join(f"{m} {result.metrics[m]:.3f}" for m in ("f1", "precision", "recall", "roc_auc"))
        verdict = "passed" if gates and gates.get("passed") else "n/a"
        self.note(f"version {result.version} registered: {shown}; quality gates {verdict}")
        if not result.promotion.get("promoted"):
            raise RuntimeError("the first version was not promoted: " + "; ".join(result.promotion.get("reasons", [])))
        self.note(f"alias champion → version {result.promotion['champion_version']}")
        return str(result.version)

    def serve_and_burst(self, frames: Frames, champion: str) -> None:
        config = self.config
        with self.step("Start the inference service on models:/fraud-detection@champion", self.log("serving")):
            serving, seconds = start_inference_service(config, self.supervisor)
        self.summary["services"]["serving"] = {
            "url": config.serving_url,
            "pid": serving.pid,
            "ready_seconds": round(seconds, 2),
            "reload_interval_seconds": config.reload_interval_seconds,
        }
        self.note(f"{config.serving_url}  ready after {seconds:.1f} s, polling the champion alias every "
                  f"{config.reload_interval_seconds:g} s")  # fmt: skip
        rows = request_rows(frames.live)
        title = f"Send {config.size.requests:,} requests (concurrency {config.size.concurrency})"
        with self.step(title, self.log("demo")):
            stats = send_burst(
                config.serving_url, rows, requests=config.size.requests, concurrency=config.size.concurrency
            )
        burst = stats.summary()
        self.summary["traffic"]["burst"] = burst
        latency = burst["latency_ms"]
        self.note(
            f"{burst['ok']:,} ok, {burst['failed']} failed, {burst['throughput_rps']:.0f} req/s; latency p50 "
            f"{latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms, p99 {latency['p99']:.1f} ms; "
            f"served by version(s) {', '.join(burst['versions'])}"
        )
        if burst["failed"]:
            raise StepFailed(title, f"{burst['failed']} requests failed: {burst['errors']}", serving.log_path)

    def _batch_score(self) -> dict[str, Any]:
        """``python -m mlops_workloads.batch`` on the new day: the same job the cluster runs as a CronJob."""
        config = self.config
        argv = [
            str(BIN / "python"), "-m", "mlops_workloads.batch",
            "--data-root", str(config.transactions),
            "--output-root", str(config.predictions),
            "--date", DRIFT_DAY,
            "--tracking-uri", config.tracking_uri,
            "--model-name", config.model_name,
        ]  # fmt: skip
        child = self.supervisor.start("batch", argv, env=child_env({"MLFLOW_TRACKING_URI": config.tracking_uri}))
        code = child.process.wait(timeout=config.service_timeout * 3)
        if code != 0:
            raise RuntimeError(f"batch scoring exited with {code}: {child.log_tail(5)}")
        output = config.predictions / f"date={DRIFT_DAY}" / "part-0.parquet"
        return {"output": str(output), "rows": len(pd.read_parquet(output, columns=[TRANSACTION_ID]))}

    def _monitoring_window(self, drifted: pd.DataFrame, predictions: Path) -> Path:
        """Features and labels of the new day joined with the batch job's scores: what the monitoring job reads."""
        scores = pd.read_parquet(predictions, columns=[TRANSACTION_ID, "fraud_probability"])
        window = drifted.loc[:, [TRANSACTION_ID, EVENT_TIMESTAMP, *FEATURE_NAMES, LABEL]].merge(
            scores.rename(columns={"fraud_probability": "prediction"}), on=TRANSACTION_ID, how="inner", validate="1:1"
        )
        if len(window) != len(drifted):
            raise RuntimeError(f"only {len(window)} of {len(drifted)} transactions of {DRIFT_DAY} were scored")
        path = self.config.data / "monitoring_window" / f"date={DRIFT_DAY}" / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        window.to_parquet(path, index=False)
        return path

    def drift_and_retrain(self, frames: Frames, champion: str) -> None:
        from mlops_workloads.monitoring import LocalRetrainer, MonitoringConfig, run_monitoring

        config = self.config
        window = self._score_drifted_day(frames, champion)
        traffic = BackgroundTraffic(config.serving_url, request_rows(frames.drifted)).start()
        log = self.log("monitoring")
        title = "Monitoring job: drift report, retraining (kfp local) and promotion"
        try:
            with self.step(title, log), captured(log):
                retrainer = LocalRetrainer(
                    {
                        "source_uri": str(config.transactions),
                        "tracking_uri": config.tracking_uri,
                        "pipeline_root": str(config.pipelines / "retrain"),
                        **self._pipeline_params(),
                    }
                )
                run = run_monitoring(
                    MonitoringConfig(
                        current=str(window),
                        model_name=config.model_name,
                        tracking_uri=config.tracking_uri,
                        report_dir=str(config.reports),
                    ),
                    retrainer=retrainer,
                )
            self._record_monitoring(run)
            decision = run.decision
            if not decision.triggered:
                raise StepFailed(
                    title, f"retraining was not triggered: {decision.outcome.value} {decision.reasons}", log
                )
            promotion = decision.promotion or {}
            retrained = str((decision.submission.details if decision.submission else {}).get("version", ""))
            self.summary.setdefault("gates", {})["retrain"] = self._gate_report(config.pipelines / "retrain")
            if retrained:
                self._record_version(retrained, "retraining after drift")
            self.summary["promotions"].append({"when": "after retraining (monitoring job)", **promotion})
            if not promotion.get("promoted"):
                raise StepFailed(title, f"the retrained challenger was not promoted: {promotion}", log)
            new_version = str(promotion["champion_version"])
            self.note(
                f"retrained version {retrained} promoted to champion (previous-champion → v{champion}); "
                f"report: {run.report_uri}"
            )
            with self.step(f"Wait for the running service to serve v{new_version} (no restart)", self.log("serving")):
                seen = traffic.wait_for_version_other_than(champion, config.reload_timeout)
                if seen is None:
                    raise RuntimeError(
                        f"the service still answers with v{champion} after {config.reload_timeout:.0f} s"
                    )
        finally:
            stats = traffic.stop()
        self._record_reload(stats.summary(), traffic, champion, new_version, seen, log)

    def _score_drifted_day(self, frames: Frames, champion: str) -> Path:
        """Write the drifted day, score it with the batch job; returns the monitoring window (with predictions)."""
        with self.step(
            f"Shift the traffic distribution and score the new day ({DRIFT_DAY}) in batch", self.log("batch")
        ):
            write_partitions(frames.drifted, self.config.transactions)
            batch = self._batch_score()
            window = self._monitoring_window(frames.drifted, Path(batch["output"]))
        self.summary["batch"] = {**batch, "day": DRIFT_DAY, "window": str(window)}
        shifted = ", ".join(
            [f"{k} {v:+g} std" for k, v in DRIFT_SHIFT.items()] + [f"{k} x{v:g}" for k, v in DRIFT_SCALE.items()]
        )
        self.note(f"drift injected: {shifted}; batch job scored {batch['rows']:,} rows with v{champion}")
        return window

    def _record_reload(
        self,
        during: dict[str, Any],
        traffic: BackgroundTraffic,
        champion: str,
        new_version: str,
        seen: str | None,
        log: Path,
    ) -> None:
        """The hot reload as the traffic saw it; any failed request during retraining and reload fails the step."""
        self.summary["traffic"]["during_retraining"] = during  # and the reload
        promoted_at = self._promotion_time(new_version)
        first_new = traffic.first_seen.get(new_version)
        self.summary["reload"] = {
            "observed": seen == new_version,
            "from_version": champion,
            "to_version": seen,
            "seconds_after_promotion": None
            if promoted_at is None or first_new is None
            else round(max(0.0, first_new - promoted_at), 2),
            "service_pid_unchanged": self.summary["services"]["serving"]["pid"],
        }
        self.note(
            f"served version changed v{champion} → v{seen} "
            + (f"{self.summary['reload']['seconds_after_promotion']:.1f} s after the promotion; "
               if self.summary["reload"]["seconds_after_promotion"] is not None else "")
            + f"{during['ok']:,} requests during retraining and reload, {during['failed']} failed"
        )  # fmt: skip
        if during["failed"]:
            raise StepFailed("hot reload", f"{during['failed']} requests failed: {during['errors']}", log)

    def _promotion_time(self, version: str) -> float | None:
        from datetime import datetime

        from mlops_workloads.registry import DECISION_TAG

        tag = self.client.get_model_version(self.config.model_name, version).tags.get(DECISION_TAG)
        if not tag:
            return None
        return datetime.fromisoformat(json.loads(tag)["decided_at"]).timestamp()

    def _record_monitoring(self, run: Any) -> None:
        drift = run.drift
        features = sorted(
            (
                {
                    "feature": f.feature,
                    "method": f.method,
                    "score": None if f.score is None else round(float(f.score), 4),
                    "psi": round(float(f.psi), 4),
                    "severity": str(f.severity),
                    "drifted": bool(f.drifted),
                    "reference_mean": round(float(f.reference_mean), 4),
                    "current_mean": None if f.current_mean is None else round(float(f.current_mean), 4),
                }
                for f in drift.features
            ),
            key=lambda f: -f["psi"],
        )
        from mlops_workloads.monitoring.drift import Performance

        performance = drift.performance if isinstance(drift.performance, Performance) else None  # a classifier
        self.summary["drift"] = {
            "detected": bool(drift.retraining_reasons()),
            "dataset_drift": bool(drift.dataset_drift),
            "drift_share": round(float(drift.drift_share), 4),
            "drifted_features": drift.drifted_features,
            "window_rows": drift.window_rows,
            "features": features,
            "prediction": None
            if drift.prediction is None
            else {"psi": round(drift.prediction.psi, 4), "drifted": drift.prediction.drifted,
                  "current_positive_rate": round(drift.prediction.current_positive_rate or 0.0, 4),
                  "reference_positive_rate": round(drift.prediction.reference_positive_rate or 0.0, 4)},
            "performance": None
            if performance is None
            else {"f1": round(performance.f1, 4), "reference_f1": performance.reference_f1,
                  "degraded": performance.degraded},
            "decision": run.decision.outcome.value,
            "reasons": run.decision.reasons,
        }  # fmt: skip
        self.summary["reports"].update(
            {
                "evidently_html": run.report_uri,
                "drift_summary": run.summary_uri,
                "prometheus_textfile": run.metrics_file,
            }
        )
        self.note(
            f"drift share {drift.drift_share:.2f}, drifted: {', '.join(drift.drifted_features) or 'none'}; "
            f"decision: {run.decision.outcome.value}"
        )

    def aliases(self) -> dict[str, str]:
        from mlops_workloads.registry import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION

        found = {}
        for alias in (CHAMPION, PREVIOUS_CHAMPION, CHALLENGER):
            with contextlib.suppress(Exception):
                found[alias] = str(self.client.get_model_version_by_alias(self.config.model_name, alias).version)
        return found

    def collect_infra(self) -> None:
        if self.infra is None:
            self.summary["infra"] = {"skipped": "--skip-infra"}
            return
        if not self.infra.available:
            self.summary["infra"] = {
                "skipped": f"no infra environment at {self.infra.python}; run `make plan STACK=dev`"
            }
            return
        with self.step("Offline plans and policy checks of the infrastructure stacks", self.log("demo")):
            results = self.infra.wait(self.config.infra_timeout)
        self.summary["infra"] = {"stacks": [r.to_dict() for r in results]}


def stream_to(console: Console) -> Any:
    """A LogFollower callback printing ``[name] line`` above the spinner (``--verbose``)."""

    def emit(name: str, line: str) -> None:
        console.print(f"[dim]\\[{name}][/dim] {escape(line)}", highlight=False, soft_wrap=True)

    return emit


def python_path_for_pipelines() -> None:
    """``pipelines`` lives at the repository root: make it importable when the demo is started from elsewhere."""
    root = str(REPO_ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)
