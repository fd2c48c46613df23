"""Load the stack file into a `PlatformSpec` and refuse bad input before any resource is registered.

Every problem becomes one line naming the stack file, the key, the bad value and the fix, and all problems are
reported at once:

    Pulumi.dev.yaml: mlops:nodePools.gpu.maxSize = 2 is below minSize = 3; fix: raise maxSize to at least 3 ...
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import functools
import itertools
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from ipaddress import IPv4Network, collapse_addresses
from itertools import combinations
from pathlib import Path
from typing import Any

import pulumi
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_snake

from components.aws import catalog as aws_catalog
from components.aws.network import subnet_zone as aws_subnet_zone
from components.gcp import catalog as gcp_catalog
from components.image_tags import EXAMPLE as TAG_EXAMPLE
from components.image_tags import WORKLOADS_PROJECT, tag_problem, workloads_version
from components.machines import InstanceType
from components.spec import (
    DatabaseSpec,
    FeaturesSpec,
    ModelSpec,
    NodePoolSpec,
    PlatformSpec,
    PoolName,
    QualityGatesSpec,
    ServingAliasesSpec,
    TeamSpec,
    TrainingSpec,
)
from components.versions import MYSQL_ENGINES, POSTGRES_MAJOR_VERSIONS, SUPPORTED_KUBERNETES_VERSIONS
from infra.cost.catalog import HOURS_PER_MONTH
from infra.cron import FORMAT as CRON_FORMAT
from infra.cron import schedule_problem
from infra.quantity import quantity

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
# Keys of the single-model layout and where each model's stack entry holds them now.
MOVED_TO_MODELS: Mapping[str, str] = {
    "workloads.inference": "serving",
    "workloads.qualityGates": "qualityGates",
    "workloads.promotion": "promotion",
    "workloads.monitoringSchedule": "monitoring.schedule",
    "workloads.batchSchedule": "batch.schedule",
    "workloads.retrainingCooldownHours": "monitoring.retrainingCooldownHours",
    "monitoring.driftShareThreshold": "monitoring.driftShare",
}
_QUANTITY = re.compile(r"^([0-9]+(\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_AWS_PRINCIPAL = re.compile(r"^arn:aws:(iam|sts)::\d{12}:(role|user|assumed-role)/[\w+=,.@/-]+$")
_GCP_PRINCIPAL = re.compile(r"^(user|group):[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Problem:
    """One bad value: where it is (camelCase key path below `mlops:`), what is wrong with it and how to fix it."""

    path: str
    value: Any
    message: str
    fix: str
    secret: bool = False  # a secret-bearing value is never echoed (the message lands in CI logs)

    def render(self, source: str) -> str:
        shown = "(secret, not shown)" if self.secret else _show(self.value)
        line = f"{source}: {NAMESPACE}:{self.path} = {shown} {self.message}; fix: {self.fix}"
        return line.replace("\r", "\\r").replace("\n", "\\n")  # one problem, one line, whatever the value holds


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
    """The spec of the running stack, from the config the Pulumi engine (or the offline plan) provides.

    Besides the static checks, an AWS stack that brings its own VPC has its subnets looked up (an invoke, which
    registers nothing), so subnets of another VPC or all in one zone are refused before anything is created."""
    raw = {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    secret = {*pulumi.runtime.config.get_config_secret_keys_env(), *filter(pulumi.runtime.is_config_secret, raw)}
    return parse_spec(raw, f"Pulumi.{pulumi.get_stack()}.yaml", secret, subnet_zone=aws_subnet_zone)


# Secret-bearing keys and values: never echoed, and refused anywhere but in their own encrypted keys.
_SECRET_KEY_HINT = re.compile(r"webhook|routing.?key|token|password|secret|api.?key|credential", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"^https://(hooks\.slack\.com|events\.pagerduty\.com)/", re.IGNORECASE)


def _secret_bearing(key: str, value: Any) -> bool:
    return bool(_SECRET_KEY_HINT.search(key)) or (isinstance(value, str) and bool(_SECRET_VALUE.match(value)))


def _secret_key_problems(raw_config: Mapping[str, Any], secret_keys: Collection[str]) -> Iterator[Problem]:
    """A secret key given in plain text, and unknown top-level keys that hold a secret (without echoing it)."""
    spec_keys = set(_allowed_keys(()))
    for key, value in raw_config.items():
        name = key.removeprefix(f"{NAMESPACE}:")
        if not key.startswith(f"{NAMESPACE}:") or name in spec_keys:
            continue
        if name in SECRET_KEYS:
            if key not in secret_keys:
                yield Problem(
                    name,
                    value,
                    "is a secret stored in plain text in the stack file (and so in git and CI logs)",
                    f"remove it and run `pulumi config set --secret {NAMESPACE}:{name} <value>` (stored encrypted)",
                    secret=True,
                )
        elif key in secret_keys or _secret_bearing(name, value):
            close = difflib.get_close_matches(name, list(SECRET_KEYS), n=1, cutoff=0.6)
            target = close[0] if close else "<one of " + ", ".join(SECRET_KEYS) + ">"
            hint = f"did you mean '{close[0]}'? " if close else ""
            yield Problem(
                name,
                value,
                "is not a known key",
                f"{hint}remove it and run `pulumi config set --secret {NAMESPACE}:{target} <value>`",
                secret=True,
            )


def parse_spec(
    raw_config: Mapping[str, Any],
    source: str,
    secret_keys: Collection[str] = (),
    subnet_zone: SubnetZoneLookup | None = None,
) -> PlatformSpec:
    """Validate `mlops:*` config values (strings or JSON, as Pulumi passes them) into a spec, or raise every problem.

    `secret_keys` are the full keys (`mlops:slackWebhookUrl`) the engine marks as secret; `subnet_zone` looks up an
    existing VPC's subnets (None: offline unit checks that cannot ask the cloud)."""
    secret_problems = list(_secret_key_problems(raw_config, secret_keys))
    left_out = {*SECRET_KEYS, *(p.path for p in secret_problems)}
    document = {
        key.removeprefix(f"{NAMESPACE}:"): _decode(value)
        for key, value in raw_config.items()
        if key.startswith(f"{NAMESPACE}:") and key.removeprefix(f"{NAMESPACE}:") not in left_out
    }
    problems: list[Problem] = list(secret_problems)
    spec: PlatformSpec | None
    try:
        spec = PlatformSpec.model_validate(document)
    except ValidationError as error:
        problems += _type_problems(error)
        # The semantic problems too, on the document without the ill-typed values (stand-ins where required).
        spec, semantic = _best_effort_spec(document, error)
        problems += semantic
    else:
        problems += semantic_problems(spec)
    if spec is not None and subnet_zone is not None:
        problems += existing_network_problems(spec, subnet_zone)
    # A spec key the engine holds as a secret (e.g. `pulumi config set --secret mlops:gcp ...`) is never echoed.
    secret_paths = tuple(key.removeprefix(f"{NAMESPACE}:") for key in secret_keys)
    unique: list[Problem] = []
    for problem in problems:
        hidden = replace(problem, secret=True) if secret_paths and problem.path.startswith(secret_paths) else problem
        if hidden not in unique:
            unique.append(hidden)
    if unique or spec is None:
        raise StackConfigError(source, unique)
    return spec


