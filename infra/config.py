"""Load the stack file into a `PlatformSpec` and refuse bad input before any resource is registered.

Every problem becomes one line naming the stack file, the key, the bad value and the fix, and all problems are
reported at once:

    Pulumi.dev.yaml: mlops:nodePools.gpu.maxSize = 2 is below minSize = 3; fix: raise maxSize to at least 3 ...
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network
from itertools import combinations
from typing import Any, Literal

import pulumi
from pydantic import BaseModel, ValidationError

from components.aws import catalog as aws_catalog
from components.gcp import catalog as gcp_catalog
from components.spec import NodePoolSpec, PlatformSpec
from components.versions import POSTGRES_MAJOR_VERSIONS, SUPPORTED_KUBERNETES_VERSIONS

NAMESPACE = "mlops"
# Secrets live in their own keys (`pulumi config set --secret mlops:<key>`), read as Pulumi secrets, never in the spec.
SECRET_KEYS: Mapping[str, str] = {
    "slackWebhookUrl": "Slack incoming-webhook URL for warning alerts",
    "pagerdutyRoutingKey": "PagerDuty Events v2 routing key for critical alerts",
}
RESERVED_NAMESPACES = frozenset(
    {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "mlflow",
        "kubeflow",
        "feast",
        "monitoring",
        "ml-workloads",
    }
)
_QUANTITY = re.compile(r"^([0-9]+(\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_CRON = re.compile(r"^(\S+\s+){4}\S+$")
_AWS_PRINCIPAL = re.compile(r"^arn:aws:(iam|sts)::\d{12}:(role|user|assumed-role)/[\w+=,.@/-]+$")
_GCP_PRINCIPAL = re.compile(r"^(user|group):[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Problem:
    """One bad value: where it is (camelCase key path below `mlops:`), what is wrong with it and how to fix it."""

    path: str
    value: Any
    message: str
    fix: str

    def render(self, source: str) -> str:
        return f"{source}: {NAMESPACE}:{self.path} = {_show(self.value)} {self.message}; fix: {self.fix}"


class StackConfigError(pulumi.RunError):
    """Raised before anything is registered; `pulumi` prints the message without a traceback."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = [p.render(source) for p in problems]
        super().__init__(f"{len(problems)} problem(s) in the stack configuration:\n" + "\n".join(lines))


def _show(value: Any) -> str:
    if isinstance(value, IPv4Network):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if value is None:
        return "(not set)"
    return repr(value) if isinstance(value, str) else str(value)


