"""Custom-mode VPC: one node subnet with pod/service secondary ranges, Cloud NAT, private services access, firewall.

`vpcCidr` is split in two halves: the first for nodes, the second reserved for Google-managed services (Cloud SQL,
Memorystore) over VPC peering, so no Google-chosen range can ever collide with the cluster's ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

import pulumi
import pulumi_gcp as gcp

from components.spec import NetworkSpec

# Ports the GKE control plane must reach on nodes: webhooks (443/8443/9443, e.g. cert-manager, KServe) and kubelet.
CONTROL_PLANE_PORTS = ("443", "8443", "9443", "10250")


@dataclass(frozen=True)
class NetworkArgs:
    base_name: str
    region: str
    network: NetworkSpec
    flow_logs: bool  # VPC flow logs cost money per GB: on in prod for forensics, off in dev


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    node_tag: str
    pods_range_name: str
    services_range_name: str
    private_services: gcp.servicenetworking.Connection

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:Network", name, None, opts)
        nodes_cidr, services_cidr = args.network.vpc_cidr.subnets(prefixlen_diff=1)
        self.node_tag = f"{args.base_name}-node"
        self.pods_range_name = f"{args.base_name}-pods"
        self.services_range_name = f"{args.base_name}-services"
        vpc = gcp.compute.Network(
            f"{name}-vpc",
            name=f"{args.base_name}-vpc",
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            opts=pulumi.ResourceOptions(parent=self),
        )
        subnet = self._subnet(name, args, vpc, nodes_cidr)
        self._nat(name, args, vpc, subnet)
        self._firewall(name, args, vpc)
        self.private_services = self._private_services(name, args, vpc, services_cidr)
        self.vpc_id = vpc.id
        self.subnet_id = subnet.id
        self.nodes_cidr = str(nodes_cidr)
        self.register_outputs({"vpcId": self.vpc_id, "subnetId": self.subnet_id})

    def _subnet(
        self, name: str, args: NetworkArgs, vpc: gcp.compute.Network, nodes_cidr: IPv4Network
    ) -> gcp.compute.Subnetwork:
        """The nodes' subnet with the pods' and services' secondary ranges (VPC-native cluster)."""
        return gcp.compute.Subnetwork(
            f"{name}-nodes",
            name=f"{args.base_name}-nodes",
            network=vpc.id,
            region=args.region,
            ip_cidr_range=str(nodes_cidr),
            private_ip_google_access=True,  # nodes without public IPs still reach Google APIs
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=self.pods_range_name, ip_cidr_range=str(args.network.pods_cidr)
                ),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=self.services_range_name, ip_cidr_range=str(args.network.services_cidr)
                ),
            ],
            log_config=gcp.compute.SubnetworkLogConfigArgs(
                aggregation_interval="INTERVAL_5_SEC", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"
            )
            if args.flow_logs
            else None,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _nat(self, name: str, args: NetworkArgs, vpc: gcp.compute.Network, subnet: gcp.compute.Subnetwork) -> None:
        child = pulumi.ResourceOptions(parent=self)
        router = gcp.compute.Router(
            f"{name}-router", name=f"{args.base_name}-router", network=vpc.id, region=args.region, opts=child
        )
        # Cloud NAT is regional: one gateway serves every zone (natGateways: perZone needs nothing more on GCP).
        gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{args.base_name}-nat",
            router=router.name,
            region=args.region,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[
                gcp.compute.RouterNatSubnetworkArgs(name=subnet.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"])
            ],
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=child,
        )

    def _firewall(self, name: str, args: NetworkArgs, vpc: gcp.compute.Network) -> None:
        # Ingress is denied by GCP's implied rule; this is the only opening, from the control plane to the nodes.
        gcp.compute.Firewall(
            f"{name}-control-plane-to-nodes",
            name=f"{args.base_name}-control-plane-to-nodes",
            network=vpc.id,
            direction="INGRESS",
            source_ranges=[str(args.network.control_plane_cidr)],
            target_tags=[self.node_tag],
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=list(CONTROL_PLANE_PORTS))],
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="EXCLUDE_ALL_METADATA"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _private_services(
        self, name: str, args: NetworkArgs, vpc: gcp.compute.Network, services_cidr: IPv4Network
    ) -> gcp.servicenetworking.Connection:
        """The peering Cloud SQL and Memorystore get their private IPs on, in the upper half of the VPC range."""
        child = pulumi.ResourceOptions(parent=self)
        peering_range = gcp.compute.GlobalAddress(
            f"{name}-private-services",
            name=f"{args.base_name}-private-services",
            network=vpc.id,
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            address=str(services_cidr.network_address),
            prefix_length=services_cidr.prefixlen,
            opts=child,
        )
        # Cloud SQL keeps its producer-side resources for days after an instance is deleted, so deleting the
        # connection fails ("Producer services ... are still using this connection", hashicorp/terraform-provider-
        # google#16275, #19908). ABANDON would leave the VPC peering behind, which then blocks deleting the network
        # (GoogleCloudPlatform/magic-modules#18476); REMOVE_PEERING removes the peering when the API refuses, so a
        # destroy completes and the next up starts clean (pulumi_gcp 10.2.0 servicenetworking/connection.py, the
        # deletion_policy docstring, lines 100-114).
        return gcp.servicenetworking.Connection(
            f"{name}-private-services",
            network=vpc.id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[peering_range.name],
            deletion_policy="REMOVE_PEERING",
            opts=child,
        )