# Neutral values for required top-level keys whose own value is unusable, so every other key is still checked.
def _stand_in(key: str, document: Mapping[str, Any]) -> Any:
    cloud = document.get("cloud") if document.get("cloud") in _CATALOGS else None
    if cloud is None:
        cloud = "gcp" if document.get("region") in gcp_catalog.REGIONS else "aws"
    example = _CATALOGS[cloud].example
    return {
        "cloud": cloud,
        "environment": "dev",
        "region": "us-east-1" if cloud == "aws" else "us-central1",
        "nodePools": {"system": {"instanceTypes": [example], "minSize": 1}, "cpu": {"instanceTypes": [example]}},
    }.get(key)


class _Repair:
    """A copy of the document that ill-typed values are dropped from. It remembers which list entries it dropped,
    so problems found on the repaired document point at the entry's index in the user's file."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document: dict[str, Any] = json.loads(json.dumps(document, default=str))
        self.dropped: dict[str, set[int]] = {}

    def drop(self, locations: Iterable[tuple[Any, ...]]) -> None:
        # Deepest and highest list indices first, so a deletion never shifts a location still to delete.
        for loc in sorted(set(locations), key=lambda loc: (len(loc), [str(p).zfill(8) for p in loc]), reverse=True):
            node: Any = self.document
            for part in loc[:-1]:
                node = node[part] if isinstance(node, (dict, list)) and _has(node, part) else None
            if node is None or not _has(node, loc[-1]):
                continue
            if isinstance(node, list):
                dropped = self.dropped.setdefault(_path(loc[:-1]), set())
                dropped.add(self._original(dropped, loc[-1]))
            del node[loc[-1]]

    @staticmethod
    def _original(dropped: set[int], index: int) -> int:
        kept = (i for i in itertools.count() if i not in dropped)
        return next(itertools.islice(kept, index, None))

    def original_path(self, path: str) -> str:
        for list_path, dropped in self.dropped.items():
            match = re.match(rf"{re.escape(list_path)}\[(\d+)\]", path)
            if match:
                original = self._original(dropped, int(match.group(1)))
                path = f"{list_path}[{original}]{path[match.end() :]}"
        return path


def _best_effort_spec(document: dict[str, Any], error: ValidationError) -> tuple[PlatformSpec | None, list[Problem]]:
    """The semantic problems of the document without its ill-typed values. Where that leaves a required key missing,
    its parent object is dropped too (an access entry without a principal), up to the top level, where a neutral
    stand-in takes its place; problems found only because of a stand-in are not reported."""
    repair = _Repair(document)
    repair.drop(tuple(e["loc"]) for e in error.errors())
    stand_ins: dict[str, Any] = {}
    for _ in range(8):  # each round climbs one level; specs are at most five levels deep
        try:
            spec = PlatformSpec.model_validate(repair.document)
        except ValidationError as again:
            parents = []
            for item in again.errors():
                loc = tuple(item["loc"])
                if len(loc) > 1:
                    parents.append(loc[:-1])
                elif (value := _stand_in(str(loc[0]), repair.document)) is not None and str(loc[0]) not in stand_ins:
                    stand_ins[str(loc[0])] = repair.document[str(loc[0])] = value
                else:
                    parents.append(loc)
            repair.drop(parents)
            continue
        problems = [replace(p, path=repair.original_path(p.path)) for p in semantic_problems(spec)]
        return spec, [p for p in problems if not _under_stand_in(p, stand_ins)]
    return None, []


def _under_stand_in(problem: Problem, stand_ins: Mapping[str, Any]) -> bool:
    for key, value in stand_ins.items():
        if problem.path == key or problem.path.startswith((f"{key}.", f"{key}[")) or f"{key} = " in problem.message:
            return True
        if isinstance(value, str) and value in problem.message:
            return True
    return False


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
            if _secret_bearing(key, item["input"]):
                yield Problem(
                    path,
                    item["input"],
                    "is not a known key",
                    "secrets live in their own encrypted keys: remove it and run `pulumi config set --secret "
                    f"{NAMESPACE}:<{' or '.join(SECRET_KEYS)}> <value>`",
                    secret=True,
                )
                continue
            if path in MOVED_TO_MODELS:
                yield Problem(
                    path,
                    item["input"],
                    "is a per-model setting now",
                    f'move it to {NAMESPACE}:models[].{MOVED_TO_MODELS[path]} of each model (README, "Add a model")',
                )
                continue
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
                _type_fix(item["type"], item.get("ctx", {})),
                secret=_secret_bearing(str(loc[-1]) if loc else "", item["input"]),
            )


_TYPE_FIXES: Mapping[str, str] = {
    "int_type": "use a whole number",
    "int_parsing": "use a whole number",
    "int_from_float": "use a whole number",
    "float_type": "use a number",
    "float_parsing": "use a number",
    "finite_number": "use a finite number",
    "bool_type": "use true or false",
    "bool_parsing": "use true or false",
    "string_type": "use a (quoted) string",
    "list_type": "use a YAML list here",
    "dict_type": "use a YAML mapping (key: value) here",
    "model_type": "use a YAML mapping (key: value) here",
    "model_attributes_type": "use a YAML mapping (key: value) here",
    "ip_v4_network": "use an IPv4 CIDR with its host bits zero, e.g. 10.0.0.0/16",
}
_BOUND_FIXES: Mapping[str, str] = {
    "greater_than_equal": "use a value >= {ge}",
    "greater_than": "use a value > {gt}",
    "less_than_equal": "use a value <= {le}",
    "less_than": "use a value < {lt}",
    "too_short": "give at least {min_length} item(s)",
    "too_long": "give at most {max_length} item(s)",
    "string_too_short": "use at least {min_length} character(s)",
    "string_too_long": "use at most {max_length} character(s)",
    "string_pattern_mismatch": "use a value matching {pattern}",
}


def _type_fix(kind: str, ctx: Mapping[str, Any]) -> str:
    if kind in _BOUND_FIXES:
        with contextlib.suppress(KeyError):
            return _BOUND_FIXES[kind].format(**ctx)
    return _TYPE_FIXES.get(kind, "correct the value's type or format")


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not out:
            out = str(part)
        elif str(part) in ("function-after", "function-before", "[key]"):  # pydantic's markers, not stack-file keys
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
        _check_plaintext_secrets,
        _check_location,
        _check_kubernetes,
        _check_network,
        _check_node_pools,
        _check_data_services,
        _check_pipelines_database,
        _check_production,
        _check_workloads,
        _check_models,
        _check_images,
        _check_access,
        _check_cost,
    ):
        yield from check(spec)


def _check_plaintext_secrets(spec: PlatformSpec) -> Iterator[Problem]:
    """A webhook URL or routing key pasted into a plain spec value (e.g. monitoring.slackChannel) is refused unseen."""

    def walk(node: Any, path: str) -> Iterator[Problem]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, f"{path}[{i}]")
        elif isinstance(node, str) and _SECRET_VALUE.match(node):
            yield Problem(
                path,
                node,
                "is a secret (a webhook or events URL) in plain text",
                "put the channel name here and run `pulumi config set --secret mlops:slackWebhookUrl <url>` "
                "(or mlops:pagerdutyRoutingKey)",
                secret=True,
            )

    yield from walk(spec.model_dump(mode="json", by_alias=True), "")


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
        close = difflib.get_close_matches(spec.region, sorted(regions), n=2, cutoff=0.5) or sorted(regions)[:1]
        yield Problem("region", spec.region, why, f"use {label} region such as {' or '.join(map(repr, close))}")
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
        offering = {"aws": "EKS", "gcp": "GKE"}[spec.cloud]
        yield Problem(
            "cluster.kubernetesVersion",
            spec.cluster.kubernetes_version,
            f"is not a Kubernetes minor in {offering} standard support (supported: {', '.join(supported)})",
            f"set one of {', '.join(repr(v) for v in supported)} as a quoted string (components/versions.py)",
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
    yield from _check_existing_network(spec)
    yield from _check_public_access(spec)


# A prod API endpoint is reachable from a few admin networks at most: no single range, nor all of them together,
# may be broader than a /16 (65,536 addresses); `[0.0.0.0/1, 128.0.0.0/1]` is the whole internet in two lines.
MAX_PROD_ADMIN_ADDRESSES = 2**16


def _check_public_access(spec: PlatformSpec) -> Iterator[Problem]:
    cidrs = spec.cluster.public_access_cidrs
    if not spec.is_prod or not cidrs:
        return
    fix = "list only your admin networks (e.g. the VPN egress /32), or leave the list empty for a private endpoint"
    merged = list(collapse_addresses(cidrs))
    if IPv4Network("0.0.0.0/0") in merged:
        yield Problem(
            "cluster.publicAccessCidrs",
            [str(c) for c in cidrs],
            "together cover the whole internet (0.0.0.0/0)",
            fix,
        )
        return
    broad = [(i, c) for i, c in enumerate(cidrs) if c.num_addresses > MAX_PROD_ADMIN_ADDRESSES]
    for i, cidr in broad:
        yield Problem(
            f"cluster.publicAccessCidrs[{i}]",
            cidr,
            f"opens the prod API server to {cidr.num_addresses:,} addresses (more than a /16)",
            fix,
        )
    total = sum(network.num_addresses for network in merged)
    if not broad and total > MAX_PROD_ADMIN_ADDRESSES:
        yield Problem(
            "cluster.publicAccessCidrs",
            [str(c) for c in cidrs],
            f"together open the prod API server to {total:,} addresses (more than a /16)",
            fix,
        )


_AWS_ID = {kind: re.compile(rf"{kind}-([0-9a-f]{{8}}|[0-9a-f]{{17}})") for kind in ("vpc", "subnet")}
SubnetZoneLookup = Callable[[str, str, str], str]  # (subnet id, VPC id, region) -> availability zone, or raise


def _check_existing_network(spec: PlatformSpec) -> Iterator[Problem]:
    net = spec.network
    if net.existing_vpc_id is None:
        if net.existing_private_subnet_ids or net.existing_public_subnet_ids:
            yield Problem(
                "network.existingVpcId",
                None,
                "is missing although existing subnet ids are listed",
                "set existingVpcId to the VPC of those subnets, or remove the subnet ids",
            )
        return
    if spec.cloud == "gcp":
        yield Problem(
            "network.existingVpcId",
            net.existing_vpc_id,
            "is not supported on GCP: the GCP layer creates its own VPC, subnet and private services range",
            "remove network.existingVpcId (and the subnet ids) from the GCP stack",
        )
        return
    if not _AWS_ID["vpc"].fullmatch(net.existing_vpc_id):
        yield Problem(
            "network.existingVpcId",
            net.existing_vpc_id,
            "is not a VPC id",
            "use the id `aws ec2 describe-vpcs` shows, e.g. vpc-0a1b2c3d4e5f67890",
        )
    for key, ids in (
        ("existingPrivateSubnetIds", net.existing_private_subnet_ids),
        ("existingPublicSubnetIds", net.existing_public_subnet_ids),
    ):
        for i, subnet in enumerate(ids):
            if not _AWS_ID["subnet"].fullmatch(subnet):
                yield Problem(
                    f"network.{key}[{i}]",
                    subnet,
                    "is not a subnet id",
                    f"use ids from `aws ec2 describe-subnets --filters Name=vpc-id,Values={net.existing_vpc_id}`, "
                    "e.g. subnet-0a1b2c3d4e5f67890",
                )
            elif subnet in ids[:i]:
                yield Problem(f"network.{key}[{i}]", subnet, "is listed twice", "list each subnet once")
    if len(set(net.existing_private_subnet_ids)) < 2:
        yield Problem(
            "network.existingPrivateSubnetIds",
            net.existing_private_subnet_ids,
            "lists fewer than two subnets: EKS needs subnets in at least two availability zones",
            "list one private subnet per zone, in two zones or more",
        )


def existing_network_problems(spec: PlatformSpec, subnet_zone: SubnetZoneLookup) -> Iterator[Problem]:
    """An existing VPC's subnets, as the cloud sees them: each must belong to the VPC, the private ones must span
    at least two availability zones. Looked up with an invoke (`subnet_zone`), which creates nothing."""
    net, vpc = spec.network, spec.network.existing_vpc_id
    if spec.cloud != "aws" or vpc is None or not _AWS_ID["vpc"].fullmatch(vpc):
        return
    zones: dict[str, str] = {}
    for key, ids in (
        ("existingPrivateSubnetIds", net.existing_private_subnet_ids),
        ("existingPublicSubnetIds", net.existing_public_subnet_ids),
    ):
        for i, subnet in enumerate(ids):
            if not _AWS_ID["subnet"].fullmatch(subnet) or subnet in ids[:i]:
                continue  # reported by the static checks
            try:
                zone = subnet_zone(subnet, vpc, spec.region)
            except Exception as error:  # the lookup's own message says why (not found, wrong VPC, no access)
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                yield Problem(
                    f"network.{key}[{i}]",
                    subnet,
                    f"is not a subnet of {vpc} in {spec.region} ({reason})",
                    f"use ids from `aws ec2 describe-subnets --filters Name=vpc-id,Values={vpc}`",
                )
                continue
            if key == "existingPrivateSubnetIds":
                zones[subnet] = zone
    if len(zones) >= 2 and len(set(zones.values())) < 2:
        yield Problem(
            "network.existingPrivateSubnetIds",
            net.existing_private_subnet_ids,
            f"puts every subnet in one availability zone ({next(iter(zones.values()))}): EKS needs subnets in at "
            "least two zones",
            "add a private subnet of another availability zone",
        )


@dataclass(frozen=True)
class _Catalog:
    """The pinned VM catalog of one cloud, as config validation reads it."""

    kind: str
    example: str
    lookup: Callable[[str], InstanceType | None]
    suggest: Callable[[str], str | None]
    accelerators: Callable[[InstanceType], dict[str, tuple[int, ...]]]
    source: str
    date: str


_CATALOGS: Mapping[str, _Catalog] = {
    "aws": _Catalog("EC2 instance type", "m6i.xlarge", aws_catalog.instance_type, aws_catalog.suggest,
                    aws_catalog.allowed_accelerators, aws_catalog.CATALOG_SOURCE, aws_catalog.CATALOG_DATE),
    "gcp": _Catalog("Compute Engine machine type", "n2-standard-4", gcp_catalog.machine_type, gcp_catalog.suggest,
                    gcp_catalog.allowed_accelerators, gcp_catalog.CATALOG_SOURCE, gcp_catalog.CATALOG_DATE),
}  # fmt: skip


def _known_types(spec: PlatformSpec, pool: NodePoolSpec, path: str) -> Iterator[Problem | InstanceType]:
    """The catalog record of each listed type, or a problem naming the closest known type."""
    catalog = _CATALOGS[spec.cloud]
    for i, name in enumerate(pool.instance_types):
        found = catalog.lookup(name)
        if found is not None:
            yield found
            continue
        close = catalog.suggest(name)
        hint = f"did you mean '{close}'?" if close else f"use a type such as '{catalog.example}'"
        yield Problem(
            f"{path}.instanceTypes[{i}]",
            name,
            f"is not a known {catalog.kind} (catalog: {catalog.source}, {catalog.date})",
            f"{hint} (a type the catalog lacks is added to components/{spec.cloud}/catalog.py with its source)",
        )


def _check_pool_types(spec: PlatformSpec, name: PoolName, pool: NodePoolSpec) -> Iterator[Problem]:
    path = f"nodePools.{name}"
    known: list[InstanceType] = []
    for item in _known_types(spec, pool, path):
        if isinstance(item, Problem):
            yield item
        else:
            known.append(item)
    if spec.cloud == "gcp" and len(pool.instance_types) > 1:
        yield Problem(
            f"{path}.instanceTypes",
            pool.instance_types,
            f"lists {len(pool.instance_types)} machine types, but a GKE node pool runs exactly one (the others "
            "would be ignored)",
            f"keep one machine type, e.g. [{pool.instance_types[0]}]",
        )
    by_arch: dict[str, list[str]] = {}
    for machine in known:
        by_arch.setdefault(machine.architecture, []).append(machine.name)
    if len(by_arch) > 1:
        detail = "; ".join(f"{arch}: {', '.join(names)}" for arch, names in sorted(by_arch.items()))
        yield Problem(
            f"{path}.instanceTypes",
            pool.instance_types,
            f"mixes CPU architectures ({detail})",
            "keep one architecture per pool (a node group's AMI is either x86_64 or arm64)",
        )
    elif len({(m.vcpus, m.memory_gib) for m in known}) > 1:
        # The cluster autoscaler sizes every node of a group like its first instance type (kubernetes/autoscaler,
        # tag cluster-autoscaler-1.35.2, cluster-autoscaler/cloudprovider/aws/README.md lines 185-196, 344-346).
        detail = "; ".join(f"{m.name}: {m.vcpus} vCPU/{m.memory_gib:g} GiB" for m in known)
        yield Problem(
            f"{path}.instanceTypes",
            pool.instance_types,
            f"mixes instance sizes ({detail}): the cluster autoscaler plans every node as the first type",
            "list types with the same vCPUs and memory (e.g. m6i.xlarge, m6a.xlarge, m5.xlarge)",
        )
    if name == "gpu":
        yield from _check_accelerator(spec, pool, known)
        return
    gpu_types = [m.name for m in known if m.gpus]
    if gpu_types:
        yield Problem(
            f"{path}.instanceTypes",
            pool.instance_types,
            f"puts GPU machines in the {name} pool ({', '.join(gpu_types)})",
            "move GPU types to nodePools.gpu, which is tainted and scales to zero",
        )
    if pool.accelerator is not None:
        yield Problem(
            f"{path}.accelerator",
            pool.accelerator.model_dump(),
            f"is set on the {name} pool, which runs no GPUs",
            "remove it; GPUs belong to nodePools.gpu",
        )


def _check_accelerator(spec: PlatformSpec, gpu: NodePoolSpec, known: list[InstanceType]) -> Iterator[Problem]:
    """Each GPU machine has a fixed GPU model and count (EC2, GCE G2/A2/A3) or attachable ones (GCE N1)."""
    catalog = _CATALOGS[spec.cloud]
    allowed = {machine.name: catalog.accelerators(machine) for machine in known}
    for i, name in enumerate(gpu.instance_types):
        if name in allowed and not allowed[name]:
            yield Problem(
                f"nodePools.gpu.instanceTypes[{i}]",
                name,
                "has no GPU",
                "use a GPU type (AWS: g5.xlarge, g6.xlarge; GCP: g2-standard-8)",
            )
    accelerator = gpu.accelerator
    if accelerator is None:
        example = "{type: nvidia-a10g, count: 1}" if spec.cloud == "aws" else "{type: nvidia-l4, count: 1}"
        yield Problem(
            "nodePools.gpu.accelerator",
            None,
            "is missing: a GPU pool needs its accelerator for scheduling and scale-from-zero",
            f"set nodePools.gpu.accelerator: {example}",
        )
        return
    for name, models in allowed.items():
        if not models:
            continue
        offered = "; ".join(f"{' or '.join(map(str, counts))} x {model}" for model, counts in sorted(models.items()))
        if accelerator.type not in models:
            model, counts = sorted(models.items())[0]
            yield Problem(
                "nodePools.gpu.accelerator.type",
                accelerator.type,
                f"is not a GPU {name} can have ({name}: {offered})",
                f"set accelerator: {{type: {model}, count: {counts[-1]}}} or use a machine type with "
                f"{accelerator.type}",
            )
        elif accelerator.count not in models[accelerator.type]:
            counts = models[accelerator.type]
            yield Problem(
                "nodePools.gpu.accelerator.count",
                accelerator.count,
                f"is not a number of {accelerator.type} GPUs {name} can have ({name}: {offered})",
                f"set count: {counts[-1]} or use a machine type with {accelerator.count} x {accelerator.type}",
            )


def _check_node_pools(spec: PlatformSpec) -> Iterable[Problem]:
    pools: dict[PoolName, NodePoolSpec | None] = {
        "system": spec.node_pools.system,
        "cpu": spec.node_pools.cpu,
        "gpu": spec.node_pools.gpu,
    }
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
        yield from _check_pool_types(spec, name, pool)
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
    yield from _database_size_problems(spec, "database", db, ("db.t4g.medium", "db-custom-2-7680"))
    if spec.cloud == "aws" and not aws_catalog.CACHE_NODE_TYPE.match(spec.online_store.node_type):
        yield Problem(
            "onlineStore.nodeType",
            spec.online_store.node_type,
            "is not an ElastiCache node type",
            "use a type like 'cache.t4g.small'",
        )


def _database_size_problems(
    spec: PlatformSpec, key: str, db: DatabaseSpec, examples: tuple[str, str]
) -> Iterable[Problem]:
    """A managed database's class (RDS instance class or Cloud SQL tier) and storage ceiling; examples: (AWS, GCP)."""
    pattern, example, what = (
        (aws_catalog.RDS_CLASS, examples[0], "an RDS instance class")
        if spec.cloud == "aws"
        else (gcp_catalog.SQL_TIER, examples[1], "a Cloud SQL tier")
    )
    if not pattern.match(db.instance_class):
        yield Problem(f"{key}.instanceClass", db.instance_class, f"is not {what}", f"use a value like '{example}'")
    if db.max_storage_gb < db.storage_gb:
        yield Problem(
            f"{key}.maxStorageGb",
            db.max_storage_gb,
            f"is below storageGb = {db.storage_gb}",
            "set maxStorageGb to at least storageGb (it is the storage autoscaling ceiling)",
        )


