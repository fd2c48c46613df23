# Image of the monitoring job (python -m mlops_workloads.monitoring): drift statistics, Evidently reports, Prometheus
# export and retraining submission, with the compiled training pipeline its KFP retrainer submits (every step pointed
# at the training image the CronJob names with --training-image). Built and pushed by `pulumi up`
# (components/images.py); by hand, from the repository root:
#   docker buildx build -f workloads/docker/monitoring.Dockerfile .

# Base image: Python 3.11.14 on Debian bookworm, pinned by version and by the digest of its multi-architecture index.
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS build
# The uv that wrote workloads/uv.lock, from its sha256-pinned PyPI wheel (the installer make setup uses).
COPY infra/bootstrap_uv.py /tmp/bootstrap_uv.py
RUN python /tmp/bootstrap_uv.py --dest /usr/local/bin
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /app/workloads
# Dependencies first (cached while only the code changes), exactly as locked.
COPY workloads/pyproject.toml workloads/uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY workloads/mlops_workloads ./mlops_workloads
RUN uv sync --frozen --no-dev --no-editable
COPY pipelines /app/pipelines
WORKDIR /app
# Pipelines are compiled at run time (the stack decides the placement, the image and the arguments). Each reference
# module is also compiled here with its defaults, through the submitter: a module that cannot compile with the
# image's own kfp fails the build, not the first scheduled run, and /app/pipelines/<module>.yaml shows its steps.
RUN /opt/venv/bin/python -m mlops_workloads.submit --model-name fraud-detection --pipeline-module pipelines.fraud_detection \
        --compile-only /app/pipelines/fraud_detection.yaml \
    && /opt/venv/bin/python -m mlops_workloads.submit --model-name delivery-time --pipeline-module pipelines.delivery_time \
        --compile-only /app/pipelines/delivery_time.yaml

FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS runtime
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app/pipelines /app/pipelines
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
WORKDIR /app
USER 10001:10001
ENTRYPOINT ["python", "-m"]
CMD ["mlops_workloads.monitoring", "--help"]
