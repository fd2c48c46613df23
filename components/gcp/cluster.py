"""GKE Standard: private nodes, Workload Identity, Dataplane V2, shielded nodes, KMS-encrypted Secrets.

The default node pool is removed right after creation; the platform's pools are separate `NodePool` resources so
they can be replaced without touching the control plane.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.gcp.network import Network
from components.spec import PlatformSpec

AUTH_PLUGIN = "gke-gcloud-auth-plugin"


@dataclass(frozen=True)
class GkeClusterArgs:
    spec: PlatformSpec
    project: str
    network: Network
    key_id: pulumi.Input[str]
    key_grant: pulumi.Resource  # the GKE service agent's permission on the key
    default_pool_service_account: pulumi.Input[str]


def cluster_location(spec: PlatformSpec) -> str:
    """A zone gives a zonal cluster (one control plane, dev); the region a regional one (three zones, prod)."""
    return spec.gcp.zone if spec.gcp is not None and spec.gcp.zone else spec.region


def kubeconfig(name: str, endpoint: str, ca_certificate: str) -> str:
    """A kubeconfig without credentials: kubectl and Pulumi get short-lived tokens from the gcloud auth plugin."""
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": AUTH_PLUGIN,
            "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
            "provideClusterInfo": True,
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": name,
                    "cluster": {"server": f"https://{endpoint}", "certificate-authority-data": ca_certificate},
                }
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [{"name": name, "user": user}],
        },
        indent=2,
    )


def transient_pool_config(service_account: pulumi.Input[str]) -> gcp.container.ClusterNodeConfigArgs:
    """The transient default pool still runs briefly: give it the system pool's least-privilege account."""
    return gcp.container.ClusterNodeConfigArgs(
        service_account=service_account,
        oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
        shielded_instance_config=gcp.container.ClusterNodeConfigShieldedInstanceConfigArgs(
            enable_secure_boot=True, enable_integrity_monitoring=True
        ),
        workload_metadata_config=gcp.container.ClusterNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
    )


def control_plane_access(
    spec: PlatformSpec, nodes_cidr: str
) -> tuple[gcp.container.ClusterPrivateClusterConfigArgs, gcp.container.ClusterMasterAuthorizedNetworksConfigArgs]:
    """Private nodes; the endpoint is reachable from the admin networks and the VPC's nodes. Without admin networks
    it is private only: reachable from the VPC (nodes, a bastion, a CI runner)."""
    admin_networks = [
        gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
            cidr_block=str(cidr), display_name=f"admin-{i}"
        )
        for i, cidr in enumerate(spec.cluster.public_access_cidrs)
    ]
    private_cluster = gcp.container.ClusterPrivateClusterConfigArgs(
        enable_private_nodes=True,
        enable_private_endpoint=not spec.cluster.public_access_cidrs,
        master_ipv4_cidr_block=str(spec.network.control_plane_cidr),
    )
    authorized_networks = gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
        cidr_blocks=[
            *admin_networks,
            gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
                cidr_block=nodes_cidr, display_name="vpc-nodes"
            ),
        ],
        gcp_public_cidrs_access_enabled=False,
    )
    return private_cluster, authorized_networks


class GkeCluster(pulumi.ComponentResource):
    cluster: gcp.container.Cluster
    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:GkeCluster", name, None, opts)
        spec, net, gcp_spec = args.spec, args.network, args.spec.gcp
        private_cluster, authorized_networks = control_plane_access(spec, net.nodes_cidr)
        self.cluster = gcp.container.Cluster(
            f"{name}-cluster",
            name=spec.base_name,
            location=cluster_location(spec),
            network=net.vpc_id,
            subnetwork=net.subnet_id,
            remove_default_node_pool=True,
            initial_node_count=1,
            node_config=transient_pool_config(args.default_pool_service_account),
            deletion_protection=spec.deletion_protection,
            min_master_version=spec.cluster.kubernetes_version,
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=spec.cluster.release_channel),
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=net.pods_range_name,
                services_secondary_range_name=net.services_range_name,
            ),
            private_cluster_config=private_cluster,
            master_authorized_networks_config=authorized_networks,
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{args.project}.svc.id.goog"
            ),
            # Google Groups for RBAC: RoleBindings naming `group:` principals match members of these groups.
            authenticator_groups_config=gcp.container.ClusterAuthenticatorGroupsConfigArgs(
                security_group=gcp_spec.security_group
            )
            if gcp_spec is not None and gcp_spec.security_group
            else None,
            datapath_provider="ADVANCED_DATAPATH",  # Dataplane V2 (Cilium) enforces NetworkPolicies
            enable_shielded_nodes=True,
            database_encryption=gcp.container.ClusterDatabaseEncryptionArgs(state="ENCRYPTED", key_name=args.key_id),
            addons_config=gcp.container.ClusterAddonsConfigArgs(
                gce_persistent_disk_csi_driver_config=gcp.container.ClusterAddonsConfigGcePersistentDiskCsiDriverConfigArgs(
                    enabled=True
                ),
            ),
            logging_config=gcp.container.ClusterLoggingConfigArgs(enable_components=["SYSTEM_COMPONENTS", "WORKLOADS"]),
            # The platform runs its own Prometheus; Google's managed collection would duplicate the cost.
            monitoring_config=gcp.container.ClusterMonitoringConfigArgs(
                enable_components=["SYSTEM_COMPONENTS"],
                managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=False),
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[args.key_grant],
                protect=spec.deletion_protection,
                retain_on_delete=spec.deletion_protection,
                # The default pool's settings only matter at creation; changing them would recreate the cluster.
                ignore_changes=["nodeConfig", "initialNodeCount"],
            ),
        )
        self.name = self.cluster.name
        self.endpoint = self.cluster.endpoint
        self.location = self.cluster.location
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                self.cluster.name,
                self.cluster.endpoint,
                self.cluster.master_auth.apply(lambda auth: auth.cluster_ca_certificate),
            ).apply(lambda parts: kubeconfig(f"gke_{args.project}_{cluster_location(spec)}_{parts[0]}", *parts[1:]))
        )
        self.register_outputs({"name": self.name, "endpoint": self.endpoint})
