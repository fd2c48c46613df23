"""Check 7, network: every required flow is allowed by the NetworkPolicies as the API evaluates them, nothing else is
open into the namespaces the set creates, and the cluster enforces NetworkPolicies at all."""

from __future__ import annotations

import json
from typing import Any

from infra.verify.checks import network
from tests.infra.verify_sets import (
    Manifest,
    config_map,
    container,
    judge,
    namespace,
    resource,
    service,
    service_account,
    workload,
)

EVERYTHING: dict[str, Any] = {}
PROMETHEUS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}
VPC = [
    resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.10.0.0/16"}),
    resource(
        "aws:eks/addon:Addon",
        "cni",
        {"addonName": "vpc-cni", "configurationValues": json.dumps({"enableNetworkPolicy": "true"})},
    ),
]


def policy(name: str, ns: str, spec: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def baseline(ns: str) -> list[Manifest]:
    dns = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    return [
        policy("default-deny-all", ns, {"podSelector": EVERYTHING, "policyTypes": ["Ingress", "Egress"]}),
        policy("allow-dns", ns, {"podSelector": EVERYTHING, "policyTypes": ["Egress"], "egress": [dns]}),
        policy(
            "allow-https",
            ns,
            {
                "podSelector": EVERYTHING,
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"protocol": "TCP", "port": 443}]}],
            },
        ),
    ]


def platform() -> list[Manifest]:
    """A client in `ml` calls MLflow; Prometheus scrapes MLflow; MLflow uses the database."""
    client = workload(
        "batch",
        "ml",
        container(
            "batch", env=[{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.mlflow.svc.cluster.local:5000"}]
        ),
    )
    mlflow = workload(
        "mlflow",
        "mlflow",
        container(
            "mlflow",
            ports=[{"name": "http", "containerPort": 5000}],
            env=[{"name": "PGHOST", "value": "db.abc.us-east-1.rds.amazonaws.com"}],
        ),
        labels={"app": "mlflow"},
    )
    grafana = workload("grafana", "monitoring", container("grafana", ports=[{"name": "web", "containerPort": 3000}]))
    prometheus = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "Prometheus",
        "metadata": {"name": "k8s", "namespace": "monitoring"},
        "spec": {"serviceMonitorSelector": {}, "serviceMonitorNamespaceSelector": {}},
    }
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "mlflow", "namespace": "mlflow"},
        "spec": {"selector": {"matchLabels": {"app": "mlflow"}}, "endpoints": [{"port": "http"}]},
    }
    return [
        namespace("ml"),
        namespace("mlflow"),
        namespace("monitoring", "privileged"),
        client,
        mlflow,
        grafana,
        prometheus,
        monitor,
        service("mlflow", "mlflow", {"app": "mlflow"}, 5000, "http", labels={"app": "mlflow"}),
        *baseline("ml"),
        *baseline("mlflow"),
        *baseline("monitoring"),
        policy(
            "allow-mlflow-egress",
            "ml",
            {
                "podSelector": EVERYTHING,
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlflow"}}}],
                        "ports": [{"protocol": "TCP", "port": 5000}],
                    }
                ],
            },
        ),
        policy(
            "allow-clients",
            "mlflow",
            {
                "podSelector": {"matchLabels": {"app": "mlflow"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ml"}}}],
                        "ports": [{"protocol": "TCP", "port": "http"}],
                    }
                ],
            },
        ),
        policy(
            "allow-prometheus",
            "mlflow",
            {
                "podSelector": EVERYTHING,
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [PROMETHEUS_PEER], "ports": [{"protocol": "TCP", "port": 5000}]}],
            },
        ),
        policy(
            "allow-database",
            "mlflow",
            {
                "podSelector": EVERYTHING,
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"protocol": "TCP", "port": 5432}]}],
            },
        ),
        policy(
            "allow-scrape-egress",
            "monitoring",
            {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"namespaceSelector": EVERYTHING}]}],
            },
        ),
    ]


DATABASE = resource(
    "aws:rds/instance:Instance", "db", {"port": 5432}, {"address": "db.abc.us-east-1.rds.amazonaws.com"}
)


def check(objects: list[Manifest], plan: list[Any] | None = None) -> list[str]:
    _, found = judge(network.run, *objects, plan=[*VPC, DATABASE, *(plan or [])])
    return found


def drop(objects: list[Manifest], name: str, ns: str) -> list[Manifest]:
    return [
        o for o in objects if not (o["kind"] == "NetworkPolicy" and o["metadata"] == {"name": name, "namespace": ns})
    ]


def replace(objects: list[Manifest], name: str, ns: str, spec: dict[str, Any]) -> list[Manifest]:
    return [*drop(objects, name, ns), policy(name, ns, spec)]


