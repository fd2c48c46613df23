"""Check 8, identity: the buckets and databases a pod names are granted to that pod's identity, through the cloud
layer of the plan (IRSA role trust and policies with the bucket's KMS key; Workload Identity binding and bucket IAM),
with write access where a flag says output; database logins are the bootstrap's roles, owners and passwords."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.plan.engine import RecordedResource
from infra.render.objects import KubeObject
from infra.verify.checks import identity
from infra.verify.cluster import Cluster, pod_templates
from tests.infra.verify_sets import (
    PULUMI,
    Manifest,
    config_map,
    container,
    judge,
    resource,
    secret,
    service_account,
    workload,
)

ROLE_ARN = "arn:aws:iam::123456789012:role/mlops-dev-batch"
KEY = "arn:aws:kms:us-east-1:123456789012:key/k"
ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/ABC"
DATA = "mlops-dev-data-123456789012"


def batch_job(*args: str) -> Manifest:
    return workload("batch", "ml", container("batch", args=list(args)), kind="CronJob")


def trust(subject: str = "system:serviceaccount:ml:batch") -> str:
    return json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"},
                    "Condition": {"StringEquals": {f"{ISSUER}:sub": subject, f"{ISSUER}:aud": "sts.amazonaws.com"}},
                }
            ]
        }
    )


def grants(objects_actions: list[str], prefix: str = "", kms: list[str] | None = None) -> str:
    listing: dict[str, Any] = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{DATA}"}
    if prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}
    objects_arn = f"arn:aws:s3:::{DATA}/{prefix}/*" if prefix else f"arn:aws:s3:::{DATA}/*"
    return json.dumps(
        {
            "Statement": [
                listing,
                {"Effect": "Allow", "Action": objects_actions, "Resource": objects_arn},
                {
                    "Effect": "Allow",
                    "Action": kms or ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": KEY,
                    "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}},
                },
            ]
        }
    )


def aws_plan(policy: str, subject: str = "system:serviceaccount:ml:batch") -> list[RecordedResource]:
    return [
        resource("pulumi:providers:aws", "aws", {"region": "us-east-1"}),
        resource(
            "aws:iam/role:Role",
            "batch",
            {"name": "mlops-dev-batch", "assumeRolePolicy": trust(subject)},
            {"arn": ROLE_ARN},
            id_="role-id",
        ),
        resource("aws:iam/rolePolicy:RolePolicy", "batch", {"role": "role-id", "policy": policy}),
        resource("aws:s3/bucket:Bucket", "data", {"bucket": DATA}, id_="bucket-id"),
        resource(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "data",
            {"bucket": "bucket-id", "rules": [{"applyServerSideEncryptionByDefault": {"kmsMasterKeyId": KEY}}]},
        ),
    ]


ARGS = ("--data-root", f"s3://{DATA}/transactions", "--output-root", f"s3://{DATA}/predictions")
ACCOUNT = service_account("batch", "ml", {"eks.amazonaws.com/role-arn": ROLE_ARN})


def test_reads_and_writes_granted_through_irsa_are_admitted() -> None:
    policy = grants(["s3:GetObject", "s3:PutObject"])
    result, found = judge(identity.run, ACCOUNT, batch_job(*ARGS), plan=aws_plan(policy))
    assert found == [] and result.checked == 2


@pytest.mark.parametrize(
    ("policy", "subject", "account", "expected"),
    [
        pytest.param(
            grants(["s3:GetObject", "s3:PutObject"], prefix="predictions"),
            None,
            ACCOUNT,
            "--data-root uses s3://mlops-dev-data-123456789012/transactions (read), but role mlops-dev-batch "
            "is not allowed s3:GetObject on arn:aws:s3:::mlops-dev-data-123456789012/transactions/object, "
            "s3:ListBucket",
            id="grant-limited-to-the-output-prefix",
        ),
        pytest.param(
            grants(["s3:GetObject"]),
            None,
            ACCOUNT,
            "--output-root uses s3://mlops-dev-data-123456789012/predictions (write), but role "
            "mlops-dev-batch is not allowed s3:PutObject",
            id="read-only-grant-for-a-writer",
        ),
        pytest.param(
            grants(["s3:GetObject", "s3:PutObject"], kms=["kms:Decrypt"]),
            None,
            ACCOUNT,
            f"is not allowed kms:GenerateDataKey on {KEY}",
            id="kms-key-not-granted-for-writes",
        ),
        pytest.param(
            grants(["s3:GetObject", "s3:PutObject"]),
            "system:serviceaccount:ml:batch-inference",
            ACCOUNT,
            "role mlops-dev-batch does not trust system:serviceaccount:ml:batch",
            id="trust-for-another-sa",
        ),
        pytest.param(
            grants(["s3:GetObject", "s3:PutObject"]),
            None,
            service_account("batch", "ml"),
            "has no eks.amazonaws.com/role-arn annotation: no AWS identity",
            id="service-account-unannotated",
        ),
    ],
)
def test_a_bucket_use_without_its_grant_is_a_violation(
    policy: str, subject: str | None, account: Manifest, expected: str
) -> None:
    plan = aws_plan(policy, subject or "system:serviceaccount:ml:batch")
    _, found = judge(identity.run, account, batch_job(*ARGS), plan=plan)
    assert found and all(f.startswith("CronJob ml/batch") for f in found) and any(expected in f for f in found), found


def gcp_plan(member: str, role: str, condition: dict[str, str] | None = None) -> list[RecordedResource]:
    email = "mlops-dev-batch@acme.iam.gserviceaccount.com"
    return [
        resource(
            "gcp:serviceaccount/account:Account",
            "batch",
            {"accountId": "mlops-dev-batch"},
            {"email": email, "name": f"projects/acme/serviceAccounts/{email}"},
        ),
        resource(
            "gcp:serviceaccount/iAMMember:IAMMember",
            "wi",
            {
                "serviceAccountId": f"projects/acme/serviceAccounts/{email}",
                "role": "roles/iam.workloadIdentityUser",
                "member": member,
            },
        ),
        resource("gcp:storage/bucket:Bucket", "data", {"name": "data-acme"}, {"name": "data-acme"}),
        resource(
            "gcp:storage/bucketIAMMember:BucketIAMMember",
            "data",
            {
                "bucket": "data-acme",
                "role": role,
                "member": f"serviceAccount:{email}",
                **({"condition": condition} if condition else {}),
            },
        ),
    ]


GSA = service_account("batch", "ml", {"iam.gke.io/gcp-service-account": "mlops-dev-batch@acme.iam.gserviceaccount.com"})
GCS_ARGS = ("--data-root", "gs://data-acme/transactions", "--output-root", "gs://data-acme/predictions")
MEMBER = "serviceAccount:acme.svc.id.goog[ml/batch]"


def test_workload_identity_grants_are_followed_on_gcp() -> None:
    _, found = judge(
        identity.run, GSA, batch_job(*GCS_ARGS), plan=gcp_plan(MEMBER, "roles/storage.objectUser"), cloud="gcp"
    )
    assert found == []
    _, found = judge(
        identity.run, GSA, batch_job(*GCS_ARGS), plan=gcp_plan(MEMBER, "roles/storage.objectViewer"), cloud="gcp"
    )
    assert len(found) == 1 and "--output-root uses gs://data-acme/predictions (write), but" in found[0]
    _, found = judge(
        identity.run,
        GSA,
        batch_job(*GCS_ARGS),
        cloud="gcp",
        plan=gcp_plan("serviceAccount:acme.svc.id.goog[ml/inference]", "roles/storage.objectUser"),
    )
    assert len(found) == 2 and all(
        "lets serviceAccount:acme.svc.id.goog[ml/inference] act as it, not ml/batch" in f for f in found
    )
    condition = {
        "expression": 'resource.type == "storage.googleapis.com/Bucket" || '
        'resource.name.startsWith("projects/_/buckets/data-acme/objects/predictions/")'
    }
    _, found = judge(
        identity.run,
        GSA,
        batch_job(*GCS_ARGS),
        cloud="gcp",
        plan=gcp_plan(MEMBER, "roles/storage.objectUser", condition),
    )
    assert len(found) == 1 and "--data-root uses gs://data-acme/transactions (read)" in found[0]


BOOTSTRAP_SQL = """\\getenv mlflow_password MLFLOW_PASSWORD
ALTER ROLE "mlflow" WITH LOGIN PASSWORD :'mlflow_password';
ALTER DATABASE "mlflow" OWNER TO "mlflow";
"""
DB_HOST = "db.abc.us-east-1.rds.amazonaws.com"


def database_set(user: str = "mlflow", password: str = "s3cret", database: str = "mlflow") -> list[Manifest]:  # noqa: S107
    bootstrap = workload(
        "db-bootstrap",
        "platform-bootstrap",
        container(
            "psql",
            env=[
                {"name": "PGHOST", "value": DB_HOST},
                {"name": "PGUSER", "value": "admin"},
                {"name": "PGDATABASE", "value": "postgres"},
                {"name": "MLFLOW_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-bootstrap", "key": "mlflow"}}},
            ],
        ),
        kind="Job",
    )
    server = workload(
        "mlflow",
        "mlflow",
        container(
            "mlflow",
            env=[
                {"name": "PGHOST", "value": DB_HOST},
                {"name": "PGDATABASE", "value": database},
                {"name": "PGUSER", "valueFrom": {"secretKeyRef": {"name": "mlflow-db", "key": "username"}}},
                {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": "mlflow-db", "key": "password"}}},
            ],
        ),
    )
    return [
        config_map("db-bootstrap-script", "platform-bootstrap", {"bootstrap.sql": BOOTSTRAP_SQL}),
        secret("db-bootstrap", "platform-bootstrap", {"mlflow": "s3cret"}),
        secret("mlflow-db", "mlflow", {"username": user, "password": password}),
        bootstrap,
        server,
    ]


DB_PLAN = [resource("aws:rds/instance:Instance", "db", {"username": "admin"}, {"address": DB_HOST})]


@pytest.mark.parametrize(
    ("login", "expected"),
    [
        pytest.param({}, None, id="the-login-the-bootstrap-created"),
        pytest.param(
            {"password": "sample"},
            "uses a password for mlflow that is not the one the database bootstrap sets",
            id="sample-password",
        ),
        pytest.param(
            {"database": "mlflow_auth"},
            "logs in to database mlflow_auth, which the database bootstrap does not create",
            id="database-nobody-creates",
        ),
        pytest.param({"user": "feast"}, "logs in as feast to database mlflow, owned by mlflow", id="wrong-login"),
    ],
)
def test_database_logins_are_the_bootstrap_s(login: dict[str, str], expected: str | None) -> None:
    _, found = judge(identity.run, *database_set(**login), plan=DB_PLAN)
    if expected is None:
        assert found == []
    else:
        assert found and all(f.startswith("Deployment mlflow/mlflow") for f in found), found
        assert any(expected in f for f in found), found


def test_write_is_read_from_the_flag_or_variable_that_carries_the_url() -> None:
    (pod,) = pod_templates(KubeObject(batch_job(*ARGS, "--report-dir=s3://mlops-dev-monitoring/reports"), PULUMI))
    uses = {str(u): u.where for u in identity.bucket_uses(Cluster.of([]), pod, {DATA}, "s3")}
    assert uses == {
        f"s3://{DATA}/transactions (read)": "container batch --data-root",
        f"s3://{DATA}/predictions (write)": "container batch --output-root",
        "s3://mlops-dev-monitoring/reports (write)": "container batch --report-dir",
    }


MYSQL_HOST = "kfp.abc.us-east-1.rds.amazonaws.com"


def mysql_login_set(grants: tuple[str, ...] = ("mlpipeline", "cachedb"), password: str = "k3y") -> list[Manifest]:  # noqa: S107
    """Kubeflow Pipelines' login Job (components/k8s/kubeflow/database.py) and the cache server that uses the login."""
    script = "".join(f"CREATE DATABASE IF NOT EXISTS `{db}`;\n" for db in grants) + (
        "CREATE USER IF NOT EXISTS 'kfp'@'%' IDENTIFIED WITH mysql_native_password BY 'k3y';\n"
        "ALTER USER 'kfp'@'%' IDENTIFIED WITH mysql_native_password BY 'k3y';\n"
        "REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'kfp'@'%';\n"
    )
    script += "".join(f"GRANT ALL PRIVILEGES ON `{db}`.* TO 'kfp'@'%';\n" for db in grants)
    login_job = workload("kfp-db-bootstrap", "platform-bootstrap", container("mysql"), kind="Job")
    login_job["spec"]["template"]["spec"]["volumes"] = [{"name": "login", "secret": {"secretName": "kfp-login"}}]
    cache = workload(
        "cache-server",
        "kubeflow",
        container(
            "server",
            env=[
                {"name": "DBCONFIG_HOST_NAME", "value": MYSQL_HOST},
                {"name": "DBCONFIG_DB_NAME", "value": "cachedb"},
                {"name": "DBCONFIG_USER", "valueFrom": {"secretKeyRef": {"name": "mysql-secret", "key": "username"}}},
                {
                    "name": "DBCONFIG_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": "mysql-secret", "key": "password"}},
                },
            ],
        ),
    )
    return [
        secret("kfp-login", "platform-bootstrap", {"login.sql": script}),
        secret("mysql-secret", "kubeflow", {"username": "kfp", "password": password}),
        login_job,
        cache,
    ]


