"""The cost model: monthly USD per resource and per group, for three scenarios, from recorded resource inputs.

One model, three callers: `make cost` (the offline plan), the budget line of `make plan`, and the CrossGuard budget
policies (the resources a real `pulumi preview` sees). Each caller turns its resources into `PricedResource`s; a rule
per resource type prices what would be created (node group scaling, instance types, database class and storage,
Multi-AZ, cache nodes, NAT gateways, buckets, log retention, volumes in Helm values) with the pinned catalog. The usage
assumptions and the budget come from the `mlops:cost:CostAssumptions` component the stack program records.

Scenarios: idle = every pool at its minimum (a GPU pool that scales to zero costs nothing); typical = the average pool
sizes and GPU node-hours of `mlops:cost`; peak = every pool at its maximum. Storage, logs and traffic are the same
in all three. Every resource type is either priced by a rule here or listed in `FREE_TYPES` with the reason.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from components.cost import COST_ASSUMPTIONS_TYPE
from components.spec import BUCKET_ROLES, CostSpec
from infra.cost import volumes
from infra.cost.catalog import (
    HOURS_PER_MONTH,
    AwsRegion,
    Catalog,
    Entry,
    GcpRegion,
    MachinePrice,
    MissingPrice,
    PerGb,
    PerGbMonth,
    load_catalog,
    pick,
)

Scenario = Literal["idle", "typical", "peak"]
SCENARIOS: tuple[Scenario, ...] = ("idle", "typical", "peak")
CATALOG_FILE = "infra/cost/catalog.yaml"


@dataclass(frozen=True)
class PricedResource:
    """What the model needs of a resource, whoever recorded it (offline plan or policy analyzer)."""

    urn: str
    type: str
    name: str
    props: Mapping[str, Any]
    property_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)
    parent: str = ""


@dataclass(frozen=True)
class Usage:
    """A quantity (or monthly USD) per scenario."""

    idle: float
    typical: float
    peak: float

    @classmethod
    def flat(cls, value: float) -> Usage:
        return cls(value, value, value)

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.idle + other.idle, self.typical + other.typical, self.peak + other.peak)

    def __mul__(self, factor: float) -> Usage:
        return Usage(self.idle * factor, self.typical * factor, self.peak * factor)

    def map(self, function: Callable[[float], float]) -> Usage:
        return Usage(function(self.idle), function(self.typical), function(self.peak))

    def get(self, scenario: Scenario) -> float:
        return float(getattr(self, scenario))

    def as_dict(self) -> dict[str, float]:
        return {s: round(self.get(s), 2) for s in SCENARIOS}


ZERO = Usage.flat(0.0)


@dataclass(frozen=True)
class Line:
    """One priced item of one resource."""

    group: str
    resource: str
    type: str
    item: str
    detail: str
    monthly: Usage
    on_demand: Usage | None = None
    """Spot capacity only: what the same node-hours cost on demand."""
    prices: tuple[Entry, ...] = ()
    node_hours: Usage | None = None
    """Node lines only: the node-hours priced."""


@dataclass(frozen=True)
class FreeType:
    count: int
    reason: str


@dataclass(frozen=True)
class BudgetCheck:
    limit: float
    enforce: bool
    typical: float

    @property
    def exceeded(self) -> bool:
        return self.typical > self.limit

    @property
    def blocking(self) -> bool:
        return self.exceeded and self.enforce

    def message(self) -> str:
        share = f"{self.typical / self.limit:.0%}"
        if not self.exceeded:
            return (
                f"typical monthly estimate ${self.typical:,.2f} is within budget.monthlyLimitUsd "
                f"${self.limit:,.2f} ({share})"
            )
        consequence = "refused (budget.enforceEstimate: true)" if self.enforce else "warning"
        return (
            f"{consequence}: typical monthly estimate ${self.typical:,.2f} is above budget.monthlyLimitUsd "
            f"${self.limit:,.2f} ({share}); fix: raise mlops:budget.monthlyLimitUsd, shrink the pools or the typical "
            f"usage (mlops:cost), or accept it"
            + ("" if self.enforce else " (set mlops:budget.enforceEstimate: true to make this an error)")
        )


@dataclass(frozen=True)
class Assumptions:
    usage: CostSpec
    recorded: bool
    """False: the graph holds no mlops:cost:CostAssumptions (a plan from before it existed); defaults are used."""
    budget_limit: float | None
    enforce: bool


@dataclass
class Estimate:
    stack: str
    cloud: str
    region: str
    assumptions: Assumptions
    lines: list[Line]
    free: dict[str, FreeType]

    def total(self) -> Usage:
        return sum((line.monthly for line in self.lines), ZERO)

    def groups(self) -> dict[str, Usage]:
        totals: dict[str, Usage] = {}
        for line in self.lines:
            totals[line.group] = totals.get(line.group, ZERO) + line.monthly
        return dict(sorted(totals.items(), key=lambda item: _group_order(item[0])))

    def budget(self) -> BudgetCheck | None:
        limit = self.assumptions.budget_limit
        if limit is None:
            return None
        return BudgetCheck(limit=limit, enforce=self.assumptions.enforce, typical=self.total().typical)

    def caveated_prices(self) -> list[Entry]:
        """Catalog entries behind this estimate whose basis is an assumption or unverified."""
        seen: dict[int, Entry] = {}
        for line in self.lines:
            for entry in line.prices:
                if entry.basis in ("assumption", "unverified"):
                    seen.setdefault(id(entry), entry)
        return list(seen.values())


class CostError(Exception):
    """Resources the catalog cannot price; every problem is listed, each naming the resource, the key and the fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} resource(s) cannot be priced:\n" + "\n".join(problems))


GROUP_ORDER = (
    "control plane",
    "node pool",
    "network",
    "databases",
    "online store",
    "buckets",
    "registry",
    "logs",
    "KMS",
    "persistent volumes",
)


