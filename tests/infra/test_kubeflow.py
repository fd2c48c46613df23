"""Kubeflow Pipelines as a first real deploy would meet it: the repository's overlay built offline against the pinned
upstream tree, joined with the objects the plan creates before it.

The overlay is built by the rule the generic renderer uses: copy it to a temporary directory, rewrite each remote
`resources:` URL `https://github.com/<org>/<repo>/<path>?ref=<tag>` to `$MLOPS_CHART_CACHE/<org>-<repo>/<tag>/<path>`
(relative to the copy: kustomize refuses absolute bases) and run the pinned `kubectl kustomize`.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k8s.kubeflow.database import CLIENT_LABEL, DATABASES
from components.k8s.kubeflow.pipelines import OVERLAY_DIR, PROJECT_ROOT, overlay_path
from components.versions import KFP_VERSION
from infra.plan.engine import Plan, RecordedResource
from infra.tools import tool
from tests.infra.conftest import STACKS, stack_spec

StackPlan = Callable[[str], Plan]
REMOTE = re.compile(r"^https://github\.com/(?P<org>[^/]+)/(?P<repo>[^/]+)/(?P<path>[^?]+)\?ref=(?P<ref>[^&]+)$")
DIRECTORY = "kubernetes:kustomize/v2:Directory"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
# The one object a KFP pod references that nobody creates ahead: the cache deployer's pod writes it at run time
# (kubeflow/pipelines@2.17.0 backend/src/cache/deployer/deploy-cache-service.sh:29; cache-deployment.yaml:110).
RUNTIME_CREATED = {("Secret", "webhook-server-tls"): "cache-deployer-deployment"}
KUBERNETES_CREATED = {("ServiceAccount", "default")}  # the service-account controller makes it in every namespace
IN_CLUSTER_STORES = re.compile(r"(^|/)(mysql|mariadb|postgres|minio|seaweedfs)[:@]")


def chart_cache() -> Path:
    return Path(os.environ.get("MLOPS_CHART_CACHE", "/work/shared/charts"))


def localize(entry: str, copy: Path) -> str:
    match = REMOTE.match(entry)
    if match is None:
        return entry
    local = chart_cache() / f"{match['org']}-{match['repo']}" / match["ref"] / match["path"]
    assert local.is_dir(), f"{entry} is not in the offline cache at {local}"
    return os.path.relpath(local, copy)


@functools.cache
def built_overlay() -> tuple[dict[str, Any], ...]:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "overlay"
        shutil.copytree(OVERLAY_DIR, copy)
        kustomization = copy / "kustomization.yaml"
        document = yaml.safe_load(kustomization.read_text())
        document["resources"] = [localize(entry, copy) for entry in document["resources"]]
        kustomization.write_text(yaml.safe_dump(document))
        result = subprocess.run(
            [str(tool("kubectl")), "kustomize", str(copy)], capture_output=True, text=True, check=False, timeout=120
        )
    assert result.returncode == 0, result.stderr
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def key(manifest: dict[str, Any]) -> tuple[str, str]:
    return manifest["kind"], manifest["metadata"]["name"]


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    spec = manifest["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if manifest["kind"] == "CronJob" else spec["template"]
    return dict(template["spec"])


def workloads() -> list[dict[str, Any]]:
    return [m for m in built_overlay() if m["kind"] in WORKLOAD_KINDS]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def references(pod: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """(kind, name, key or None) of every ConfigMap/Secret/ServiceAccount a pod needs (optional ones skipped)."""
    yield "ServiceAccount", pod.get("serviceAccountName", "default"), None
    for container in containers(pod):
        for env in container.get("env", []):
            source = env.get("valueFrom", {})
            for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = source.get(field)
                if ref and not ref.get("optional"):
                    yield kind, ref["name"], ref["key"]
        for env_from in container.get("envFrom", []):
            for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                ref = env_from.get(field)
                if ref and not ref.get("optional"):
                    yield kind, ref["name"], None
    for volume in pod.get("volumes", []):
        if "configMap" in volume and not volume["configMap"].get("optional"):
            yield "ConfigMap", volume["configMap"]["name"], None
        if "secret" in volume and not volume["secret"].get("optional"):
            yield "Secret", volume["secret"]["secretName"], None
        for source in volume.get("projected", {}).get("sources", []):
            for field, kind in (("configMap", "ConfigMap"), ("secret", "Secret")):
                if field in source and not source[field].get("optional"):
                    yield kind, source[field]["name"], None


def directory(plan: Plan) -> RecordedResource:
    (found,) = plan.of_type(DIRECTORY)
    return found


def created_before(plan: Plan) -> dict[tuple[str, str], dict[str, Any]]:
    """Kubeflow-namespace objects the plan creates and the Directory depends on: kind/name -> manifest."""
    objects = {}
    for urn in directory(plan).dependencies:
        resource = plan.by_urn(urn)
        metadata = resource.inputs.get("metadata") or {}
        if resource.type.startswith("kubernetes:") and metadata.get("namespace") == "kubeflow":
            objects[(resource.inputs["kind"], metadata["name"])] = resource.inputs
    return objects


def data_keys(manifest: dict[str, Any]) -> set[str]:
    return {*manifest.get("data", {}), *manifest.get("stringData", {})}


def config(plan: Plan, name: str) -> dict[str, str]:
    return dict(created_before(plan)[("ConfigMap", name)]["data"])


def secret(plan: Plan, name: str) -> dict[str, str]:
    return dict(created_before(plan)[("Secret", name)]["stringData"])


def env_of(workload: str, container: str) -> dict[str, dict[str, Any]]:
    (found,) = [m for m in workloads() if m["metadata"]["name"] == workload]
    (main,) = [c for c in pod_spec(found)["containers"] if c["name"] == container]
    return {e["name"]: e for e in main.get("env", [])}


def config_value(plan: Plan, env: dict[str, Any]) -> str:
    ref = env["valueFrom"]["configMapKeyRef"]
    return config(plan, ref["name"])[ref["key"]]


# --- the overlay itself --------------------------------------------------------------------------------------------


def test_overlay_is_upstream_at_the_pinned_tag_and_pulumi_builds_it_from_the_project_root() -> None:
    document = yaml.safe_load((OVERLAY_DIR / "kustomization.yaml").read_text())
    remotes = [REMOTE.match(entry) for entry in document["resources"]]
    assert remotes and all(remotes), document["resources"]
    assert {(m["org"], m["repo"], m["ref"]) for m in remotes if m} == {("kubeflow", "pipelines", KFP_VERSION)}
    images = {c["image"] for m in workloads() for c in containers(pod_spec(m)) if "/kubeflow/kfp-" in c["image"]}
    assert len(images) >= 8
    assert {image.rsplit(":", 1)[1] for image in images} == {KFP_VERSION}
    assert (PROJECT_ROOT / overlay_path() / "kustomization.yaml").is_file()
    assert not Path(overlay_path()).is_absolute()


def test_overlay_runs_no_database_or_object_store_in_the_cluster() -> None:
    objects = built_overlay()
    kinds = {m["kind"] for m in objects}
    assert {"Deployment", "CustomResourceDefinition", "ClusterRole"} <= kinds
    assert "PersistentVolumeClaim" not in kinds and "StatefulSet" not in kinds
    for manifest in workloads():
        pod = pod_spec(manifest)
        assert not any("persistentVolumeClaim" in v for v in pod.get("volumes", [])), key(manifest)
        for container in containers(pod):
            assert not IN_CLUSTER_STORES.search(container["image"]), (key(manifest), container["image"])
    services = {m["metadata"]["name"] for m in objects if m["kind"] == "Service"}
    assert services.isdisjoint({"mysql", "minio-service", "seaweedfs", "postgres"})
    assert "Namespace" not in kinds  # the tenancy component owns `kubeflow` and its Pod Security labels


def test_only_the_database_clients_carry_the_database_client_label() -> None:
    """The egress policy to MySQL selects this label: it must be on every pod that gets the login, and only there."""
    for manifest in workloads():
        pod = pod_spec(manifest)
        uses_login = any(kind == "Secret" and name in {"mysql-secret", "metadata-grpc-db-config"}
                         for kind, name, _ in references(pod))  # fmt: skip
        labelled = CLIENT_LABEL.items() <= manifest["spec"]["template"]["metadata"]["labels"].items()
        assert labelled == uses_login, key(manifest)


# --- the overlay joined with the plan -----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_reference_of_every_kfp_pod_resolves(stack_plan: StackPlan, stack: str) -> None:
    plan = stack_plan(stack)
    built = {key(m): m for m in built_overlay()}
    ahead = created_before(plan)
    assert not set(built) & set(ahead), "an object both upstream and Pulumi create: the overlay must delete it"
    for manifest in workloads():
        for kind, name, data_key in references(pod_spec(manifest)):
            if (kind, name) in RUNTIME_CREATED:
                assert ("Deployment", RUNTIME_CREATED[(kind, name)]) in built
                continue
            if (kind, name) in KUBERNETES_CREATED:
                continue
            found = built.get((kind, name)) or ahead.get((kind, name))
            assert found is not None, f"{key(manifest)} needs {kind}/{name}: neither built nor created before it"
            if data_key is not None:
                assert data_key in data_keys(found), f"{key(manifest)} needs key {data_key!r} of {kind}/{name}"


@pytest.mark.parametrize("stack", STACKS)
def test_the_directory_waits_for_the_login_and_nothing_waits_for_it(stack_plan: StackPlan, stack: str) -> None:
    plan = stack_plan(stack)
    kfp = directory(plan)
    assert kfp.inputs == {"directory": overlay_path()}
    dependencies = {plan.by_urn(urn).inputs.get("metadata", {}).get("name", ""): urn for urn in kfp.dependencies}
    (job,) = [r for r in plan.of_type("kubernetes:batch/v1:Job") if r.name == "kfp-db-bootstrap"]
    assert job.urn in kfp.dependencies
    assert "kubeflow" in dependencies  # the namespace
    assert [r.type for r in plan.resources if r.type.endswith("Patch")] == []
    assert not [r.name for r in plan.resources if kfp.urn in r.dependencies]


@pytest.mark.parametrize("stack", STACKS)
def test_kfp_pods_reach_the_managed_mysql_or_its_proxy(stack_plan: StackPlan, stack: str) -> None:
    plan = stack_plan(stack)
    install = config(plan, "pipeline-install-config")
    hosts = {config_value(plan, env_of("ml-pipeline", "ml-pipeline-api-server")["DBCONFIG_MYSQLCONFIG_HOST"]),
             config_value(plan, env_of("cache-server", "server")["DBCONFIG_HOST_NAME"])}  # fmt: skip
    mlmd = secret(plan, "metadata-grpc-db-config")["config.pbtxt"]
    ahead = created_before(plan)
    if stack.startswith("gcp"):
        (instance,) = [r for r in plan.of_type("gcp:sql/databaseInstance:DatabaseInstance") if "-mysql-" in r.name]
        proxies = [m for (kind, _), m in ahead.items() if kind == "Deployment"]
        (proxy,) = [p for p in proxies if instance.outputs["connectionName"] in p["spec"]["template"]["spec"]
                    ["containers"][0]["args"]]  # fmt: skip
        (service,) = [m for (kind, _), m in ahead.items() if kind == "Service"]
        assert service["spec"]["selector"].items() <= proxy["spec"]["template"]["metadata"]["labels"].items()
        expected = f"{service['metadata']['name']}.kubeflow.svc.cluster.local"
        assert install["mysqlExtraParams"] == "{}" and "ssl_options" not in mlmd
    else:
        (instance,) = [r for r in plan.of_type("aws:rds/instance:Instance") if r.inputs["engine"] == "mysql"]
        expected = instance.outputs["address"]
        assert install["mysqlExtraParams"] == '{"tls": "skip-verify"}'
        assert "ssl_options { verify_server_cert: false }" in mlmd
    assert hosts == {expected}
    assert f'host: "{expected}"' in mlmd
    assert install["mysqlPort"] == "3306" and "port: 3306" in mlmd
    api = env_of("ml-pipeline", "ml-pipeline-api-server")
    assert config_value(plan, api["OBJECTSTORECONFIG_HOST"]) == (
        "storage.googleapis.com" if stack.startswith("gcp") else f"s3.{stack_spec(stack).region}.amazonaws.com"
    )
    assert config_value(plan, api["OBJECTSTORECONFIG_SECURE"]) == "true"


@pytest.mark.parametrize("stack", STACKS)
def test_the_kfp_login_is_granted_exactly_its_databases(stack_plan: StackPlan, stack: str) -> None:
    plan = stack_plan(stack)
    install = config(plan, "pipeline-install-config")
    used = {install[k] for k in ("pipelineDb", "cacheDb", "mlmdDb")}
    assert used == set(DATABASES.values())
    (bootstrap,) = [s for s in plan.of_type("kubernetes:core/v1:Secret") if s.name == "kfp-db-bootstrap"]
    script = bootstrap.inputs["stringData"]["login.sql"]
    login = secret(plan, "mysql-secret")
    user = f"'{login['username']}'@'%'"
    grants = re.findall(r"^GRANT (.+) ON (\S+) TO (\S+);$", script, flags=re.MULTILINE)
    assert {(privileges, target, grantee) for privileges, target, grantee in grants} == {
        ("ALL PRIVILEGES", f"`{database}`.*", user) for database in used
    }
    assert script.index(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {user};") < script.index("GRANT ALL")
    assert f"IDENTIFIED WITH mysql_native_password BY '{login['password']}'" in script
    assert "stringData" in bootstrap.secret_inputs and "stringData" in created_before(plan)[("Secret", "mysql-secret")]


def test_every_kfp_and_bootstrap_secret_is_a_pulumi_secret(stack_plan: StackPlan) -> None:
    for stack in ("prod", "gcp-prod"):
        plan = stack_plan(stack)
        for resource in plan.of_type("kubernetes:core/v1:Secret"):
            if resource.inputs["metadata"]["namespace"] in {"kubeflow", "platform-bootstrap"}:
                assert "stringData" in resource.secret_inputs, resource.name


# --- who may reach what -------------------------------------------------------------------------------------------

OBJECT_WRITE = {"aws": "s3:PutObject", "gcp": "roles/storage.objectUser"}
OBJECT_READ = {"aws": "s3:GetObject", "gcp": "roles/storage.objectViewer"}


def pipelines_bucket(plan: Plan, cloud: str) -> str:
    if cloud == "aws":
        (bucket,) = [b for b in plan.of_type("aws:s3/bucket:Bucket") if b.inputs["tags"]["BucketRole"] == "pipelines"]
        return str(bucket.inputs["bucket"])
    (bucket,) = [b for b in plan.of_type("gcp:storage/bucket:Bucket") if b.name.endswith("-storage-pipelines")]
    return str(bucket.inputs["name"])


def object_permissions(plan: Plan, cloud: str, principal: str, bucket: str) -> set[str]:
    """What `principal` (IAM role ARN / GSA email) may do with every object of `bucket`, from its grants in the plan."""
    if cloud == "gcp":
        return {
            grant.inputs["role"]
            for grant in plan.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
            if grant.inputs["bucket"] == bucket
            and grant.inputs["member"] == f"serviceAccount:{principal}"
            and not grant.inputs.get("condition")
        }
    (role,) = [r for r in plan.of_type("aws:iam/role:Role") if r.outputs["arn"] == principal]
    actions: set[str] = set()
    for policy in plan.of_type("aws:iam/rolePolicy:RolePolicy"):
        if policy.inputs["role"] != role.id:
            continue
        for statement in yaml.safe_load(policy.inputs["policy"])["Statement"]:
            if statement["Effect"] == "Allow" and statement["Resource"] == f"arn:aws:s3:::{bucket}/*":
                actions |= set(statement["Action"])
    return actions


def identity(plan: Plan, cloud: str, service_account: str) -> str:
    annotations = created_before(plan)[("ServiceAccount", service_account)]["metadata"].get("annotations") or {}
    return str(annotations[{"aws": "eks.amazonaws.com/role-arn", "gcp": "iam.gke.io/gcp-service-account"}[cloud]])


@pytest.mark.parametrize("stack", STACKS)
def test_runs_write_the_pipeline_root_with_their_own_identity(stack_plan: StackPlan, stack: str) -> None:
    """The driver, the launcher in every step and Argo's executor run as pipeline-runner: the pipeline root must be
    in a bucket that account's cloud identity may write, reached with that identity (no keys)."""
    plan, cloud = stack_plan(stack), "gcp" if stack.startswith("gcp") else "aws"
    bucket, scheme = pipelines_bucket(plan, cloud), {"aws": "s3", "gcp": "gs"}[cloud]
    launcher = config(plan, "kfp-launcher")
    assert launcher["defaultPipelineRoot"] == f"{scheme}://{bucket}/v2/artifacts"
    (provider,) = yaml.safe_load(launcher["providers"]).values()
    assert provider["default"]["credentials"] == {"fromEnv": True}
    if cloud == "aws":
        assert provider["default"]["region"] == stack_spec(stack).region
    runner = identity(plan, cloud, "pipeline-runner")
    assert OBJECT_WRITE[cloud] in object_permissions(plan, cloud, runner, bucket)
    argo = yaml.safe_load(config(plan, "artifact-repositories")["default"])
    repository = argo["s3"] if cloud == "aws" else argo["gcs"]
    assert repository["bucket"] == bucket
    assert not {"accessKeySecret", "secretKeySecret", "serviceAccountKeySecret"} & set(repository)
    assert repository.get("useSDKCreds", cloud == "gcp")
    annotations = created_before(plan)[("ConfigMap", "artifact-repositories")]["metadata"]["annotations"]
    assert annotations["workflows.argoproj.io/default-artifact-repository"] in config(plan, "artifact-repositories")
    ui = identity(plan, cloud, "ml-pipeline-ui")
    permissions = object_permissions(plan, cloud, ui, bucket)
    assert OBJECT_READ[cloud] in permissions and OBJECT_WRITE[cloud] not in permissions