MYSQL_PLAN = [resource("aws:rds/instance:Instance", "kfp", {"username": "root"}, {"address": MYSQL_HOST})]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({}, None, id="the-login-the-job-grants"),
        pytest.param(
            {"grants": ("mlpipeline",)},
            "logs in to database cachedb, which the database bootstrap does not create",
            id="database-the-job-does-not-grant",
        ),
        pytest.param(
            {"password": "sample"},
            "uses a password for kfp that is not the one the database bootstrap sets",
            id="password-the-job-does-not-set",
        ),
    ],
)
def test_mysql_logins_are_what_the_login_job_grants(change: dict[str, Any], expected: str | None) -> None:
    _, found = judge(identity.run, *mysql_login_set(**change), plan=MYSQL_PLAN)
    if expected is None:
        assert found == []
    else:
        assert found and all(f.startswith("Deployment kubeflow/cache-server") for f in found), found
        assert any(expected in f for f in found), found


def test_a_mysql_script_no_job_mounts_grants_nothing() -> None:
    manifests = mysql_login_set()
    # The script is mounted by a server, not by the login Job: nothing runs it.
    volumes = manifests[2]["spec"]["template"]["spec"].pop("volumes")
    manifests[3]["spec"]["template"]["spec"]["volumes"] = volumes
    manifests[0]["metadata"]["namespace"] = "kubeflow"
    _, found = judge(identity.run, *manifests, plan=MYSQL_PLAN)
    assert found and "logs in to database cachedb, which the database bootstrap does not create" in found[0]


