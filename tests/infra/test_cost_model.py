"""The cost model on small known plans: every figure is computed here by hand from the catalog's prices.

The plans are real Pulumi programs run under the mock runtime (the recorded inputs are what the engine would see), so
a renamed input (`multiAz`, `scalingConfig.maxSize`, `nodeConfig.spot`) or a mispriced rule shows up as a wrong sum.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pytest

from components.cost import CostAssumptions
from components.spec import PlatformSpec
from infra.cost.catalog import HOURS_PER_MONTH as H
from infra.cost.catalog import load_catalog
from infra.cost.model import CostError, Estimate, Usage, budget_status, estimate
from infra.cost.plans import priced_resources
from infra.cost.report import CostDiff, diff_json, render_diff_markdown, spot_pools, to_json
from infra.plan.engine import Plan, run_program

AWS = load_catalog().aws["us-east-1"]
GCP = load_catalog().gcp["us-central1"]


def spec(cloud: str = "aws", cost: dict[str, Any] | None = None, budget: dict[str, Any] | None = None) -> PlatformSpec:
    pool = {"instanceTypes": ["m6i.large"], "minSize": 1, "maxSize": 3}
    return PlatformSpec.model_validate(
        {
            "cloud": cloud,
            "environment": "dev",
            "region": "us-east-1" if cloud == "aws" else "us-central1",
            "nodePools": {"system": pool, "cpu": pool},
            "cost": cost or {},
            "budget": budget or {"monthlyLimitUsd": 5000},
        }
    )


def plan(program: Callable[[], None]) -> Plan:
    return run_program(program, project="mlops", stack="costs", config={})


def priced(program: Callable[[], None]) -> Estimate:
    return estimate(priced_resources(plan(program)), "costs")


def node_group(
    name: str,
    opts: pulumi.ResourceOptions,
    types: list[str],
    capacity: str,
    low: int,
    high: int,
    disk_gb: int,
    desired: int | None = None,
) -> None:
    template = aws.ec2.LaunchTemplate(
        name,
        block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
            device_name="/dev/xvda", ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(volume_size=disk_gb,
                                                                                         volume_type="gp3"))],
        opts=opts,
    )  # fmt: skip
    aws.eks.NodeGroup(
        name,
        cluster_name="c",
        node_group_name=name,
        node_role_arn="arn:aws:iam::123456789012:role/node",
        subnet_ids=["subnet-1"],
        instance_types=types,
        capacity_type=capacity,
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(
            min_size=low, max_size=high, desired_size=low if desired is None else desired
        ),
        launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id, version="1"),
        opts=opts,
    )


def aws_program(
    cost: dict[str, Any] | None = None,
    budget: dict[str, Any] | None = None,
    cpu_types: tuple[str, ...] = ("m6a.xlarge", "m6i.xlarge"),
    cpu_capacity: str = "SPOT",
    gpu_min: int = 0,
    gpu_capacity: str = "ON_DEMAND",
    region: str = "us-east-1",
    extra: Callable[[pulumi.ResourceOptions], None] | None = None,
) -> Callable[[], None]:
    def program() -> None:
        CostAssumptions("costs", spec("aws", cost, budget))
        opts = pulumi.ResourceOptions(provider=aws.Provider("aws", region=region))
        aws.eks.Cluster(
            "cluster",
            role_arn="arn:aws:iam::123456789012:role/cluster",
            vpc_config=aws.eks.ClusterVpcConfigArgs(subnet_ids=["subnet-1"]),
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            opts=opts,
        )
        node_group("system", opts, ["m6i.large"], "ON_DEMAND", 1, 3, 50, desired=2)
        node_group("cpu", opts, list(cpu_types), cpu_capacity, 0, 4, 100)
        node_group("gpu", opts, ["g5.xlarge"], gpu_capacity, gpu_min, 2, 200)
        eip = aws.ec2.Eip("nat", domain="vpc", opts=opts)
        aws.ec2.NatGateway("nat", allocation_id=eip.id, subnet_id="subnet-1", opts=opts)
        aws.rds.Instance("db", engine="postgres", instance_class="db.t4g.medium", allocated_storage=100,
                         storage_type="gp3", multi_az=True, opts=opts)  # fmt: skip
        aws.elasticache.ReplicationGroup("cache", description="d", engine="redis", node_type="cache.t4g.small",
                                         num_cache_clusters=2, opts=opts)  # fmt: skip
        aws.s3.Bucket("store-data", opts=opts)
        aws.cloudwatch.LogGroup("logs", retention_in_days=30, opts=opts)
        aws.kms.Key("key", opts=opts)
        for image in ("a", "b"):
            aws.ecr.Repository(image, opts=opts)
        if extra is not None:
            extra(opts)

    return program


def groups(result: Estimate) -> dict[str, dict[str, float]]:
    return {group: usage.as_dict() for group, usage in result.groups().items()}


def approx(usage: Usage) -> Any:
    return pytest.approx(usage.as_dict(), abs=0.011)


def test_aws_plan_gives_the_hand_computed_figures() -> None:
    usage = {"gpuHoursPerMonth": 100, "cpuAverageNodes": 2, "bucketGb": {"data": 1000}, "registryGb": 10,
             "logGbPerMonth": 40, "natGbPerMonth": 200, "internetEgressGbPerMonth": 30}  # fmt: skip
    result = priced(aws_program(cost=usage))
    got, gp3 = groups(result), AWS.ebs["gp3"].usd_per_gb_month

    system = AWS.ec2["m6i.large"].on_demand.usd_per_hour
    assert got["node pool system"] == approx(Usage(1, 2, 3) * (H * system + 50 * gp3))
    # Any listed type may launch: the pool is priced at the dearest one.
    cpu_spot = max(AWS.ec2[t].spot.usd_per_hour for t in ("m6a.xlarge", "m6i.xlarge"))  # type: ignore[union-attr]
    assert got["node pool cpu"] == approx(Usage(0, 2, 4) * (H * cpu_spot + 100 * gp3))
    gpu = AWS.ec2["g5.xlarge"].on_demand.usd_per_hour
    assert got["node pool gpu"] == approx(Usage(0, 100, 2 * H) * (gpu + 200 * gp3 / H))
    assert got["control plane"] == approx(Usage.flat(H * AWS.eks["STANDARD"].usd_per_hour))
    network = (H * AWS.nat_gateway.usd_per_hour + 200 * AWS.nat_gateway_data.usd_per_gb
               + 30 * AWS.internet_egress.usd_per_gb + H * AWS.public_ipv4.usd_per_hour)  # fmt: skip
    assert got["network (NAT, load balancers, public IPs)"] == approx(Usage.flat(network))
    database = 2 * (
        H * AWS.rds["postgres"]["db.t4g.medium"].usd_per_hour + 100 * AWS.rds_storage["gp3"].usd_per_gb_month
    )
    assert got["databases"] == approx(Usage.flat(database))
    assert got["online store"] == approx(Usage.flat(2 * H * AWS.elasticache["redis"]["cache.t4g.small"].usd_per_hour))
    assert got["buckets"] == approx(Usage.flat(1000 * AWS.s3["STANDARD"].usd_per_gb_month))
    assert got["registry"] == approx(Usage.flat(10 * AWS.ecr_storage.usd_per_gb_month))
    # 30-day retention keeps 30 / (365/12) months of ingest.
    logs = (
        40 * AWS.cloudwatch_logs_ingest.usd_per_gb + 40 * 30 / (365 / 12) * AWS.cloudwatch_logs_storage.usd_per_gb_month
    )
    assert got["logs"] == approx(Usage.flat(logs))
    assert got["KMS"] == approx(Usage.flat(AWS.kms_key.usd_per_month))
    assert result.total().as_dict() == pytest.approx(
        {s: sum(g[s] for g in got.values()) for s in ("idle", "typical", "peak")}, abs=0.05
    )


def test_spot_pool_shows_the_on_demand_price_and_the_saving() -> None:
    spot = priced(aws_program(cost={"cpuAverageNodes": 2}))
    on_demand = priced(aws_program(cost={"cpuAverageNodes": 2}, cpu_capacity="ON_DEMAND"))
    (pool,) = spot_pools(spot)
    instances = next(li for li in on_demand.lines if li.group == "node pool cpu" and li.item == "on-demand nodes")
    # The on-demand figure beside the spot one is what the same pool costs when it is switched to ON_DEMAND.
    assert pool.on_demand.as_dict() == pytest.approx(instances.monthly.as_dict())
    assert pool.saving.typical == pytest.approx(pool.on_demand.typical - pool.spot.typical)
    assert 0 < pool.spot.typical < pool.on_demand.typical
    assert spot_pools(on_demand) == []


def test_gpu_pool_at_zero_costs_nothing_idle_and_a_node_month_when_kept() -> None:
    at_zero = groups(priced(aws_program()))["node pool gpu"]
    kept = groups(priced(aws_program(gpu_min=1)))["node pool gpu"]
    node_month = H * AWS.ec2["g5.xlarge"].on_demand.usd_per_hour + 200 * AWS.ebs["gp3"].usd_per_gb_month
    assert at_zero["idle"] == 0
    assert kept["idle"] == pytest.approx(node_month, abs=0.01)
    # Typical GPU node-hours below the pool's floor are raised to it: a kept node runs all month.
    assert kept["typical"] == pytest.approx(node_month, abs=0.01)
    assert kept["peak"] == at_zero["peak"]


def test_multi_az_doubles_the_database() -> None:
    def single_az(opts: pulumi.ResourceOptions) -> None:
        aws.rds.Instance("db2", engine="mysql", instance_class="db.t4g.small", allocated_storage=20,
                         storage_type="gp3", multi_az=False, opts=opts)  # fmt: skip

    result = priced(aws_program(extra=single_az))
    lines = {(li.resource, li.item): li.monthly.typical for li in result.lines if li.group == "databases"}
    assert lines[("db", "postgres db.t4g.medium Multi-AZ")] == pytest.approx(
        2 * H * AWS.rds["postgres"]["db.t4g.medium"].usd_per_hour
    )
    # Priced by engine: a MySQL instance (Kubeflow Pipelines) is looked up under rds.mysql.
    assert lines[("db2", "mysql db.t4g.small Single-AZ")] == pytest.approx(
        H * AWS.rds["mysql"]["db.t4g.small"].usd_per_hour
    )


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        pytest.param(aws_program(cpu_types=("m7i.xlarge",)), "aws:eks/nodeGroup:NodeGroup cpu: no price for "
                     "aws.us-east-1.ec2.m7i.xlarge", id="unknown-instance-type"),
        pytest.param(aws_program(gpu_capacity="SPOT"), "aws:eks/nodeGroup:NodeGroup gpu: no price for "
                     "aws.us-east-1.ec2.g5.xlarge.spot", id="no-spot-price"),
        pytest.param(aws_program(region="eu-west-1"), "no price for aws.eu-west-1 (known: us-east-1)",
                     id="unknown-region"),
        pytest.param(aws_program(extra=lambda opts: aws.sqs.Queue("q", opts=opts)),
                     "aws:sqs/queue:Queue q: this resource type is neither priced nor listed as free; fix: add",
                     id="unclassified-type"),
        pytest.param(aws_program(extra=lambda opts: aws.rds.Instance("big", engine="postgres", instance_class=
                     "db.r7g.24xlarge", allocated_storage=20, opts=opts)), "no price for "
                     "aws.us-east-1.rds.postgres.db.r7g.24xlarge", id="unknown-db-class"),
    ],
)  # fmt: skip
def test_what_the_catalog_lacks_is_an_error_naming_resource_key_and_fix(
    program: Callable[[], None], expected: str
) -> None:
    with pytest.raises(CostError) as error:
        priced(program)
    assert any(expected in problem for problem in error.value.problems), error.value.problems
    assert all("fix:" in problem for problem in error.value.problems)


def test_every_unpriceable_resource_is_reported_at_once() -> None:
    def two_more(opts: pulumi.ResourceOptions) -> None:
        aws.sqs.Queue("q", opts=opts)
        aws.rds.Instance("big", engine="oracle-ee", instance_class="db.m7g.large", allocated_storage=20, opts=opts)

    with pytest.raises(CostError) as error:
        priced(aws_program(cpu_types=("m7i.xlarge",), extra=two_more))
    assert len(error.value.problems) == 3


def test_budget_warns_or_refuses_with_the_numbers() -> None:
    within = priced(aws_program(budget={"monthlyLimitUsd": 100000}))
    over = priced(aws_program(budget={"monthlyLimitUsd": 100}))
    enforced_plan = plan(aws_program(budget={"monthlyLimitUsd": 100, "enforceEstimate": True}))
    check = over.budget()
    assert check is not None and check.exceeded and not check.blocking
    assert f"${over.total().typical:,.2f} is above budget.monthlyLimitUsd $100.00" in check.message()
    assert within.budget() is not None and not within.budget().exceeded  # type: ignore[union-attr]
    message, blocking = budget_status(priced_resources(enforced_plan), "costs")
    assert blocking and message.startswith("Budget: refused (budget.enforceEstimate: true)")


def test_plan_without_recorded_assumptions_uses_the_defaults() -> None:
    def bare() -> None:
        provider = aws.Provider("aws", region="us-east-1")
        aws.s3.Bucket("store-data", opts=pulumi.ResourceOptions(provider=provider))

    result = priced(bare)
    assert not result.assumptions.recorded and result.budget() is None
    assert groups(result)["buckets"]["typical"] == pytest.approx(500 * AWS.s3["STANDARD"].usd_per_gb_month)


def gcp_program(location: str = "us-central1-a", free_tier: bool = True, cpu_max: int = 40) -> Callable[[], None]:
    def program() -> None:
        CostAssumptions("costs", spec("gcp", {"gkeFreeTier": free_tier, "cpuAverageNodes": 4}))
        opts = pulumi.ResourceOptions(provider=gcp.Provider("gcp", project="p", region="us-central1"))
        gcp.container.Cluster("cluster", location=location, opts=opts)
        for name, machine, spot, low, high in (("system", "e2-standard-4", False, 1, 2), ("cpu", "n2-standard-4",
                                                True, 0, cpu_max)):  # fmt: skip
            # Per-zone bounds on a regional pool: GKE runs them in each of the region's three zones.
            gcp.container.NodePool(
                name, cluster="cluster", location=location, name=name,
                autoscaling=gcp.container.NodePoolAutoscalingArgs(min_node_count=low, max_node_count=high),
                node_config=gcp.container.NodePoolNodeConfigArgs(machine_type=machine, spot=spot, disk_size_gb=100,
                                                                 disk_type="pd-balanced"),
                opts=opts,
            )  # fmt: skip
        gcp.compute.RouterNat("nat", router="r", region="us-central1", nat_ip_allocate_option="AUTO_ONLY",
                              source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
                              opts=opts)  # fmt: skip
        gcp.sql.DatabaseInstance("db", database_version="MYSQL_8_0", region="us-central1",
                                 settings=gcp.sql.DatabaseInstanceSettingsArgs(
                                     tier="db-custom-4-15360", availability_type="REGIONAL", disk_size=100,
                                     disk_type="PD_SSD"), opts=opts)  # fmt: skip
        gcp.redis.Instance("cache", memory_size_gb=5, tier="STANDARD_HA", region="us-central1", opts=opts)
        gcp.storage.Bucket("store-models", location="US-CENTRAL1", opts=opts)

    return program


def test_gcp_plan_gives_the_hand_computed_figures() -> None:
    zonal = groups(priced(gcp_program()))
    regional = groups(priced(gcp_program(location="us-central1")))
    fee = H * GCP.gke_cluster_fee.usd_per_hour
    assert zonal["control plane"]["typical"] == pytest.approx(max(0.0, fee - GCP.gke_free_tier_credit.usd_per_month))
    assert regional["control plane"]["typical"] == pytest.approx(fee)
    pd = GCP.disks["pd-balanced"].usd_per_gb_month
    spot = GCP.compute["n2-standard-4"].spot.usd_per_hour  # type: ignore[union-attr]
    assert zonal["node pool cpu"] == approx(Usage(0, 4, 40) * (H * spot + 100 * pd))
    # Regional: per-zone bounds times three zones; the typical average is the stack's, not per zone.
    assert regional["node pool cpu"] == approx(Usage(0, 4, 120) * (H * spot + 100 * pd))
    system = GCP.compute["e2-standard-4"].on_demand.usd_per_hour
    assert regional["node pool system"] == approx(Usage(3, 3, 6) * (H * system + 100 * pd))
    sql = GCP.cloud_sql["MYSQL"]
    database = H * (4 * sql.regional_vcpu.usd_per_hour + 15 * sql.regional_memory.usd_per_gb_hour)
    database += 100 * sql.regional_ssd.usd_per_gb_month
    assert zonal["databases"] == approx(Usage.flat(database))
    band = next(b for b in GCP.memorystore["STANDARD_HA"] if b.min_gb <= 5 <= (b.max_gb or 5))
    assert zonal["online store"] == approx(Usage.flat(5 * H * band.price.usd_per_gb_hour))
    # Cloud NAT bills per VM-hour of every pool, at most 32 VMs: 1..42 nodes zonal -> 1, 5, 32 billed VMs.
    nat_fixed = (H * GCP.cloud_nat_ip.usd_per_hour + 100 * GCP.cloud_nat_data.usd_per_gb
                 + 50 * GCP.internet_egress.usd_per_gb)  # fmt: skip
    vm = H * GCP.cloud_nat_vm.usd_per_hour
    assert zonal["network (NAT, load balancers, public IPs)"] == approx(Usage(1 * vm, 5 * vm, 32 * vm) + Usage.flat(
        nat_fixed))  # fmt: skip


def test_cost_diff_shows_the_change_per_group_and_total() -> None:
    base = priced(aws_program())
    head = priced(aws_program(cost={"gpuHoursPerMonth": 200}, gpu_min=0))
    change = diff_json(CostDiff(base, head))["change"]
    extra_hours = 200 - 40
    gpu = AWS.ec2["g5.xlarge"].on_demand.usd_per_hour + 200 * AWS.ebs["gp3"].usd_per_gb_month / H
    assert change["groups"]["node pool gpu"] == pytest.approx({"idle": 0, "typical": extra_hours * gpu, "peak": 0},
                                                              abs=0.011)  # fmt: skip
    assert change["total"] == change["groups"]["node pool gpu"]
    markdown = render_diff_markdown(CostDiff(base, head))
    assert f"+${extra_hours * gpu:,.2f}" in markdown and "| node pool gpu |" in markdown


def test_json_document_carries_groups_resources_assumptions_and_caveats() -> None:
    document = to_json(priced(aws_program(cost={"gpuHoursPerMonth": 12})))
    assert document["assumptions"]["usage"]["gpuHoursPerMonth"] == 12
    assert sum(g["typical"] for g in document["groups"].values()) == pytest.approx(
        document["total"]["typical"], abs=0.1
    )
    assert {r["type"] for r in document["resources"]} >= {"aws:eks/nodeGroup:NodeGroup", "aws:rds/instance:Instance"}
    assert document["free"]["aws:ec2/launchTemplate:LaunchTemplate"]["count"] == 3
    spot_keys = {c["price"] for c in document["caveats"] if c["basis"] == "assumption"}
    assert "aws.us-east-1.ec2.m6i.xlarge.spot" in spot_keys


def test_helm_values_volumes_follow_replicas_and_switches() -> None:
    def releases(opts: pulumi.ResourceOptions) -> None:
        k8s.storage.v1.StorageClass("gp3", metadata={"name": "gp3-encrypted"}, provisioner="ebs.csi.aws.com",
                                    parameters={"type": "gp3"})  # fmt: skip
        vct = {"spec": {"storageClassName": "gp3-encrypted", "resources": {"requests": {"storage": "50Gi"}}}}
        k8s.helm.v3.Release("kps", chart="kube-prometheus-stack", version="88.5.3", values={
            "prometheus": {"prometheusSpec": {"replicas": 2, "storageSpec": {"volumeClaimTemplate": vct}}},
            "grafana": {"persistence": {"enabled": False, "size": "10Gi"}},
        })  # fmt: skip
        k8s.core.v1.PersistentVolumeClaim("claim", metadata={"name": "scratch"}, spec={
            "storageClassName": "gp3-encrypted", "resources": {"requests": {"storage": "512Mi"}}})  # fmt: skip

    result = priced(aws_program(extra=releases))
    volumes = {(li.resource, li.item): li.monthly.typical for li in result.lines if li.group == "persistent volumes"}
    gp3 = AWS.ebs["gp3"].usd_per_gb_month
    assert volumes == pytest.approx({("kps", "Prometheus TSDB"): 2 * 50 * gp3, ("claim", "scratch"): 0.5 * gp3})


def test_unknown_chart_and_unknown_storage_class_are_errors() -> None:
    def unknown(opts: pulumi.ResourceOptions) -> None:
        k8s.helm.v3.Release("vault", chart="vault", version="0.28.0", values={})
        k8s.core.v1.PersistentVolumeClaim("claim", spec={"storageClassName": "fast",
                                                         "resources": {"requests": {"storage": "1Gi"}}})  # fmt: skip

    with pytest.raises(CostError) as error:
        priced(aws_program(extra=unknown))
    text = "\n".join(error.value.problems)
    assert "volumes of Helm chart 'vault'" in text and "add the claims it creates to CHART_VOLUMES" in text
    assert "storageClass.fast" in text


def test_load_balancer_service_is_priced_and_cluster_ip_is_not() -> None:
    def services(opts: pulumi.ResourceOptions) -> None:
        for name, kind in (("public", "LoadBalancer"), ("internal", "ClusterIP")):
            k8s.core.v1.Service(name, spec={"type": kind, "ports": [{"port": 80}]})

    lines = [li for li in priced(aws_program(extra=services)).lines if li.type == "kubernetes:core/v1:Service"]
    assert [(li.resource, li.monthly.typical) for li in lines] == [
        ("public", pytest.approx(H * AWS.network_load_balancer.usd_per_hour))
    ]
