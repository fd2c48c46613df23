"""Command line of the monitoring job.

    python -m mlops_workloads.monitoring --model-name fraud-detection \
        --current s3://data/fraud-detection/predictions --report-dir s3://monitoring/fraud-detection/reports \
        --cooldown-hours 6 --drift-share 0.5 --missing-share 0.2 --pushgateway http://pushgateway:9091 \
        --retrain kfp --kfp-host http://ml-pipeline:8888 --pipeline-module pipelines.fraud_detection \
        --train-source s3://data/fraud-detection/inputs --training-image <registry>/mlops-training@sha256:<digest> \
        --gate f1>=0.75 --gate precision>=0.7 --champion-tolerance 0.01 --promotion manual

The retraining flags are the TRAINING FLAGS of ``python -m mlops_workloads.submit`` (one parser).

``--dry-run`` validates the arguments and prints what the run would do (retraining backend, pipeline arguments,
training image) without reading data or calling any service.

Bad input ends with a one-line message on stderr and a non-zero exit code (2: bad input, 1: run failure).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace

from mlops_workloads.monitoring.drift import DriftPolicy, MissingColumnsError
from mlops_workloads.monitoring.job import MonitoringConfig, MonitoringError, run_monitoring
from mlops_workloads.monitoring.retrain import DEFAULT_COOLDOWN_HOURS, KfpApiRetrainer, LocalRetrainer, Retrainer
from mlops_workloads.monitoring.storage import WindowError
from mlops_workloads.registry import CHAMPION
from mlops_workloads.submission import add_training_arguments, training_request

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mlops_workloads.monitoring", description=__doc__.split("\n")[0])
    p.add_argument("--current", required=True, help="current window: Parquet/CSV file, directory or bucket prefix")
    p.add_argument("--model-name", required=True, help="the MLflow registered model name")
    p.add_argument("--alias", default=CHAMPION, help="registry alias of the monitored version (the champion's)")
    p.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"))
    p.add_argument("--report-dir", required=True, help="where HTML reports and summaries go (dir, s3:// or gs://)")
    p.add_argument("--metrics-file", help="textfile-collector .prom path (default: <report-dir>/model_monitoring.prom)")
    p.add_argument("--pushgateway", default=os.environ.get("PUSHGATEWAY_URL"), help="e.g. http://pushgateway:9091")
    p.add_argument("--retrain", choices=["local", "kfp", "none"], default="none")
    p.add_argument("--kfp-host", default=os.environ.get("KFP_HOST"), help="KFP API URL (with --retrain kfp)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved configuration and exit")
    p.add_argument("--cooldown-hours", type=float, default=DEFAULT_COOLDOWN_HOURS)
    p.add_argument("--cooldown-state", help="cooldown state JSON (default: <report-dir>/retraining_state.json)")
    p.add_argument("--prediction-column", default="prediction")
    p.add_argument("--no-score", action="store_true", help="do not score windows that lack predictions")
    p.add_argument("--chunk-rows", type=int, default=262_144)
    p.add_argument("--psi-threshold", type=float, default=DriftPolicy.psi_threshold)
    p.add_argument("--wasserstein-threshold", type=float, default=DriftPolicy.wasserstein_threshold)
    p.add_argument("--drift-share", type=float, default=DriftPolicy.drift_share)
    p.add_argument("--missing-share", type=float, default=DriftPolicy.missing_share,
                   help="share of missing or invalid values of a feature that counts as drift on its own")  # fmt: skip
    add_training_arguments(p)
    return p


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _retrainer(args: argparse.Namespace) -> Retrainer | None:
    if args.retrain == "none":
        return None
    if not args.tracking_uri:
        raise ValueError(f"--retrain {args.retrain} needs --tracking-uri (or MLFLOW_TRACKING_URI) for the new version")
    request = training_request(args)
    if not request.train_source:  # a labelled window: the monitored data is what the model must fit now
        request = replace(request, train_source=args.current)
    if args.retrain == "kfp":
        if not args.kfp_host:
            raise ValueError("--retrain kfp needs --kfp-host (or KFP_HOST)")
        return KfpApiRetrainer(args.kfp_host, request, tracking_uri=args.tracking_uri)
    params = request.arguments(model_name=args.model_name, tracking_uri=args.tracking_uri)
    return LocalRetrainer(params, pipeline_module=request.pipeline_module)


def _dry_run(args: argparse.Namespace, retrainer: Retrainer | None) -> dict[str, object]:
    plan: dict[str, object] = {"current": args.current, "model_name": args.model_name, "retrain": args.retrain}
    if isinstance(retrainer, KfpApiRetrainer):
        plan |= {
            "kfp_host": retrainer.host,
            "training_image": retrainer.request.training_image,
            "pipeline_module": retrainer.request.pipeline_module,
            "accelerator": retrainer.request.accelerator,
            "pipeline_arguments": retrainer.request.arguments(
                model_name=args.model_name, tracking_uri=retrainer.tracking_uri
            ),
        }
    elif isinstance(retrainer, LocalRetrainer):
        plan |= {"pipeline_arguments": retrainer.params}
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # progress bars garble the JSON log
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        if args.chunk_rows < 1:
            raise ValueError(f"--chunk-rows must be >= 1, got {args.chunk_rows}")
        policy = DriftPolicy(
            psi_threshold=args.psi_threshold,
            psi_significant=max(DriftPolicy.psi_significant, args.psi_threshold),
            wasserstein_threshold=args.wasserstein_threshold,
            drift_share=args.drift_share,
            missing_share=args.missing_share,
        )
        config = MonitoringConfig(
            current=args.current,
            model_name=args.model_name,
            alias=args.alias,
            tracking_uri=args.tracking_uri,
            report_dir=args.report_dir,
            metrics_file=args.metrics_file,
            pushgateway=args.pushgateway,
            cooldown_state=args.cooldown_state,
            cooldown_hours=args.cooldown_hours,
            policy=policy,
            chunk_rows=args.chunk_rows,
            prediction_column=args.prediction_column,
            score_missing_predictions=not args.no_score,
        )
        retrainer = _retrainer(args)
        if args.dry_run:
            print(json.dumps(_dry_run(args, retrainer), sort_keys=True))
            return 0
        run = run_monitoring(config, retrainer=retrainer)
    except (WindowError, MissingColumnsError, MonitoringError, FileNotFoundError, ValueError) as exc:
        print(f"monitoring: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        print(f"monitoring: failed: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    print(
        json.dumps(
            {
                "model_version": run.model_version,
                "window_rows": run.drift.window_rows,
                "drift_share": round(run.drift.drift_share, 4),
                "drifted_features": run.drift.drifted_features,
                "decision": run.decision.outcome.value,
                "promotion": run.decision.promotion,
                "contract_violations": [v.describe() for v in run.drift.violations],
                "report": run.report_uri,
                "metrics_file": run.metrics_file,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
