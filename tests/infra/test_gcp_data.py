"""GCS buckets, Cloud SQL (PostgreSQL and KFP's MySQL), Memorystore, Artifact Registry and the KMS key they share."""

from __future__ import annotations

import pytest

from components import versions
from infra.plan.engine import RecordedResource
from tests.infra.conftest import GCP_STACKS, stack_spec
from tests.infra.test_gcp_support import gcp_run

BUCKET = "gcp:storage/bucket:Bucket"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
KEY_GRANT = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"


def key_id(stack: str) -> str:
    return gcp_run(stack).one("gcp:kms/cryptoKey:CryptoKey", "-key").id


def bucket(stack: str, role: str) -> dict:
    return gcp_run(stack).one(BUCKET, f"-storage-{role}").inputs


def rules_by_action(inputs: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for rule in inputs["lifecycleRules"]:
        out.setdefault(rule["action"]["type"], []).append(rule)
    return out


@pytest.mark.parametrize("stack", GCP_STACKS)
@pytest.mark.parametrize("role", ["data", "models", "pipelines", "monitoring"])
def test_buckets_are_private_uniform_and_encrypted_with_the_platform_key(stack: str, role: str) -> None:
    spec = stack_spec(stack)
    inputs = bucket(stack, role)
    assert inputs["name"] == f"{spec.base_name}-{role}-{spec.gcp.project}"
    assert inputs["uniformBucketLevelAccess"] is True
    assert inputs["publicAccessPrevention"] == "enforced"
    assert inputs["encryption"] == {"defaultKmsKeyName": key_id(stack)}
    assert inputs["location"] == spec.region.upper()
    assert inputs["forceDestroy"] is spec.storage.force_destroy
    abort = rules_by_action(inputs)["AbortIncompleteMultipartUpload"]
    assert [r["condition"]["age"] for r in abort] == [spec.storage.abort_multipart_after_days]
    assert gcp_run(stack).platform.buckets[role].name is not None


@pytest.mark.parametrize(("stack", "versioned"), [("gcp-dev", {"models"}), ("gcp-prod", {"models", "data"})])
def test_models_are_always_versioned_and_data_when_the_stack_asks(stack: str, versioned: set[str]) -> None:
    spec = stack_spec(stack)
    for role in ("data", "models", "pipelines", "monitoring"):
        inputs = bucket(stack, role)
        assert inputs["versioning"] == {"enabled": role in versioned}, role
        cleanup = rules_by_action(inputs).get("Delete", [])
        expected = [{"daysSinceNoncurrentTime": spec.storage.noncurrent_version_expiry_days, "withState": "ARCHIVED"}]
        assert [r["condition"] for r in cleanup] == (expected if role in versioned else []), role


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_data_moves_to_nearline_then_coldline(stack: str) -> None:
    transitions = rules_by_action(bucket(stack, "data"))["SetStorageClass"]
    assert [(r["action"]["storageClass"], r["condition"]["age"]) for r in transitions] == [
        ("NEARLINE", 90),
        ("COLDLINE", 365),
    ]
    assert "SetStorageClass" not in rules_by_action(bucket(stack, "models"))


@pytest.mark.parametrize(("stack", "protected"), [("gcp-dev", False), ("gcp-prod", True)])
def test_stateful_resources_are_protected_and_retained_only_in_prod(stack: str, protected: bool) -> None:
    run = gcp_run(stack)
    stateful = [
        *run.plan.of_type(BUCKET),
        *run.plan.of_type(SQL),
        *run.plan.of_type("gcp:kms/cryptoKey:CryptoKey"),
        *run.plan.of_type("gcp:artifactregistry/repository:Repository"),
        *run.plan.of_type("gcp:container/cluster:Cluster"),
    ]
    assert len(stateful) == 10  # 4 buckets, PostgreSQL, KFP's MySQL, key, registry and its build cache, cluster
    assert {(r.name, r.protect, r.retain_on_delete) for r in stateful} == {
        (r.name, protected, protected) for r in stateful
    }


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_every_encrypting_service_agent_may_use_the_key_and_nothing_else_can(stack: str) -> None:
    run = gcp_run(stack)
    grants = {r.name.rsplit("-kms-", 1)[1]: r.inputs for r in run.plan.of_type(KEY_GRANT)}
    agent = "serviceAccount:service-123456789012@{}.iam.gserviceaccount.com"
    assert {name: g["member"] for name, g in grants.items()} == {
        "gke-agent": agent.format("container-engine-robot"),
        "compute-agent": agent.format("compute-system"),
        "redis-agent": agent.format("cloud-redis"),
        "registry-agent": agent.format("gcp-sa-artifactregistry"),
        "gcs-agent": agent.format("gs-project-accounts"),
        "sql-agent": agent.format("gcp-sa-cloud-sql"),
    }
    assert {g["role"] for g in grants.values()} == {"roles/cloudkms.cryptoKeyEncrypterDecrypter"}
    assert {g["cryptoKeyId"] for g in grants.values()} == {key_id(stack)}
    gcs_grant = run.one(KEY_GRANT, "-gcs-agent").urn
    assert all(gcs_grant in b.dependencies for b in run.plan.of_type(BUCKET))


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_platform_key_rotates_every_90_days(stack: str) -> None:
    key = gcp_run(stack).one("gcp:kms/cryptoKey:CryptoKey", "-key").inputs
    assert (key["rotationPeriod"], key["purpose"]) == ("7776000s", "ENCRYPT_DECRYPT")
    ring = gcp_run(stack).one("gcp:kms/keyRing:KeyRing", "-ring").inputs
    assert ring["location"] == stack_spec(stack).region


# Both Cloud SQL instances: the shared PostgreSQL (spec.database) and Kubeflow Pipelines' MySQL (pipelinesDatabase).
SERVERS = {
    "postgres": ("database", "POSTGRES_{version}", 5432, "pg"),
    "mysql": ("pipelines_database", "MYSQL_{version}", 3306, "mysql"),
}


def instance(stack: str, server: str) -> RecordedResource:
    return gcp_run(stack).one(SQL, f"-{server}-instance")


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("stack", GCP_STACKS)
def test_cloud_sql_is_private_tls_only_encrypted_and_recoverable(stack: str, server: str) -> None:
    run, spec = gcp_run(stack), stack_spec(stack)
    field, version, port, infix = SERVERS[server]
    sizing = getattr(spec, field)
    sql = instance(stack, server)
    inputs, settings = sql.inputs, sql.inputs["settings"]
    assert inputs["databaseVersion"] == version.format(version=sizing.engine_version.replace(".", "_"))
    assert inputs["name"].startswith(f"{spec.base_name}-{infix}-")
    assert inputs["encryptionKeyName"] == key_id(stack)
    vpc = run.one("gcp:compute/network:Network", "-vpc").id
    assert settings["ipConfiguration"] == {"ipv4Enabled": False, "privateNetwork": vpc, "sslMode": "ENCRYPTED_ONLY"}
    backups = settings["backupConfiguration"]
    assert backups["enabled"] is True
    # Point-in-time recovery: PostgreSQL's flag; MySQL recovers from its binary log (the PITR flag is PostgreSQL-only).
    recovery = "binaryLogEnabled" if server == "mysql" else "pointInTimeRecoveryEnabled"
    assert backups[recovery] is True
    assert backups["backupRetentionSettings"]["retainedBackups"] == max(sizing.backup_retention_days, 1)
    assert settings["tier"] == sizing.instance_class
    assert (settings["diskAutoresize"], settings["diskAutoresizeLimit"]) == (True, sizing.max_storage_gb)
    connection = run.one("gcp:servicenetworking/connection:Connection", "-private-services")
    assert {connection.urn, run.one(KEY_GRANT, "-sql-agent").urn} <= set(sql.dependencies)
    contract = run.platform.database if server == "postgres" else run.platform.pipelines_database
    assert contract is not None and contract.port == port
    assert settings["userLabels"]["environment"] == spec.environment


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize(
    ("stack", "availability", "protected"), [("gcp-dev", "ZONAL", False), ("gcp-prod", "REGIONAL", True)]
)
def test_cloud_sql_is_highly_available_and_undeletable_in_prod_only(
    stack: str, availability: str, protected: bool, server: str
) -> None:
    sql = instance(stack, server)
    assert sql.inputs["settings"]["availabilityType"] == availability
    assert sql.inputs["deletionProtection"] is protected
    assert sql.inputs["settings"]["deletionProtectionEnabled"] is protected
    assert (sql.protect, sql.retain_on_delete) == (protected, protected)


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("stack", GCP_STACKS)
def test_admin_password_is_generated_and_only_ever_a_secret(stack: str, server: str) -> None:
    run = gcp_run(stack)
    user = run.one("gcp:sql/user:User", f"-{server}-admin")
    assert user.secret_inputs == ["password"]
    assert user.inputs["instance"] == instance(stack, server).outputs["name"]
    contract = run.platform.database if server == "postgres" else run.platform.pipelines_database
    assert contract is not None and user.inputs["name"] == contract.admin_username
    password = run.one("random:index/randomPassword:RandomPassword", f"-{server}-admin-password")
    assert password.inputs["length"] >= 32
    assert password.urn in user.dependencies
    assert "databasePrivateIp" in run.plan.outputs
    assert not any("password" in key.lower() for key in run.plan.outputs)


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_kfp_reaches_its_instance_through_the_pinned_cloud_sql_proxy(stack: str) -> None:
    """The connector handed to the in-cluster layer (its instance and its identity's grants: test_kubeflow.py)."""
    mysql = gcp_run(stack).platform.pipelines_database
    assert mysql is not None and mysql.connector is not None
    connector = mysql.connector
    assert connector.image == versions.CLOUD_SQL_PROXY_IMAGE
    assert {"--private-ip", f"--port={connector.port}", "--address=0.0.0.0", "--health-check"} <= set(connector.args)
    assert f"--http-port={connector.health_port}" in connector.args
    assert connector.instance_port == 3307


@pytest.mark.parametrize(("stack", "tier", "replicas"), [("gcp-dev", "BASIC", None), ("gcp-prod", "STANDARD_HA", 1)])
def test_online_store_is_private_redis_with_tls_auth_and_cmek(stack: str, tier: str, replicas: int | None) -> None:
    run, spec = gcp_run(stack), stack_spec(stack)
    instance = run.plan.of_type("gcp:redis/instance:Instance")[0]
    redis = instance.inputs
    assert (instance.protect, instance.retain_on_delete) == (spec.deletion_protection, spec.deletion_protection)
    assert (redis["tier"], redis.get("replicaCount")) == (tier, replicas)
    assert redis["memorySizeGb"] == spec.online_store.memory_size_gb
    assert redis["authEnabled"] is True
    assert redis["transitEncryptionMode"] == "SERVER_AUTHENTICATION"
    assert redis["connectMode"] == "PRIVATE_SERVICE_ACCESS"
    assert redis["customerManagedKey"] == key_id(stack)
    store = run.platform.online_store
    assert (store.port, store.tls) == (6378, True)
    assert store.ca_certificate is not None  # Memorystore's per-instance CA, for clients to verify the server
    assert run.plan.outputs["onlineStoreEndpoint"].endswith(":6378")


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_registry_is_immutable_encrypted_and_cleaned_up(stack: str) -> None:
    run, spec = gcp_run(stack), stack_spec(stack)
    repos = {r.inputs["repositoryId"]: r.inputs for r in run.plan.of_type("gcp:artifactregistry/repository:Repository")}
    # The images (immutable tags) and BuildKit's registry cache beside them (its tag is rewritten by every build).
    assert {repo_id: repo["dockerConfig"] for repo_id, repo in repos.items()} == {
        spec.base_name: {"immutableTags": True},
        f"{spec.base_name}-build-cache": {"immutableTags": False},
    }
    for repo in repos.values():
        assert (repo["format"], repo["kmsKeyName"]) == ("DOCKER", key_id(stack))
        policies = {p["id"]: p for p in repo["cleanupPolicies"]}
        assert policies["delete-untagged"]["action"] == "DELETE"
        assert policies["delete-untagged"]["condition"] == {"tagState": "UNTAGGED", "olderThan": "1209600s"}
        assert policies["keep-recent"]["action"] == "KEEP"
        assert policies["keep-recent"]["mostRecentVersions"]["keepCount"] >= 10
        assert repo["cleanupPolicyDryRun"] is False
    assert run.plan.outputs["registryUrl"] == f"{spec.region}-docker.pkg.dev/{spec.gcp.project}/{spec.base_name}"
