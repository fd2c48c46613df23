# Image of the MLflow tracking server and its schema migration (the community-charts mlflow chart runs `mlflow server`
# and `python /opt/mlflow/migrations.py` in it): the MLflow of workloads/uv.lock, the same version as every client,
# with the PostgreSQL driver (psycopg), both object-store clients (boto3, google-cloud-storage) and the Prometheus
# exporter (prometheus-flask-exporter) the server needs. Built and pushed by `pulumi up` (components/images.py); by
# hand, from the repository root: docker buildx build -f workloads/docker/mlflow.Dockerfile .

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

FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS runtime
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
WORKDIR /tmp
USER 10001:10001
EXPOSE 5000
ENTRYPOINT ["mlflow"]
CMD ["server", "--host=0.0.0.0", "--port=5000"]