def load_from_pulumi() -> PlatformSpec:
    """The spec of the running stack, from the config the Pulumi engine (or the offline plan) provides."""
    raw = {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    return parse_spec(raw, source=f"Pulumi.{pulumi.get_stack()}.yaml")


def parse_spec(raw_config: Mapping[str, Any], source: str) -> PlatformSpec:
    """Validate `mlops:*` config values (strings or JSON, as Pulumi passes them) into a spec, or raise every problem."""
    document = {
        key.removeprefix(f"{NAMESPACE}:"): _decode(value)
        for key, value in raw_config.items()
        if key.startswith(f"{NAMESPACE}:") and key.removeprefix(f"{NAMESPACE}:") not in SECRET_KEYS
    }
    try:
        spec = PlatformSpec.model_validate(document)
    except ValidationError as error:
        problems = list(_type_problems(error))
        # Report the semantic problems too, on the document without the ill-typed values (where it still validates).
        repaired = _without(document, [tuple(e["loc"]) for e in error.errors()])
        with contextlib.suppress(ValidationError):
            problems += [p for p in semantic_problems(PlatformSpec.model_validate(repaired)) if p not in problems]
        raise StackConfigError(source, problems) from None
    problems = list(semantic_problems(spec))
    if problems:
        raise StackConfigError(source, problems)
    return spec


def _without(document: dict[str, Any], locations: list[tuple[Any, ...]]) -> dict[str, Any]:
    repaired: dict[str, Any] = json.loads(json.dumps(document, default=str))
    for loc in locations:
        node: Any = repaired
        for part in loc[:-1]:
            node = node[part] if isinstance(node, (dict, list)) and _has(node, part) else None
        if node is not None and _has(node, loc[-1]):
            del node[loc[-1]]
    return repaired


def _has(node: dict[str, Any] | list[Any], key: Any) -> bool:
    return key in node if isinstance(node, dict) else isinstance(key, int) and 0 <= key < len(node)


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


# --- type problems, translated from pydantic ---


def _type_problems(error: ValidationError) -> Iterator[Problem]:
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        path = _path(loc)
        if item["type"] == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            key = str(loc[-1])
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"valid keys here: {', '.join(sorted(allowed))}"
            yield Problem(path, item["input"], "is not a known key", f"{hint} (remove or rename it)")
        elif item["type"] == "missing":
            yield Problem(path, None, "is required", f"set {NAMESPACE}:{path} in the stack file")
        elif item["type"] == "literal_error":
            expected = item.get("ctx", {}).get("expected", "")
            yield Problem(path, item["input"], "is not an allowed value", f"use one of {expected}")
        else:
            yield Problem(
                path,
                item["input"],
                f"is invalid: {item['msg'][:1].lower()}{item['msg'][1:]}",
                "correct the value's type or format",
            )


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not out:
            out = str(part)
        elif str(part) in ("function-after", "function-before"):
            continue
        else:
            out += f".{part}"
    return out


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """camelCase keys accepted at `loc`, walking the spec model (list indices and dict keys skipped)."""
    model: type[BaseModel] | None = PlatformSpec
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        fields = {(f.alias or n): f for n, f in model.model_fields.items()}
        field = fields.get(str(part))
        model = _model_of(field.annotation) if field is not None else None
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


# --- semantic checks: each yields problems, all of them run ---


def semantic_problems(spec: PlatformSpec) -> Iterator[Problem]:
    for check in (
        _check_location,
        _check_kubernetes,
        _check_network,
        _check_node_pools,
        _check_data_services,
        _check_production,
        _check_workloads,
        _check_images,
        _check_access,
    ):
        yield from check(spec)


def _check_location(spec: PlatformSpec) -> Iterable[Problem]:
    label = {"aws": "an AWS", "gcp": "a GCP"}[spec.cloud]
    regions, other, other_name = (
        (aws_catalog.REGIONS, gcp_catalog.REGIONS, "GCP")
        if spec.cloud == "aws"
        else (gcp_catalog.REGIONS, aws_catalog.REGIONS, "AWS")
    )
    if spec.region not in regions:
        why = (
            f"is a {other_name} region, but cloud = {spec.cloud}" if spec.region in other else f"is not {label} region"
        )
        close = difflib.get_close_matches(spec.region, sorted(regions), n=1, cutoff=0.5)
        yield Problem(
            "region",
            spec.region,
            why,
            f"use {label} region such as '{close[0] if close else sorted(regions)[0]}'",
        )
    if spec.cloud == "gcp" and spec.gcp is None:
        yield Problem(
            "gcp", None, "is required when cloud = gcp", "set mlops:gcp.project (and gcp.zone for a zonal cluster)"
        )
    if spec.cloud == "aws" and spec.gcp is not None:
        yield Problem(
            "gcp",
            spec.gcp.model_dump(by_alias=True),
            "is set but cloud = aws",
            "remove mlops:gcp or set mlops:cloud: gcp",
        )
    zone = spec.gcp.zone if spec.gcp is not None else None
    if spec.cloud == "gcp" and zone is not None and not gcp_catalog.zone_in_region(zone, spec.region):
        yield Problem("gcp.zone", zone, f"is not a zone of region {spec.region}", f"use a zone like '{spec.region}-a'")


def _check_kubernetes(spec: PlatformSpec) -> Iterable[Problem]:
    supported = SUPPORTED_KUBERNETES_VERSIONS[spec.cloud]
    if spec.cluster.kubernetes_version not in supported:
        yield Problem(
            "cluster.kubernetesVersion",
            spec.cluster.kubernetes_version,
            f"is outside the supported range {supported[0]} to {supported[-1]}",
            f"set a version between {supported[0]} and {supported[-1]} (as a quoted string)",
        )


def _check_network(spec: PlatformSpec) -> Iterable[Problem]:
    net = spec.network
    if not 16 <= net.vpc_cidr.prefixlen <= 20:
        yield Problem(
            "network.vpcCidr",
            net.vpc_cidr,
            "must be between /16 and /20 to fit subnets in every zone",
            "use a /16 such as 10.0.0.0/16",
        )
    if spec.cloud == "aws" and net.zone_count < 2:
        yield Problem(
            "network.zoneCount",
            net.zone_count,
            "is below 2: EKS and Multi-AZ RDS need two zones",
            "set zoneCount to 2 (dev) or 3 (prod)",
        )
    if spec.cloud == "gcp":
        ranges = {
            "vpcCidr": net.vpc_cidr,
            "podsCidr": net.pods_cidr,
            "servicesCidr": net.services_cidr,
            "controlPlaneCidr": net.control_plane_cidr,
        }
        for (a, ra), (b, rb) in combinations(ranges.items(), 2):
            if ra.overlaps(rb):
                yield Problem(f"network.{b}", rb, f"overlaps network.{a} = {ra}", f"choose a range disjoint from {ra}")
        if net.control_plane_cidr.prefixlen != 28:
            yield Problem(
                "network.controlPlaneCidr",
                net.control_plane_cidr,
                "must be a /28 (GKE private control plane)",
                "use e.g. 172.16.0.0/28",
            )
    if net.existing_vpc_id is not None and not net.existing_private_subnet_ids:
        yield Problem(
            "network.existingPrivateSubnetIds",
            [],
            "is empty although existingVpcId is set",
            "list the private subnet ids (one per zone) of the existing VPC",
        )
    if net.existing_vpc_id is None and (net.existing_private_subnet_ids or net.existing_public_subnet_ids):
        yield Problem(
            "network.existingVpcId",
            None,
            "is missing although existing subnet ids are listed",
            "set existingVpcId to the VPC of those subnets, or remove the subnet ids",
        )
    for i, cidr in enumerate(spec.cluster.public_access_cidrs):
        if cidr.prefixlen == 0 and spec.is_prod:
            yield Problem(
                f"cluster.publicAccessCidrs[{i}]",
                cidr,
                "opens the prod API server to the whole internet",
                "list your admin networks (e.g. the VPN egress /32) or leave the list empty",
            )


def _pool_architectures(spec: PlatformSpec, pool: NodePoolSpec, path: str) -> Iterator[Problem]:
    catalog = aws_catalog if spec.cloud == "aws" else gcp_catalog
    parse = aws_catalog.parse_instance_type if spec.cloud == "aws" else gcp_catalog.parse_machine_type
    valid = []
    for i, name in enumerate(pool.instance_types):
        if parse(name) is None:
            kind = "EC2 instance type" if spec.cloud == "aws" else "Compute Engine machine type"
            example = "m6i.large" if spec.cloud == "aws" else "e2-standard-4"
            yield Problem(f"{path}.instanceTypes[{i}]", name, f"is not a valid {kind}", f"use a name like '{example}'")
        else:
            valid.append(name)
    by_arch: dict[str, list[str]] = {}
    for name in valid:
        by_arch.setdefault(catalog.architecture(name), []).append(name)
    if len(by_arch) > 1:
        detail = "; ".join(f"{arch}: {', '.join(names)}" for arch, names in sorted(by_arch.items()))
        yield Problem(
            f"{path}.instanceTypes",
            pool.instance_types,
            f"mixes CPU architectures ({detail})",
            "keep one architecture per pool (a node group's AMI is either x86_64 or arm64)",
        )


def _is_gpu(spec: PlatformSpec, instance_type: str) -> bool:
    if spec.cloud == "aws":
        return aws_catalog.is_gpu_instance(instance_type)
    return gcp_catalog.is_gpu_machine(instance_type) and not instance_type.startswith("n1-")


def _check_node_pools(spec: PlatformSpec) -> Iterable[Problem]:
    pools = {"system": spec.node_pools.system, "cpu": spec.node_pools.cpu, "gpu": spec.node_pools.gpu}
    for name, pool in pools.items():
        if pool is None:
            continue
        path = f"nodePools.{name}"
        if pool.max_size < pool.min_size:
            yield Problem(
                f"{path}.maxSize",
                pool.max_size,
                f"is below minSize = {pool.min_size}",
                f"raise maxSize to at least {pool.min_size} or lower minSize",
            )
        elif pool.desired_size is not None and not pool.min_size <= pool.desired_size <= pool.max_size:
            yield Problem(
                f"{path}.desiredSize",
                pool.desired_size,
                f"is outside minSize..maxSize = {pool.min_size}..{pool.max_size}",
                "set desiredSize within the bounds or leave it unset",
            )
        yield from _pool_architectures(spec, pool, path)
        if name != "gpu" and any(_is_gpu(spec, t) for t in pool.instance_types):
            yield Problem(
                f"{path}.instanceTypes",
                pool.instance_types,
                f"puts GPU machines in the {name} pool",
                "move GPU types to nodePools.gpu, which is tainted and scales to zero",
            )
    system = spec.node_pools.system
    if system.capacity_type == "SPOT":
        yield Problem(
            "nodePools.system.capacityType",
            "SPOT",
            "is not allowed: CoreDNS and the platform services must not run on reclaimable nodes",
            "use ON_DEMAND; spot capacity belongs to nodePools.cpu",
        )
    if system.min_size < 1:
        yield Problem(
            "nodePools.system.minSize",
            system.min_size,
            "must be at least 1: the system pool hosts CoreDNS",
            "set minSize to 2 (1 is the bare minimum)",
        )
    if system.taints:
        yield Problem(
            "nodePools.system.taints",
            [t.model_dump() for t in system.taints],
            "must be empty: platform services schedule on the system pool without tolerations",
            "remove the taints",
        )
    gpu = spec.node_pools.gpu
    if gpu is not None:
        yield from _check_gpu_pool(spec, gpu)


def _check_gpu_pool(spec: PlatformSpec, gpu: NodePoolSpec) -> Iterable[Problem]:
    if gpu.accelerator is None:
        example = "{type: nvidia-a10g, count: 1}" if spec.cloud == "aws" else "{type: nvidia-l4, count: 1}"
        yield Problem(
            "nodePools.gpu.accelerator",
            None,
            "is missing: a GPU pool needs its accelerator for scheduling and scale-from-zero",
            f"set nodePools.gpu.accelerator: {example}",
        )
    elif spec.cloud == "gcp" and gpu.accelerator.type not in gcp_catalog.ACCELERATOR_TYPES:
        yield Problem(
            "nodePools.gpu.accelerator.type",
            gpu.accelerator.type,
            "is not a GKE accelerator type",
            f"use one of {', '.join(sorted(gcp_catalog.ACCELERATOR_TYPES))}",
        )
    for i, name in enumerate(gpu.instance_types):
        if not _is_gpu(spec, name) and not (spec.cloud == "gcp" and name.startswith("n1-")):
            yield Problem(
                f"nodePools.gpu.instanceTypes[{i}]",
                name,
                "has no GPU",
                "use a GPU type (AWS: g5.xlarge, g6.xlarge; GCP: g2-standard-8)",
            )


def _check_data_services(spec: PlatformSpec) -> Iterable[Problem]:
    storage, db = spec.storage, spec.database
    if storage.infrequent_access_after_days < 30:
        yield Problem(
            "storage.infrequentAccessAfterDays",
            storage.infrequent_access_after_days,
            "is below 30 days, the minimum before an infrequent-access transition",
            "use 30 or more",
        )
    if storage.archive_after_days < storage.infrequent_access_after_days + 30:
        yield Problem(
            "storage.archiveAfterDays",
            storage.archive_after_days,
            f"is less than 30 days after infrequentAccessAfterDays = {storage.infrequent_access_after_days}",
            f"set it to at least {storage.infrequent_access_after_days + 30}",
        )
    if db.engine_version not in POSTGRES_MAJOR_VERSIONS:
        yield Problem(
            "database.engineVersion",
            db.engine_version,
            "is not a supported PostgreSQL major version",
            f"use one of {', '.join(POSTGRES_MAJOR_VERSIONS)}",
        )
    pattern, example = (
        (aws_catalog.RDS_CLASS, "db.t4g.medium") if spec.cloud == "aws" else (gcp_catalog.SQL_TIER, "db-custom-2-7680")
    )
    if not pattern.match(db.instance_class):
        yield Problem(
            "database.instanceClass",
            db.instance_class,
            f"is not a {spec.cloud.upper()} database class",
            f"use a class like '{example}'",
        )
    if db.max_storage_gb < db.storage_gb:
        yield Problem(
            "database.maxStorageGb",
            db.max_storage_gb,
            f"is below storageGb = {db.storage_gb}",
            "set maxStorageGb ≥ storageGb (storage autoscaling ceiling)",
        )
    if spec.cloud == "aws" and not aws_catalog.CACHE_NODE_TYPE.match(spec.online_store.node_type):
        yield Problem(
            "onlineStore.nodeType",
            spec.online_store.node_type,
            "is not an ElastiCache node type",
            "use a type like 'cache.t4g.small'",
        )


def _check_production(spec: PlatformSpec) -> Iterable[Problem]:
    if not spec.is_prod:
        return
    if not spec.deletion_protection:
        yield Problem(
            "deletionProtection",
            False,
            "is off in prod: a mistaken destroy would drop the database, buckets and cluster",
            "set mlops:deletionProtection: true",
        )
    if spec.storage.force_destroy:
        yield Problem(
            "storage.forceDestroy",
            True,
            "would let a destroy delete non-empty prod buckets",
            "set storage.forceDestroy: false (only dev may force-destroy)",
        )
    if spec.database.backup_retention_days < 7:
        yield Problem(
            "database.backupRetentionDays",
            spec.database.backup_retention_days,
            "is below 7 days in prod",
            "keep at least 7 days of backups (14 recommended)",
        )


def _check_workloads(spec: PlatformSpec) -> Iterable[Problem]:
    wl = spec.workloads
    seen: set[str] = set()
    for i, team in enumerate(wl.teams):
        if team.name in RESERVED_NAMESPACES:
            yield Problem(
                f"workloads.teams[{i}].name",
                team.name,
                "collides with a platform namespace",
                "choose another team name",
            )
        if team.name in seen:
            yield Problem(f"workloads.teams[{i}].name", team.name, "is listed twice", "give each team a unique name")
        seen.add(team.name)
        for key in ("cpu", "memory"):
            value = getattr(team.quota, key)
            if not _QUANTITY.match(value):
                yield Problem(
                    f"workloads.teams[{i}].quota.{key}",
                    value,
                    "is not a Kubernetes quantity",
                    "use e.g. '100' for cpu or '500Gi' for memory",
                )
    if wl.inference.max_replicas < wl.inference.min_replicas:
        yield Problem(
            "workloads.inference.maxReplicas",
            wl.inference.max_replicas,
            f"is below minReplicas = {wl.inference.min_replicas}",
            "raise maxReplicas or lower minReplicas",
        )
    for key in ("monitoring_schedule", "batch_schedule"):
        value = getattr(wl, key)
        if not _CRON.match(value):
            camel = "monitoringSchedule" if key == "monitoring_schedule" else "batchSchedule"
            yield Problem(f"workloads.{camel}", value, "is not a 5-field cron expression", "use e.g. '0 * * * *'")


_IMAGE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def _check_images(spec: PlatformSpec) -> Iterable[Problem]:
    """Digests pin what CI pushed, so they only mean something with `source: prebuilt`, and must be real digests."""
    images = spec.workloads.images
    if images.digests and images.source != "prebuilt":
        yield Problem(
            "workloads.images.digests",
            dict(images.digests),
            "is set although images.source = build (pulumi up builds and pins its own digests)",
            "remove the digests, or set workloads.images.source: prebuilt to run the images CI pushed",
        )
    for name, digest in images.digests.items():
        if not _IMAGE_DIGEST.match(digest):
            yield Problem(
                f"workloads.images.digests.{name}",
                digest,
                "is not an image digest",
                "use the `sha256:<64 lowercase hex>` digest CI printed for the push (not a tag)",
            )


def _check_access(spec: PlatformSpec) -> Iterable[Problem]:
    pattern, example = (
        (_AWS_PRINCIPAL, "arn:aws:iam::123456789012:role/PlatformAdmin")
        if spec.cloud == "aws"
        else (_GCP_PRINCIPAL, "group:ml-admins@example.com")
    )
    for i, entry in enumerate(spec.cluster.access):
        if not pattern.match(entry.principal):
            yield Problem(
                f"cluster.access[{i}].principal",
                entry.principal,
                f"is not a valid {spec.cloud.upper()} principal",
                f"use a value like '{example}'",
            )


# --- reference documentation, generated from the spec so it cannot drift ---


def reference_rows(model: type[BaseModel] = PlatformSpec, prefix: str = "") -> Iterator[tuple[str, str, str, str]]:
    """(key, type, default, description) for every key, nested models expanded."""
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        nested = _model_of(field.annotation)
        type_name = _type_name(field.annotation)
        default = "required" if field.is_required() else _show_default(field.default)
        yield key, type_name, default, field.description or ""
        if nested is not None:
            yield from reference_rows(nested, f"{key}[]." if type_name.startswith("list") else f"{key}.")


def _type_name(annotation: Any) -> str:
    if getattr(annotation, "__origin__", None) is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in annotation.__args__)
    text = getattr(annotation, "__name__", None) if not getattr(annotation, "__args__", None) else None
    text = text or str(annotation)
    text = re.sub(r"typing\.|components\.spec\.|ipaddress\.|Annotated\[(\w+), [^\]]*\]", r"\1", text)
    return text.replace("NoneType", "None").replace(" | ", " or ")


def _show_default(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "see below"
    return f"`{json.dumps(value, default=str)}`"


def reference_markdown() -> str:
    lines = ["| Key (`mlops:` namespace) | Type | Default | Meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| `{key}` | {type_} | {default} | {text} |" for key, type_, default, text in reference_rows()]
    lines += [f"| `{key}` (secret) | str | unset | {text} |" for key, text in SECRET_KEYS.items()]
    return "\n".join(lines)


README_MARKERS = ("<!-- config-reference:start -->", "<!-- config-reference:end -->")


def readme_with_reference(readme: str) -> str:
    start, end = README_MARKERS
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{reference_markdown()}\n{end}{tail}"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    if sys.argv[1:2] == ["--write-readme"]:
        readme = Path(__file__).resolve().parents[1] / "README.md"
        readme.write_text(readme_with_reference(readme.read_text()))
    else:
        print(reference_markdown())