def _group_order(group: str) -> tuple[int, str]:
    for index, prefix in enumerate(GROUP_ORDER):
        if group.startswith(prefix):
            return index, group
    return len(GROUP_ORDER), group


# --- context shared by the rules -----------------------------------------------------------------------------------


class Context:
    def __init__(self, resources: Sequence[PricedResource], catalog: Catalog, cloud: str, region: str) -> None:
        self.resources = resources
        self.by_urn = {r.urn: r for r in resources}
        self.catalog = catalog
        self.cloud = cloud
        self.region_name = region
        self.assumptions = read_assumptions(resources)
        self.counts = Counter(r.type for r in resources)
        self.node_hours: dict[str, Usage] = {}
        """Node-hours per pool resource URN, filled before the rules run (Cloud NAT bills per VM)."""

    @property
    def usage(self) -> CostSpec:
        return self.assumptions.usage

    def aws(self) -> AwsRegion:
        region = self.catalog.region("aws", self.region_name)
        assert isinstance(region, AwsRegion)
        return region

    def gcp(self) -> GcpRegion:
        region = self.catalog.region("gcp", self.region_name)
        assert isinstance(region, GcpRegion)
        return region

    def key(self, *parts: str) -> str:
        return ".".join((self.cloud, self.region_name, *parts))


def read_assumptions(resources: Iterable[PricedResource]) -> Assumptions:
    for resource in resources:
        if resource.type == COST_ASSUMPTIONS_TYPE:
            props = _plain(resource.props)
            budget = props.get("budget") or {}
            return Assumptions(
                usage=CostSpec.model_validate(props.get("usage") or {}),
                recorded=True,
                budget_limit=float(budget["monthlyLimitUsd"]) if "monthlyLimitUsd" in budget else None,
                enforce=bool(budget.get("enforceEstimate", False)),
            )
    return Assumptions(usage=CostSpec(), recorded=False, budget_limit=None, enforce=False)


