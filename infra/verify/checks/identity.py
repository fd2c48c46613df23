"""Check 8, identity: every bucket and database a pod names is granted to that pod's identity.

Buckets. Every `s3://` / `gs://` URL a container's env or args name, and every env value that is exactly one of the
stack's bucket names, is a use of that bucket under that path; it is a write when the flag or variable that carries it
says output (`--output-root`, `--report-dir`, `--artifacts-destination`, `*_PIPELINE_ROOT`, ...). Kubeflow pipeline
steps, which the set does not template, run as `pipeline-runner` (kubeflow/pipelines 2.17.0
backend/src/apiserver/common/const.go line 59) and write under the launcher's `defaultPipelineRoot` and the Argo
artifact repository. The grant is followed through the cloud layer of the plan:
- AWS: the service account's `eks.amazonaws.com/role-arn` -> the IAM role with that ARN, whose trust policy lets
  exactly `system:serviceaccount:<namespace>:<name>` assume it, and whose role policies allow `s3:GetObject` (reads),
  `s3:PutObject` (writes) on `arn:aws:s3:::<bucket>/<path>/...`, `s3:ListBucket` on the bucket for that prefix, and
  the bucket's KMS key (`kms:Decrypt`, and `kms:GenerateDataKey` for writes) through S3 (infra/verify/iam.py).
- GCP: the service account's `iam.gke.io/gcp-service-account` -> the Google service account with that email,
  `roles/iam.workloadIdentityUser` on it for exactly `serviceAccount:<project>.svc.id.goog[<namespace>/<name>]`,
  and a bucket (or project) IAM member for it with a role that reads, or writes, objects, whose condition (if any)
  admits the path.

Databases. A container that names the database host must log in as a role that owns the database it names, with
that role's password: roles, passwords and owners are what the database bootstrap (components/k8s/database.py)
applies - its script's `ALTER ROLE ... PASSWORD :'<var>'` and `ALTER DATABASE ... OWNER TO`, the variable fed from
its Secret - and the cloud's admin login (the plan's database user) may use any database. On MySQL (Kubeflow
Pipelines, components/k8s/kubeflow/database.py) the login Job's script, a Secret its pod mounts, says which user
`GRANT ALL PRIVILEGES ON `<db>`.*` may use which database, and `ALTER USER ... BY '<password>'` its password.

GCS through the S3 API. A pod that holds one of the plan's HMAC keys (the contract's `grant_s3_credentials`: an
access id in its env, Secrets resolved) acts on GCS as the Google service account that owns the key, so that
account's bucket grant is what counts; no Workload Identity binding is involved.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from infra.plan.engine import Plan, RecordedResource
from infra.verify import iam
from infra.verify.cluster import Cluster, PodTemplate
from infra.verify.model import Check, CheckResult, ObjectSet, Violation

NAME = "identity"
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
GSA_ANNOTATION = "iam.gke.io/gcp-service-account"
KFP_RUNNER = "pipeline-runner"
_WRITE = re.compile(r"output|report|dest|upload|write|export|sink|pipeline.?root|artifact", re.IGNORECASE)
_URL = re.compile(r"\b(s3|gs)://([a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9])(/[^\s'\"]*)?")
# GCS predefined roles by what they let a principal do with objects
# (https://cloud.google.com/storage/docs/access-control/iam-roles, read 2026-12-01).
GCS_READ_ROLES = frozenset(
    {
        "roles/storage.objectViewer",
        "roles/storage.objectUser",
        "roles/storage.objectAdmin",
        "roles/storage.admin",
        "roles/storage.legacyObjectReader",
        "roles/storage.legacyBucketReader",
    }
)
GCS_WRITE_ROLES = frozenset(
    {
        "roles/storage.objectCreator",
        "roles/storage.objectUser",
        "roles/storage.objectAdmin",
        "roles/storage.admin",
        "roles/storage.legacyBucketWriter",
    }
)
_CEL_PREFIX = re.compile(r'resource\.name\.startsWith\("projects/_/buckets/([^/"]+)/objects/([^"]*)"\)')


@dataclass(frozen=True)
class BucketUse:
    scheme: str
    bucket: str
    path: str  # the key prefix, no leading slash
    write: bool
    where: str
    container: str = ""  # the container that names it (empty for pipeline steps)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.path}".rstrip("/") + (" (write)" if self.write else " (read)")


def bucket_uses(cluster: Cluster, pod: PodTemplate, bucket_names: set[str], scheme: str) -> list[BucketUse]:
    """The buckets a pod's containers name, with the flag or variable that says whether they write there."""
    found = []
    for container in pod.containers(ephemeral=False):
        env = cluster.env(pod, container)
        carriers: list[tuple[str, str]] = [(f"env {name}", value) for name, value in env.items()]
        for key in ("command", "args"):
            args = [cluster.expand(a, env) for a in container.get(key) or [] if isinstance(a, str)]
            for index, arg in enumerate(args):
                flag, equals, value = arg.partition("=")
                if equals and flag.startswith("-"):
                    carriers.append((flag, value))
                elif index and args[index - 1].startswith("-"):
                    carriers.append((args[index - 1], arg))
                else:
                    carriers.append((f"{key}[{index}]", arg))
        for carrier, text in carriers:
            write = bool(_WRITE.search(carrier))
            for match in _URL.finditer(text):
                if match.group(1) == scheme:
                    path = (match.group(3) or "").strip("/")
                    found.append(
                        BucketUse(
                            scheme,
                            match.group(2),
                            path,
                            write,
                            f"container {container.get('name')} {carrier}",
                            str(container.get("name")),
                        )
                    )
            if carrier.startswith("env ") and text in bucket_names:
                where = f"container {container.get('name')} {carrier}"
                found.append(BucketUse(scheme, text, "", write, where, str(container.get("name"))))
    return found


