# Image of the monitoring and batch jobs (python -m mlops_workloads.monitoring, ...): drift statistics, Evidently
# reports, Prometheus export and retraining submission, with the compiled training pipeline the KFP retrainer submits.
# Build from the repository root:
#   docker build -f workloads/docker/monitoring.Dockerfile -t ghcr.io/mlops-platform/mlops-monitoring:0.1.0 .
# Base image: mlops_workloads.images.PYTHON_BASE_IMAGE (a test keeps them equal).

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM python:3.11.14-slim-bookworm AS build
COPY --from=uv /uv /usr/local/bin/uv
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
# The KFP retrainer submits this package; compiled here with the image's own kfp so the two always match.
RUN /opt/venv/bin/python -c "from pipelines.training import compile_pipeline; compile_pipeline('/app/pipelines/training.yaml')"

FROM python:3.11.14-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app/pipelines /app/pipelines
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
WORKDIR /app
USER 10001:10001
ENTRYPOINT ["python", "-m"]
CMD ["mlops_workloads.monitoring", "--help"]