def _check_pipelines_database(spec: PlatformSpec) -> Iterable[Problem]:
    """The managed MySQL of Kubeflow Pipelines (`mlops:pipelinesDatabase`), checked even while KFP is off."""
    db, key = spec.pipelines_database, "pipelinesDatabase"
    if db.engine_version not in MYSQL_ENGINES:
        yield Problem(
            f"{key}.engineVersion",
            db.engine_version,
            "is not a supported MySQL version",
            f"use one of {', '.join(MYSQL_ENGINES)} (quoted)",
        )
    yield from _database_size_problems(spec, key, db, ("db.t4g.small", "db-custom-1-3840"))
    if spec.is_prod and db.backup_retention_days < 7:
        yield Problem(
            f"{key}.backupRetentionDays",
            db.backup_retention_days,
            "is below 7 days in prod: pipeline runs, schedules and lineage could not be restored",
            "keep at least 7 days of backups (14 recommended)",
        )
    if spec.is_prod and not db.high_availability:
        yield Problem(
            f"{key}.highAvailability",
            False,
            "is off in prod: one zone outage would stop every pipeline run and schedule",
            "set pipelinesDatabase.highAvailability: true (Multi-AZ / REGIONAL)",
        )


def _check_production(spec: PlatformSpec) -> Iterable[Problem]:
    if spec.decommission and not spec.is_prod:
        yield Problem(
            "decommission",
            True,
            f"only applies to prod; a {spec.environment} stack is destroyed as it is",
            "remove mlops:decommission and run `pulumi destroy`",
        )
    if spec.decommission and spec.deletion_protection:
        yield Problem(
            "decommission",
            True,
            "has no effect while deletionProtection is true",
            "set mlops:deletionProtection: false as well, or remove mlops:decommission",
        )
    if not spec.is_prod:
        return
    if not spec.deletion_protection and not spec.decommission:  # a deliberate teardown lifts the guard
        yield Problem(
            "deletionProtection",
            False,
            "is off in prod: a mistaken destroy would drop the database, buckets and cluster",
            "set mlops:deletionProtection: true (to tear prod down on purpose, see the README)",
        )
    if spec.storage.force_destroy and not spec.decommission:
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


