"""The shared PostgreSQL server, the Feast Redis online store, their network isolation, and the cost budget."""

from __future__ import annotations

import pytest
from conftest import stack_spec
from test_aws_plans import AWS_STACKS, aws_build, aws_plan, named, unsecret

from components.aws.database import RDS_PASSWORD_SPECIALS
from components.aws.online_store import AUTH_TOKEN_SPECIALS
from components.versions import ELASTICACHE_ENGINE, ELASTICACHE_ENGINE_VERSION

DB = "aws:rds/instance:Instance"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_database_is_private_encrypted_and_sized_from_the_spec(stack: str) -> None:
    plan, spec = aws_plan(stack), stack_spec(stack).database
    db = named(plan, DB, "-postgres").inputs
    (key,) = plan.of_type("aws:kms/key:Key")
    assert (db["instanceClass"], db["allocatedStorage"], db["maxAllocatedStorage"], db["backupRetentionPeriod"]) == (
        spec.instance_class,
        spec.storage_gb,
        spec.max_storage_gb,
        spec.backup_retention_days,
    )
    assert db["engine"] == "postgres"
    assert db["engineVersion"] == "16"
    assert db["storageEncrypted"] is True
    assert db["kmsKeyId"] == key.outputs["arn"]
    assert db["publiclyAccessible"] is False
    assert db["multiAz"] is spec.high_availability
    (subnets,) = plan.of_type("aws:rds/subnetGroup:SubnetGroup")
    private = sorted(s.id for s in plan.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name)
    assert sorted(subnets.inputs["subnetIds"]) == private
    (params,) = plan.of_type("aws:rds/parameterGroup:ParameterGroup")
    assert params.inputs["family"] == "postgres16"
    assert [(p["name"], p["value"]) for p in params.inputs["parameters"]] == [("rds.force_ssl", "1")]
    assert db["parameterGroupName"] == params.inputs["name"]


@pytest.mark.parametrize(("stack", "protected"), [("dev", False), ("prod", True)])
def test_database_protection_per_environment(stack: str, protected: bool) -> None:
    db = named(aws_plan(stack), DB, "-postgres")
    assert db.inputs["deletionProtection"] is protected
    assert db.inputs["skipFinalSnapshot"] is (not protected)
    assert ("finalSnapshotIdentifier" in db.inputs) is protected
    assert (db.protect, db.retain_on_delete) == (protected, protected)
    assert db.inputs["performanceInsightsEnabled"] is protected


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_database_password_is_generated_and_only_a_secret(stack: str) -> None:
    plan, built = aws_build(stack)
    db = named(plan, DB, "-postgres")
    assert "password" in db.secret_inputs
    password = unsecret(db.inputs["password"])
    assert len(password) == 32
    (generator,) = [p for p in plan.of_type("random:index/randomPassword:RandomPassword") if "postgres" in p.name]
    assert generator.inputs["overrideSpecial"] == RDS_PASSWORD_SPECIALS
    assert not set('/@" ') & set(RDS_PASSWORD_SPECIALS)
    database = built.platform.database
    assert database.admin_username == db.inputs["username"] == "mlops_admin"


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_database_and_redis_admit_only_the_cluster_on_their_port(stack: str) -> None:
    plan = aws_plan(stack)
    cluster_sg = named(plan, "aws:eks/cluster:Cluster", "-cluster").outputs["vpcConfig"]["clusterSecurityGroupId"]
    groups = {g.id: g.name for g in plan.of_type("aws:ec2/securityGroup:SecurityGroup")}
    rules = plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    ports = {groups[r.inputs["securityGroupId"]].rsplit("-", 1)[-1]: r.inputs for r in rules}
    assert set(ports) == {"postgres", "online"}
    for name, port in (("postgres", 5432), ("online", 6379)):
        rule = ports[name]
        assert (rule["fromPort"], rule["toPort"], rule["ipProtocol"]) == (port, port, "tcp")
        assert rule["referencedSecurityGroupId"] == cluster_sg
        assert "cidrIpv4" not in rule
    db = named(plan, DB, "-postgres").inputs
    redis = named(plan, REDIS, "-feast-online").inputs
    base = stack_spec(stack).base_name
    assert [groups[g] for g in db["vpcSecurityGroupIds"]] == [f"{base}-postgres"]
    assert [groups[g] for g in redis["securityGroupIds"]] == [f"{base}-feast-online"]


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


@pytest.mark.parametrize(("stack", "limit"), [("dev", "1500.00"), ("prod", "8000.00")])
def test_budget_alerts_on_actual_and_forecast_spend(stack: str, limit: str) -> None:
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
