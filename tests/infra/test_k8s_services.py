"""In-cluster services: pinned charts with the values that matter, identities, database bootstrap, workloads, GPU
plumbing, no secret in plain values, and every plain object valid against the official schemas (Kubeflow Pipelines
in depth: test_kubeflow.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components import versions
from components.k8s.database import bootstrap_sql, service_databases
from components.spec import PlatformSpec
from infra.plan.engine import Plan
from infra.plan.manifests import HELM_RELEASE, validate_plan
from tests.infra.conftest import STACKS, stack_config, stack_spec
from tests.infra.fake_cloud import (
    FAKE_DB_ADMIN_PASSWORD,
    FAKE_HMAC_SECRET,
    FAKE_MYSQL_ADMIN_PASSWORD,
    FAKE_PAGERDUTY_KEY,
    FAKE_REDIS_TOKEN,
    FAKE_SLACK_WEBHOOK,
    IDENTITY_ANNOTATION,
    fake_cloud_plan,
    flavour_of,
    kube_objects,
)

RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"


def releases(plan: Plan) -> dict[str, dict[str, Any]]:
    return {r.inputs["name"]: r.inputs for r in plan.of_type(HELM_RELEASE)}


def _one(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["metadata"]["name"] == name]
    return found


def check_charts_pinned(plan: Plan, gpu_plumbing: bool) -> None:
    expected = {
        "mlflow": versions.MLFLOW_CHART,
        "feast-feature-server": versions.FEAST_FEATURE_SERVER_CHART,
        "kube-prometheus-stack": versions.KUBE_PROMETHEUS_STACK_CHART,
        "pushgateway": versions.PROMETHEUS_PUSHGATEWAY_CHART,
    }
    if gpu_plumbing:
        expected |= {
            "nvidia-device-plugin": versions.NVIDIA_DEVICE_PLUGIN_CHART,
            "dcgm-exporter": versions.DCGM_EXPORTER_CHART,
        }
    found = releases(plan)
    assert set(expected) <= set(found)  # the cloud layer may add its own (e.g. cluster-autoscaler)
    if not gpu_plumbing:
        assert "nvidia-device-plugin" not in found
        assert "dcgm-exporter" not in found
    for name, chart in expected.items():
        release = found[name]
        assert (release["chart"], release["version"], release["repositoryOpts"]["repo"]) == (
            chart.name,
            chart.version,
            chart.repository,
        ), name
        assert release["atomic"] is True and release["createNamespace"] is False


def check_no_secret_in_plain_values(plan: Plan) -> None:
    """No generated password, admin password, Redis token or alerting secret in Helm values or non-Secret objects."""
    secrets = {FAKE_DB_ADMIN_PASSWORD, FAKE_MYSQL_ADMIN_PASSWORD, FAKE_REDIS_TOKEN, FAKE_SLACK_WEBHOOK}
    secrets |= {FAKE_PAGERDUTY_KEY, FAKE_HMAC_SECRET}
    secrets |= {r.outputs["result"] for r in plan.of_type(RANDOM_PASSWORD)}
    assert len(secrets) >= 9
    for resource in plan.resources:
        if resource.type == "kubernetes:core/v1:Secret" or resource.type.startswith("random:"):
            continue
        text = json.dumps(resource.inputs)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{resource.type} {resource.name} carries a secret in plain inputs"
    for secret in plan.of_type("kubernetes:core/v1:Secret"):
        assert "stringData" in secret.secret_inputs or "data" in secret.secret_inputs, secret.name


def check_identities(plan: Plan, granted: tuple[Any, ...], flavour: str) -> None:
    requests = {r.service_account: r for r in granted}
    assert dict(requests["mlflow"].buckets) == {"models": "readwrite"}
    assert dict(requests["ml-pipeline"].buckets) == {"pipelines": "readwrite"}
    assert dict(requests["pipeline-runner"].buckets) == {"data": "read", "pipelines": "readwrite"}
    assert dict(requests["feast"].buckets) == {"data": "read"}
    assert {g.bucket: g.access for g in requests["fraud-detection-monitoring"].grants()} == {
        "data": "read",
        "monitoring": "readwrite",
    }
    assert {(g.access, g.prefix) for g in requests["fraud-detection-batch"].grants()} == {
        ("read", "fraud-detection/inputs/"),
        ("readwrite", "fraud-detection/predictions/"),
    }
    assert "fraud-detection-serving" not in requests  # artifacts through the MLflow proxy: no bucket access
    annotation = IDENTITY_ANNOTATION[flavour]
    mlflow = releases(plan)["mlflow"]["values"]["serviceAccount"]
    assert annotation in mlflow["annotations"] and mlflow["name"] == "mlflow"
    accounts = {(a["metadata"]["namespace"], a["metadata"]["name"]): a for a in kube_objects(plan, "ServiceAccount")}
    for key in (("feast", "feast"), ("ml-team", "fraud-detection-monitoring"), ("ml-team", "fraud-detection-batch")):
        assert annotation in accounts[key]["metadata"]["annotations"], key
        assert accounts[key]["automountServiceAccountToken"] is False
    assert accounts[("ml-team", "fraud-detection-serving")]["metadata"]["annotations"] == {}
    for sa in ("pipeline-runner", "ml-pipeline-ui"):
        assert annotation in accounts[("kubeflow", sa)]["metadata"]["annotations"], sa
    # The API server's S3 client: the pod's IRSA role on AWS, an HMAC key (no Workload Identity) on GCP.
    assert (annotation in accounts[("kubeflow", "ml-pipeline")]["metadata"]["annotations"]) is (flavour == "aws")


def check_mlflow(plan: Plan, spec: PlatformSpec, scheme: str, models_bucket: str | None = None) -> None:
    values = releases(plan)["mlflow"]["values"]
    store = values["backendStore"]
    assert store["postgres"]["enabled"] is True and store["postgres"]["database"] == "mlflow"
    assert "password" not in store["postgres"] and "user" not in store["postgres"]
    assert store["existingDatabaseSecret"] == {
        "name": "mlflow-db",
        "usernameKey": "username",
        "passwordKey": "password",
    }
    root = values["artifactRoot"]
    assert root["proxiedArtifactStorage"] is True
    backend = {"s3": "s3", "gs": "gcs"}[scheme]
    assert root[backend]["enabled"] is True
    assert root[backend]["path"] == "mlflow"
    assert root[backend]["bucket"]
    if models_bucket is not None:
        assert root[backend]["bucket"] == models_bucket
    assert "mlflow.mlflow.svc.cluster.local" in values["serverAllowedHosts"]
    assert values["replicaCount"] == spec.mlflow.replicas
    assert values["extraEnvVars"]["PGSSLMODE"] == "require"
    assert values["securityContext"]["runAsNonRoot"] is True
    assert values["resources"]["requests"] and values["resources"]["limits"]
    pdbs = [p for p in kube_objects(plan, "PodDisruptionBudget", "mlflow")]
    assert len(pdbs) == (1 if spec.mlflow.replicas > 1 else 0)
    monitors = {m["metadata"]["name"]: m for m in kube_objects(plan, "ServiceMonitor")}
    assert monitors["mlflow"]["spec"]["endpoints"][0]["path"] == "/metrics"
    stack_release = plan.one(HELM_RELEASE, "kube-prometheus-stack").urn
    for resource in plan.resources:
        if resource.type.endswith(":ServiceMonitor") or resource.type.endswith(":PrometheusRule"):
            assert stack_release in resource.dependencies, resource.name


def check_database_bootstrap(plan: Plan, spec: PlatformSpec) -> None:
    (job,) = [j for j in kube_objects(plan, "Job", "platform-bootstrap") if j["metadata"]["name"].startswith("db-")]
    assert job["metadata"]["name"].startswith("db-bootstrap-") and len(job["metadata"]["name"]) == 23
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == versions.POSTGRES_CLIENT_IMAGE
    env = {e["name"]: e for e in container["env"]}
    assert env["PGSSLMODE"]["value"] == "require"
    assert "KFP_PASSWORD" not in env  # Kubeflow Pipelines has its own MySQL (test_kubeflow.py)
    for name in ("PGPASSWORD", "MLFLOW_PASSWORD", "FEAST_PASSWORD"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "db-bootstrap", name
        assert "value" not in env[name]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    resource = next(r for r in plan.resources if r.type == "kubernetes:batch/v1:Job" and r.name == "db-bootstrap")
    assert resource.delete_before_replace
    # The admin password lives only in the bootstrap namespace.
    admin_password = _one(kube_objects(plan, "Secret", "platform-bootstrap"), "db-bootstrap")["stringData"][
        "admin-password"
    ]
    assert admin_password
    holders = [
        r.name for r in plan.resources if r.type.startswith("kubernetes:") and admin_password in json.dumps(r.inputs)
    ]
    assert holders == ["db-bootstrap"]
    script = _one(kube_objects(plan, "ConfigMap", "platform-bootstrap"), "db-bootstrap-script")["data"]["bootstrap.sql"]
    assert script == bootstrap_sql(service_databases(spec))
    for database in ("mlflow", "feast_registry"):
        assert f"datname = '{database}'" in script
    assert "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'feast')" in script
    assert "kfp" not in script and "mlpipeline" not in script


def check_feast(plan: Plan, spec: PlatformSpec) -> None:
    values = releases(plan)["feast-feature-server"]["values"]
    assert values["feature_store_yaml_base64"] == ""
    assert values["volumes"] == [
        {"name": "feature-store", "secret": {"secretName": "feast-feature-store"}},
        {"name": "tmp", "emptyDir": {}},
    ]
    assert values["serviceAccount"] == {"name": "feast"}
    config = _one(kube_objects(plan, "Secret", "feast"), "feast-feature-store")["stringData"]["feature_store.yaml"]
    assert (
        "postgresql+psycopg://feast:" in config
        and f"@{spec.base_name}.db.internal.example:5432/feast_registry?sslmode=require" in config
    )
    assert f"{spec.base_name}.redis.internal.example:6379,ssl=true,password={FAKE_REDIS_TOKEN}" in config
    (cron,) = kube_objects(plan, "CronJob", "feast")
    command = " ".join(cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"])
    assert 'materialize-incremental "$(date -u +%Y-%m-%dT%H:%M:%S)"' in command
    (job,) = kube_objects(plan, "Job", "feast")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "apply"
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "feast"


def built_ref(plan: Plan, image: str) -> str:
    """The `<repository>:<tag>@<digest>` the build of `image` reported (test_images_plan.py checks every container)."""
    return str(plan.one("docker-build:index:Image", f"image-{image}").outputs["ref"])


def check_workloads(plan: Plan, spec: PlatformSpec) -> None:
    model = spec.models[0]
    deployment = _one(kube_objects(plan, "Deployment", model.team), f"{model.name}-serving")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == built_ref(plan, "serving")
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    assert env["SERVING_MODEL_NAME"] == model.name == "fraud-detection"
    assert env["SERVING_CHALLENGER_WEIGHT"] == str(model.serving.challenger_weight)
    assert container["resources"]["requests"] == {"cpu": model.serving.cpu, "memory": model.serving.memory}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert pod["nodeSelector"] == {"mlops.io/pool": "cpu"}
    assert "replicas" not in deployment["spec"]
    hpa = _one(kube_objects(plan, "HorizontalPodAutoscaler", model.team), f"{model.name}-serving")
    inference = model.serving
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (inference.min_replicas, inference.max_replicas)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == inference.target_cpu_utilization
    crons = {c["metadata"]["name"]: c for c in kube_objects(plan, "CronJob", model.team)}
    assert crons[f"{model.name}-batch"]["spec"]["schedule"] == model.batch.schedule
    assert crons[f"{model.name}-training"]["spec"]["schedule"] == model.training.schedule
    monitoring = crons[f"{model.name}-monitoring"]
    assert monitoring["spec"]["schedule"] == model.monitoring.schedule
    mon_pod = monitoring["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    args = mon_pod["containers"][0]["args"]
    assert args[args.index("--retrain") + 1] == "kfp"
    assert args[args.index("--cooldown-hours") + 1] == str(model.monitoring.retraining_cooldown_hours)
    assert args[args.index("--pushgateway") + 1] == "http://pushgateway.monitoring.svc.cluster.local:9091"
    assert mon_pod["serviceAccountName"] == f"{model.name}-monitoring"
    assert mon_pod["containers"][0]["image"] == built_ref(plan, "monitoring")


def check_gpu(plan: Plan, flavour: str) -> None:
    found = releases(plan)
    if flavour == "gcp":
        assert "nvidia-device-plugin" not in found and "dcgm-exporter" not in found
        return
    plugin = found["nvidia-device-plugin"]
    assert plugin["namespace"] == "nvidia-gpu"
    assert plugin["values"]["nodeSelector"] == {"mlops.io/pool": "gpu", "gpu-enabled": "true"}
    assert plugin["values"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    ]
    (term,) = plugin["values"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert {e["key"] for e in term["matchExpressions"]} == {"mlops.io/pool", "gpu-enabled"}
    dcgm = found["dcgm-exporter"]
    assert dcgm["values"]["serviceMonitor"]["enabled"] is True
    dcgm_resource = plan.one(HELM_RELEASE, "dcgm-exporter")
    assert plan.one(HELM_RELEASE, "kube-prometheus-stack").urn in dcgm_resource.dependencies


def check_manifests_valid(plan: Plan, kubernetes_version: str) -> None:
    report = validate_plan(plan, kubernetes_version)
    assert [str(e) for e in report.errors] == []
    assert len(report.objects) > 80


@pytest.mark.parametrize("stack", STACKS)
def test_services(stack: str) -> None:
    plan, granted = fake_cloud_plan(stack)
    spec = stack_spec(stack)
    flavour = flavour_of(stack)
    scheme = "s3" if flavour == "aws" else "gs"
    check_charts_pinned(plan, gpu_plumbing=flavour == "aws")
    check_no_secret_in_plain_values(plan)
    check_identities(plan, granted, flavour)
    check_mlflow(plan, spec, scheme, models_bucket=f"{spec.base_name}-models")
    check_database_bootstrap(plan, spec)
    check_feast(plan, spec)
    check_workloads(plan, spec)
    check_gpu(plan, flavour)
    check_manifests_valid(plan, spec.cluster.kubernetes_version)


def test_outputs_name_in_cluster_service_urls() -> None:
    plan, _ = fake_cloud_plan("prod")
    assert plan.outputs["mlflowUrl"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    assert plan.outputs["kfpApiUrl"] == "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
    assert plan.outputs["grafanaUrl"] == "http://kube-prometheus-stack-grafana.monitoring.svc.cluster.local:80"
    assert "ml-workloads" in plan.outputs["namespaces"]


def test_bootstrap_job_name_changes_only_with_its_inputs() -> None:
    dev, _ = fake_cloud_plan("dev")
    again, _ = fake_cloud_plan("dev", alerting=False)  # a different plan, same database inputs
    gcp, _ = fake_cloud_plan("gcp-dev")
    names = [
        sorted(j["metadata"]["name"] for j in kube_objects(p, "Job", "platform-bootstrap")) for p in (dev, again, gcp)
    ]
    assert len(names[0]) == 2  # PostgreSQL logins and the Kubeflow Pipelines MySQL login
    assert names[0] == names[1]
    assert set(names[0]).isdisjoint(names[2])


def test_disabled_services_are_not_deployed_and_basic_auth_uses_a_generated_secret() -> None:
    services = '{"mlflow": true, "kubeflow": false, "feast": false, "monitoring": false}'
    # Without Kubeflow and Feast a model trains on demand only and reads no Feast features.
    models = [
        {k: v for k, v in m.items() if k != "features"} for m in json.loads(stack_config("dev")[0]["mlops:models"])
    ]
    for model in models:
        model["training"].pop("schedule", None)
    plan, granted = fake_cloud_plan(
        "dev",
        overrides=(
            ("mlops:services", services),
            ("mlops:mlflow", '{"replicas": 1, "auth": "basic"}'),
            ("mlops:models", json.dumps(models)),
        ),
    )
    assert set(releases(plan)) == {"mlflow", "nvidia-device-plugin"}  # no DCGM exporter without Prometheus
    assert plan.of_type("kubernetes:kustomize/v2:Directory") == []
    names = {n["metadata"]["name"] for n in kube_objects(plan, "Namespace")}
    assert names.isdisjoint({"kubeflow", "feast", "monitoring"})
    assert kube_objects(plan, "ServiceMonitor") == []
    assert set(plan.outputs) == {"mlflowUrl", "namespaces"}
    auth = releases(plan)["mlflow"]["values"]["auth"]
    assert auth["existingAdminSecret"]["name"] == "mlflow-admin"
    assert auth["postgres"]["database"] == "mlflow_auth"
    assert "adminPassword" not in auth
    admin = _one(kube_objects(plan, "Secret", "mlflow"), "mlflow-admin")
    assert admin["stringData"]["username"] == "admin"
    script = _one(kube_objects(plan, "ConfigMap", "platform-bootstrap"), "db-bootstrap-script")["data"]["bootstrap.sql"]
    assert "datname = 'mlflow_auth'" in script
    assert "kfp" not in script
    assert "feast" not in script
    crons = {c["metadata"]["name"]: c for c in kube_objects(plan, "CronJob", "ml-team")}
    args = crons["fraud-detection-monitoring"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert args["args"][args["args"].index("--retrain") + 1] == "none"
    assert "--pushgateway" not in args["args"]
    assert "fraud-detection-training" not in crons  # no schedule: nothing submits runs
    assert kube_objects(plan, "ServiceMonitor") == []
    accounts = {r.service_account for r in granted}
    assert accounts == {"mlflow"} | {f"{m['name']}-{w}" for m in models for w in ("batch", "monitoring")}
