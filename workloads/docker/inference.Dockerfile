# Image of the online inference service (python -m mlops_workloads.serving): FastAPI + ONNX Runtime, one uvicorn
# worker per container (scale with replicas), models pulled from the MLflow registry by alias at run time.
# Build from the repository root:
#   docker build -f workloads/docker/inference.Dockerfile -t ghcr.io/mlops-platform/mlops-serving:0.1.0 .
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

FROM python:3.11.14-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
# The scikit-learn in this venv is the one the service accepts models from (MLmodel sklearn_version must match).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false \
    SERVING_HOST=0.0.0.0 \
    SERVING_PORT=8080
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('SERVING_PORT', '8080')}/healthz\", timeout=2)"]
ENTRYPOINT ["python", "-m", "mlops_workloads.serving"]
