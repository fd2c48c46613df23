# Image of the Kubeflow training pipeline steps (pipelines/training.py): every dependency from workloads/uv.lock is
# baked in, so the lightweight components start without pip-installing anything (install_kfp_package=False).
# Build from the repository root:
#   docker build -f workloads/docker/training.Dockerfile -t ghcr.io/mlops-platform/mlops-training:0.1.0 .
# Base image: mlops_workloads.images.PYTHON_BASE_IMAGE (a test keeps them equal); tag: images.TRAINING_IMAGE.

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
# The Feast repository definitions, for steps that read point-in-time features (the cluster config is mounted).
COPY workloads/feature_repo/definitions.py /app/feature_repo/definitions.py
# kfp runs `python3 -m kfp.dsl.executor_main` from a temp dir: the venv's python3 must come first on PATH.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    FEAST_USAGE=False \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
WORKDIR /tmp
USER 10001:10001
CMD ["python3", "-c", "import kfp, mlflow, sklearn, mlops_workloads.training; print('training image ok')"]
