"""The pinned VM catalogs: well-formed records, GPU rules per cloud, did-you-mean, and every shipped stack covered."""

from __future__ import annotations

import pytest

from components.aws import catalog as aws
from components.gcp import catalog as gcp
from components.machines import InstanceType
from tests.infra.conftest import STACKS, stack_spec

CATALOGS = {"aws": aws.INSTANCE_TYPES, "gcp": gcp.MACHINE_TYPES}


@pytest.mark.parametrize("cloud", sorted(CATALOGS))
def test_records_are_keyed_by_name_and_physically_plausible(cloud: str) -> None:
    for name, record in CATALOGS[cloud].items():
        assert record.name == name
        assert record.vcpus >= 1
        assert 0.25 <= record.memory_gib / record.vcpus <= 16, record  # t3.nano: 0.25 GiB/vCPU, a2-ultra: 14
        assert (record.gpus == 0) == (record.gpu_type is None), record
        assert record.architecture in ("x86_64", "arm64")


@pytest.mark.parametrize(
    ("cloud", "name", "expected"),
    [
        ("aws", "m6i.xlarge", InstanceType("m6i.xlarge", "x86_64", 4, 16)),
        ("aws", "m7g.2xlarge", InstanceType("m7g.2xlarge", "arm64", 8, 32)),
        ("aws", "c5.9xlarge", InstanceType("c5.9xlarge", "x86_64", 36, 72)),
        ("aws", "r8g.48xlarge", InstanceType("r8g.48xlarge", "arm64", 192, 1536)),
        ("aws", "g5.12xlarge", InstanceType("g5.12xlarge", "x86_64", 48, 192, 4, "nvidia-a10g")),
        ("aws", "g6e.xlarge", InstanceType("g6e.xlarge", "x86_64", 4, 32, 1, "nvidia-l40s")),
        ("aws", "p5.48xlarge", InstanceType("p5.48xlarge", "x86_64", 192, 2048, 8, "nvidia-h100-80gb")),
        ("gcp", "n2-standard-4", InstanceType("n2-standard-4", "x86_64", 4, 16)),
        ("gcp", "c4a-standard-8", InstanceType("c4a-standard-8", "arm64", 8, 32)),
        ("gcp", "c4-highcpu-4", InstanceType("c4-highcpu-4", "x86_64", 4, 8)),
        ("gcp", "g2-standard-24", InstanceType("g2-standard-24", "x86_64", 24, 96, 2, "nvidia-l4")),
        ("gcp", "a3-highgpu-8g", InstanceType("a3-highgpu-8g", "x86_64", 208, 1872, 8, "nvidia-h100-80gb")),
    ],
)
def test_sample_records_match_the_cloud_specification(cloud: str, name: str, expected: InstanceType) -> None:
    assert CATALOGS[cloud][name] == expected


def test_aws_gpus_are_built_into_the_instance_type() -> None:
    assert aws.allowed_accelerators(aws.INSTANCE_TYPES["g5.xlarge"]) == {"nvidia-a10g": (1,)}
    assert aws.allowed_accelerators(aws.INSTANCE_TYPES["g4dn.12xlarge"]) == {"nvidia-tesla-t4": (4,)}
    assert aws.allowed_accelerators(aws.INSTANCE_TYPES["m6i.xlarge"]) == {}


def test_gcp_accelerator_optimized_machines_take_exactly_their_built_in_gpus() -> None:
    assert gcp.allowed_accelerators(gcp.MACHINE_TYPES["g2-standard-8"]) == {"nvidia-l4": (1,)}
    assert gcp.allowed_accelerators(gcp.MACHINE_TYPES["a2-ultragpu-2g"]) == {"nvidia-a100-80gb": (2,)}
    assert gcp.allowed_accelerators(gcp.MACHINE_TYPES["e2-standard-4"]) == {}


def test_gcp_n1_gpu_counts_are_bounded_by_the_machines_vcpus() -> None:
    small = gcp.allowed_accelerators(gcp.MACHINE_TYPES["n1-standard-8"])
    assert small["nvidia-tesla-t4"] == (1, 2, 4)
    assert small["nvidia-tesla-v100"] == (1, 2, 4, 8)
    big = gcp.allowed_accelerators(gcp.MACHINE_TYPES["n1-standard-64"])
    assert big["nvidia-tesla-t4"] == (4,)  # 1 or 2 T4s allow at most 48 vCPUs
    assert big["nvidia-tesla-v100"] == (8,)


def test_every_built_in_gpu_model_is_a_known_accelerator_type() -> None:
    assert {m.gpu_type for m in gcp.MACHINE_TYPES.values() if m.gpu_type} <= gcp.ACCELERATOR_TYPES
    assert {"nvidia-a10g", "nvidia-l4", "nvidia-tesla-t4", "nvidia-l40s", "nvidia-h100-80gb"} <= aws.GPU_TYPES


@pytest.mark.parametrize(
    ("suggest", "typo", "expected"),
    [
        (aws.suggest, "m6i-xlarge", "m6i.xlarge"),
        (aws.suggest, "g5.xlarg", "g5.xlarge"),
        (aws.suggest, "M6I.XLARGE", "m6i.xlarge"),
        (gcp.suggest, "n2-standrd-4", "n2-standard-4"),
        (gcp.suggest, "g2-standard-7", "g2-standard-8"),
    ],
)
def test_unknown_names_get_the_closest_known_type(suggest, typo: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert suggest(typo) == expected


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_uses_catalogued_types_with_matching_gpus(stack: str) -> None:
    spec = stack_spec(stack)
    lookup = aws.instance_type if spec.cloud == "aws" else gcp.machine_type
    allowed = aws.allowed_accelerators if spec.cloud == "aws" else gcp.allowed_accelerators
    pools = [spec.node_pools.system, spec.node_pools.cpu, spec.node_pools.gpu]
    for pool in filter(None, pools):
        records = [lookup(name) for name in pool.instance_types]
        assert None not in records, pool.instance_types
        if pool.accelerator is not None:
            for record in filter(None, records):
                assert pool.accelerator.count in allowed(record).get(pool.accelerator.type, ()), record