def pipeline_uses(cluster: Cluster, scheme: str) -> list[BucketUse]:
    """Where Kubeflow pipeline steps write: the launcher's pipeline root and the Argo artifact repository."""
    found = []
    launcher = cluster.get("ConfigMap", "kubeflow", "kfp-launcher")
    root = str(((launcher.manifest.get("data") or {}) if launcher else {}).get("defaultPipelineRoot") or "")
    for match in _URL.finditer(root):
        found.append(
            BucketUse(
                scheme,
                match.group(2),
                (match.group(3) or "").strip("/"),
                True,
                "ConfigMap kubeflow/kfp-launcher defaultPipelineRoot",
            )
        )
    controller = cluster.get("ConfigMap", "kubeflow", "workflow-controller-configmap")
    text = str(((controller.manifest.get("data") or {}) if controller else {}).get("artifactRepository") or "")
    try:
        repository = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        repository = {}
    store = repository.get("s3") or repository.get("gcs") or {} if isinstance(repository, Mapping) else {}
    if store.get("bucket"):
        prefix = str(store.get("keyFormat") or "").split("{{", 1)[0].strip("/")
        found.append(
            BucketUse(
                scheme,
                str(store["bucket"]),
                prefix,
                True,
                "ConfigMap kubeflow/workflow-controller-configmap artifactRepository",
            )
        )
    return found


# --- AWS ------------------------------------------------------------------------------------------------------------


