"""The VPC: zones, subnet tags for load-balancer discovery, NAT per environment, the S3 gateway endpoint, BYO VPC."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest
from conftest import stack_spec
from test_aws_plans import AWS_STACKS, aws_plan, named, plan_with

from components.aws.network import subnet_cidrs
from components.spec import PlatformSpec

SUBNET = "aws:ec2/subnet:Subnet"


def _subnets(stack: str, kind: str) -> list[dict[str, object]]:
    return [r.inputs for r in aws_plan(stack).of_type(SUBNET) if f"-{kind}-" in r.name]


@pytest.mark.parametrize(("stack", "zones", "nats"), [("dev", 2, 1), ("prod", 3, 3)])
def test_zones_and_nat_gateways_per_environment(stack: str, zones: int, nats: int) -> None:
    plan = aws_plan(stack)
    private, public = _subnets(stack, "private"), _subnets(stack, "public")
    assert sorted(s["availabilityZone"] for s in private) == [f"us-east-1{z}" for z in "abc"[:zones]]
    assert len(public) == zones
    assert len(plan.of_type("aws:ec2/natGateway:NatGateway")) == nats
    assert len(plan.of_type("aws:ec2/eip:Eip")) == nats
    assert all(e.inputs["domain"] == "vpc" for e in plan.of_type("aws:ec2/eip:Eip"))


def test_prod_private_zones_egress_through_their_own_nat() -> None:
    plan = aws_plan("prod")
    nat_ids = {r.name: r.id for r in plan.of_type("aws:ec2/natGateway:NatGateway")}
    base = stack_spec("prod").base_name
    for zone in ("us-east-1a", "us-east-1b", "us-east-1c"):
        route = named(plan, "aws:ec2/route:Route", f"-private-{zone}-egress")
        assert route.inputs["natGatewayId"] == nat_ids[f"{base}-network-nat-{zone}"]


def test_dev_shares_one_nat_gateway() -> None:
    plan = aws_plan("dev")
    (nat,) = plan.of_type("aws:ec2/natGateway:NatGateway")
    egress = [r for r in plan.of_type("aws:ec2/route:Route") if r.name.endswith("-egress")]
    assert len(egress) == 2
    assert {r.inputs["natGatewayId"] for r in egress} == {nat.id}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_subnet_tags_let_load_balancers_find_subnets(stack: str) -> None:
    cluster_tag = f"kubernetes.io/cluster/{stack_spec(stack).base_name}"
    for subnet in _subnets(stack, "public"):
        tags = subnet["tags"]
        assert isinstance(tags, dict)
        assert tags["kubernetes.io/role/elb"] == "1"
        assert tags[cluster_tag] == "shared"
        assert subnet["mapPublicIpOnLaunch"] is False
    for subnet in _subnets(stack, "private"):
        tags = subnet["tags"]
        assert isinstance(tags, dict)
        assert tags["kubernetes.io/role/internal-elb"] == "1"
        assert tags[cluster_tag] == "shared"
        assert "kubernetes.io/role/elb" not in tags


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_subnets_are_disjoint_and_inside_the_vpc(stack: str) -> None:
    plan = aws_plan(stack)
    (vpc,) = plan.of_type("aws:ec2/vpc:Vpc")
    network = IPv4Network(vpc.inputs["cidrBlock"])
    assert network == stack_spec(stack).network.vpc_cidr
    assert vpc.inputs["enableDnsHostnames"] is True
    cidrs = [IPv4Network(str(s.inputs["cidrBlock"])) for s in plan.of_type(SUBNET)]
    assert all(c.subnet_of(network) for c in cidrs)
    assert all(not a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1 :])
    assert {c.prefixlen for c in cidrs} == {19, 22}  # big private subnets: the VPC CNI gives pods VPC addresses


def test_subnet_plan_fits_the_largest_allowed_zone_count_in_the_smallest_vpc() -> None:
    private, public = subnet_cidrs(IPv4Network("10.0.0.0/20"), 6)
    assert len(private) == len(public) == 6
    assert all(p.prefixlen == 23 for p in private)
    assert all(p.prefixlen == 26 for p in public)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_s3_gateway_endpoint_serves_every_private_route_table(stack: str) -> None:
    plan = aws_plan(stack)
    (endpoint,) = plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.inputs["serviceName"] == "com.amazonaws.us-east-1.s3"
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    private_tables = {r.id for r in plan.of_type("aws:ec2/routeTable:RouteTable") if "-private-" in r.name}
    assert set(endpoint.inputs["routeTableIds"]) == private_tables
    assert private_tables


def test_public_route_table_reaches_the_internet_gateway() -> None:
    plan = aws_plan("dev")
    (igw,) = plan.of_type("aws:ec2/internetGateway:InternetGateway")
    route = named(plan, "aws:ec2/route:Route", "-public-internet")
    assert route.inputs == {**route.inputs, "destinationCidrBlock": "0.0.0.0/0", "gatewayId": igw.id}
    public_table = named(plan, "aws:ec2/routeTable:RouteTable", "-network-public")
    associations = [
        a
        for a in plan.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
        if a.inputs["routeTableId"] == public_table.id
    ]
    assert len(associations) == 2


def _existing_vpc(spec: PlatformSpec) -> PlatformSpec:
    network = spec.network.model_copy(
        update={
            "existing_vpc_id": "vpc-0abc",
            "existing_private_subnet_ids": ["subnet-p1", "subnet-p2"],
            "existing_public_subnet_ids": ["subnet-u1", "subnet-u2"],
        }
    )
    return spec.model_copy(update={"network": network})


def test_bring_your_own_vpc_creates_no_network_resources() -> None:
    plan, _ = plan_with("dev", _existing_vpc)
    network_types = {
        "aws:ec2/vpc:Vpc",
        SUBNET,
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/eip:Eip",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:ec2/route:Route",
    }
    assert [r.name for r in plan.resources if r.type in network_types] == []
    cluster = named(plan, "aws:eks/cluster:Cluster", "-cluster")
    assert cluster.inputs["vpcConfig"]["subnetIds"] == ["subnet-p1", "subnet-p2"]
    assert all(g.inputs["subnetIds"] == ["subnet-p1", "subnet-p2"] for g in plan.of_type("aws:eks/nodeGroup:NodeGroup"))
    assert {g.inputs["vpcId"] for g in plan.of_type("aws:ec2/securityGroup:SecurityGroup")} == {"vpc-0abc"}