def _plain(value: Any) -> Any:
    """A plain copy of (possibly proxied) props: mappings to dicts, sequences to lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _num(value: Any, default: float = 0.0) -> float:
    if value is None or value == "":
        return default
    return float(value)


# --- node pools ----------------------------------------------------------------------------------------------------

GPU_POOL = "gpu"


def pool_node_hours(ctx: Context, pool: str, low: float, high: float, initial: float) -> tuple[Usage, str]:
    """Node-hours per scenario for a pool named `pool` scaling in low..high, and how typical was chosen."""
    usage, month = ctx.usage, HOURS_PER_MONTH
    if pool == GPU_POOL:
        hours = min(max(usage.gpu_hours_per_month, low * month), high * month)
        why = f"{hours:g} GPU node-hours (cost.gpuHoursPerMonth)"
        return Usage(low * month, hours, high * month), why
    if pool == "system":
        average = usage.system_average_nodes
        default, setting = initial, "cost.systemAverageNodes unset: desiredSize"
    elif pool == "cpu":
        average = usage.cpu_average_nodes
        default, setting = min(max(low, 1), high), "cost.cpuAverageNodes unset: minSize, at least 1"
    else:
        average, default, setting = None, low, "no assumption for this pool: minSize"
    typical = default if average is None else average
    why = f"average {typical:g} nodes ({setting})" if average is None else f"average {typical:g} nodes (cost)"
    return Usage(low * month, typical * month, high * month), why


def _machine_rates(
    types: Sequence[str], machines: Mapping[str, MachinePrice], spot: bool, path: str
) -> tuple[float, float, list[Entry]]:
    """(rate, on-demand rate, entries) per node-hour: the dearest listed type, since any of them may launch."""
    chosen: list[Entry] = []
    on_demand: list[float] = []
    rates: list[float] = []
    for name in types:
        machine = pick(machines, name, path)
        on_demand.append(machine.on_demand.usd_per_hour)
        chosen.append(machine.on_demand)
        if spot:
            if machine.spot is None:
                raise MissingPrice(f"{path}.{name}.spot", ["onDemand"])
            rates.append(machine.spot.usd_per_hour)
            chosen.append(machine.spot)
    return (max(rates) if spot else max(on_demand)), max(on_demand), chosen


def _node_line(
    resource: PricedResource,
    pool: str,
    node_hours: Usage,
    why: str,
    rate: float,
    on_demand_rate: float,
    spot: bool,
    machine: str,
    prices: list[Entry],
) -> Line:
    capacity = "spot" if spot else "on-demand"
    return Line(
        group=f"node pool {pool}",
        resource=resource.name,
        type=resource.type,
        item=f"{capacity} nodes",
        detail=f"{machine} at ${rate:g}/h; idle/peak = min/max nodes, typical = {why}",
        monthly=node_hours * rate,
        on_demand=node_hours * on_demand_rate if spot else None,
        prices=tuple(prices),
        node_hours=node_hours,
    )


def _disk_line(
    resource: PricedResource, pool: str, node_hours: Usage, size_gb: float, kind: str, price: PerGbMonth
) -> Line:
    rate = price.usd_per_gb_month
    return Line(
        group=f"node pool {pool}",
        resource=resource.name,
        type=resource.type,
        item="boot volumes",
        detail=f"{size_gb:g} GB {kind} per node at ${rate:g}/GB-month, while the node runs",
        monthly=node_hours * (size_gb * rate / HOURS_PER_MONTH),
        prices=(price,),
    )


def _eks_scaling(resource: PricedResource) -> tuple[str, float, float, float]:
    props = resource.props
    scaling = props.get("scalingConfig") or {}
    low, high = _num(scaling.get("minSize")), _num(scaling.get("maxSize"))
    initial = _num(scaling.get("desiredSize"), low)
    return str(props.get("nodeGroupName") or resource.name), low, high, initial


def eks_node_group(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    props, region = resource.props, ctx.aws()
    pool, low, high, initial = _eks_scaling(resource)
    node_hours, why = pool_node_hours(ctx, pool, low, high, initial)
    types = list(props.get("instanceTypes") or [])
    if not types:
        raise MissingPrice(f"{resource.type}.instanceTypes", ["the node group records no instance types"])
    spot = props.get("capacityType") == "SPOT"
    rate, on_demand, prices = _machine_rates(types, region.ec2, spot, ctx.key("ec2"))
    yield _node_line(resource, pool, node_hours, why, rate, on_demand, spot, "/".join(types), prices)
    size, kind = _eks_root_volume(ctx, resource)
    yield _disk_line(resource, pool, node_hours, size, kind, pick(region.ebs, kind, ctx.key("ebs")))


def _eks_root_volume(ctx: Context, resource: PricedResource) -> tuple[float, str]:
    """Size and type of the node root volume: the launch template's, else the node group's diskSize (gp2)."""
    for urn in resource.property_dependencies.get("launchTemplate", []):
        template = ctx.by_urn.get(urn)
        for mapping in (template.props.get("blockDeviceMappings") or []) if template else []:
            ebs = mapping.get("ebs") or {}
            if ebs.get("volumeSize"):
                return _num(ebs.get("volumeSize")), str(ebs.get("volumeType") or "gp2")
    # Without a launch template EKS creates a 20 GiB gp2 root volume (the node group's diskSize default).
    return _num(resource.props.get("diskSize"), 20.0), "gp2"


ZONE = re.compile(r"^[a-z]+-[a-z]+\d+-[a-z]$")


def _gke_scaling(resource: PricedResource) -> tuple[str, float, float, float]:
    props = resource.props
    location = str(props.get("location") or "")
    zones = len(props.get("nodeLocations") or []) or (1 if ZONE.match(location) else 3)
    autoscaling = props.get("autoscaling") or {}
    if "totalMinNodeCount" in autoscaling or "totalMaxNodeCount" in autoscaling:
        low, high = _num(autoscaling.get("totalMinNodeCount")), _num(autoscaling.get("totalMaxNodeCount"))
    elif autoscaling:  # per-zone bounds
        low, high = _num(autoscaling.get("minNodeCount")) * zones, _num(autoscaling.get("maxNodeCount")) * zones
    else:  # a fixed-size pool
        low = high = _num(props.get("nodeCount"), _num(props.get("initialNodeCount"), 1)) * zones
    initial = min(max(_num(props.get("initialNodeCount"), 0) * zones, low), high)
    return str(props.get("name") or resource.name), low, high, initial


def gke_node_pool(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    region = ctx.gcp()
    config = resource.props.get("nodeConfig") or {}
    pool, low, high, initial = _gke_scaling(resource)
    node_hours, why = pool_node_hours(ctx, pool, low, high, initial)
    machine_type = config.get("machineType")
    if not machine_type:
        raise MissingPrice(f"{resource.type}.nodeConfig.machineType", ["the node pool records no machine type"])
    spot = bool(config.get("spot") or config.get("preemptible"))
    rate, on_demand, prices = _machine_rates([machine_type], region.compute, spot, ctx.key("compute"))
    machine = region.compute[machine_type]
    for accelerator in config.get("guestAccelerators") or []:
        if machine.accelerators_included:
            continue
        gpu = pick(region.accelerators, str(accelerator.get("type")), ctx.key("accelerators"))
        count = _num(accelerator.get("count"), 1)
        if spot and gpu.spot is None:
            raise MissingPrice(ctx.key("accelerators", str(accelerator.get("type")), "spot"), ["onDemand"])
        rate += count * (gpu.spot if spot and gpu.spot else gpu.on_demand).usd_per_hour
        on_demand += count * gpu.on_demand.usd_per_hour
        prices.append(gpu.on_demand)
    yield _node_line(resource, pool, node_hours, why, rate, on_demand, spot, machine_type, prices)
    kind = str(config.get("diskType") or "pd-balanced")
    size = _num(config.get("diskSizeGb"), 100.0)
    yield _disk_line(resource, pool, node_hours, size, kind, pick(region.disks, kind, ctx.key("disks")))


NODE_POOL_SCALING: Mapping[str, Callable[[PricedResource], tuple[str, float, float, float]]] = {
    "aws:eks/nodeGroup:NodeGroup": _eks_scaling,
    "gcp:container/nodePool:NodePool": _gke_scaling,
}


def total_node_hours(ctx: Context) -> Usage:
    total = ZERO
    for resource in ctx.resources:
        scaling = NODE_POOL_SCALING.get(resource.type)
        if scaling is not None:
            pool, low, high, initial = scaling(resource)
            total = total + pool_node_hours(ctx, pool, low, high, initial)[0]
    return total


# --- control plane -------------------------------------------------------------------------------------------------


def eks_cluster(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    support = str((resource.props.get("upgradePolicy") or {}).get("supportType") or "EXTENDED")
    price = pick(ctx.aws().eks, support, ctx.key("eks"))
    yield Line(
        "control plane",
        resource.name,
        resource.type,
        f"EKS {support.lower()} support",
        f"{HOURS_PER_MONTH} h at ${price.usd_per_hour:g}/h",
        Usage.flat(HOURS_PER_MONTH * price.usd_per_hour),
        prices=(price,),
    )


def gke_cluster(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    region, props = ctx.gcp(), resource.props
    fee = HOURS_PER_MONTH * region.gke_cluster_fee.usd_per_hour
    zonal = bool(ZONE.match(str(props.get("location") or "")))
    credit = min(fee, region.gke_free_tier_credit.usd_per_month) if zonal and ctx.usage.gke_free_tier else 0.0
    detail = f"{HOURS_PER_MONTH} h at ${region.gke_cluster_fee.usd_per_hour:g}/h"
    if credit:
        detail += f" less the free-tier credit ${credit:,.2f} (zonal cluster, cost.gkeFreeTier)"
    prices = (region.gke_cluster_fee, region.gke_free_tier_credit) if credit else (region.gke_cluster_fee,)
    yield Line("control plane", resource.name, resource.type, "GKE management fee", detail, Usage.flat(fee - credit),
               prices=prices)  # fmt: skip
    components = (props.get("loggingConfig") or {}).get("enableComponents")
    if props.get("loggingService") == "none" or components == []:
        return
    free = region.logging_free_gb_per_month.gb_per_month
    billable = max(0.0, ctx.usage.log_gb_per_month - free)
    yield Line(
        "logs",
        resource.name,
        resource.type,
        "Cloud Logging ingestion",
        f"{ctx.usage.log_gb_per_month:g} GB/month (cost.logGbPerMonth) less {free:g} GB free per project, "
        f"at ${region.logging_ingest.usd_per_gb:g}/GB",
        Usage.flat(billable * region.logging_ingest.usd_per_gb),
        prices=(region.logging_ingest, region.logging_free_gb_per_month),
    )


# --- network -------------------------------------------------------------------------------------------------------

NETWORK = "network (NAT, load balancers, public IPs)"


def _traffic_lines(ctx: Context, resource: PricedResource, share: float, data: PerGb, egress: PerGb) -> Iterator[Line]:
    nat_gb, egress_gb = ctx.usage.nat_gb_per_month * share, ctx.usage.internet_egress_gb_per_month * share
    yield Line(NETWORK, resource.name, resource.type, "NAT data processed",
               f"{nat_gb:g} GB/month (cost.natGbPerMonth) at ${data.usd_per_gb:g}/GB",
               Usage.flat(nat_gb * data.usd_per_gb), prices=(data,))  # fmt: skip
    yield Line(NETWORK, resource.name, resource.type, "internet egress",
               f"{egress_gb:g} GB/month (cost.internetEgressGbPerMonth) at ${egress.usd_per_gb:g}/GB",
               Usage.flat(egress_gb * egress.usd_per_gb), prices=(egress,))  # fmt: skip


def aws_nat_gateway(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    region = ctx.aws()
    if resource.props.get("connectivityType") == "private":
        return
    hourly = region.nat_gateway.usd_per_hour
    yield Line(NETWORK, resource.name, resource.type, "NAT gateway", f"{HOURS_PER_MONTH} h at ${hourly:g}/h",
               Usage.flat(HOURS_PER_MONTH * hourly), prices=(region.nat_gateway,))  # fmt: skip
    share = 1 / ctx.counts[resource.type]
    yield from _traffic_lines(ctx, resource, share, region.nat_gateway_data, region.internet_egress)


def aws_public_ip(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    price = ctx.aws().public_ipv4
    yield Line(NETWORK, resource.name, resource.type, "public IPv4 address",
               f"{HOURS_PER_MONTH} h at ${price.usd_per_hour:g}/h", Usage.flat(HOURS_PER_MONTH * price.usd_per_hour),
               prices=(price,))  # fmt: skip


def aws_vpc_endpoint(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    kind = str(resource.props.get("vpcEndpointType") or "Gateway")
    if kind != "Gateway":  # gateway endpoints (S3, DynamoDB) are free; interface endpoints bill per AZ-hour
        raise MissingPrice(ctx.key("vpcEndpoint", kind), ["Gateway (free)"])
    yield from ()


def cloud_nat(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    region = ctx.gcp()
    cap = region.cloud_nat_max_billed_vms
    vm_hours = total_node_hours(ctx).map(lambda hours: min(hours, cap * HOURS_PER_MONTH))
    price = region.cloud_nat_vm.usd_per_hour
    yield Line(NETWORK, resource.name, resource.type, "Cloud NAT gateway",
               f"VM-hours of every node pool (at most {cap} VMs billed) at ${price:g}/VM-h",
               vm_hours * price, prices=(region.cloud_nat_vm,))  # fmt: skip
    props = resource.props
    addresses = len(props.get("natIps") or []) if props.get("natIpAllocateOption") == "MANUAL_ONLY" else 1
    ip = region.cloud_nat_ip.usd_per_hour
    yield Line(NETWORK, resource.name, resource.type, "NAT IP addresses",
               f"{addresses} address(es) x {HOURS_PER_MONTH} h at ${ip:g}/h (AUTO_ONLY allocates one for up to "
               "1,008 VMs at the default 64 ports per VM)", Usage.flat(addresses * HOURS_PER_MONTH * ip),
               prices=(region.cloud_nat_ip,))  # fmt: skip
    share = 1 / ctx.counts[resource.type]
    yield from _traffic_lines(ctx, resource, share, region.cloud_nat_data, region.internet_egress)


def kubernetes_service(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    if (resource.props.get("spec") or {}).get("type") != "LoadBalancer":
        return
    if ctx.cloud == "aws":
        price, what = ctx.aws().network_load_balancer, "network load balancer"
    else:
        price, what = ctx.gcp().forwarding_rule, "forwarding rule"
    yield Line(NETWORK, resource.name, resource.type, what, f"{HOURS_PER_MONTH} h at ${price.usd_per_hour:g}/h",
               Usage.flat(HOURS_PER_MONTH * price.usd_per_hour), prices=(price,))  # fmt: skip


# --- databases and the online store --------------------------------------------------------------------------------


def rds_instance(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    region, props = ctx.aws(), resource.props
    engine, klass = str(props.get("engine") or ""), str(props.get("instanceClass") or "")
    multi_az = bool(props.get("multiAz"))
    copies, deployment = (2, "Multi-AZ") if multi_az else (1, "Single-AZ")
    price = pick(pick(region.rds, engine, ctx.key("rds")), klass, ctx.key("rds", engine))
    yield Line("databases", resource.name, resource.type, f"{engine} {klass} {deployment}",
               f"{copies} x {HOURS_PER_MONTH} h at ${price.usd_per_hour:g}/h",
               Usage.flat(copies * HOURS_PER_MONTH * price.usd_per_hour), prices=(price,))  # fmt: skip
    kind, size = str(props.get("storageType") or "gp2"), _num(props.get("allocatedStorage"))
    storage = pick(region.rds_storage, kind, ctx.key("rdsStorage"))
    yield Line("databases", resource.name, resource.type, f"{kind} storage",
               f"{copies} x {size:g} GB allocated at ${storage.usd_per_gb_month:g}/GB-month",
               Usage.flat(copies * size * storage.usd_per_gb_month), prices=(storage,))  # fmt: skip


CLOUD_SQL_TIER = re.compile(r"^db-custom-(?P<vcpus>\d+)-(?P<memory_mb>\d+)$")


def cloud_sql(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    region, props = ctx.gcp(), resource.props
    settings = props.get("settings") or {}
    family = str(props.get("databaseVersion") or "").split("_", 1)[0]
    rates = pick(region.cloud_sql, family, ctx.key("cloudSql"))
    tier, edition = str(settings.get("tier") or ""), str(settings.get("edition") or "ENTERPRISE")
    match = CLOUD_SQL_TIER.match(tier)
    if match is None or edition != "ENTERPRISE":
        raise MissingPrice(ctx.key("cloudSql", family, edition, tier), ["ENTERPRISE db-custom-<vCPUs>-<memory MB>"])
    vcpus, memory_gb = int(match["vcpus"]), int(match["memory_mb"]) / 1024
    regional = settings.get("availabilityType") == "REGIONAL"
    vcpu, memory = (rates.regional_vcpu, rates.regional_memory) if regional else (rates.zonal_vcpu, rates.zonal_memory)
    availability = "regional (HA)" if regional else "zonal"
    instance = HOURS_PER_MONTH * (vcpus * vcpu.usd_per_hour + memory_gb * memory.usd_per_gb_hour)
    yield Line("databases", resource.name, resource.type, f"{family.lower()} {tier} {availability}",
               f"{vcpus} vCPU at ${vcpu.usd_per_hour:g}/h + {memory_gb:g} GB at ${memory.usd_per_gb_hour:g}/GB-h, "
               f"{HOURS_PER_MONTH} h", Usage.flat(instance), prices=(vcpu, memory))  # fmt: skip
    if str(settings.get("diskType") or "PD_SSD") != "PD_SSD":
        raise MissingPrice(ctx.key("cloudSql", family, str(settings.get("diskType"))), ["PD_SSD"])
    disk = rates.regional_ssd if regional else rates.zonal_ssd
    size = _num(settings.get("diskSize"), 10.0)
    yield Line("databases", resource.name, resource.type, f"SSD storage {availability}",
               f"{size:g} GB at ${disk.usd_per_gb_month:g}/GB-month", Usage.flat(size * disk.usd_per_gb_month),
               prices=(disk,))  # fmt: skip


def elasticache(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    region, props = ctx.aws(), resource.props
    engine, node_type = str(props.get("engine") or "redis"), str(props.get("nodeType") or "")
    price = pick(pick(region.elasticache, engine, ctx.key("elasticache")), node_type, ctx.key("elasticache", engine))
    if props.get("numNodeGroups"):  # cluster mode: shards x (primary + replicas)
        nodes = _num(props.get("numNodeGroups")) * (1 + _num(props.get("replicasPerNodeGroup")))
    else:
        nodes = _num(props.get("numCacheClusters"), 1)
    yield Line("online store", resource.name, resource.type, f"{engine} {node_type}",
               f"{nodes:g} node(s) x {HOURS_PER_MONTH} h at ${price.usd_per_hour:g}/h",
               Usage.flat(nodes * HOURS_PER_MONTH * price.usd_per_hour), prices=(price,))  # fmt: skip


def memorystore(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    region, props = ctx.gcp(), resource.props
    tier, size = str(props.get("tier") or "BASIC"), _num(props.get("memorySizeGb"))
    bands = pick(region.memorystore, tier, ctx.key("memorystore"))
    band = next((b for b in bands if b.min_gb <= size and (b.max_gb is None or size <= b.max_gb)), None)
    if band is None:
        raise MissingPrice(ctx.key("memorystore", tier, f"{size:g}GB"), [f"{b.min_gb:g}-{b.max_gb}" for b in bands])
    if _num(props.get("replicaCount")) > 1:  # the tier price covers one replica; more have no price here
        raise MissingPrice(ctx.key("memorystore", tier, "readReplicas"), ["replicaCount <= 1"])
    rate = band.price.usd_per_gb_hour
    yield Line("online store", resource.name, resource.type, f"Memorystore {tier} {size:g} GB",
               f"{size:g} GB x {HOURS_PER_MONTH} h at ${rate:g}/GB-h",
               Usage.flat(size * HOURS_PER_MONTH * rate), prices=(band.price,))  # fmt: skip


# --- storage, registry, KMS, logs ----------------------------------------------------------------------------------


def bucket_role(resource: PricedResource) -> str:
    """The bucket's role from its logical name (`<prefix>-<role>`), the one naming both clouds' layers share."""
    for role in BUCKET_ROLES:
        if resource.name.endswith(f"-{role}"):
            return role
    raise MissingPrice(f"{resource.type}.role", [f"a logical name ending in -{role}" for role in BUCKET_ROLES])


def _bucket_line(ctx: Context, resource: PricedResource, price: PerGbMonth, storage_class: str) -> Line:
    role = bucket_role(resource)
    gb = float(getattr(ctx.usage.bucket_gb, role))
    return Line("buckets", resource.name, resource.type, f"{storage_class} storage ({role})",
                f"{gb:g} GB (cost.bucketGb.{role}) at ${price.usd_per_gb_month:g}/GB-month; lifecycle tiering "
                "lowers it as data ages", Usage.flat(gb * price.usd_per_gb_month), prices=(price,))  # fmt: skip


def s3_bucket(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    yield _bucket_line(ctx, resource, pick(ctx.aws().s3, "STANDARD", ctx.key("s3")), "STANDARD")


def gcs_bucket(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    location = str(resource.props.get("location") or "").lower()
    if location != ctx.region_name:  # multi- and dual-region buckets have their own prices
        raise MissingPrice(f"gcp.{location}.gcs", [ctx.region_name])
    storage_class = str(resource.props.get("storageClass") or "STANDARD")
    yield _bucket_line(ctx, resource, pick(ctx.gcp().gcs, storage_class, ctx.key("gcs")), storage_class)


def _registry_line(ctx: Context, resource: PricedResource, price: PerGbMonth) -> Line:
    gb = ctx.usage.registry_gb / ctx.counts[resource.type]
    return Line("registry", resource.name, resource.type, "image storage",
                f"{gb:g} GB (cost.registryGb, shared by {ctx.counts[resource.type]} repositories) at "
                f"${price.usd_per_gb_month:g}/GB-month", Usage.flat(gb * price.usd_per_gb_month),
                prices=(price,))  # fmt: skip


def ecr_repository(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    yield _registry_line(ctx, resource, ctx.aws().ecr_storage)


def artifact_registry(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    yield _registry_line(ctx, resource, ctx.gcp().artifact_registry_storage)


def aws_kms_key(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    price = ctx.aws().kms_key
    yield Line("KMS", resource.name, resource.type, "customer managed key", "1 key-month (requests not included)",
               Usage.flat(price.usd_per_month), prices=(price,))  # fmt: skip


def gcp_kms_key(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    price = ctx.gcp().kms_key_version
    rotation = str(resource.props.get("rotationPeriod") or "")
    seconds = float(rotation.removesuffix("s")) if rotation.endswith("s") else 0.0
    versions = 1 + (math.floor(365 * 86400 / seconds) if seconds else 0)
    yield Line("KMS", resource.name, resource.type, "key versions",
               f"{versions} active version(s) after a year of rotation every {seconds / 86400:g} days at "
               f"${price.usd_per_month:g}/version-month", Usage.flat(versions * price.usd_per_month),
               prices=(price,))  # fmt: skip


def cloudwatch_log_group(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    region = ctx.aws()
    ingest = ctx.usage.log_gb_per_month / ctx.counts[resource.type]
    days = _num(resource.props.get("retentionInDays"), 0.0) or 365.0  # never-expiring groups: a year kept
    stored = ingest * min(days, 3653) / (365 / 12)
    yield Line("logs", resource.name, resource.type, "CloudWatch Logs ingestion",
               f"{ingest:g} GB/month (cost.logGbPerMonth) at ${region.cloudwatch_logs_ingest.usd_per_gb:g}/GB",
               Usage.flat(ingest * region.cloudwatch_logs_ingest.usd_per_gb),
               prices=(region.cloudwatch_logs_ingest,))  # fmt: skip
    yield Line("logs", resource.name, resource.type, "CloudWatch Logs storage",
               f"{stored:.1f} GB kept ({days:g}-day retention) at "
               f"${region.cloudwatch_logs_storage.usd_per_gb_month:g}/GB-month",
               Usage.flat(stored * region.cloudwatch_logs_storage.usd_per_gb_month),
               prices=(region.cloudwatch_logs_storage,))  # fmt: skip


# --- persistent volumes --------------------------------------------------------------------------------------------


def _volume_lines(ctx: Context, resource: PricedResource, claims: Iterable[volumes.Claim]) -> Iterator[Line]:
    for claim in claims:
        kind = volumes.disk_type(ctx.cloud, claim.storage_class, ctx.resources)
        if kind is None:
            raise MissingPrice(f"{resource.type}.storageClass.{claim.storage_class or '(default)'}",
                               ["a StorageClass in the plan", *volumes.BUILTIN_CLASSES[ctx.cloud]])  # fmt: skip
        disks = ctx.aws().ebs if ctx.cloud == "aws" else ctx.gcp().disks
        price = pick(disks, kind, ctx.key("ebs" if ctx.cloud == "aws" else "disks"))
        gb = claim.gb * claim.copies
        yield Line("persistent volumes", resource.name, resource.type, claim.what,
                   f"{claim.copies} x {claim.gb:g} GB {kind} at ${price.usd_per_gb_month:g}/GB-month",
                   Usage.flat(gb * price.usd_per_gb_month), prices=(price,))  # fmt: skip


def helm_release(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    yield from _volume_lines(ctx, resource, volumes.helm_claims(resource.props))


def kustomize_directory(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    # A real preview registers the directory's objects as its children (priced by their own rules); the offline plan
    # records the directory alone, so its claims come from the pinned table.
    if any(r.parent == resource.urn for r in ctx.resources):
        return
    yield from _volume_lines(ctx, resource, volumes.kustomize_claims(resource.props))


def persistent_volume_claim(ctx: Context, resource: PricedResource) -> Iterator[Line]:
    yield from _volume_lines(ctx, resource, volumes.object_claims(resource.props))


Rule = Callable[[Context, PricedResource], Iterable[Line]]

RULES: Mapping[str, Rule] = {
    "aws:eks/cluster:Cluster": eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": eks_node_group,
    "aws:ec2/natGateway:NatGateway": aws_nat_gateway,
    "aws:ec2/eip:Eip": aws_public_ip,
    "aws:ec2/vpcEndpoint:VpcEndpoint": aws_vpc_endpoint,
    "aws:rds/instance:Instance": rds_instance,
    "aws:elasticache/replicationGroup:ReplicationGroup": elasticache,
    "aws:s3/bucket:Bucket": s3_bucket,
    "aws:ecr/repository:Repository": ecr_repository,
    "aws:kms/key:Key": aws_kms_key,
    "aws:cloudwatch/logGroup:LogGroup": cloudwatch_log_group,
    "gcp:container/cluster:Cluster": gke_cluster,
    "gcp:container/nodePool:NodePool": gke_node_pool,
    "gcp:compute/routerNat:RouterNat": cloud_nat,
    "gcp:sql/databaseInstance:DatabaseInstance": cloud_sql,
    "gcp:redis/instance:Instance": memorystore,
    "gcp:storage/bucket:Bucket": gcs_bucket,
    "gcp:artifactregistry/repository:Repository": artifact_registry,
    "gcp:kms/cryptoKey:CryptoKey": gcp_kms_key,
    "kubernetes:core/v1:Service": kubernetes_service,
    "kubernetes:core/v1:PersistentVolumeClaim": persistent_volume_claim,
    "kubernetes:apps/v1:StatefulSet": persistent_volume_claim,
    "kubernetes:helm.sh/v3:Release": helm_release,
    "kubernetes:kustomize/v2:Directory": kustomize_directory,
}

_IAM = "IAM identities, policies and bindings have no charge"
_NETWORK_CONFIG = "VPC configuration objects have no charge; traffic is priced on the NAT gateways"
_IN_CLUSTER = "a Kubernetes object: it runs on the nodes priced under the node pools"
_PATCH = "a server-side patch of an upstream object: no new object, nothing to price"
_FLOW_LOGS = "logging it enables is Cloud Logging ingestion, counted in cost.logGbPerMonth"
FREE_TYPES: Mapping[str, str] = {
    "docker-build:index:Image": "built by BuildKit on the machine that runs `pulumi up`; the layers it pushes are "
    "priced with the registry (cost.registryGb)",
    "aws:autoscaling/tag:Tag": "a tag on the node group's Auto Scaling group",
    "aws:budgets/budget:Budget": "AWS Budgets: the first two budgets of an account have no charge",
    "aws:ec2/internetGateway:InternetGateway": _NETWORK_CONFIG,
    "aws:ec2/launchTemplate:LaunchTemplate": "a template: its root volumes are priced with the node group using it",
    "aws:ec2/route:Route": _NETWORK_CONFIG,
    "aws:ec2/routeTable:RouteTable": _NETWORK_CONFIG,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _NETWORK_CONFIG,
    "aws:ec2/securityGroup:SecurityGroup": _NETWORK_CONFIG,
    "aws:ec2/subnet:Subnet": _NETWORK_CONFIG,
    "aws:ec2/vpc:Vpc": _NETWORK_CONFIG,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _NETWORK_CONFIG,
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": "a repository setting; it lowers stored GB",
    "aws:eks/accessEntry:AccessEntry": "EKS access entries have no charge",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": "EKS access policies have no charge",
    "aws:eks/addon:Addon": "managed add-ons have no charge; their pods run on the priced nodes",
    "aws:elasticache/subnetGroup:SubnetGroup": _NETWORK_CONFIG,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _IAM,
    "aws:iam/role:Role": _IAM,
    "aws:iam/rolePolicy:RolePolicy": _IAM,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _IAM,
    "aws:kms/alias:Alias": "aliases have no charge; the key is priced",
    "aws:rds/parameterGroup:ParameterGroup": "database configuration: no charge",
    "aws:rds/subnetGroup:SubnetGroup": _NETWORK_CONFIG,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "a bucket setting; storage is priced",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "a bucket setting; storage is priced",
    "aws:s3/bucketPolicy:BucketPolicy": "a bucket setting; storage is priced",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "a bucket setting; storage is priced",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "a bucket setting (S3 bucket keys keep KMS requests negligible); storage is priced"
    ),
    "aws:s3/bucketVersioning:BucketVersioning": "a bucket setting; versions count in cost.bucketGb",
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": _IAM,
    "gcp:billing/budget:Budget": "Cloud Billing budgets have no charge",
    "gcp:compute/firewall:Firewall": f"firewall rules have no charge; {_FLOW_LOGS}",
    "gcp:compute/globalAddress:GlobalAddress": "an internal range reserved for private services access: no charge",
    "gcp:compute/network:Network": _NETWORK_CONFIG,
    "gcp:compute/router:Router": "a Cloud Router used only by Cloud NAT has no charge; the NAT is priced",
    "gcp:compute/subnetwork:Subnetwork": f"subnets have no charge; {_FLOW_LOGS}",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": _IAM,
    "gcp:kms/keyRing:KeyRing": "key rings have no charge; key versions are priced",
    "gcp:monitoring/notificationChannel:NotificationChannel": "notification channels have no charge",
    "gcp:projects/iAMMember:IAMMember": _IAM,
    "gcp:projects/service:Service": "enabling an API has no charge",
    "gcp:projects/serviceIdentity:ServiceIdentity": _IAM,
    "gcp:serviceaccount/account:Account": _IAM,
    "gcp:serviceaccount/iAMMember:IAMMember": _IAM,
    "gcp:servicenetworking/connection:Connection": "private services access peering has no charge",
    "gcp:sql/user:User": "a database login: no charge",
    "gcp:storage/bucketIAMMember:BucketIAMMember": _IAM,
    "gcp:storage/hmacKey:HmacKey": "a credential of a service account: Cloud Storage charges no fee for HMAC keys",
    "kubernetes:apps/v1:Deployment": _IN_CLUSTER,
    "kubernetes:apps/v1:DeploymentPatch": _PATCH,
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": _IN_CLUSTER,
    "kubernetes:batch/v1:CronJob": _IN_CLUSTER,
    "kubernetes:batch/v1:Job": _IN_CLUSTER,
    "kubernetes:core/v1:ConfigMap": _IN_CLUSTER,
    "kubernetes:core/v1:ConfigMapPatch": _PATCH,
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition": _IN_CLUSTER,
    "kubernetes:core/v1:LimitRange": _IN_CLUSTER,
    "kubernetes:core/v1:Namespace": _IN_CLUSTER,
    "kubernetes:core/v1:ResourceQuota": _IN_CLUSTER,
    "kubernetes:core/v1:Secret": _IN_CLUSTER,
    "kubernetes:core/v1:SecretPatch": _PATCH,
    "kubernetes:core/v1:ServiceAccount": _IN_CLUSTER,
    "kubernetes:core/v1:ServiceAccountPatch": _PATCH,
    "kubernetes:monitoring.coreos.com/v1:PrometheusRule": _IN_CLUSTER,
    "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": _IN_CLUSTER,
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": _IN_CLUSTER,
    "kubernetes:policy/v1:PodDisruptionBudget": _IN_CLUSTER,
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": _IN_CLUSTER,
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": _IN_CLUSTER,
    "kubernetes:rbac.authorization.k8s.io/v1:Role": _IN_CLUSTER,
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": _IN_CLUSTER,
    "kubernetes:scheduling.k8s.io/v1:PriorityClass": _IN_CLUSTER,
    "kubernetes:storage.k8s.io/v1:StorageClass": "a StorageClass: the volumes provisioned with it are priced",
    "pulumi:providers:aws": "a Pulumi provider: no cloud resource",
    "pulumi:providers:gcp": "a Pulumi provider: no cloud resource",
    "pulumi:providers:kubernetes": "a Pulumi provider: no cloud resource",
    "random:index/randomId:RandomId": "generated by the Pulumi random provider: no cloud resource",
    "random:index/randomPassword:RandomPassword": "generated by the Pulumi random provider: no cloud resource",
}
OWN_COMPONENT_PREFIX = "mlops:"
OWN_COMPONENT_REASON = "one of the platform's own components: it creates nothing itself, its children are priced"


def free_reason(type_: str) -> str | None:
    if type_.startswith(OWN_COMPONENT_PREFIX):
        return OWN_COMPONENT_REASON
    return FREE_TYPES.get(type_)


def stack_location(resources: Iterable[PricedResource]) -> tuple[str, str]:
    """(cloud, region) of the stack's explicit cloud provider, else of the recorded assumptions."""
    resources = list(resources)
    found = {
        (r.type.removeprefix("pulumi:providers:"), str(r.props.get("region") or ""))
        for r in resources
        if r.type in ("pulumi:providers:aws", "pulumi:providers:gcp")
    }
    if not found:
        found = {(str(r.props.get("cloud")), str(r.props.get("region"))) for r in resources
                 if r.type == COST_ASSUMPTIONS_TYPE and r.props.get("region")}  # fmt: skip
    if len(found) != 1:
        raise CostError([f"expected one aws or gcp provider with a region, found {sorted(found) or 'none'}"])
    return found.pop()