class AwsGrants:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.roles = {str(r.outputs.get("arn")): r for r in plan.of_type("aws:iam/role:Role")}
        self.buckets = {
            str(b.outputs.get("bucket") or b.inputs.get("bucket")): b for b in plan.of_type("aws:s3/bucket:Bucket")
        }
        self.region = next((str(p.inputs.get("region")) for p in plan.of_type("pulumi:providers:aws")), "")

    def documents(self, role: RecordedResource) -> list[Any]:
        refs = {role.id, str(role.inputs.get("name")), str(role.outputs.get("name") or "")}
        return [
            p.inputs.get("policy")
            for p in self.plan.of_type("aws:iam/rolePolicy:RolePolicy")
            if p.inputs.get("role") in refs
        ]

    def bucket_key(self, bucket: str) -> str | None:
        resource = self.buckets.get(bucket)
        if resource is None:
            return None
        for config in self.plan.of_type(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
        ):
            if config.inputs.get("bucket") in (resource.id, bucket):
                for rule in config.inputs.get("rules") or []:
                    key = (rule.get("applyServerSideEncryptionByDefault") or {}).get("kmsMasterKeyId")
                    if key:
                        return str(key)
        return None

    def problems(
        self, account: Mapping[str, Any], namespace: str, name: str, use: BucketUse, key_owner: str | None = None
    ) -> list[str]:
        """IRSA: the role of the service account's annotation (AWS has no static keys here: `key_owner` is unused)."""
        arn = ((account.get("metadata") or {}).get("annotations") or {}).get(IRSA_ANNOTATION)
        if not arn:
            return [f"service account {namespace}/{name} has no {IRSA_ANNOTATION} annotation: no AWS identity"]
        role = self.roles.get(str(arn))
        if role is None:
            return [f"its role {arn} is not a role of the plan"]
        found = []
        subject = f"system:serviceaccount:{namespace}:{name}"
        trusted = [
            s
            for s in iam.statements(role.inputs.get("assumeRolePolicy"))
            if s.get("Effect") == "Allow"
            and "sts:AssumeRoleWithWebIdentity" in iam._as_list(s.get("Action"))
            and any(
                k.endswith(":sub") and subject in iam._as_list(v)
                for tests in (s.get("Condition") or {}).values()
                for k, v in (tests or {}).items()
            )
        ]
        if not trusted:
            found.append(f"role {role.inputs.get('name')} does not trust {subject} (its trust policy's :sub condition)")
        documents = self.documents(role)
        key = f"{use.path}/object" if use.path else "object"
        context = {"s3:prefix": f"{use.path}/" if use.path else "", "kms:ViaService": f"s3.{self.region}.amazonaws.com"}
        needed = [("s3:GetObject", f"arn:aws:s3:::{use.bucket}/{key}"), ("s3:ListBucket", f"arn:aws:s3:::{use.bucket}")]
        if use.write:
            needed.append(("s3:PutObject", f"arn:aws:s3:::{use.bucket}/{key}"))
        kms = self.bucket_key(use.bucket)
        if kms:
            needed.append(("kms:Decrypt", kms))
            if use.write:
                needed.append(("kms:GenerateDataKey", kms))
        missing = [
            f"{action} on {resource}"
            for action, resource in needed
            if not iam.allows(documents, action, resource, context)
        ]
        if missing:
            found.append(f"role {role.inputs.get('name')} is not allowed {', '.join(missing)}")
        return found


# --- GCP ------------------------------------------------------------------------------------------------------------


