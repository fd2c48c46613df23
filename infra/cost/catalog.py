"""The pinned price catalog (`catalog.yaml` next to this file): its schema, and lookups that never return a silent zero.

The schema is the pydantic model below: every price carries its unit in its key (`usdPerHour`, `usdPerGbMonth`, ...),
a source id that must exist in `sources` (each with a reference and a date) and a basis (quoted, derived, assumption,
unverified). A missing region, type or class raises `MissingPrice` with the dotted key that is missing and the keys
that exist, so the caller can name the resource and the fix.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

CATALOG_PATH = Path(__file__).with_name("catalog.yaml")
HOURS_PER_MONTH = 730  # the month of every estimate: 365 days x 24 h / 12, as AWS and Google price calculators use
Basis = Literal["quoted", "derived", "assumption", "unverified"]
NonNegative = Annotated[float, Field(ge=0)]
T = TypeVar("T")


class CatalogModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class Source(CatalogModel):
    ref: Annotated[str, Field(min_length=10)]
    """URL or repository@commit path:line, with the figures it states."""
    date: date
    """When the figures were published (or read, for undated pages)."""


class Entry(CatalogModel):
    source: str
    basis: Basis = "quoted"
    note: str = ""


class PerHour(Entry):
    usd_per_hour: NonNegative


class PerGbMonth(Entry):
    usd_per_gb_month: NonNegative


class PerGb(Entry):
    usd_per_gb: NonNegative


class PerGbHour(Entry):
    usd_per_gb_hour: NonNegative


class PerMonth(Entry):
    usd_per_month: NonNegative


class Allowance(Entry):
    gb_per_month: NonNegative


class MachinePrice(CatalogModel):
    on_demand: PerHour
    spot: PerHour | None = None
    accelerators_included: bool = False
    """GCP accelerator-optimized types (A2, A3, G2) bundle their GPUs in the machine price."""


class CapacityBand(CatalogModel):
    min_gb: NonNegative
    max_gb: NonNegative | None
    price: PerGbHour


class CloudSqlRates(CatalogModel):
    zonal_vcpu: PerHour
    zonal_memory: PerGbHour
    regional_vcpu: PerHour
    regional_memory: PerGbHour
    zonal_ssd: PerGbMonth
    regional_ssd: PerGbMonth


class AwsRegion(CatalogModel):
    ec2: dict[str, MachinePrice]
    ebs: dict[str, PerGbMonth]
    eks: dict[str, PerHour]
    """Control plane per hour by `upgradePolicy.supportType` (STANDARD, EXTENDED)."""
    nat_gateway: PerHour
    nat_gateway_data: PerGb
    public_ipv4: PerHour
    network_load_balancer: PerHour
    internet_egress: PerGb
    rds: dict[str, dict[str, PerHour]]
    """Single-AZ instance hour by engine, then instance class; Multi-AZ bills two instances."""
    rds_storage: dict[str, PerGbMonth]
    elasticache: dict[str, dict[str, PerHour]]
    s3: dict[str, PerGbMonth]
    ecr_storage: PerGbMonth
    kms_key: PerMonth
    cloudwatch_logs_ingest: PerGb
    cloudwatch_logs_storage: PerGbMonth


class GcpRegion(CatalogModel):
    compute: dict[str, MachinePrice]
    accelerators: dict[str, MachinePrice] = {}
    disks: dict[str, PerGbMonth]
    gke_cluster_fee: PerHour
    gke_free_tier_credit: PerMonth
    cloud_nat_vm: PerHour
    cloud_nat_max_billed_vms: Annotated[int, Field(ge=1)]
    cloud_nat_data: PerGb
    cloud_nat_ip: PerHour
    internet_egress: PerGb
    forwarding_rule: PerHour
    cloud_sql: dict[str, CloudSqlRates]
    """Enterprise edition rates by engine family (POSTGRES, MYSQL, from `databaseVersion`)."""
    memorystore: dict[str, list[CapacityBand]]
    gcs: dict[str, PerGbMonth]
    artifact_registry_storage: PerGbMonth
    kms_key_version: PerMonth
    logging_ingest: PerGb
    logging_free_gb_per_month: Allowance


class Catalog(CatalogModel):
    version: Literal[1]
    sources: dict[str, Source]
    aws: dict[str, AwsRegion]
    gcp: dict[str, GcpRegion]

    @model_validator(mode="after")
    def _sources_exist(self) -> Catalog:
        unknown = sorted({e.source for e in entries(self)} - set(self.sources))
        if unknown:
            raise ValueError(f"prices cite unknown sources {unknown}; define them under `sources`")
        return self

    def region(self, cloud: str, region: str) -> AwsRegion | GcpRegion:
        regions: Mapping[str, AwsRegion | GcpRegion] = self.aws if cloud == "aws" else self.gcp
        return pick(regions, region, cloud)


class MissingPrice(LookupError):
    """`key` (dotted) is not in the catalog; `known` lists what exists at that level; `fix` overrides the usual one."""

    def __init__(self, key: str, known: list[str], fix: str | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.known = known
        self.fix = fix


def pick(mapping: Mapping[str, T], key: str, path: str) -> T:
    """`mapping[key]`, or `MissingPrice` naming `path.key` and the keys that exist."""
    if key not in mapping:
        raise MissingPrice(f"{path}.{key}", sorted(mapping))
    return mapping[key]


def keyed_entries(node: object, key: str = "") -> list[tuple[str, Entry]]:
    """Every price entry under `node` (a catalog, a region, a mapping or list of them) with its dotted key."""

    def child(part: object) -> str:
        return f"{key}.{part}" if key else str(part)

    if isinstance(node, Entry):
        return [(key, node)]
    if isinstance(node, BaseModel):
        fields = type(node).model_fields
        return [e for name, f in fields.items() for e in keyed_entries(getattr(node, name), child(f.alias or name))]
    if isinstance(node, Mapping):
        return [e for k, value in node.items() for e in keyed_entries(value, child(k))]
    if isinstance(node, list):
        return [e for i, value in enumerate(node) for e in keyed_entries(value, child(i))]
    return []


def entries(node: object) -> list[Entry]:
    return [entry for _, entry in keyed_entries(node)]


_KEYS: dict[int, tuple[Catalog, dict[int, str]]] = {}  # the catalog is kept alive, so its id stays its own


def entry_key(catalog: Catalog, entry: Entry) -> str:
    """The dotted catalog key of `entry` (e.g. aws.us-east-1.ec2.m6a.xlarge.onDemand)."""
    if id(catalog) not in _KEYS:
        keys = {id(e): key for key, e in keyed_entries(catalog) if key.startswith(("aws.", "gcp."))}
        _KEYS[id(catalog)] = (catalog, keys)
    return _KEYS[id(catalog)][1].get(id(entry), "?")


@functools.cache
def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    return Catalog.model_validate(yaml.safe_load(path.read_text()))
