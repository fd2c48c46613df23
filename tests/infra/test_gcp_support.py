"""Shared plans of the GCP layer for the test_gcp_* modules (no tests here): each stack planned once, with sample
identities granted the way the in-cluster layer grants them."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pulumi

from components.contract import IdentityRequest, WorkloadIdentity
from components.gcp import GcpPlatform
from components.spec import PlatformSpec
from infra.plan.engine import Plan, RecordedResource
from tests.infra.conftest import component_plan

# What the in-cluster layer asks for, in miniature: a prefix-scoped writer, a multi-bucket trainer, a reader.
SAMPLE_REQUESTS = (
    IdentityRequest(
        name="mlflow",
        namespace="mlflow",
        service_account="mlflow",
        buckets={"models": "readwrite"},
        bucket_prefixes={"models": "mlflow/"},
    ),
    IdentityRequest(
        name="training",
        namespace="ml-workloads",
        service_account="training",
        buckets={"data": "read", "models": "readwrite"},
        registry_pull=True,
    ),
    IdentityRequest(name="serving", namespace="ml-workloads", service_account="serving", buckets={"models": "read"}),
)


@dataclass
class GcpRun:
    plan: Plan
    platform: GcpPlatform
    identities: dict[str, WorkloadIdentity]

    def one(self, type_: str, suffix: str) -> RecordedResource:
        found = [r for r in self.plan.of_type(type_) if r.name.endswith(suffix)]
        assert len(found) == 1, f"{type_} *{suffix}: {[r.name for r in self.plan.of_type(type_)]}"
        return found[0]

    def gcp_custom(self) -> list[RecordedResource]:
        return [r for r in self.plan.resources if r.custom and r.type.startswith("gcp:")]


@functools.cache
def gcp_run(stack: str) -> GcpRun:
    holder: dict[str, object] = {}

    def build(spec: PlatformSpec) -> GcpPlatform:
        platform = GcpPlatform(spec.base_name, spec)
        identities = {r.name: platform.grant_workload_identity(r, pulumi.ResourceOptions()) for r in SAMPLE_REQUESTS}
        for key, value in platform.stack_outputs().items():
            pulumi.export(key, value)
        for name, identity in identities.items():
            pulumi.export(f"annotations-{name}", dict(identity.service_account_annotations))
            pulumi.export(f"principal-{name}", identity.principal)
        holder["platform"], holder["identities"] = platform, identities
        return platform

    plan = component_plan(stack, build)
    return GcpRun(plan=plan, platform=holder["platform"], identities=holder["identities"])  # type: ignore[arg-type]
