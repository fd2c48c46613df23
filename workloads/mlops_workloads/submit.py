"""Submit one training run of a model to Kubeflow Pipelines (the stack's scheduled training CronJob).

    python -m mlops_workloads.submit --model-name fraud-detection --kfp-host http://ml-pipeline.kubeflow:8888 \
        --pipeline-module pipelines.fraud_detection --pipeline-parameters '{"nEstimators": 300}' \
        --train-source s3://data/fraud-detection/inputs --training-image <registry>/mlops-training@sha256:<digest> \
        --accelerator gpu --gpu-placement '{"nodeSelector": {...}, "tolerations": [...]}' \
        --gate f1>=0.75 --gate precision>=0.7 --champion-tolerance 0.01 --promotion auto

``--compile-only FILE`` writes the exact pipeline spec it would submit (parameters, images, placement) and submits
nothing. Bad input ends with a one-line message on stderr and exit code 2; a failed submission exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mlops_workloads.submission import add_training_arguments, submit_run, training_request

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mlops_workloads.submit", description=__doc__.split("\n")[0])
    p.add_argument("--model-name", required=True, help="the MLflow registered model name")
    p.add_argument("--kfp-host", default=os.environ.get("KFP_HOST"), help="KFP API URL (env KFP_HOST)")
    p.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"),
                   help="MLflow the run registers into (env MLFLOW_TRACKING_URI)")  # fmt: skip
    p.add_argument("--compile-only", metavar="FILE", type=Path, help="write the pipeline spec and submit nothing")
    add_training_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        request = training_request(args)
        if args.compile_only is not None:
            path = request.compile(args.compile_only, model_name=args.model_name, tracking_uri=args.tracking_uri)
            print(json.dumps({"compiled": str(path), "pipeline_module": request.pipeline_module}))
            return 0
        if not args.kfp_host:
            raise ValueError("--kfp-host (or KFP_HOST) is required to submit; use --compile-only FILE to only compile")
        if not args.tracking_uri:
            raise ValueError("--tracking-uri (or MLFLOW_TRACKING_URI) is required: the run registers its model there")
        if not request.training_image:
            raise ValueError("--training-image is required to submit: the image the stack deployed, pinned")
        if not request.train_source:
            raise ValueError("--train-source is required to submit: the data the pipeline trains on")
    except ValueError as exc:
        print(f"submit: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        run = submit_run(request, host=args.kfp_host, model_name=args.model_name, tracking_uri=args.tracking_uri)
    except Exception as exc:
        print(f"submit: failed: {type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps({"run_id": run.run_id, "run_name": run.run_name, "experiment": run.experiment}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