HMAC_EMAIL = "mlops-dev-kfp@acme.iam.gserviceaccount.com"


def hmac_set(access_id: str = "GOOG1EKEY") -> list[Manifest]:
    """KFP's API server: an S3-API client of GCS whose keys are an HMAC key of its own Google service account."""
    api = workload(
        "ml-pipeline",
        "kubeflow",
        container(
            "api-server",
            env=[
                {"name": "OBJECTSTORECONFIG_BUCKETNAME", "value": "pipelines-acme"},
                {"name": "OBJECTSTORECONFIG_ACCESSKEY", "valueFrom": {"secretKeyRef": {"name": "os", "key": "a"}}},
            ],
        ),
    )
    api["spec"]["template"]["spec"]["serviceAccountName"] = "ml-pipeline"
    return [service_account("ml-pipeline", "kubeflow"), secret("os", "kubeflow", {"a": access_id}), api]


def hmac_plan(role: str = "roles/storage.objectUser", owner: str = HMAC_EMAIL) -> list[RecordedResource]:
    return [
        resource(
            "gcp:serviceaccount/account:Account",
            "kfp",
            {"accountId": "mlops-dev-kfp"},
            {"email": HMAC_EMAIL, "name": f"projects/acme/serviceAccounts/{HMAC_EMAIL}"},
        ),
        resource(
            "gcp:storage/hmacKey:HmacKey",
            "kfp",
            {"serviceAccountEmail": owner},
            {"accessId": "GOOG1EKEY", "serviceAccountEmail": owner, "state": "ACTIVE"},
        ),
        resource("gcp:storage/bucket:Bucket", "pipelines", {"name": "pipelines-acme"}, {"name": "pipelines-acme"}),
        resource(
            "gcp:storage/bucketIAMMember:BucketIAMMember",
            "pipelines",
            {"bucket": "pipelines-acme", "role": role, "member": f"serviceAccount:{HMAC_EMAIL}"},
        ),
    ]


def test_an_hmac_key_is_followed_to_the_service_account_that_owns_it() -> None:
    _, found = judge(identity.run, *hmac_set(), plan=hmac_plan(), cloud="gcp")
    assert found == []
    # The key's account has no role on the bucket: the grant that counts is the key owner's.
    _, found = judge(identity.run, *hmac_set(), plan=hmac_plan(role="roles/logging.logWriter"), cloud="gcp")
    assert len(found) == 1 and f"{HMAC_EMAIL} has no role that reads objects of gs://pipelines-acme/" in found[0]
    # A key the plan does not create is no identity: the pod has none (no Workload Identity annotation either).
    _, found = judge(identity.run, *hmac_set("GOOG1EOTHER"), plan=hmac_plan(), cloud="gcp")
    assert len(found) == 1 and "has no iam.gke.io/gcp-service-account annotation" in found[0]
    # A key of another account: that account is not the one the bucket grants.
    other = "mlops-dev-other@acme.iam.gserviceaccount.com"
    _, found = judge(identity.run, *hmac_set(), plan=hmac_plan(owner=other), cloud="gcp")
    assert len(found) == 1 and f"its Google service account {other} is not created by the plan" in found[0]
