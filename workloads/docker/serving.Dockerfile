# Image of the online inference service (python -m mlops_workloads.serving: FastAPI + ONNX Runtime, one uvicorn worker
# per container, scale with replicas; models pulled from the MLflow registry by alias at run time) and of batch
# scoring (python -m mlops_workloads.batch). Built and pushed by `pulumi up` (components/images.py); by hand, from the
# repository root: docker buildx build -f workloads/docker/serving.Dockerfile .

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

FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS runtime
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
