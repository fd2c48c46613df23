# Image of the Kubeflow training pipeline steps (pipelines/) and of Feast (feast apply, materialization and
# the feature server): every dependency from workloads/uv.lock is baked in, so the lightweight components start
# without pip-installing anything (install_kfp_package=False). Built and pushed by `pulumi up` (components/images.py);
# by hand, from the repository root: docker buildx build -f workloads/docker/training.Dockerfile .

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
# The Feast repository definitions, for `feast apply` and the steps that read point-in-time features (the cluster's
# feature_store.yaml is mounted from a Secret).
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
CMD ["python3", "-m", "kfp.dsl.executor_main", "--help"]
