"""The servers the platform runs from charts, rendered offline at their pinned versions with the plan's values
(`helm template`, charts from $MLOPS_CHART_CACHE): MLflow and the Feast feature server run the platform's own images
(the MLflow and Feast of workloads/uv.lock) as the images' user, the MLflow server answers Prometheus by pod IP and
clients by service name, and the Pushgateway persists its metrics to its volume.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from infra.plan.manifests import HELM_RELEASE
from tests.infra.conftest import DOCKER_DIR, STACKS, _stack_plan, stack_spec
from tests.infra.image_harness import Dockerfile, Layout, render_release

BUILD = "docker-build:index:Image"


def release(stack: str, name: str) -> dict[str, Any]:
    (found,) = [r.inputs for r in _stack_plan(stack).of_type(HELM_RELEASE) if r.inputs["name"] == name]
    return found


def rendered(stack: str, name: str, kind: str) -> list[dict[str, Any]]:
    return [m for m in render_release(release(stack, name)) if m["kind"] == kind]


def built_ref(stack: str, image: str) -> str:
    return str(_stack_plan(stack).one(BUILD, f"image-{image}").outputs["ref"])


def image_uid(image: str) -> int:
    return int(str(Dockerfile.parse(DOCKER_DIR / f"{image}.Dockerfile").last("USER")).split(":")[0])


def image_env(image: str) -> dict[str, str]:
    dockerfile = Dockerfile.parse(DOCKER_DIR / f"{image}.Dockerfile")
    env: dict[str, str] = {}
    for value in [i.value for i in dockerfile.final.instructions if i.keyword == "ENV"]:
        from dockerfile_parse.util import extract_key_values

        env.update(extract_key_values(env_replace=False, args={}, envs={}, instruction_value=value))
    return env


def check_runs_as_the_image_user_on_a_read_only_root(
    pod: dict[str, Any], container: dict[str, Any], image: str
) -> None:
    """The image's numeric user, non-root, read-only root: the image's HOME and working directory on an emptyDir."""
    context = {**(pod.get("securityContext") or {}), **(container.get("securityContext") or {})}
    assert context["runAsUser"] == image_uid(image) and context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    writable = [m["mountPath"] for m in container.get("volumeMounts") or [] if "emptyDir" in volumes[m["name"]]]
    dockerfile = Dockerfile.parse(DOCKER_DIR / f"{image}.Dockerfile")
    for path in (image_env(image)["HOME"], str(dockerfile.last("WORKDIR"))):
        assert any(path == w or path.startswith(f"{w}/") for w in writable), f"{path} is not writable in {writable}"


# --- MLflow ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_mlflow_runs_the_locked_mlflow_image_with_its_migration(stack: str) -> None:
    (deployment,) = rendered(stack, "mlflow", "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in [*pod["initContainers"], *pod["containers"]]}
    server, migration = containers["mlflow"], containers["mlflow-db-migration"]
    # The chart's default image is MLflow 3.15.1; the server and the schema migration run the built one (3.17.x).
    assert server["image"] == migration["image"] == built_ref(stack, "mlflow")
    assert server["command"] == ["mlflow"] and server["args"][0] == "server"  # started with --help in the image
    for container in (server, migration):
        check_runs_as_the_image_user_on_a_read_only_root(pod, container, "mlflow")
    env = {e["name"]: e for e in server["env"]}
    assert env["PGSSLMODE"]["value"] == "require"
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == env["PGUSER"]["valueFrom"]["secretKeyRef"]["name"]
    (settings,) = [c for c in rendered(stack, "mlflow", "ConfigMap") if c["metadata"]["name"] == "mlflow-env-configmap"]
    assert settings["data"]["PGHOST"] and settings["data"]["PGDATABASE"] == "mlflow"
    # The backend store URI the server and the migration open names the driver the image has (psycopg 3).
    assert "--backend-store-uri=postgresql+psycopg://" in server["args"]


def test_the_mlflow_backend_driver_loads_in_the_mlflow_image(image_layouts: dict[str, Layout]) -> None:
    (deployment,) = rendered("dev", "mlflow", "Deployment")
    server = deployment["spec"]["template"]["spec"]["containers"][0]
    (uri,) = [a.split("=", 1)[1] for a in server["args"] if a.startswith("--backend-store-uri=")]
    (migrations,) = [c for c in rendered("dev", "mlflow", "ConfigMap") if c["metadata"]["name"] == "mlflow-migrations"]
    assert f'"{uri}"' in migrations["data"]["migrations.py"]
    probe = f"import sqlalchemy; print(sqlalchemy.engine.make_url({uri!r}).get_dialect().import_dbapi().__name__)"
    result = image_layouts["mlflow"].run(["python", "-c", probe])
    assert result.returncode == 0 and result.stdout.split()[-1] == "psycopg", result.stderr[-2000:]


def pod_ip(stack: str) -> str:
    """A pod address of the stack: VPC CNI gives pods VPC addresses on EKS, GKE gives them the pods range."""
    spec = stack_spec(stack)
    network = spec.network.vpc_cidr if spec.cloud == "aws" else spec.network.pods_cidr
    return str(ipaddress.ip_network(network)[1037])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str, host: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def test_mlflow_answers_prometheus_by_pod_ip_and_clients_by_service_name(
    image_layouts: dict[str, Layout], tmp_path: Path
) -> None:
    """The locked MLflow server, started in the recreated image with exactly the allowed-hosts value the chart
    renders from the plan and the chart's own server flags (the database and bucket swapped for local ones)."""
    values = {
        stack: next(
            c for c in rendered(stack, "mlflow", "ConfigMap") if c["metadata"]["name"] == "mlflow-env-configmap"
        )
        for stack in STACKS
    }
    allowed = {stack: v["data"]["MLFLOW_SERVER_ALLOWED_HOSTS"] for stack, v in values.items()}
    assert len(set(allowed.values())) == 1  # one server configuration for every stack: start it once
    (deployment,) = rendered("dev", "mlflow", "Deployment")
    server = deployment["spec"]["template"]["spec"]["containers"][0]
    port = free_port()
    local = {
        "--host": "127.0.0.1",
        "--port": str(port),
        "--backend-store-uri": f"sqlite:///{tmp_path}/mlflow.db",
        "--artifacts-destination": str(tmp_path / "artifacts"),
    }
    args = [
        f"{a.split('=', 1)[0]}={local[a.split('=', 1)[0]]}" if a.split("=", 1)[0] in local else a
        for a in server["args"]
    ]
    env = {e["name"]: e["value"] for e in server["env"] if "value" in e}
    layout = image_layouts["mlflow"]
    layout.mount("/tmp/prometheus")
    process = layout.start(
        [*server["command"], *args], {**env, "MLFLOW_SERVER_ALLOWED_HOSTS": allowed["dev"]}, tmp_path / "mlflow.log"
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "mlflow.log").read_text()[-3000:]
            try:
                if get(port, "/health", "127.0.0.1")[0] == 200:
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("MLflow did not become healthy:\n" + (tmp_path / "mlflow.log").read_text()[-3000:])
        service = "mlflow.mlflow.svc.cluster.local:5000"
        search = "/api/2.0/mlflow/experiments/search?max_results=1"
        status, body = get(port, search, service)
        assert status == 200 and "experiments" in body, body
        for stack in STACKS:  # Prometheus scrapes each pod at <pod IP>:5000
            status, body = get(port, "/metrics", f"{pod_ip(stack)}:5000")
            assert status == 200 and "mlflow_http_request_total" in body, (stack, status, body[:300])
        for path in ("/metrics", search):  # DNS-rebinding protection still refuses a foreign name
            assert get(port, path, "mlflow.attacker.example:5000")[0] == 403
    finally:
        process.terminate()
        process.wait(timeout=60)


