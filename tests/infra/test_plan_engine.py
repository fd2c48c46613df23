"""The offline plan engine records what the real engine would receive, deterministically, and validates manifests."""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random
import pytest
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.proto import resource_pb2

from components.versions import DEFAULT_KUBERNETES_VERSION
from infra.plan.engine import Plan, PlanError, PlanMocks, ProgramFailed, RecordingMonitor, run_program
from infra.plan.manifests import validate_plan
from infra.plan.mocks import MockContext


class Web(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("test:index:Web", name, None, opts)
        self.bucket = aws.s3.Bucket(
            f"{name}-data",
            bucket=f"{name}-data",
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True, ignore_changes=["tags"]),
        )
        aws.s3.BucketVersioning(
            f"{name}-data",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        password = random.RandomPassword(
            f"{name}-db", length=20, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        k8s.core.v1.Secret(
            f"{name}-db",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="db", namespace="web"),
            string_data={"password": password.result},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})


def web_program() -> None:
    web = Web("web")
    pulumi.export("bucket", web.bucket.bucket)
    pulumi.export("region", pulumi.Config("mlops").require("region"))
    pulumi.export("token", pulumi.Output.secret("s3cr3t"))


def plan_web(stack: str = "dev", region: str = "us-east-1"):  # type: ignore[no-untyped-def]
    return run_program(web_program, project="mlops", stack=stack, config={"mlops:region": region})


def test_records_parent_dependencies_options_and_secret_inputs() -> None:
    plan = plan_web()
    component = plan.one("test:index:Web", "web")
    bucket = plan.one("aws:s3/bucket:Bucket", "web-data")
    versioning = plan.one("aws:s3/bucketVersioning:BucketVersioning", "web-data")
    secret = plan.one("kubernetes:core/v1:Secret", "web-db")

    assert bucket.urn == "urn:pulumi:dev::mlops::test:index:Web$aws:s3/bucket:Bucket::web-data"
    assert bucket.parent == component.urn
    assert not component.custom
    assert bucket.custom
    assert (bucket.protect, bucket.retain_on_delete, bucket.ignore_changes) == (True, True, ["tags"])
    assert versioning.dependencies == [bucket.urn]
    assert versioning.property_dependencies["bucket"] == [bucket.urn]
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    assert "stringData" in secret.secret_inputs
    assert plan.outputs["bucket"] == "web-data"
    assert plan.outputs["region"] == "us-east-1"
    assert plan.secret_outputs == ["token"]
    assert plan.outputs["token"] == "[secret]"
    assert plan.counts_by_type()["aws:s3/bucket:Bucket"] == 1


def test_plans_are_deterministic_and_isolated() -> None:
    first, other, again = plan_web(), plan_web("prod", "eu-west-1"), plan_web()
    assert first.to_json() == again.to_json()
    assert other.outputs["region"] == "eu-west-1"
    assert first.outputs["region"] == "us-east-1"
    assert json.loads(first.to_json())["summary"]["resources"] == len(first.resources) == 5


def test_a_recorded_plan_reads_back_exactly() -> None:
    plan = plan_web()
    loaded = Plan.from_json(plan.to_json())
    assert loaded == plan
    assert loaded.one("aws:s3/bucket:Bucket", "web-data").protect


def test_duplicate_urns_fail_as_the_real_engine_would() -> None:
    def program() -> None:
        aws.s3.Bucket("same")
        aws.s3.Bucket("same")

    with pytest.raises(PlanError, match=r"duplicate URN urn:pulumi:dev::mlops::aws:s3/bucket:Bucket::same"):
        run_program(program, project="mlops", stack="dev", config={})


def test_an_invoke_without_a_mock_fails_loudly() -> None:
    def program() -> None:
        aws.ec2.get_vpc(default=True)

    with pytest.raises(ProgramFailed, match=r"no mock for invoke aws:ec2/getVpc:getVpc"):
        run_program(program, project="mlops", stack="dev", config={})