@pytest.mark.parametrize("stack", STACKS)
def test_the_api_server_reaches_its_bucket_with_what_its_s3_client_accepts(stack_plan: StackPlan, stack: str) -> None:
    """AWS: no keys, the pod's IRSA role. GCP: an HMAC key of a service account with exactly the pipelines bucket, and
    no Workload Identity for the API server (its S3 client could not use it)."""
    plan, cloud = stack_plan(stack), "gcp" if stack.startswith("gcp") else "aws"
    bucket = pipelines_bucket(plan, cloud)
    api = env_of("ml-pipeline", "ml-pipeline-api-server")
    assert config_value(plan, api["OBJECTSTORECONFIG_BUCKETNAME"]) == bucket
    keys = secret(plan, "ml-pipeline-object-store")
    account = created_before(plan)[("ServiceAccount", "ml-pipeline")]["metadata"].get("annotations") or {}
    if cloud == "aws":
        assert keys == {"accesskey": "", "secretkey": ""}
        assert OBJECT_WRITE["aws"] in object_permissions(plan, cloud, identity(plan, cloud, "ml-pipeline"), bucket)
        return
    assert account == {}
    (key_resource,) = plan.of_type("gcp:storage/hmacKey:HmacKey")
    assert keys == {"accesskey": key_resource.outputs["accessId"], "secretkey": key_resource.outputs["secret"]}
    email = key_resource.inputs["serviceAccountEmail"]
    grants = [g for g in plan.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
              if g.inputs["member"] == f"serviceAccount:{email}"]  # fmt: skip
    assert [(g.inputs["bucket"], g.inputs["role"]) for g in grants] == [(bucket, OBJECT_WRITE["gcp"])]
    bindings = plan.of_type("gcp:serviceaccount/iAMMember:IAMMember")
    assert len(bindings) >= 3 and not [b for b in bindings if b.inputs["serviceAccountId"].endswith(f"/{email}")]


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_pods_that_dial_mysql_may_leave_for_it(stack_plan: StackPlan, stack: str) -> None:
    plan = stack_plan(stack)
    policies = {
        p.inputs["metadata"]["name"]: p.inputs["spec"]
        for p in plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if p.inputs["metadata"]["namespace"] == "kubeflow"
    }
    egress = policies["allow-pipelines-database-egress"]
    (rule,) = egress["egress"]
    ports = {p["port"] for p in rule["ports"]}
    selector = egress["podSelector"]["matchLabels"]
    selected = [m for m in workloads() if selector.items() <= m["spec"]["template"]["metadata"]["labels"].items()]
    proxies = [m for (kind, _), m in created_before(plan).items() if kind == "Deployment"]
    if stack.startswith("gcp"):
        assert selected == []  # KFP's pods reach the proxy inside the namespace; only the proxy dials the instance
        (proxy,) = proxies
        assert selector.items() <= proxy["spec"]["template"]["metadata"]["labels"].items()
        assert ports == {3307}
    else:
        assert proxies == []
        assert sorted(m["metadata"]["name"] for m in selected) == [
            "cache-server",
            "metadata-grpc-deployment",
            "ml-pipeline",
        ]
        (instance,) = [r for r in plan.of_type("aws:rds/instance:Instance") if r.inputs["engine"] == "mysql"]
        assert ports == {instance.inputs["port"]}
    stores = {p["port"] for rule in policies["allow-data-stores-egress"]["egress"] for p in rule["ports"]}
    assert not stores & {3306, 3307}


