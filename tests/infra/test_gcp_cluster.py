"""GCP network, GKE cluster, node pools and the placements the in-cluster layer relies on."""

from __future__ import annotations

import pytest

from components.contract import Toleration
from components.gcp import GcpPlatform
from components.spec import PlatformSpec
from tests.infra.conftest import GCP_RENAMED, GCP_STACKS, component_plan, stack_spec
from tests.infra.test_gcp_support import gcp_run

CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"


def pools(stack: str) -> dict[str, dict]:
    return {r.inputs["name"]: r.inputs for r in gcp_run(stack).plan.of_type(NODE_POOL)}


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_vpc_is_custom_mode_with_pod_and_service_ranges_from_the_spec(stack: str) -> None:
    run, spec = gcp_run(stack), stack_spec(stack)
    assert run.one("gcp:compute/network:Network", "-vpc").inputs["autoCreateSubnetworks"] is False
    subnet = run.one("gcp:compute/subnetwork:Subnetwork", "-nodes").inputs
    assert subnet["privateIpGoogleAccess"] is True
    assert subnet["ipCidrRange"] == str(next(spec.network.vpc_cidr.subnets(prefixlen_diff=1)))
    ranges = {r["rangeName"]: r["ipCidrRange"] for r in subnet["secondaryIpRanges"]}
    assert ranges == {
        f"{spec.base_name}-pods": str(spec.network.pods_cidr),
        f"{spec.base_name}-services": str(spec.network.services_cidr),
    }
    policy = run.one(CLUSTER, "-cluster").inputs["ipAllocationPolicy"]
    assert (policy["clusterSecondaryRangeName"], policy["servicesSecondaryRangeName"]) == tuple(ranges)
    # Flow logs cost per GB: prod keeps them for forensics, dev does not.
    assert ("logConfig" in subnet) is spec.is_prod


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_private_nodes_reach_the_internet_through_cloud_nat(stack: str) -> None:
    run = gcp_run(stack)
    nat = run.one("gcp:compute/routerNat:RouterNat", "-nat").inputs
    router = run.one("gcp:compute/router:Router", "-router")
    assert nat["router"] == router.inputs["name"]
    assert nat["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
    assert nat["subnetworks"][0]["sourceIpRangesToNats"] == ["ALL_IP_RANGES"]


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_private_services_range_is_peered_for_cloud_sql_and_redis(stack: str) -> None:
    run, spec = gcp_run(stack), stack_spec(stack)
    address = run.one("gcp:compute/globalAddress:GlobalAddress", "-private-services").inputs
    reserved = list(spec.network.vpc_cidr.subnets(prefixlen_diff=1))[1]
    assert (address["purpose"], address["addressType"]) == ("VPC_PEERING", "INTERNAL")
    assert (address["address"], address["prefixLength"]) == (str(reserved.network_address), reserved.prefixlen)
    connection = run.one("gcp:servicenetworking/connection:Connection", "-private-services").inputs
    assert connection["service"] == "servicenetworking.googleapis.com"
    assert connection["reservedPeeringRanges"] == [address["name"]]


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_only_the_control_plane_may_reach_nodes_and_only_on_webhook_ports(stack: str) -> None:
    run, spec = gcp_run(stack), stack_spec(stack)
    rules = run.plan.of_type("gcp:compute/firewall:Firewall")
    assert len(rules) == 1
    rule = rules[0].inputs
    assert rule["direction"] == "INGRESS"
    assert rule["sourceRanges"] == [str(spec.network.control_plane_cidr)]
    assert rule["allows"] == [{"protocol": "tcp", "ports": ["443", "8443", "9443", "10250"]}]
    node_tags = {tag for pool in pools(stack).values() for tag in pool["nodeConfig"]["tags"]}
    assert rule["targetTags"] == sorted(node_tags)


@pytest.mark.parametrize(("stack", "location"), [("gcp-dev", "us-central1-a"), ("gcp-prod", "us-central1")])
def test_dev_cluster_is_zonal_and_prod_cluster_is_regional(stack: str, location: str) -> None:
    assert gcp_run(stack).one(CLUSTER, "-cluster").inputs["location"] == location


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_cluster_has_private_nodes_and_admin_networks_only(stack: str) -> None:
    run, spec = gcp_run(stack), stack_spec(stack)
    cluster = run.one(CLUSTER, "-cluster").inputs
    private = cluster["privateClusterConfig"]
    assert private["enablePrivateNodes"] is True
    assert private["masterIpv4CidrBlock"] == str(spec.network.control_plane_cidr)
    # Admin networks are listed, so the public endpoint stays on, restricted to them.
    assert private["enablePrivateEndpoint"] is False
    cidrs = [block["cidrBlock"] for block in cluster["masterAuthorizedNetworksConfig"]["cidrBlocks"]]
    subnet = run.one("gcp:compute/subnetwork:Subnetwork", "-nodes").inputs["ipCidrRange"]
    assert cidrs == [*(str(c) for c in spec.cluster.public_access_cidrs), subnet]
    assert "0.0.0.0/0" not in cidrs
    assert cluster["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] is False


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_cluster_security_features(stack: str) -> None:
    run, spec = gcp_run(stack), stack_spec(stack)
    cluster = run.one(CLUSTER, "-cluster")
    inputs = cluster.inputs
    assert inputs["workloadIdentityConfig"] == {"workloadPool": f"{spec.gcp.project}.svc.id.goog"}
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH"
    assert inputs["enableShieldedNodes"] is True
    key = run.one("gcp:kms/cryptoKey:CryptoKey", "-key")
    assert inputs["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": key.id}
    assert (inputs["removeDefaultNodePool"], inputs["initialNodeCount"]) == (True, 1)
    assert inputs["releaseChannel"] == {"channel": spec.cluster.release_channel}
    assert inputs["minMasterVersion"] == spec.cluster.kubernetes_version
    assert inputs["loggingConfig"]["enableComponents"] == ["SYSTEM_COMPONENTS", "WORKLOADS"]
    assert inputs["deletionProtection"] is spec.deletion_protection
    # Google Groups for RBAC, so the `group:` principals of cluster.access match RoleBinding subjects.
    assert inputs["authenticatorGroupsConfig"] == {"securityGroup": spec.gcp.security_group}
    assert spec.gcp.security_group == "gke-security-groups@example.com"
    assert (cluster.protect, cluster.retain_on_delete) == (spec.deletion_protection, spec.deletion_protection)
    # Secrets encryption fails at creation unless the GKE service agent may use the key.
    grant = run.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "-gke-agent")
    assert (
        grant.inputs["member"] == "serviceAccount:service-123456789012@container-engine-robot.iam.gserviceaccount.com"
    )
    assert grant.urn in cluster.dependencies


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_cpu_pool_is_spot_and_scales_over_the_whole_pool(stack: str) -> None:
    spec = stack_spec(stack).node_pools.cpu
    cpu = pools(stack)["cpu"]
    assert cpu["nodeConfig"]["spot"] is (spec.capacity_type == "SPOT") is True
    assert cpu["nodeConfig"]["machineType"] == spec.instance_types[0]
    assert cpu["nodeConfig"]["labels"] == {"node-pool": "cpu", "workload-type": "ml-inference"}
    if stack == "gcp-prod":  # regional: total_* bound the pool across zones, not per zone
        assert cpu["autoscaling"] == {"totalMinNodeCount": 2, "totalMaxNodeCount": 20, "locationPolicy": "ANY"}
    else:
        assert cpu["autoscaling"] == {"minNodeCount": 0, "maxNodeCount": 10, "locationPolicy": "ANY"}


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_gpu_pool_has_accelerators_managed_drivers_taint_and_scales_from_zero(stack: str) -> None:
    gpu = pools(stack)["gpu"]
    config = gpu["nodeConfig"]
    assert config["machineType"] == "g2-standard-8"
    assert config["guestAccelerators"] == [
        {"type": "nvidia-l4", "count": 1, "gpuDriverInstallationConfig": {"gpuDriverVersion": "DEFAULT"}}
    ]
    assert config["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert config["labels"] == {"node-pool": "gpu", "gpu-enabled": "true", "workload-type": "ml-training"}
    low = gpu["autoscaling"].get("totalMinNodeCount", gpu["autoscaling"].get("minNodeCount"))
    assert (low, gpu["initialNodeCount"]) == (0, 0)


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_system_pool_is_on_demand_untainted_and_sized_per_zone(stack: str) -> None:
    system = pools(stack)["system"]
    assert system["nodeConfig"]["spot"] is False
    assert system["nodeConfig"]["taints"] == []
    assert system["nodeConfig"]["labels"] == {"node-pool": "system"}
    # desiredSize 2 on one zone (dev); 3 over three zones = 1 per zone (prod).
    assert system["initialNodeCount"] == {"gcp-dev": 2, "gcp-prod": 1}[stack]


@pytest.mark.parametrize("stack", [*GCP_STACKS, GCP_RENAMED])
def test_every_pool_is_hardened_with_its_own_node_service_account(stack: str) -> None:
    run = gcp_run(stack)
    key_id = run.one("gcp:kms/cryptoKey:CryptoKey", "-key").id
    accounts = set()
    for name, pool in pools(stack).items():
        config = pool["nodeConfig"]
        assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}, name
        assert config["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
        assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}
        assert config["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
        assert (config["diskType"], config["bootDiskKmsKey"]) == ("pd-balanced", key_id)
        assert config["resourceLabels"]["managed-by"] == "pulumi"
        assert config["serviceAccount"].startswith(f"{stack_spec(stack).base_name}-{name}-nodes@")
        accounts.add(config["serviceAccount"])
    assert len(accounts) == len(pools(stack))


@pytest.mark.parametrize("stack", [*GCP_STACKS, GCP_RENAMED])
def test_node_service_accounts_get_only_logging_monitoring_and_registry_read(stack: str) -> None:
    run = gcp_run(stack)
    grants = run.plan.of_type("gcp:projects/iAMMember:IAMMember")
    node_members = {f"serviceAccount:{p['nodeConfig']['serviceAccount']}" for p in pools(stack).values()}
    assert {g.inputs["member"] for g in grants} == node_members
    for member in node_members:
        assert sorted(g.inputs["role"] for g in grants if g.inputs["member"] == member) == [
            "roles/logging.logWriter",
            "roles/monitoring.metricWriter",
            "roles/monitoring.viewer",
            "roles/stackdriver.resourceMetadata.writer",
        ]
    readers = [
        r.inputs["member"]
        for r in run.plan.of_type("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")
        if r.name.startswith(f"{stack_spec(stack).base_name}-node-identities")
    ]
    assert sorted(readers) == sorted(node_members)


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_placements_match_the_pool_labels_and_taints(stack: str) -> None:
    platform = gcp_run(stack).platform
    by_pool = pools(stack)
    for pool, placement in platform.placements.items():
        labels = by_pool[pool]["nodeConfig"]["labels"]
        assert all(labels[k] == v for k, v in placement.node_selector.items()), pool
    assert platform.placements["gpu"].node_selector == {"gpu-enabled": "true"}
    assert platform.placements["gpu"].tolerations == (Toleration("nvidia.com/gpu", "present", "NoSchedule"),)
    assert platform.placements["cpu"].node_selector == {"workload-type": "ml-inference"}
    assert platform.placements["system"].node_selector == {"node-pool": "system"}
    assert platform.placements["system"].tolerations == ()


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_gke_manages_gpu_drivers_and_autoscaling_so_no_chart_is_needed(stack: str) -> None:
    gpu = gcp_run(stack).platform.gpu
    assert (gpu.pool_present, gpu.install_device_plugin, gpu.dcgm_exporter) == (True, False, False)


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_kubernetes_provider_uses_the_secret_gke_kubeconfig_after_the_node_pools(stack: str) -> None:
    run = gcp_run(stack)
    provider = run.plan.of_type("pulumi:providers:kubernetes")
    assert len(provider) == 1
    assert "kubeconfig" in provider[0].secret_inputs
    pool_urns = {r.urn for r in run.plan.of_type(NODE_POOL)}
    assert pool_urns <= set(provider[0].dependencies)
    assert "kubeconfig" in run.plan.secret_outputs


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_default_storage_class_encrypts_disks_with_the_platform_key(stack: str) -> None:
    run, spec = gcp_run(stack), stack_spec(stack)
    storage_class = run.one("kubernetes:storage.k8s.io/v1:StorageClass", "-pd-balanced-cmek")
    key_id = run.one("gcp:kms/cryptoKey:CryptoKey", "-key").id
    assert run.platform.storage_class == storage_class.inputs["metadata"]["name"] == "pd-balanced-cmek"
    assert storage_class.inputs["parameters"] == {"type": "pd-balanced", "disk-encryption-kms-key": key_id}
    assert storage_class.inputs["provisioner"] == "pd.csi.storage.gke.io"
    assert storage_class.inputs["reclaimPolicy"] == ("Retain" if spec.deletion_protection else "Delete")
    compute_agent = run.one("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "-compute-agent")
    assert compute_agent.urn in storage_class.dependencies


def test_without_admin_networks_the_api_endpoint_is_private_only() -> None:
    def build(spec: PlatformSpec) -> GcpPlatform:
        closed = spec.model_copy(update={"cluster": spec.cluster.model_copy(update={"public_access_cidrs": []})})
        return GcpPlatform(closed.base_name, closed)

    plan = component_plan("gcp-prod", build)
    cluster = plan.of_type(CLUSTER)[0].inputs
    assert cluster["privateClusterConfig"]["enablePrivateEndpoint"] is True
    subnet = plan.of_type("gcp:compute/subnetwork:Subnetwork")[0].inputs["ipCidrRange"]
    assert [b["cidrBlock"] for b in cluster["masterAuthorizedNetworksConfig"]["cidrBlocks"]] == [subnet]