def test_program_errors_report_what_was_registered_before() -> None:
    def program() -> None:
        aws.s3.Bucket("first")
        raise ValueError("boom")

    with pytest.raises(ProgramFailed) as failure:
        run_program(program, project="mlops", stack="dev", config={})
    assert isinstance(failure.value.error, ValueError)
    assert failure.value.registered == ["urn:pulumi:dev::mlops::aws:s3/bucket:Bucket::first"]


def k8s_program() -> None:
    k8s.core.v1.Namespace("ns", metadata={"name": "ml"})
    k8s.apps.v1.Deployment(
        "bad",
        metadata={"name": "bad", "namespace": "ml"},
        spec={
            "replicas": "two",
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "x", "image": "nginx:1.27", "imagePullPolcy": "Always"}]},
            },
        },
    )
    k8s.apiextensions.CustomResource(
        "monitor",
        api_version="monitoring.coreos.com/v1",
        kind="ServiceMonitor",
        metadata={"name": "monitor", "namespace": "ml"},
        spec={"endpoints": [{"port": "http"}]},
    )
    k8s.helm.v3.Release(
        "prom",
        name="prom",
        chart="kube-prometheus-stack",
        version="79.0.0",
        namespace="monitoring",
        repository_opts={"repo": "https://prometheus-community.github.io/helm-charts"},
        values={"grafana": {"enabled": True}},
    )


def test_manifest_validation_reports_every_error_with_its_path() -> None:
    plan = run_program(k8s_program, project="mlops", stack="dev", config={})
    report = validate_plan(plan, DEFAULT_KUBERNETES_VERSION)
    messages = sorted(str(e) for e in report.errors)
    assert any(m.startswith("Deployment/bad: spec/replicas: 'two' is not of type") for m in messages), messages
    assert any("imagePullPolcy" in m and "spec/template/spec/containers/0" in m for m in messages), messages
    assert all(not m.startswith("Namespace/") for m in messages)
    assert report.custom_resources == [
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "name": "monitor",
         "schema": "no schema (custom resource)"}
    ]  # fmt: skip
    assert report.helm_releases[0]["chart"] == "kube-prometheus-stack"
    assert report.helm_releases[0]["repository"] == "https://prometheus-community.github.io/helm-charts"
    assert len(report.objects) == 3


class BarrierMocks(PlanMocks):
    """Every registration waits in `new_resource` until all of them are there: the widest possible race window."""

    def __init__(self, parties: int) -> None:
        super().__init__(MockContext(project="mlops", stack="dev"))
        self.barrier = threading.Barrier(parties, timeout=30)

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.barrier.wait()
        return super().new_resource(args)


def register_concurrently(monitor: RecordingMonitor, request: Any, threads: int) -> list[Any]:
    """`threads` threads send the same request at once, each in a copy of this context (Pulumi's stack and project
    settings are context variables) and each closing the event loop the mock monitor opens on its thread."""
    responses: list[Any] = [None] * threads

    def register(index: int, context: contextvars.Context) -> None:
        try:
            responses[index] = context.run(monitor.RegisterResource, request)
        finally:
            asyncio.get_event_loop().close()

    workers = [threading.Thread(target=register, args=(i, contextvars.copy_context())) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return responses


def test_concurrent_registrations_of_one_urn_are_caught_every_time() -> None:
    """N threads register the same bucket at once; the check-and-claim must let exactly one through, every round.

    The barrier holds every registration inside the monitor between its duplicate check and its insert, so a check
    that is not atomic with the insert misses all N-1 duplicates in every round, not 7 times in 40 runs."""
    threads, urn = 12, "urn:pulumi:dev::mlops::aws:s3/bucket:Bucket::same"
    request = resource_pb2.RegisterResourceRequest(type="aws:s3/bucket:Bucket", name="same", custom=True)
    for _ in range(20):
        mocks = BarrierMocks(threads)
        monitor = RecordingMonitor(mocks)
        pulumi_mocks.set_mocks(mocks, project="mlops", stack="dev", preview=True, monitor=monitor)
        responses = register_concurrently(monitor, request, threads)
        assert {r.urn for r in responses} == {urn}
        assert len(monitor.errors) == threads - 1, monitor.errors
        assert list(monitor.records) == [urn]
