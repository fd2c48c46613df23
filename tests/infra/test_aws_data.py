"""The shared PostgreSQL, KFP's MySQL, the Feast Redis online store, their network isolation and the budget."""

from __future__ import annotations

import pytest
from test_aws_plans import AWS_STACKS, aws_build, aws_plan, named, plan_with, unsecret

from components.aws.database import RDS_PASSWORD_SPECIALS
from components.aws.online_store import AUTH_TOKEN_SPECIALS
from components.spec import ServicesSpec
from components.versions import ELASTICACHE_ENGINE, ELASTICACHE_ENGINE_VERSION
from tests.infra.conftest import stack_spec

DB = "aws:rds/instance:Instance"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"


# Both RDS servers: the shared PostgreSQL (spec.database) and Kubeflow Pipelines' MySQL (spec.pipelinesDatabase).
SERVERS = {
    "postgres": ("database", "postgres", 5432, ("rds.force_ssl", "1"), "postgres{major}"),
    "mysql": ("pipelines_database", "mysql", 3306, ("require_secure_transport", "1"), "mysql{major}"),
}


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("stack", AWS_STACKS)
def test_databases_are_private_encrypted_tls_only_and_sized_from_the_spec(stack: str, server: str) -> None:
    plan = aws_plan(stack)
    field, engine, port, tls_only, family = SERVERS[server]
    sizing = getattr(stack_spec(stack), field)
    db = named(plan, DB, f"-{server}").inputs
    (key,) = plan.of_type("aws:kms/key:Key")
    assert (db["instanceClass"], db["allocatedStorage"], db["maxAllocatedStorage"], db["backupRetentionPeriod"]) == (
        sizing.instance_class, sizing.storage_gb, sizing.max_storage_gb, sizing.backup_retention_days
    )  # fmt: skip
    assert (db["engine"], db["engineVersion"], db["port"]) == (engine, sizing.engine_version, port)
    assert db["backupRetentionPeriod"] >= 1
    assert db["storageEncrypted"] is True
    assert db["kmsKeyId"] == key.outputs["arn"]
    assert db["publiclyAccessible"] is False
    assert db["multiAz"] is sizing.high_availability
    subnets = named(plan, "aws:rds/subnetGroup:SubnetGroup", f"-{server}")
    private = sorted(s.id for s in plan.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name)
    assert sorted(subnets.inputs["subnetIds"]) == private
    assert db["dbSubnetGroupName"] == subnets.inputs["name"]
    params = named(plan, "aws:rds/parameterGroup:ParameterGroup", f"-{server}").inputs
    assert params["family"] == family.format(major=sizing.engine_version)
    assert [(p["name"], p["value"]) for p in params["parameters"]] == [tls_only]
    assert db["parameterGroupName"] == params["name"]


def test_mysql_exists_only_with_kubeflow_pipelines() -> None:
    plan, built = plan_with("dev", lambda spec: spec.model_copy(update={"services": ServicesSpec(kubeflow=False)}))
    assert [r.inputs["engine"] for r in plan.of_type(DB)] == ["postgres"]
    assert built.platform.pipelines_database is None
    assert aws_build("dev")[1].platform.pipelines_database is not None


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize(("stack", "protected"), [("dev", False), ("prod", True)])
def test_database_protection_per_environment(stack: str, protected: bool, server: str) -> None:
    db = named(aws_plan(stack), DB, f"-{server}")
    assert db.inputs["deletionProtection"] is protected
    assert db.inputs["skipFinalSnapshot"] is (not protected)
    assert ("finalSnapshotIdentifier" in db.inputs) is protected
    assert (db.protect, db.retain_on_delete) == (protected, protected)
    assert db.inputs["performanceInsightsEnabled"] is protected


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("stack", AWS_STACKS)
def test_database_password_is_generated_and_only_a_secret(stack: str, server: str) -> None:
    plan, built = aws_build(stack)
    db = named(plan, DB, f"-{server}")
    assert "password" in db.secret_inputs
    password = unsecret(db.inputs["password"])
    assert len(password) == 32
    (generator,) = [p for p in plan.of_type("random:index/randomPassword:RandomPassword") if f"-{server}-" in p.name]
    assert generator.urn in db.dependencies
    assert generator.inputs["overrideSpecial"] == RDS_PASSWORD_SPECIALS
    assert not set('/@" ') & set(RDS_PASSWORD_SPECIALS)
    contract = built.platform.database if server == "postgres" else built.platform.pipelines_database
    assert contract is not None
    assert contract.admin_username == db.inputs["username"] == "mlops_admin"
    assert contract.port == db.inputs["port"]
    assert not any("password" in key.lower() for key in plan.outputs)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_database_and_redis_admit_only_the_cluster_on_their_port(stack: str) -> None:
    plan = aws_plan(stack)
    cluster_sg = named(plan, "aws:eks/cluster:Cluster", "-cluster").outputs["vpcConfig"]["clusterSecurityGroupId"]
    groups = {g.id: g.name for g in plan.of_type("aws:ec2/securityGroup:SecurityGroup")}
    rules = plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    ports = {groups[r.inputs["securityGroupId"]].rsplit("-", 1)[-1]: r.inputs for r in rules}
    assert set(ports) == {"postgres", "mysql", "online"}
    for name, port in (("postgres", 5432), ("mysql", 3306), ("online", 6379)):
        rule = ports[name]
        assert (rule["fromPort"], rule["toPort"], rule["ipProtocol"]) == (port, port, "tcp")
        assert rule["referencedSecurityGroupId"] == cluster_sg
        assert "cidrIpv4" not in rule
    redis = named(plan, REDIS, "-feast-online").inputs
    for server in SERVERS:
        db = named(plan, DB, f"-{server}").inputs
        assert [groups[g] for g in db["vpcSecurityGroupIds"]] == [f"{stack_spec(stack).base_name}-{server}"]
    assert [groups[g] for g in redis["securityGroupIds"]] == [f"{stack_spec(stack).base_name}-feast-online"]