def test_policies_that_allow_every_required_flow_and_nothing_more_are_admitted() -> None:
    result, found = judge(network.run, *platform(), plan=[*VPC, DATABASE])
    assert found == []
    assert result.checked >= 8  # DNS x2 per pod, client -> MLflow, scrape, database, cloud APIs


def test_a_pod_without_dns_egress_is_a_violation() -> None:
    found = check(drop(platform(), "allow-dns", "ml"))
    assert len(found) == 2 and all("Deployment ml/batch -> coredns (kube-system, the cloud's):53" in f for f in found)
    assert "denied: the egress of Deployment ml/batch is isolated by NetworkPolicies" in found[0]


def test_scrapes_allowed_by_address_only_are_denied_as_cilium_denies_them() -> None:
    """The old tenancy allowed Prometheus' egress to 10.0.0.0/8: Cilium (GKE Dataplane V2) never matches pods by
    ipBlock, so every cross-namespace scrape would be dropped."""
    objects = replace(
        platform(),
        "allow-scrape-egress",
        "monitoring",
        {
            "podSelector": EVERYTHING,
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}],
        },
    )
    found = check(objects)
    assert len(found) == 1
    assert found[0].startswith(
        "Prometheus monitoring/k8s -> Deployment mlflow/mlflow:5000/TCP (scrape of "
        "ServiceMonitor mlflow/mlflow) :: denied: the egress of Prometheus monitoring/k8s"
    )


def test_an_ingress_open_to_a_whole_namespace_on_every_port_is_too_much() -> None:
    objects = replace(
        platform(),
        "allow-prometheus",
        "mlflow",
        {
            "podSelector": EVERYTHING,
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}
            ],
        },
    )
    found = check(objects)
    assert found == [
        "Deployment mlflow/mlflow (namespace mlflow) :: admits connections no required flow needs: pods of namespace "
        "monitoring on 5000/TCP, any other port"
    ]


def test_a_named_port_matches_only_the_destination_pod_s_port_of_that_name() -> None:
    objects = platform()
    for obj in objects:
        if obj["metadata"].get("name") == "allow-clients":
            obj["spec"]["ingress"][0]["ports"][0]["port"] = "metrics"
    found = check(objects)
    assert len(found) == 1 and "Deployment ml/batch -> Deployment mlflow/mlflow:5000/TCP" in found[0]
    assert "denied: the ingress of Deployment mlflow/mlflow" in found[0]


def test_the_online_store_port_must_be_the_one_the_client_uses() -> None:
    """Memorystore with TLS listens on 6378: a policy written for 6379 (the old tenancy) blocks Feast on GKE."""
    feast = workload(
        "feast", "feast", container("feast", env=[{"name": "REDIS", "value": "10.10.128.4:6378,ssl=true"}])
    )
    objects = [
        namespace("feast"),
        feast,
        *baseline("feast"),
        policy(
            "allow-stores",
            "feast",
            {
                "podSelector": EVERYTHING,
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"protocol": "TCP", "port": 6379}]}],
            },
        ),
    ]
    plan = [
        resource(
            "gcp:compute/globalAddress:GlobalAddress",
            "psa",
            {"address": "10.10.128.0", "prefixLength": 17, "purpose": "VPC_PEERING"},
        ),
        resource("gcp:redis/instance:Instance", "feast", {}, {"host": "10.10.128.4", "port": 6378}),
        resource("gcp:container/cluster:Cluster", "gke", {"datapathProvider": "ADVANCED_DATAPATH"}),
    ]
    _, found = judge(network.run, *objects, plan=plan, cloud="gcp")
    assert len(found) == 1 and "-> the online store (Memorystore):6378/TCP" in found[0] and "denied" in found[0]


def test_settings_urls_are_flows_of_any_pod_of_that_namespace() -> None:
    settings = config_map(
        "mlops-platform",
        "ml",
        {"MLFLOW_TRACKING_URI": "http://mlflow.mlflow:5000"},
        labels={"app.kubernetes.io/component": "settings"},
    )
    objects = replace(
        [*platform(), settings],
        "allow-clients",
        "mlflow",
        {
            "podSelector": EVERYTHING,
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [PROMETHEUS_PEER], "ports": [{"port": 5000}]}],
        },
    )
    found = check(objects)
    assert any(f.startswith("any pod of namespace ml -> Deployment mlflow/mlflow:5000/TCP") for f in found), found


