"""Check 10, cloud names and catalogs: every physical name fits its cloud's rules, and every version, instance and
accelerator type the plan names exists in the pinned catalogs.

- Names: each resource type's name field against the length and character rules of the cloud API that creates it
  (NAME_RULES, each with its source; read 2026-12-01), and no two resources of a type share a name (the cloud refuses
  the second). The same rules hold for every name prefix the config accepts: tests/infra/test_verify_names.py plans
  the program under generated `namePrefix`/`environment` values (hypothesis) and runs this check on each plan.
- EKS add-ons: each add-on version is one the pinned catalog lists for the cluster's Kubernetes minor
  (components/versions.py EKS_ADDON_VERSIONS, with its sources), and kube-proxy's own minor is the cluster's; the
  cluster autoscaler runs the image minor of the cluster (its upstream supports only that one).
- Instance, machine and accelerator types: in the pinned catalogs (components/aws/catalog.py,
  components/gcp/catalog.py, with source and date); a GKE pool's accelerators are the ones its machine type allows.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from components.aws.catalog import CACHE_NODE_TYPE, RDS_CLASS, instance_type
from components.gcp.catalog import ACCELERATOR_TYPES, SQL_TIER, allowed_accelerators, machine_type
from components.versions import EKS_ADDON_VERSIONS
from infra.plan.engine import Plan, RecordedResource
from infra.verify.model import Check, CheckResult, ObjectSet, Violation

NAME = "names"
_RFC1035 = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"


def _no_double_hyphen(name: str) -> str | None:
    return "contains two consecutive hyphens" if "--" in name else None


def _s3_bucket(name: str) -> str | None:
    if ".." in name or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        return "has two adjacent periods or is formatted as an IP address"
    if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or name.endswith(("-s3alias", "--ol-s3", "--x-s3")):
        return "uses a reserved prefix or suffix"
    return None


def _gcs_bucket(name: str) -> str | None:
    if name.startswith("goog") or "google" in name or "g00gle" in name:
        return 'begins with "goog" or contains "google"'
    return None


@dataclass(frozen=True)
class NameRule:
    type: str
    field: str
    min: int
    max: int
    pattern: str
    source: str
    check: Callable[[str], str | None] | None = None  # a rule the pattern cannot say


_AWS_API = "https://docs.aws.amazon.com"
NAME_RULES: tuple[NameRule, ...] = (
    NameRule(
        "aws:s3/bucket:Bucket",
        "bucket",
        3,
        63,
        r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$",
        f"{_AWS_API}/AmazonS3/latest/userguide/bucketnamingrules.html",
        _s3_bucket,
    ),
    NameRule(
        "aws:iam/role:Role", "name", 1, 64, r"^[\w+=,.@-]+$", f"{_AWS_API}/IAM/latest/APIReference/API_CreateRole.html"
    ),
    NameRule(
        "aws:iam/policy:Policy",
        "name",
        1,
        128,
        r"^[\w+=,.@-]+$",
        f"{_AWS_API}/IAM/latest/APIReference/API_CreatePolicy.html",
    ),
    NameRule(
        "aws:iam/rolePolicy:RolePolicy",
        "name",
        1,
        128,
        r"^[\w+=,.@-]+$",
        f"{_AWS_API}/IAM/latest/APIReference/API_PutRolePolicy.html",
    ),
    NameRule(
        "aws:eks/cluster:Cluster",
        "name",
        1,
        100,
        r"^[0-9A-Za-z][A-Za-z0-9\-_]*$",
        f"{_AWS_API}/eks/latest/APIReference/API_CreateCluster.html",
    ),
    NameRule(
        "aws:eks/nodeGroup:NodeGroup",
        "nodeGroupName",
        1,
        63,
        r"^[0-9A-Za-z][A-Za-z0-9\-_]*$",
        f"{_AWS_API}/eks/latest/APIReference/API_CreateNodegroup.html",
    ),
    NameRule(
        "aws:rds/instance:Instance",
        "identifier",
        1,
        63,
        r"^[a-z][a-z0-9-]*[a-z0-9]$",
        f"{_AWS_API}/AmazonRDS/latest/APIReference/API_CreateDBInstance.html",
        _no_double_hyphen,
    ),
    NameRule(
        "aws:rds/parameterGroup:ParameterGroup",
        "name",
        1,
        255,
        r"^[a-z][a-z0-9-]*[a-z0-9]$",
        f"{_AWS_API}/AmazonRDS/latest/APIReference/API_CreateDBParameterGroup.html",
        _no_double_hyphen,
    ),
    NameRule(
        "aws:rds/subnetGroup:SubnetGroup",
        "name",
        1,
        255,
        r"^[a-z0-9 ._-]+$",
        f"{_AWS_API}/AmazonRDS/latest/APIReference/API_CreateDBSubnetGroup.html",
    ),
    NameRule(
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "replicationGroupId",
        1,
        40,
        r"^[a-z][a-z0-9-]*[a-z0-9]$",
        f"{_AWS_API}/AmazonElastiCache/latest/APIReference/API_CreateReplicationGroup.html",
        _no_double_hyphen,
    ),
    NameRule(
        "aws:elasticache/subnetGroup:SubnetGroup",
        "name",
        1,
        255,
        r"^[a-z0-9-]+$",
        f"{_AWS_API}/AmazonElastiCache/latest/APIReference/API_CreateCacheSubnetGroup.html",
    ),
    NameRule(
        "aws:ec2/launchTemplate:LaunchTemplate",
        "name",
        3,
        128,
        r"^[a-zA-Z0-9().\-/_]+$",
        f"{_AWS_API}/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html",
    ),
    NameRule(
        "aws:ecr/repository:Repository",
        "name",
        2,
        256,
        r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$",
        f"{_AWS_API}/AmazonECR/latest/APIReference/API_CreateRepository.html",
    ),
    NameRule(
        "aws:kms/alias:Alias",
        "name",
        7,
        256,
        r"^alias/(?!aws/)[a-zA-Z0-9/_-]+$",
        f"{_AWS_API}/kms/latest/APIReference/API_CreateAlias.html",
    ),
    NameRule(
        "aws:cloudwatch/logGroup:LogGroup",
        "name",
        1,
        512,
        r"^[\.\-_/#A-Za-z0-9]+$",
        f"{_AWS_API}/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
    ),
    NameRule(
        "aws:budgets/budget:Budget",
        "name",
        1,
        100,
        r"^[^:\\]+$",
        f"{_AWS_API}/aws-cost-management/latest/APIReference/API_budgets_Budget.html",
    ),
    NameRule(
        "gcp:serviceaccount/account:Account",
        "accountId",
        6,
        30,
        _RFC1035,
        "https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/create",
    ),
    NameRule(
        "gcp:storage/bucket:Bucket",
        "name",
        3,
        63,
        r"^[a-z0-9][a-z0-9_-]*[a-z0-9]$",
        "https://cloud.google.com/storage/docs/buckets#naming",
        _gcs_bucket,
    ),
    NameRule(
        "gcp:sql/databaseInstance:DatabaseInstance",
        "name",
        1,
        84,
        _RFC1035,
        "https://cloud.google.com/sql/docs/postgres/create-instance (project-id:instance-id at most 98 "
        "characters; project ids take up to 30)",
    ),
    NameRule(
        "gcp:redis/instance:Instance",
        "name",
        1,
        40,
        _RFC1035,
        "https://cloud.google.com/memorystore/docs/redis/reference/rest/v1/projects.locations.instances/create",
    ),
    NameRule(
        "gcp:container/cluster:Cluster",
        "name",
        1,
        40,
        _RFC1035,
        "https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters",
    ),
    NameRule(
        "gcp:container/nodePool:NodePool",
        "name",
        1,
        40,
        _RFC1035,
        "https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters.nodePools",
    ),
    NameRule(
        "gcp:kms/keyRing:KeyRing",
        "name",
        1,
        63,
        r"^[a-zA-Z0-9_-]+$",
        "https://cloud.google.com/kms/docs/create-key-ring",
    ),
    NameRule(
        "gcp:kms/cryptoKey:CryptoKey",
        "name",
        1,
        63,
        r"^[a-zA-Z0-9_-]+$",
        "https://cloud.google.com/kms/docs/create-key",
    ),
    NameRule(
        "gcp:artifactregistry/repository:Repository",
        "repositoryId",
        1,
        63,
        _RFC1035,
        "https://cloud.google.com/artifact-registry/docs/repositories/create-repos",
    ),
    *(
        NameRule(
            f"gcp:compute/{kind}", "name", 1, 63, _RFC1035, "https://cloud.google.com/compute/docs/naming-resources"
        )
        for kind in (
            "network:Network",
            "subnetwork:Subnetwork",
            "router:Router",
            "routerNat:RouterNat",
            "firewall:Firewall",
            "globalAddress:GlobalAddress",
        )
    ),
)
RULES_BY_TYPE = {rule.type: rule for rule in NAME_RULES}


def name_problem(rule: NameRule, name: str) -> str | None:
    if not rule.min <= len(name) <= rule.max:
        return f"is {len(name)} characters; {rule.type.rsplit(':', 1)[-1]} names take {rule.min}-{rule.max}"
    if not re.match(rule.pattern, name):
        return f"does not match {rule.pattern}"
    return rule.check(name) if rule.check else None


def _name(resource: RecordedResource, rule: NameRule) -> str | None:
    value = resource.inputs.get(rule.field)
    return str(value) if isinstance(value, str) and value else None


def name_violations(plan: Plan) -> tuple[int, list[Violation]]:
    violations, checked = [], 0
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for resource in plan.resources:
        rule = RULES_BY_TYPE.get(resource.type)
        name = _name(resource, rule) if rule else None
        if rule is None or name is None:
            continue
        checked += 1
        seen[(resource.type, name)].append(resource.name)
        problem = name_problem(rule, name)
        if problem:
            violations.append(
                Violation(NAME, f"{resource.type} {resource.name}", f"name {name!r} {problem} ({rule.source})")
            )
    for (type_, name), owners in sorted(seen.items()):
        if len(owners) > 1:
            violations.append(
                Violation(
                    NAME,
                    f"{type_} {', '.join(sorted(owners))}",
                    (f"{len(owners)} resources are named {name!r}: the cloud creates the first and refuses the others"),
                )
            )
    return checked, violations


def _minor(version: str) -> str:
    return ".".join(version.lstrip("v").split(".")[:2])


def version_violations(objects: ObjectSet) -> tuple[int, list[Violation]]:
    plan = objects.plan
    if plan is None:
        return 0, []
    violations, checked = [], 0
    for cluster in plan.of_type("aws:eks/cluster:Cluster"):
        minor = str(cluster.inputs.get("version") or "")
        pinned = EKS_ADDON_VERSIONS.get(minor)
        for addon in plan.of_type("aws:eks/addon:Addon"):
            checked += 1
            name, version = str(addon.inputs.get("addonName")), str(addon.inputs.get("addonVersion") or "")
            subject = f"aws:eks/addon:Addon {addon.name}"
            if pinned is None:
                violations.append(
                    Violation(
                        NAME,
                        subject,
                        f"the catalog pins no add-on for Kubernetes {minor} "
                        "(components/versions.py EKS_ADDON_VERSIONS)",
                    )
                )
            elif pinned.get(name) != version:
                violations.append(
                    Violation(
                        NAME,
                        subject,
                        (
                            f"{name} {version} is not the version the catalog lists for Kubernetes {minor} "
                            f"({pinned.get(name, 'none')}; components/versions.py EKS_ADDON_VERSIONS)"
                        ),
                    )
                )
            if name == "kube-proxy" and _minor(version) != minor:
                violations.append(
                    Violation(
                        NAME,
                        subject,
                        f"kube-proxy {version} is for Kubernetes {_minor(version)}, the cluster runs {minor}",
                    )
                )
        for pod in objects.cluster.pods:
            for container in pod.containers(ephemeral=False):
                image = str(container.get("image") or "")
                if "/cluster-autoscaler:" not in image:
                    continue
                checked += 1
                tag = image.rsplit(":", 1)[1]
                if _minor(tag) != minor:
                    violations.append(
                        Violation(
                            NAME,
                            pod.subject,
                            (
                                f"runs cluster-autoscaler {tag} on Kubernetes {minor}: the autoscaler supports only "
                                "its own "
                                "minor (kubernetes/autoscaler cluster-autoscaler/README.md, releases table)"
                            ),
                        )
                    )
    return checked, violations


def catalog_violations(plan: Plan | None) -> tuple[int, list[Violation]]:
    if plan is None:
        return 0, []
    violations, checked = [], 0
    for group in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
        for name in group.inputs.get("instanceTypes") or []:
            checked += 1
            if instance_type(str(name)) is None:
                violations.append(
                    Violation(
                        NAME,
                        f"aws:eks/nodeGroup:NodeGroup {group.name}",
                        f"instance type {name} is not in components/aws/catalog.py",
                    )
                )
    for instance in plan.of_type("aws:rds/instance:Instance"):
        checked += 1
        if not RDS_CLASS.match(str(instance.inputs.get("instanceClass") or "")):
            violations.append(
                Violation(
                    NAME,
                    f"aws:rds/instance:Instance {instance.name}",
                    f"instance class {instance.inputs.get('instanceClass')} is not an RDS class",
                )
            )
    for group in plan.of_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        checked += 1
        if not CACHE_NODE_TYPE.match(str(group.inputs.get("nodeType") or "")):
            violations.append(
                Violation(
                    NAME,
                    f"aws:elasticache/replicationGroup:ReplicationGroup {group.name}",
                    f"node type {group.inputs.get('nodeType')} is not an ElastiCache type",
                )
            )
    for pool in plan.of_type("gcp:container/nodePool:NodePool"):
        config = pool.inputs.get("nodeConfig") or {}
        machine = machine_type(str(config.get("machineType") or ""))
        checked += 1
        subject = f"gcp:container/nodePool:NodePool {pool.name}"
        if machine is None:
            violations.append(
                Violation(
                    NAME, subject, f"machine type {config.get('machineType')} is not in components/gcp/catalog.py"
                )
            )
            continue
        allowed = allowed_accelerators(machine)
        for accelerator in config.get("guestAccelerators") or []:
            kind, count = str(accelerator.get("type")), int(accelerator.get("count") or 0)
            checked += 1
            if kind not in ACCELERATOR_TYPES:
                violations.append(Violation(NAME, subject, f"accelerator {kind} is not in components/gcp/catalog.py"))
            elif count not in allowed.get(kind, ()):
                violations.append(
                    Violation(
                        NAME, subject, (f"{machine.name} takes {kind} in counts {allowed.get(kind, ())}, not {count}")
                    )
                )
    for instance in plan.of_type("gcp:sql/databaseInstance:DatabaseInstance"):
        checked += 1
        tier = str((instance.inputs.get("settings") or {}).get("tier") or "")
        if not SQL_TIER.match(tier):
            violations.append(
                Violation(
                    NAME,
                    f"gcp:sql/databaseInstance:DatabaseInstance {instance.name}",
                    f"tier {tier} is not a Cloud SQL tier",
                )
            )
    return checked, violations


def run(objects: ObjectSet) -> CheckResult:
    if objects.plan is None:
        return CheckResult(NAME, 0, "names and types", notes=("no plan",))
    counted = [name_violations(objects.plan), version_violations(objects), catalog_violations(objects.plan)]
    return CheckResult(
        NAME, sum(c for c, _ in counted), "names, versions and types", tuple(v for _, found in counted for v in found)
    )


CHECK = Check(
    10,
    NAME,
    "every cloud name fits its API's rules, add-ons match the cluster's minor, instance and GPU types exist",
    run,
)