# --- Feast -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_feature_server_runs_the_feast_that_writes_its_registry(stack: str) -> None:
    (deployment,) = rendered(stack, "feast-feature-server", "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    # The chart's default is feature-server 0.66; `feast apply` (the Job) and the server now run one image.
    jobs = [r.inputs for r in _stack_plan(stack).of_type("kubernetes:batch/v1:Job") if r.name == "feast-apply"]
    (apply_job,) = jobs
    assert container["image"] == apply_job["spec"]["template"]["spec"]["containers"][0]["image"]
    assert container["image"] == built_ref(stack, "training")
    check_runs_as_the_image_user_on_a_read_only_root(pod, container, "training")
    command = container["command"]
    assert command[:1] == ["feast"] and "serve" in command  # started with --help in the image
    assert command[command.index("-p") + 1] == str(container["ports"][0]["containerPort"])
    (config_path,) = [command[command.index("--feature-store-yaml") + 1]]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts[config_path.rsplit("/", 1)[0]]]["secret"]["secretName"] == "feast-feature-store"


# --- Pushgateway ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_pushgateway_persists_metrics_to_its_volume(stack: str) -> None:
    (deployment,) = rendered(stack, "pushgateway", "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    files = [a.split("=", 1)[1] for a in container.get("args") or [] if a.startswith("--persistence.file=")]
    assert len(files) == 1, f"without --persistence.file the Pushgateway keeps metrics in memory only: {container}"
    (persistence,) = files
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    directory = persistence.rsplit("/", 1)[0]
    volume = {v["name"]: v for v in pod["volumes"]}[mounts[directory]]
    (claim,) = rendered(stack, "pushgateway", "PersistentVolumeClaim")
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    # One pod at a time on the ReadWriteOnce volume, and the file is written as the pod's user.
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pod["securityContext"]["fsGroup"] == container["securityContext"]["runAsUser"]