class GcpGrants:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.accounts = {str(a.outputs.get("email")): a for a in plan.of_type("gcp:serviceaccount/account:Account")}
        # HMAC keys for GCS's S3 API (the contract's grant_s3_credentials): access id -> the account that owns it.
        self.hmac_keys = {
            str(k.outputs["accessId"]): str(k.inputs.get("serviceAccountEmail") or k.outputs.get("serviceAccountEmail"))
            for k in plan.of_type("gcp:storage/hmacKey:HmacKey")
            if k.outputs.get("accessId") and k.outputs.get("state", "ACTIVE") == "ACTIVE"
        }

    def key_owner(self, cluster: Cluster, pod: PodTemplate, container_name: str) -> str | None:
        """The Google service account whose active HMAC key the container holds (in its env, Secrets resolved)."""
        for container in pod.containers(ephemeral=False):
            if container.get("name") == container_name:
                held = set(secret_env(cluster, pod, container).values())
                return next((email for key, email in self.hmac_keys.items() if key in held), None)
        return None

    def problems(
        self, account: Mapping[str, Any], namespace: str, name: str, use: BucketUse, key_owner: str | None = None
    ) -> list[str]:
        """A pod acts as the Google service account of its Workload Identity binding, or, when it holds one of the
        plan's HMAC keys (an S3-API client), as the account that owns the key: then no binding is involved."""
        email = key_owner or ((account.get("metadata") or {}).get("annotations") or {}).get(GSA_ANNOTATION)
        if not email:
            return [f"service account {namespace}/{name} has no {GSA_ANNOTATION} annotation: no Google identity"]
        gsa = self.accounts.get(str(email))
        if gsa is None:
            return [f"its Google service account {email} is not created by the plan"]
        found = []
        if key_owner:
            return self.bucket_problems(str(email), use)
        account_name = str(gsa.outputs.get("name") or "")
        users = [
            m
            for m in self.plan.of_type("gcp:serviceaccount/iAMMember:IAMMember")
            if m.inputs.get("serviceAccountId") in (account_name, email)
            and m.inputs.get("role") == "roles/iam.workloadIdentityUser"
        ]
        wanted = f".svc.id.goog[{namespace}/{name}]"
        if not any(str(m.inputs.get("member", "")).endswith(wanted) for m in users):
            holders = ", ".join(str(m.inputs.get("member")) for m in users) or "nobody"
            found.append(f"{email} lets {holders} act as it, not {namespace}/{name} (roles/iam.workloadIdentityUser)")
        return found + self.bucket_problems(str(email), use)

    def bucket_problems(self, email: str, use: BucketUse) -> list[str]:
        member = f"serviceAccount:{email}"
        roles = GCS_WRITE_ROLES if use.write else GCS_READ_ROLES
        granted = [
            m
            for m in [
                *self.plan.of_type("gcp:storage/bucketIAMMember:BucketIAMMember"),
                *self.plan.of_type("gcp:projects/iAMMember:IAMMember"),
            ]
            if m.inputs.get("member") == member
            and m.inputs.get("role") in roles
            and m.inputs.get("bucket") in (use.bucket, None)
            and _condition_admits(m.inputs.get("condition"), use)
        ]
        if not granted:
            return [
                f"{email} has no role that {'writes' if use.write else 'reads'} objects of gs://{use.bucket}/"
                f"{use.path} ({', '.join(sorted(roles))})"
            ]
        return []


def _condition_admits(condition: Mapping[str, Any] | None, use: BucketUse) -> bool:
    """A prefix condition (components/gcp/identity.py prefix_condition) admits paths under its prefix."""
    if not condition:
        return True
    prefixes = [(b, p) for b, p in _CEL_PREFIX.findall(str(condition.get("expression") or ""))]
    return any(b == use.bucket and f"{use.path}/".startswith(p) for b, p in prefixes)


# --- databases ------------------------------------------------------------------------------------------------------

_POSTGRES_URL = re.compile(
    r"postgres(?:ql)?(?:\+\w+)?://(?P<user>[^:@/\s]+)(?::(?P<password>[^@\s]*))?@[^/\s]+/(?P<db>[\w-]+)"
)
_USER_VAR = re.compile(r"^(PGUSER|.*_USER(NAME)?)$")
_PASSWORD_VAR = re.compile(r"^(PGPASSWORD|.*_PASSWORD)$")
_DATABASE_VAR = re.compile(r"^(PGDATABASE|.*(DBNAME|DB_NAME|_DATABASE))$")


@dataclass(frozen=True)
class Login:
    user: str
    password: str | None
    database: str
    where: str


def secret_env(cluster: Cluster, pod: PodTemplate, container: Mapping[str, Any]) -> dict[str, str]:
    """The container's env with Secret keys and `envFrom` Secrets resolved too (what the kubelet injects)."""
    values = dict(cluster.env(pod, container))
    for source in container.get("envFrom") or []:
        ref = source.get("secretRef")
        secret = cluster.get("Secret", pod.namespace, str((ref or {}).get("name"))) if ref else None
        if secret is not None:
            values |= {f"{source.get('prefix') or ''}{k}": v for k, v in _secret_data(secret.manifest).items()}
    for variable in container.get("env") or []:
        key_ref: Mapping[str, Any] = (variable.get("valueFrom") or {}).get("secretKeyRef") or {}
        secret = cluster.get("Secret", pod.namespace, str(key_ref.get("name"))) if key_ref else None
        data = _secret_data(secret.manifest) if secret is not None else {}
        if key_ref.get("key") in data:
            values[str(variable["name"])] = data[str(key_ref["key"])]
    return values