def estimate(resources: Sequence[PricedResource], stack: str, catalog: Catalog | None = None) -> Estimate:
    """Price every resource; raise `CostError` listing every resource the catalog cannot price or classify."""
    catalog = catalog or load_catalog()
    cloud, region = stack_location(resources)
    try:
        ctx = Context(resources, catalog, cloud, region)
    except ValidationError as error:
        raise CostError([f"{COST_ASSUMPTIONS_TYPE}: the recorded usage assumptions are invalid: {error}"]) from None
    lines: list[Line] = []
    free: dict[str, list[str]] = defaultdict(list)
    problems: list[str] = []
    for resource in resources:
        rule = RULES.get(resource.type)
        if rule is None:
            reason = free_reason(resource.type)
            if reason is None:
                problems.append(
                    f"{resource.type} {resource.name}: this resource type is neither priced nor listed as free; "
                    "fix: add a pricing rule to RULES or the type and the reason it costs nothing to FREE_TYPES in "
                    "infra/cost/model.py"
                )
            else:
                free[resource.type].append(reason)
            continue
        try:
            lines.extend(rule(ctx, resource))
        except MissingPrice as missing:
            problems.append(missing_price_problem(resource, missing))
    if problems:
        raise CostError(problems)
    return Estimate(
        stack=stack,
        cloud=cloud,
        region=region,
        assumptions=ctx.assumptions,
        lines=lines,
        free={t: FreeType(len(reasons), reasons[0]) for t, reasons in sorted(free.items())},
    )


def budget_status(resources: Sequence[PricedResource], stack: str) -> tuple[str, bool]:
    """The budget line of `make plan`, and whether it must fail the plan (over budget with enforceEstimate)."""
    assumptions = read_assumptions(resources)
    if assumptions.budget_limit is None:
        return "Budget: none recorded in this plan", False
    try:
        check = estimate(resources, stack).budget()
    except CostError as error:
        return f"Budget: the monthly cost cannot be estimated, so the budget is unchecked: {error}", assumptions.enforce
    assert check is not None
    return f"Budget: {check.message()}", check.blocking


def missing_price_problem(resource: PricedResource, missing: MissingPrice) -> str:
    known = ", ".join(missing.known[:12]) + (", ..." if len(missing.known) > 12 else "")
    fix = missing.fix or f"add {missing.key} with its source and date to {CATALOG_FILE}, or choose a priced value"
    return f"{resource.type} {resource.name}: no price for {missing.key} (known: {known or 'nothing'}); fix: {fix}"