def test_webhooks_must_be_reachable_from_the_api_server() -> None:
    hook = workload(
        "operator",
        "monitoring",
        container("operator", ports=[{"name": "https", "containerPort": 10250}]),
        labels={"app": "operator"},
    )
    config = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "rules"},
        "webhooks": [
            {
                "name": "rules.monitoring.coreos.com",
                "clientConfig": {"service": {"namespace": "monitoring", "name": "operator"}},
            }
        ],
    }
    svc = service("operator", "monitoring", {"app": "operator"}, 443, "https")
    found = check([*platform(), hook, config, svc])
    assert len(found) == 1 and found[0].startswith("the API server -> Deployment monitoring/operator:10250/TCP")
    allowed = policy(
        "allow-webhook",
        "monitoring",
        {
            "podSelector": {"matchLabels": {"app": "operator"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.10.0.0/16"}}], "ports": [{"port": 10250}]}],
        },
    )
    assert check([*platform(), hook, config, svc, allowed]) == []


def test_a_cluster_that_does_not_enforce_policies_and_an_unisolated_pod_are_violations() -> None:
    plain_cni = [
        resource("aws:eks/addon:Addon", "cni", {"addonName": "vpc-cni"}),
        resource("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.10.0.0/16"}),
    ]
    _, found = judge(network.run, *platform(), plan=[*plain_cni, DATABASE])
    assert found == [
        'the aws cluster :: the vpc-cni add-on does not set enableNetworkPolicy: "true" (off by default, '
        "aws/amazon-vpc-cni-k8s v1.23.0 charts/aws-vpc-cni/values.yaml line 126): every NetworkPolicy is "
        "accepted and ignored"
    ]
    objects = [
        o
        for o in platform()
        if not (
            o["kind"] == "NetworkPolicy"
            and o["metadata"]["namespace"] == "mlflow"
            and o["spec"].get("policyTypes") != ["Egress"]
        )
    ]
    found = check(objects)
    assert (
        "Deployment mlflow/mlflow (namespace mlflow) :: admits connections no required flow needs: every pod and "
        "address (no NetworkPolicy isolates it)" in found
    )


def identity_set(annotations: dict[str, str], egress: list[dict[str, Any]] | None) -> list[Manifest]:
    """One pod whose service account carries a cloud identity, in a namespace with default deny, DNS and HTTPS."""
    pod = workload("trainer", "ml", container("trainer"))
    pod["spec"]["template"]["spec"]["serviceAccountName"] = "trainer"
    objects = [namespace("ml"), service_account("trainer", "ml", annotations), pod, *baseline("ml")]
    if egress is not None:
        objects.append(policy("allow-cloud-identity-egress", "ml", {"podSelector": EVERYTHING, "egress": egress}))
    return objects


GKE = [resource("gcp:container/cluster:Cluster", "gke", {"datapathProvider": "ADVANCED_DATAPATH"})]
WORKLOAD_IDENTITY = {"iam.gke.io/gcp-service-account": "trainer@acme.iam.gserviceaccount.com"}
METADATA_EGRESS = [
    {"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"protocol": "TCP", "port": 80}]},
    {"to": [{"ipBlock": {"cidr": "169.254.169.252/32"}}], "ports": [{"protocol": "TCP", "port": 988}]},
]


def test_a_workload_identity_pod_must_reach_the_gke_metadata_server() -> None:
    _, found = judge(network.run, *identity_set(WORKLOAD_IDENTITY, METADATA_EGRESS), plan=GKE, cloud="gcp")
    assert found == []
    # Default deny with DNS and HTTPS only, as tenancy had it: the pod can get no token.
    _, found = judge(network.run, *identity_set(WORKLOAD_IDENTITY, None), plan=GKE, cloud="gcp")
    assert sorted(f.split(" :: ")[0] for f in found) == [
        "Deployment ml/trainer -> the GKE metadata server (Workload Identity):988/TCP "
        "(cloud identity: the GKE metadata server (Workload Identity))",
        "Deployment ml/trainer -> the metadata address (Workload Identity tokens):80/TCP "
        "(cloud identity: the metadata address (Workload Identity tokens))",
    ]
    assert all("denied: the egress of Deployment ml/trainer is isolated" in f for f in found)
    # Only the metadata address (the Dataplane V1 advice): the GKE metadata server's own port stays closed.
    _, found = judge(network.run, *identity_set(WORKLOAD_IDENTITY, METADATA_EGRESS[:1]), plan=GKE, cloud="gcp")
    assert len(found) == 1 and "the GKE metadata server (Workload Identity):988/TCP" in found[0]


def test_a_pod_without_a_cloud_identity_needs_no_metadata_egress() -> None:
    _, found = judge(network.run, *identity_set({}, None), plan=GKE, cloud="gcp")
    assert found == []


def test_an_irsa_pod_must_reach_sts_over_https() -> None:
    irsa = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/mlops-dev-trainer"}
    assert check(identity_set(irsa, None)) == []  # allow-https covers STS's regional endpoint
    found = check(drop(identity_set(irsa, None), "allow-https", "ml"))
    assert len(found) == 1 and found[0].startswith(
        "Deployment ml/trainer -> the internet (cloud APIs):443/TCP (cloud identity: IRSA token exchange"
    )