def _secret_data(manifest: Mapping[str, Any]) -> dict[str, str]:
    import base64
    import binascii

    data: dict[str, str] = {}
    for key, value in (manifest.get("data") or {}).items():
        try:
            data[key] = base64.b64decode(str(value), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            continue
    return data | {k: str(v) for k, v in (manifest.get("stringData") or {}).items()}


def logins(cluster: Cluster, pod: PodTemplate, host: str) -> Iterator[Login]:
    """The database logins a pod's containers use to reach `host`."""
    for container in pod.containers(ephemeral=False):
        env = secret_env(cluster, pod, container)
        texts = [*env.values(), *(cluster.expand(a, env) for a in container.get("args") or [] if isinstance(a, str))]
        names_host = any(host in text for text in texts)
        mounted = [v.get("secret", {}).get("secretName") for v in pod.volumes() if "secret" in v]
        for secret_name in mounted:
            secret = cluster.get("Secret", pod.namespace, str(secret_name))
            if secret is not None:
                texts += list(_secret_data(secret.manifest).values())
        for text in texts:
            for match in _POSTGRES_URL.finditer(text):
                if host in text:
                    yield Login(match["user"], match["password"], match["db"], f"container {container.get('name')} URL")
        if not names_host:
            continue
        user = next((v for k, v in env.items() if _USER_VAR.match(k) and v), None)
        database = next((v for k, v in env.items() if _DATABASE_VAR.match(k) and v), None)
        password = next((v for k, v in env.items() if _PASSWORD_VAR.match(k) and v), None)
        if user and database:
            yield Login(user, password, database, f"container {container.get('name')} env")


_MYSQL_GRANT = re.compile(r"GRANT ALL PRIVILEGES ON `([^`]+)`\.\* TO '([^']+)'@")
_MYSQL_PASSWORD = re.compile(r"ALTER USER '([^']+)'@'[^']*' IDENTIFIED (?:WITH \w+ )?BY '([^']*)'")


def bootstrap_scripts(cluster: Cluster) -> list[str]:
    """What the database bootstrap Jobs run: every ConfigMap's text (the PostgreSQL script) and each Secret a Job's
    pod mounts (the MySQL login script, components/k8s/kubeflow/database.py, carries the password it sets)."""
    texts = [str(v) for config in cluster.of_kind("ConfigMap") for v in (config.manifest.get("data") or {}).values()]
    for pod in cluster.pods:
        if pod.owner.kind != "Job":
            continue
        for volume in pod.volumes():
            name = (volume.get("secret") or {}).get("secretName")
            secret = cluster.get("Secret", pod.namespace, str(name)) if name else None
            if secret is not None:
                texts += list(_secret_data(secret.manifest).values())
    return texts


@dataclass
class DatabaseGrants:
    """Who may log in to which database: the bootstrap's roles, passwords, owners (PostgreSQL) and grants (MySQL),
    and the admin login."""

    hosts: list[str]
    admin: str
    owners: dict[str, str]  # database -> owning role (PostgreSQL)
    passwords: dict[str, str]  # role -> password
    granted: dict[str, set[str]] = field(default_factory=dict)  # database -> users with every privilege (MySQL)

    @classmethod
    def of(cls, cluster: Cluster, plan: Plan) -> DatabaseGrants:
        hosts, admin = [], ""
        for instance in plan.of_type("aws:rds/instance:Instance"):
            hosts += [str(instance.outputs.get("address") or "")]
            admin = str(instance.inputs.get("username") or "")
        for instance in plan.of_type("gcp:sql/databaseInstance:DatabaseInstance"):
            hosts += [str(instance.outputs.get("privateIpAddress") or "")]
        for user in plan.of_type("gcp:sql/user:User"):
            admin = str(user.inputs.get("name") or "")
        owners: dict[str, str] = {}
        variables: dict[str, str] = {}  # psql variable -> role
        passwords: dict[str, str] = {}
        granted: dict[str, set[str]] = {}
        for script in bootstrap_scripts(cluster):
            owners |= dict(re.findall(r'ALTER DATABASE "([^"]+)" OWNER TO "([^"]+)"', script))
            variables |= {
                var: role for role, var in re.findall(r"ALTER ROLE \"([^\"]+)\" WITH LOGIN PASSWORD :'([^']+)'", script)
            }
            sources = dict(re.findall(r"\\getenv (\S+) (\S+)", script))
            variables = {sources.get(var, var): role for var, role in variables.items()}
            # MySQL: `GRANT ALL PRIVILEGES ON `db`.* TO 'user'@...` lets the user create and use db (KFP creates its
            # own databases, client_manager.go:432-445@2.17.0); `ALTER USER ... BY '<password>'` sets the password.
            for database, user in _MYSQL_GRANT.findall(script):
                granted.setdefault(database, set()).add(user)
            passwords |= dict(_MYSQL_PASSWORD.findall(script))
        for pod in cluster.pods:
            for container in pod.containers(ephemeral=False):
                env = secret_env(cluster, pod, container)
                passwords |= {role: env[var] for var, role in variables.items() if var in env}
        return cls([h for h in hosts if h], admin, owners, passwords, granted)

    def problems(self, login: Login) -> list[str]:
        if login.user == self.admin:
            return []
        owner = self.owners.get(login.database)
        users = self.granted.get(login.database, set())
        if owner is None and not users:
            return [f"logs in to database {login.database}, which the database bootstrap does not create"]
        found = []
        if owner is not None and owner != login.user and login.user not in users:
            found.append(f"logs in as {login.user} to database {login.database}, owned by {owner}")
        elif owner is None and login.user not in users:
            found.append(
                f"logs in as {login.user} to database {login.database}, granted only to {', '.join(sorted(users))}"
            )
        expected = self.passwords.get(login.user)
        if expected is None:
            found.append(f"logs in as {login.user}, a role the database bootstrap does not create")
        elif login.password is not None and login.password != expected:
            found.append(f"uses a password for {login.user} that is not the one the database bootstrap sets")
        return found


def run(objects: ObjectSet) -> CheckResult:
    cluster, plan = objects.cluster, objects.plan
    if plan is None:
        return CheckResult(NAME, 0, "uses", notes=("no plan: nothing to follow grants through",))
    cloud = objects.cloud
    scheme = "gs" if cloud == "gcp" else "s3"
    grants: AwsGrants | GcpGrants = GcpGrants(plan) if cloud == "gcp" else AwsGrants(plan)
    bucket_names = set(getattr(grants, "buckets", {})) | {
        str(b.outputs.get("name") or "") for b in plan.of_type("gcp:storage/bucket:Bucket")
    }
    bucket_names.discard("")
    violations: list[Violation] = []
    checked = 0
    uses: list[tuple[str, str, str, BucketUse, str | None]] = []  # (subject, namespace, account, use, key owner)
    for pod in cluster.pods:
        for use in bucket_uses(cluster, pod, bucket_names, scheme):
            owner = None
            if isinstance(grants, GcpGrants):
                owner = grants.key_owner(cluster, pod, use.container)
            uses.append((pod.subject, pod.namespace, pod.service_account, use, owner))
    if cluster.get("Deployment", "kubeflow", "ml-pipeline") is not None:
        uses += [
            ("Kubeflow pipeline steps", "kubeflow", KFP_RUNNER, use, None) for use in pipeline_uses(cluster, scheme)
        ]
    for subject, namespace, account_name, use, owner in uses:
        checked += 1
        account = cluster.get("ServiceAccount", namespace, account_name)
        manifest = account.manifest if account is not None else {}
        for problem in grants.problems(manifest, namespace, account_name, use, owner):
            violations.append(Violation(NAME, subject, f"{use.where} uses {use}, but {problem}"))
    databases = DatabaseGrants.of(cluster, plan)
    for pod in cluster.pods:
        for host in databases.hosts:
            for login in {(g.user, g.password, g.database): g for g in logins(cluster, pod, host)}.values():
                checked += 1
                for problem in databases.problems(login):
                    violations.append(Violation(NAME, pod.subject, f"{login.where}: {problem}"))
    return CheckResult(NAME, checked, "bucket and database uses", tuple(violations))


CHECK = Check(
    8,
    NAME,
    "every bucket and database a pod names is granted to its identity (IRSA / Workload Identity, database logins)",
    run,
)
