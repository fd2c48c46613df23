"""The VPC: public subnets for load balancers and NAT, private subnets for nodes, databases and caches.

Private subnets are large (the VPC CNI gives every pod a VPC address); public subnets are small. Dev shares one NAT
gateway, prod runs one per zone so losing a zone never cuts the others' egress. An S3 gateway endpoint on the
private route tables keeps artifact and dataset traffic off the NAT gateways (free, and no per-GB NAT charge).
With `network.existingVpcId` the platform uses that VPC and its subnets and creates no network resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

import pulumi
import pulumi_aws as aws

from components.aws.common import AccountContext, child
from components.spec import NetworkSpec

PRIVATE_PREFIX_DELTA = 3  # /16 VPC -> /19 private subnets (8190 addresses each)
PUBLIC_PREFIX_DELTA = 6  # /16 VPC -> /22 public subnets, carved from the VPC's last /19


def subnet_cidrs(vpc: IPv4Network, zones: int) -> tuple[list[IPv4Network], list[IPv4Network]]:
    """(private, public) CIDRs, one per zone, disjoint: private from the front, public from the last eighth."""
    eighths = list(vpc.subnets(prefixlen_diff=PRIVATE_PREFIX_DELTA))
    if zones > len(eighths) - 1:
        raise ValueError(f"network.zoneCount = {zones} does not fit {vpc}: at most {len(eighths) - 1} zones")
    public = list(eighths[-1].subnets(new_prefix=vpc.prefixlen + PUBLIC_PREFIX_DELTA))
    return eighths[:zones], public[:zones]


@dataclass(frozen=True)
class NetworkArgs:
    spec: NetworkSpec
    cluster_name: str
    account: AccountContext


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    zones: list[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:Network", name, None, opts)
        spec = args.spec
        if spec.existing_vpc_id is not None:
            self.vpc_id = pulumi.Output.from_input(spec.existing_vpc_id)
            self.private_subnet_ids = [pulumi.Output.from_input(s) for s in spec.existing_private_subnet_ids]
            self.public_subnet_ids = [pulumi.Output.from_input(s) for s in spec.existing_public_subnet_ids]
            self.zones = []
        else:
            self._create(name, args)
        self.register_outputs({"vpcId": self.vpc_id, "privateSubnetIds": self.private_subnet_ids})

    def _create(self, name: str, args: NetworkArgs) -> None:
        spec, cluster = args.spec, args.cluster_name
        available = aws.get_availability_zones(state="available", opts=pulumi.InvokeOptions(parent=self))
        if len(available.names) < spec.zone_count:
            raise ValueError(
                f"network.zoneCount = {spec.zone_count} but {args.account.region} has "
                f"{len(available.names)} available zones; lower zoneCount"
            )
        self.zones = list(available.names[: spec.zone_count])
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(spec.vpc_cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": cluster},
            opts=child(self),
        )
        self.vpc_id = vpc.id
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags={"Name": cluster}, opts=child(self))
        public_subnets, private_subnets = self._subnets(name, args, vpc, igw)
        nats = self._nat_gateways(name, args, public_subnets, igw)
        nat_per_zone = nats if spec.nat_gateways == "perZone" else [nats[0]] * len(self.zones)
        private_route_tables = self._private_routes(name, cluster, vpc, private_subnets, nat_per_zone)
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.account.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_route_tables],
            tags={"Name": f"{cluster}-s3"},
            opts=child(self),
        )
        self.private_subnet_ids = [s.id for s in private_subnets]
        self.public_subnet_ids = [s.id for s in public_subnets]

    def _subnets(
        self, name: str, args: NetworkArgs, vpc: aws.ec2.Vpc, igw: aws.ec2.InternetGateway
    ) -> tuple[list[aws.ec2.Subnet], list[aws.ec2.Subnet]]:
        """A public and a private subnet per zone, tagged for the load balancer controller; public ones route out
        through the internet gateway."""
        cluster = args.cluster_name
        public_rt = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=vpc.id, tags={"Name": f"{cluster}-public"}, opts=child(self)
        )
        aws.ec2.Route(
            f"{name}-public-internet",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child(self),
        )
        private_cidrs, public_cidrs = subnet_cidrs(args.spec.vpc_cidr, args.spec.zone_count)
        cluster_tag = {f"kubernetes.io/cluster/{cluster}": "shared"}
        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        for zone, private_cidr, public_cidr in zip(self.zones, private_cidrs, public_cidrs, strict=True):
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=str(public_cidr),
                map_public_ip_on_launch=False,
                tags={"Name": f"{cluster}-public-{zone}", "kubernetes.io/role/elb": "1", **cluster_tag},
                opts=child(self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=public.id, route_table_id=public_rt.id, opts=child(self)
            )
            private = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=str(private_cidr),
                tags={"Name": f"{cluster}-private-{zone}", "kubernetes.io/role/internal-elb": "1", **cluster_tag},
                opts=child(self),
            )
            public_subnets.append(public)
            private_subnets.append(private)
        return public_subnets, private_subnets

    def _nat_gateways(
        self, name: str, args: NetworkArgs, public_subnets: list[aws.ec2.Subnet], igw: aws.ec2.InternetGateway
    ) -> list[aws.ec2.NatGateway]:
        """One NAT gateway (`single`) or one per zone (`perZone`), each in its zone's public subnet."""
        cluster = args.cluster_name
        nat_count = len(self.zones) if args.spec.nat_gateways == "perZone" else 1
        nats = []
        for zone, public in list(zip(self.zones, public_subnets, strict=True))[:nat_count]:
            eip = aws.ec2.Eip(
                f"{name}-nat-{zone}",
                domain="vpc",
                tags={"Name": f"{cluster}-nat-{zone}"},
                opts=child(self, pulumi.ResourceOptions(depends_on=[igw])),
            )
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{zone}",
                    allocation_id=eip.id,
                    subnet_id=public.id,
                    connectivity_type="public",
                    tags={"Name": f"{cluster}-nat-{zone}"},
                    opts=child(self),
                )
            )
        return nats

    def _private_routes(
        self,
        name: str,
        cluster: str,
        vpc: aws.ec2.Vpc,
        private_subnets: list[aws.ec2.Subnet],
        nats: list[aws.ec2.NatGateway],
    ) -> list[aws.ec2.RouteTable]:
        """A route table per private subnet, egress through the zone's NAT gateway (`nats`: one per zone)."""
        route_tables = []
        for zone, private, nat in zip(self.zones, private_subnets, nats, strict=True):
            route_table = aws.ec2.RouteTable(
                f"{name}-private-{zone}", vpc_id=vpc.id, tags={"Name": f"{cluster}-private-{zone}"}, opts=child(self)
            )
            aws.ec2.Route(
                f"{name}-private-{zone}-egress",
                route_table_id=route_table.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat.id,
                opts=child(self),
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=private.id, route_table_id=route_table.id, opts=child(self)
            )
            route_tables.append(route_table)
        return route_tables


def subnet_zone(subnet_id: str, vpc_id: str, region: str) -> str:
    """The availability zone of an existing subnet of `vpc_id` (an invoke, which creates nothing). Raises when the
    subnet does not exist in that VPC and region; config validation reports it before anything is registered."""
    return str(aws.ec2.get_subnet(id=subnet_id, vpc_id=vpc_id, region=region).availability_zone)