@pytest.mark.parametrize(("stack", "nodes"), [("dev", 1), ("prod", 2)])
def test_redis_is_encrypted_authenticated_and_replicated_in_prod(stack: str, nodes: int) -> None:
    plan, built = aws_build(stack)
    group = named(plan, REDIS, "-feast-online")
    (key,) = plan.of_type("aws:kms/key:Key")
    inputs = group.inputs
    assert inputs["engine"] == ELASTICACHE_ENGINE
    assert inputs["engineVersion"] == ELASTICACHE_ENGINE_VERSION
    assert inputs["transitEncryptionEnabled"] is True
    assert inputs["transitEncryptionMode"] == "required"
    assert inputs["atRestEncryptionEnabled"] is True
    assert inputs["kmsKeyId"] == key.outputs["arn"]
    assert "authToken" in group.secret_inputs
    token = unsecret(inputs["authToken"])
    assert 16 <= len(token) <= 128
    (generator,) = [p for p in plan.of_type("random:index/randomPassword:RandomPassword") if "feast" in p.name]
    assert generator.inputs["overrideSpecial"] == AUTH_TOKEN_SPECIALS
    assert inputs["numCacheClusters"] == nodes
    assert inputs["automaticFailoverEnabled"] is (nodes > 1)
    assert inputs["multiAzEnabled"] is (nodes > 1)
    assert (group.protect, group.retain_on_delete) == (stack == "prod", stack == "prod")
    (subnets,) = plan.of_type("aws:elasticache/subnetGroup:SubnetGroup")
    assert subnets.inputs["name"] == inputs["subnetGroupName"]
    store = built.platform.online_store
    assert store.tls
    assert store.port == 6379


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_budget_alerts_on_actual_and_forecast_spend(stack: str) -> None:
    limit = f"{stack_spec(stack).budget.monthly_limit_usd:.2f}"
    (budget,) = aws_plan(stack).of_type("aws:budgets/budget:Budget")
    inputs = budget.inputs
    assert (inputs["budgetType"], inputs["timeUnit"], inputs["limitAmount"], inputs["limitUnit"]) == (
        "COST",
        "MONTHLY",
        limit,
        "USD",
    )
    environment = stack_spec(stack).environment
    assert inputs["costFilters"] == [{"name": "TagKeyValue", "values": [f"user:Environment${environment}"]}]
    alerts = sorted((n["notificationType"], n["threshold"]) for n in inputs["notifications"])
    assert alerts == [("ACTUAL", 80), ("ACTUAL", 90), ("ACTUAL", 100), ("FORECASTED", 100)]
    for notification in inputs["notifications"]:
        assert notification["thresholdType"] == "PERCENTAGE"
        assert notification["comparisonOperator"] == "GREATER_THAN"
        assert notification["subscriberEmailAddresses"] == ["ml-platform@example.com"]