def _cron_problem(path: str, value: str) -> Iterator[Problem]:
    reason = schedule_problem(value)
    if reason is not None:
        yield Problem(
            path, value, reason, f"use five cron fields ({CRON_FORMAT}) or a descriptor like @daily, e.g. '0 * * * *'"
        )


_PIPELINE_MODULE = re.compile(r"^pipelines\.[A-Za-z_][A-Za-z0-9_]*$")
PIPELINES_DIR = Path(__file__).resolve().parents[1] / "pipelines"  # copied into the training and monitoring images


@functools.cache
def pipeline_parameters(module: str) -> frozenset[str] | None:
    """The parameters of the kfp pipeline function `pipeline` a pipeline module defines (read from its source: the
    infra environment has no kfp), or None when the repository has no such module."""
    path = PIPELINES_DIR / f"{module.removeprefix('pipelines.')}.py"
    if not path.is_file():
        return None
    functions = [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)]
    return frozenset(
        arg.arg for node in functions if node.name == "pipeline" for arg in [*node.args.args, *node.args.kwonlyargs]
    )


@functools.cache
def platform_parameters() -> frozenset[str]:
    """The pipeline parameters the platform sets on every run (``PLATFORM_PARAMETERS`` of pipelines/steps.py, read
    from its source like the pipeline signatures)."""
    tree = ast.parse((PIPELINES_DIR / "steps.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PLATFORM_PARAMETERS" for t in node.targets
        ):
            return frozenset(ast.literal_eval(node.value))
    raise RuntimeError("pipelines/steps.py defines no PLATFORM_PARAMETERS literal")


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_models(spec: PlatformSpec) -> Iterator[Problem]:
    """Each model: a unique name, a known team, a pipeline module, schedules, gates and serving that fit its team."""
    teams = {team.name: team for team in spec.workloads.teams}
    seen: set[str] = set()
    for i, model in enumerate(spec.models):
        path = f"models[{i}]"
        if model.name in seen:
            yield Problem(f"{path}.name", model.name, "is listed twice", "give each model a unique name")
        seen.add(model.name)
        if model.team not in teams:
            yield Problem(
                f"{path}.team",
                model.team,
                "is not a team of workloads.teams",
                f"use one of {', '.join(sorted(teams)) or '(none)'} or add the team to workloads.teams",
            )
        yield from _training_problems(spec, f"{path}.training", model.training)
        if model.features is not None:
            yield from _features_problems(spec, f"{path}.features", model.features)
        yield from _gate_problems(f"{path}.qualityGates", model.quality_gates)
        yield from _serving_problems(f"{path}.serving", model, teams.get(model.team))
        yield from _alias_problems(f"{path}.serving.aliases", model.serving.aliases)
        yield from _cron_problem(f"{path}.batch.schedule", model.batch.schedule)
        yield from _cron_problem(f"{path}.monitoring.schedule", model.monitoring.schedule)


def _training_problems(spec: PlatformSpec, path: str, training: TrainingSpec) -> Iterator[Problem]:
    if not _PIPELINE_MODULE.match(training.pipeline):
        yield Problem(
            f"{path}.pipeline",
            training.pipeline,
            "is not a pipeline module of the training image",
            "use `pipelines.<module>` naming a file pipelines/<module>.py, e.g. 'pipelines.fraud_detection'",
        )
    else:
        yield from _pipeline_parameter_problems(path, training)
    if training.schedule is not None:
        yield from _cron_problem(f"{path}.schedule", training.schedule)
    if training.schedule is not None and not spec.services.kubeflow:
        yield Problem(
            f"{path}.schedule",
            training.schedule,
            "needs Kubeflow Pipelines to submit runs to, but services.kubeflow is false",
            "set services.kubeflow: true or remove the schedule",
        )
    if training.accelerator == "gpu" and spec.node_pools.gpu is None:
        yield Problem(
            f"{path}.accelerator",
            "gpu",
            "needs a GPU node pool, but nodePools.gpu is not set",
            "add nodePools.gpu to the stack or train on cpu",
        )


def _pipeline_parameter_problems(path: str, training: TrainingSpec) -> Iterator[Problem]:
    parameters = pipeline_parameters(training.pipeline)
    if parameters is None:
        known = sorted(m for m in (f"pipelines.{p.stem}" for p in PIPELINES_DIR.glob("*.py")) if pipeline_parameters(m))
        yield Problem(
            f"{path}.pipeline",
            training.pipeline,
            f"has no file pipelines/{training.pipeline.removeprefix('pipelines.')}.py in the repository",
            f"add the module or use one of {', '.join(known)}",
        )
        return
    tunable = parameters - platform_parameters()
    for name in training.parameters:
        if to_snake(name) not in tunable:
            yield Problem(
                f"{path}.parameters.{name}",
                training.parameters[name],
                f"is not a parameter of {training.pipeline} a stack may set",
                f"use one of {', '.join(sorted(tunable))} (camelCase or snake_case); the platform sets the others",
            )


def _features_problems(spec: PlatformSpec, path: str, features: FeaturesSpec) -> Iterator[Problem]:
    if not spec.services.feast:
        yield Problem(
            path,
            features.model_dump(by_alias=True),
            "names a Feast feature source, but services.feast is false",
            "set services.feast: true or remove the model's features",
        )
    for key, value in (("project", features.project), ("featureView", features.feature_view)):
        if not _IDENTIFIER.match(value):
            yield Problem(f"{path}.{key}", value, "is not a Feast name", "use letters, digits and underscores")
    # One feature store, one project: Feast isolates projects completely, a feature server serves one, and its
    # docs recommend "a single feature store and a single project per environment" (docs.feast.dev, Concepts:
    # Project). Teams share the project and own their feature views.
    others = {m.features.project for m in spec.models if m.features is not None} - {features.project}
    if others:
        yield Problem(
            f"{path}.project",
            features.project,
            f"differs from the Feast project of another model ({', '.join(sorted(others))}): the platform's "
            "feature server serves one project",
            "put every model's feature views in one Feast project",
        )


def _gate_problems(path: str, gates: QualityGatesSpec) -> Iterator[Problem]:
    for bound, values in (("min", gates.min), ("max", gates.max)):
        for metric in values:
            if not _IDENTIFIER.match(metric):
                yield Problem(
                    f"{path}.{bound}.{metric}",
                    values[metric],
                    "does not name a metric",
                    "use the metric name the pipeline's evaluate step reports (letters, digits, underscores)",
                )
    for metric in sorted(set(gates.min) & set(gates.max)):
        if gates.min[metric] > gates.max[metric]:
            yield Problem(
                f"{path}.min.{metric}",
                gates.min[metric],
                f"is above max.{metric} = {gates.max[metric]}: no model can pass",
                f"lower min.{metric} or raise max.{metric}",
            )


# MLflow's rules for an alias (mlflow 3.17.2, the version workloads/uv.lock pins; mlflow/utils/validation.py line 53
# `_REGISTERED_MODEL_ALIAS_REGEX = ^[\w\-]*$`, line 56 `^[vV]\d+$` (version aliases), line 92 at most 255 characters,
# lines 723-750 `_validate_model_alias_name` (empty, characters, length) and `_validate_model_alias_name_reserved`
# ("latest" in any case, version aliases); mlflow/store/model_registry/sqlalchemy_store.py lines 1524-1525 apply both
# when an alias is set). "previous-champion" is the platform's own (workloads' registry.py: rollback restores it).
_MLFLOW_ALIAS = re.compile(r"[\w\-]{1,255}")
_MLFLOW_VERSION_ALIAS = re.compile(r"[vV]\d+")
_RESERVED_ALIASES = ("latest", "previous-champion")


def _alias_problems(path: str, aliases: ServingAliasesSpec) -> Iterator[Problem]:
    """Each alias valid in MLflow and not one MLflow or the platform keeps for itself; the two different."""
    for role in ("champion", "challenger"):
        alias: str = getattr(aliases, role)
        if not _MLFLOW_ALIAS.fullmatch(alias):  # fullmatch: `$` would let a trailing newline through
            yield Problem(
                f"{path}.{role}",
                alias,
                "is not a valid MLflow alias (1 to 255 letters, digits, underscores and dashes)",
                "use a name such as 'production' or 'candidate'",
            )
        elif alias.lower() in _RESERVED_ALIASES or _MLFLOW_VERSION_ALIAS.fullmatch(alias):
            yield Problem(
                f"{path}.{role}",
                alias,
                "is reserved ('latest' and 'v<number>' by MLflow, 'previous-champion' by the platform's rollback)",
                "choose another name",
            )
    if aliases.champion.lower() == aliases.challenger.lower():  # the registry may compare names case-insensitively
        yield Problem(
            f"{path}.challenger",
            aliases.challenger,
            f"is also the champion alias ({aliases.champion!r}): registering a candidate would replace the released "
            "version",
            "give champion and challenger different names",
        )


def _serving_problems(path: str, model: ModelSpec, team: TeamSpec | None) -> Iterator[Problem]:
    serving = model.serving
    if serving.max_replicas < serving.min_replicas:
        yield Problem(
            f"{path}.maxReplicas",
            serving.max_replicas,
            f"is below minReplicas = {serving.min_replicas}",
            "raise maxReplicas or lower minReplicas",
        )
    if serving.challenger_weight > 0 and model.promotion == "auto":
        yield Problem(
            f"{path}.challengerWeight",
            serving.challenger_weight,
            "routes traffic to a challenger, but promotion = auto promotes a passing challenger at once "
            "(there is never a @challenger to serve)",
            "set promotion: manual to A/B test challengers, or challengerWeight: 0",
        )
    sizes: dict[str, float] = {}
    for key in ("cpu", "memory", "memoryLimit"):
        value = getattr(serving, to_snake(key))
        if not _QUANTITY.match(value):
            yield Problem(
                f"{path}.{key}", value, "is not a Kubernetes quantity", "use e.g. '500m' for cpu or '1Gi' for memory"
            )
        else:
            sizes[key] = quantity(value)
    if "memory" in sizes and "memoryLimit" in sizes and sizes["memoryLimit"] < sizes["memory"]:
        yield Problem(
            f"{path}.memoryLimit",
            serving.memory_limit,
            f"is below the memory request = {serving.memory!r}",
            "set memoryLimit to at least memory",
        )
    if team is None:
        return
    for key, quota_key in (("cpu", "cpu"), ("memory", "memory")):
        if key not in sizes or not _QUANTITY.match(getattr(team.quota, quota_key)):
            continue
        total, quota = sizes[key] * serving.max_replicas, quantity(getattr(team.quota, quota_key))
        if total > quota:
            yield Problem(
                f"{path}.{key}",
                getattr(serving, key),
                f"x maxReplicas {serving.max_replicas} exceeds the {key} quota {getattr(team.quota, quota_key)!r} "
                f"of team {team.name}",
                f"lower serving.{key} or maxReplicas, or raise workloads.teams quota.{quota_key}",
            )


_IMAGE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def _check_images(spec: PlatformSpec) -> Iterable[Problem]:
    """Digests pin what CI pushed, so they only mean something with `source: prebuilt`, and must be real digests."""
    images = spec.workloads.images
    version = workloads_version()
    reason = tag_problem(version)
    if reason is not None:  # the version every image tag carries, declared once in the workloads project
        yield Problem(
            "workloads.images",
            version,
            f"(the image version, project.version of {WORKLOADS_PROJECT}) {reason}",
            f"set project.version in {WORKLOADS_PROJECT} to a release version such as '{TAG_EXAMPLE}'",
        )
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


def _check_cost(spec: PlatformSpec) -> Iterable[Problem]:
    """Usage assumptions must fit the pools they describe: an average the autoscaler can never reach is a typo."""
    cost, pools = spec.cost, spec.node_pools
    for key, pool_name, average in (
        ("systemAverageNodes", "system", cost.system_average_nodes),
        ("cpuAverageNodes", "cpu", cost.cpu_average_nodes),
    ):
        pool = pools.system if pool_name == "system" else pools.cpu
        if average is not None and not pool.min_size <= average <= pool.max_size:
            yield Problem(
                f"cost.{key}",
                average,
                f"is outside nodePools.{pool_name} minSize..maxSize = {pool.min_size}..{pool.max_size}",
                f"set an average between {pool.min_size} and {pool.max_size}, or leave it unset",
            )
    hours = cost.gpu_hours_per_month
    if pools.gpu is None and hours > 0 and "gpu_hours_per_month" in cost.model_fields_set:
        yield Problem(
            "cost.gpuHoursPerMonth",
            hours,
            "is set but the stack has no GPU pool (nodePools.gpu)",
            "remove cost.gpuHoursPerMonth or add nodePools.gpu",
        )
    elif pools.gpu is not None and hours > pools.gpu.max_size * HOURS_PER_MONTH:
        ceiling = pools.gpu.max_size * HOURS_PER_MONTH
        yield Problem(
            "cost.gpuHoursPerMonth",
            hours,
            f"exceeds what nodePools.gpu can run: maxSize {pools.gpu.max_size} x {HOURS_PER_MONTH} h = {ceiling} h",
            f"use at most {ceiling} GPU node-hours or raise nodePools.gpu.maxSize",
        )
    if spec.cloud == "aws" and "gke_free_tier" in cost.model_fields_set:
        yield Problem("cost.gkeFreeTier", cost.gke_free_tier, "is a GCP setting but cloud = aws", "remove it")