@pytest.mark.parametrize("stack", [s for s in STACKS if s.startswith("gcp")])
def test_the_cloud_sql_proxy_may_connect_to_the_kfp_instance_and_nothing_else(
    stack_plan: StackPlan, stack: str
) -> None:
    plan = stack_plan(stack)
    (proxy,) = [m for (kind, _), m in created_before(plan).items() if kind == "Deployment"]
    pod = proxy["spec"]["template"]["spec"]
    email = identity(plan, "gcp", pod["serviceAccountName"])
    member = f"serviceAccount:{email}"
    (instance,) = [r for r in plan.of_type("gcp:sql/databaseInstance:DatabaseInstance") if "-mysql-" in r.name]
    grants = [r for r in plan.resources if r.type.startswith("gcp:") and r.inputs.get("member") == member]
    assert [(g.type, g.inputs["role"]) for g in grants] == [
        ("gcp:projects/iAMMember:IAMMember", "roles/cloudsql.client")
    ]
    project = stack_spec(stack).gcp.project  # type: ignore[union-attr]
    expected = f'resource.name == "projects/{project}/instances/{instance.outputs["name"]}"'
    assert grants[0].inputs["condition"]["expression"] == expected
    (binding,) = [b for b in plan.of_type("gcp:serviceaccount/iAMMember:IAMMember")
                  if b.inputs["serviceAccountId"].endswith(f"/{email}")]  # fmt: skip
    assert binding.inputs["member"] == f"serviceAccount:{project}.svc.id.goog[kubeflow/{pod['serviceAccountName']}]"
    (container,) = pod["containers"]
    assert container["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


@pytest.mark.parametrize("stack", STACKS)
def test_the_login_job_waits_for_the_admin_login_it_uses(stack_plan: StackPlan, stack: str) -> None:
    """The bootstrap Job logs in as the admin: what creates that login must be done before the Job's Secret."""
    plan = stack_plan(stack)
    (bootstrap,) = [s for s in plan.of_type("kubernetes:core/v1:Secret") if s.name == "kfp-db-bootstrap"]
    options = bootstrap.inputs["stringData"]["client.cnf"]
    if stack.startswith("gcp"):
        (admin,) = [u for u in plan.of_type("gcp:sql/user:User") if u.name.endswith("-mysql-admin")]
        login = (admin.inputs["name"], admin.inputs["password"])
    else:
        (admin,) = [r for r in plan.of_type("aws:rds/instance:Instance") if r.inputs["engine"] == "mysql"]
        login = (admin.inputs["username"], admin.inputs["password"])
    assert admin.urn in bootstrap.dependencies
    assert f"user={login[0]}\n" in options and f'password="{login[1]}"\n' in options
    assert "ssl-mode=REQUIRED\n" in options
