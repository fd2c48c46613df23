"""The pinned price catalog: its schema, its sources, and coverage of what the shipped stacks run."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from components.spec import BUCKET_ROLES, BucketUsageSpec
from infra.cost.catalog import CATALOG_PATH, Catalog, MachinePrice, keyed_entries, load_catalog
from tests.infra.conftest import STACKS, stack_spec

ASSUMED_SPOT_SHARE = 0.4  # the catalog's stated assumption for spot prices it found no dated figure for


def raw() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CATALOG_PATH.read_text())
    return document


def test_catalog_matches_its_schema_and_every_source_is_dated() -> None:
    catalog = load_catalog()
    assert catalog.sources and catalog.aws and catalog.gcp
    for name, source in catalog.sources.items():
        assert datetime.date(2024, 1, 1) <= source.date <= datetime.date(2026, 12, 31), name
    used = {entry.source for _, entry in keyed_entries(catalog)}
    assert used == set(catalog.sources), "every source is used, every used source is defined"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        pytest.param(("aws", "us-east-1", "ec2", "m6i.large", "onDemand"), {"usdPerHuor": 0.1, "source": "not-found"},
                     "usdPerHuor", id="misspelt-unit"),
        pytest.param(("aws", "us-east-1", "natGateway"), {"usdPerHour": 0.045, "source": "a-blog"},
                     "unknown sources ['a-blog']", id="undefined-source"),
        pytest.param(("aws", "us-east-1", "publicIpv4"), {"usdPerHour": -0.005, "source": "aws-public-ipv4"},
                     "greater than or equal to 0", id="negative-price"),
        pytest.param(("aws", "us-east-1", "kmsKey"), {"usdPerMonth": 1, "source": "not-found", "basis": "guess"},
                     "basis", id="unknown-basis"),
        pytest.param(("sources", "not-found", "date"), "someday", "date", id="undated-source"),
    ],
)  # fmt: skip
def test_schema_refuses_a_malformed_entry(path: tuple[str, ...], value: Any, expected: str) -> None:
    document = raw()
    node = document
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(ValidationError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        Catalog.model_validate(document)


def test_caveated_prices_say_why() -> None:
    for key, entry in keyed_entries(load_catalog()):
        if entry.basis == "unverified":
            assert entry.source == "not-found", key
        if entry.basis in ("derived", "assumption"):
            assert entry.note, f"{key}: a {entry.basis} price states its arithmetic or reasoning"


def machines(cloud: str, region: str) -> dict[str, MachinePrice]:
    catalog = load_catalog()
    return catalog.aws[region].ec2 if cloud == "aws" else catalog.gcp[region].compute


def test_spot_prices_are_below_on_demand_and_assumed_ones_follow_the_stated_share() -> None:
    catalog = load_catalog()
    for region in [*catalog.aws.values(), *catalog.gcp.values()]:
        for name, machine in {**getattr(region, "ec2", {}), **getattr(region, "compute", {})}.items():
            if machine.spot is None:
                continue
            assert machine.spot.usd_per_hour < machine.on_demand.usd_per_hour, name
            if machine.spot.basis == "assumption":
                share = machine.spot.usd_per_hour / machine.on_demand.usd_per_hour
                assert share == pytest.approx(ASSUMED_SPOT_SHARE, abs=0.001), name


@pytest.mark.parametrize("stack", STACKS)
def test_catalog_covers_the_shipped_stacks(stack: str) -> None:
    spec = stack_spec(stack)
    region = load_catalog().region(spec.cloud, spec.region)  # raises MissingPrice for an unpriced region
    priced = machines(spec.cloud, spec.region)
    for name, pool in spec.node_pools.model_dump().items():
        if pool is None:
            continue
        for instance_type in pool["instance_types"]:
            assert instance_type in priced, f"{stack}: {name} pool type {instance_type}"
            if pool["capacity_type"] == "SPOT":
                assert priced[instance_type].spot is not None, f"{stack}: spot price of {instance_type}"
    assert region is not None


def test_bucket_usage_has_one_setting_per_bucket_role() -> None:
    assert tuple(BucketUsageSpec.model_fields) == BUCKET_ROLES
