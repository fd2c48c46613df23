"""In-cluster tenancy and RBAC: namespaces with Pod Security labels, quotas, limit ranges, network policies, roles.

Each `check_*` takes a plan, so the same assertions run on the in-cluster layer planned alone on a fake AWS-like
or GCP-like cloud (here) and on the full four stacks (integration).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import pytest

from components.k8s.common import BOOTSTRAP_NS, FEAST_NS, KUBEFLOW_NS, MLFLOW_NS, MONITORING_NS, WORKLOADS_NS
from components.spec import PLATFORM_ROLES, PlatformSpec
from infra.plan.engine import Plan
from tests.infra.conftest import STACKS, stack_spec
from tests.infra.fake_cloud import fake_cloud_plan, kube_objects

ALL_NAMESPACES = {"platform-bootstrap", "ml-workloads", "mlflow", "kubeflow", "feast", "monitoring"}


def _by_name(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects}


def check_namespaces(plan: Plan, spec: PlatformSpec) -> None:
    namespaces = _by_name(kube_objects(plan, "Namespace"))
    teams = {team.name for team in spec.workloads.teams}
    assert ALL_NAMESPACES | teams <= set(namespaces)
    expected = {
        WORKLOADS_NS: "restricted",
        KUBEFLOW_NS: "baseline",
        MONITORING_NS: "privileged",
        "mlflow": "restricted",
        "feast": "restricted",
        "platform-bootstrap": "restricted",
    } | dict.fromkeys(teams, "restricted")
    for name, level in expected.items():
        labels = namespaces[name]["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == level, (name, mode)
            assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "latest", (name, mode)
        assert namespaces[name]["metadata"]["annotations"]["mlops.io/pod-security-reason"]


def check_quotas(plan: Plan, spec: PlatformSpec) -> None:
    quotas = {q["metadata"]["namespace"]: q for q in kube_objects(plan, "ResourceQuota")}
    workload_namespaces = {WORKLOADS_NS} | {team.name for team in spec.workloads.teams}
    assert set(quotas) == workload_namespaces
    for team in spec.workloads.teams:
        hard = quotas[team.name]["spec"]["hard"]
        assert hard == {
            "requests.cpu": team.quota.cpu,
            "requests.memory": team.quota.memory,
            "requests.nvidia.com/gpu": str(team.quota.gpu),
            "pods": str(team.quota.pods),
        }
    for quota in quotas.values():
        assert not any(key.startswith("limits.") and "gpu" in key for key in quota["spec"]["hard"])
    limit_ranges = {lr["metadata"]["namespace"]: lr for lr in kube_objects(plan, "LimitRange")}
    assert set(limit_ranges) == workload_namespaces
    for limit_range in limit_ranges.values():
        (container,) = limit_range["spec"]["limits"]
        assert container["type"] == "Container"
        assert set(container["defaultRequest"]) == {"cpu", "memory"}
        for section in ("default", "defaultRequest", "max", "min"):
            assert not any("gpu" in key for key in container.get(section, {})), section


def _policies(plan: Plan) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["metadata"]["namespace"], p["metadata"]["name"]): p["spec"] for p in kube_objects(plan, "NetworkPolicy")}


def check_network_policies(plan: Plan, spec: PlatformSpec) -> None:
    """The shape every namespace's policies keep; that they allow exactly the platform's flows over the rendered
    set is `make verify` check 7 (tests/infra/test_verify_network.py, tests/infra/test_verify_stacks.py)."""
    policies = _policies(plan)
    namespaces = {n["metadata"]["name"] for n in kube_objects(plan, "Namespace")}
    for namespace in namespaces:
        deny = policies[(namespace, "default-deny-all")]
        assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
        assert "ingress" not in deny and "egress" not in deny
        (dns,) = policies[(namespace, "allow-dns")]["egress"]
        assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
        (peer,) = dns["to"]
        assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
        assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
        https = policies[(namespace, "allow-https-egress")]["egress"]
        assert https == [{"ports": [{"protocol": "TCP", "port": 443}]}]
        for (ns, name), policy in policies.items():
            if ns != namespace:
                continue
            for rule in policy.get("ingress") or []:
                # Pods are admitted by selectors: an address range stands only for the API server (webhooks).
                blocks = [p for p in rule.get("from") or [] if "ipBlock" in p]
                assert not blocks or name == "allow-api-server-webhooks", (ns, name)
                # No ingress from another namespace is open on every port.
                others = [p for p in rule.get("from") or [] if "namespaceSelector" in p]
                assert not others or rule.get("ports"), (ns, name)
    # Prometheus, and only Prometheus, scrapes the namespaces with scrape targets, on their ports.
    (scrape,) = policies[("mlflow", "allow-prometheus-scrape")]["ingress"]
    assert scrape["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]
    assert ("kubeflow", "allow-prometheus-scrape") not in policies  # nothing of KFP is scraped
    # Clients reach the service pods only; from kubeflow, only pipeline steps.
    (mlflow_in,) = policies[("mlflow", "allow-mlflow-clients")]["ingress"]
    callers = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]: peer["podSelector"]
        for peer in mlflow_in["from"]
    }
    assert set(callers) == {WORKLOADS_NS, KUBEFLOW_NS} | {team.name for team in spec.workloads.teams}
    assert callers[KUBEFLOW_NS]["matchExpressions"][0]["key"] == "workflows.argoproj.io/workflow"
    assert policies[("mlflow", "allow-mlflow-clients")]["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "mlflow"}
    }
    (kfp_in,) = policies[(KUBEFLOW_NS, "allow-kfp-api-clients")]["ingress"]
    assert [p["port"] for p in kfp_in["ports"]] == [8888]  # gRPC stays inside the namespace
    # Token endpoints of the cloud identity: link-local single addresses, only where identity pods live, only on GKE
    # (IRSA's STS is HTTPS, which allow-https-egress admits). That each identity pod reaches them is check 7.
    identity = {ns: p for (ns, name), p in policies.items() if name == "allow-cloud-identity-egress"}
    if spec.cloud == "aws":
        assert identity == {}
    else:
        model_teams = {model.team for model in spec.models}  # their batch, monitoring and training identities
        assert set(identity) == ({MLFLOW_NS, KUBEFLOW_NS, FEAST_NS} | model_teams) & namespaces
        for policy in identity.values():
            assert policy["podSelector"] == {} and policy["policyTypes"] == ["Egress"]
            for rule in policy["egress"]:
                (peer,) = rule["to"]
                network = ipaddress.ip_network(peer["ipBlock"]["cidr"])
                assert network.is_link_local and network.num_addresses == 1 and len(rule["ports"]) == 1
    assert all(ns not in identity for ns in (MONITORING_NS, BOOTSTRAP_NS))


@pytest.mark.parametrize("stack", STACKS)
def test_store_ports_are_the_ones_the_cloud_serves(stack_plan, stack: str) -> None:  # type: ignore[no-untyped-def]
    """Memorystore with in-transit encryption listens on 6378, ElastiCache on 6379: the egress follows the plan."""
    plan = stack_plan(stack)
    redis = [
        int(r.inputs.get("port") or r.outputs.get("port"))
        for r in [
            *plan.of_type("aws:elasticache/replicationGroup:ReplicationGroup"),
            *plan.of_type("gcp:redis/instance:Instance"),
        ]
    ]
    (stores,) = _policies(plan)[(WORKLOADS_NS, "allow-data-stores-egress")]["egress"]
    assert {p["port"] for p in stores["ports"]} == {5432, *redis}
    assert redis == ([6378] if stack.startswith("gcp") else [6379])
    (bootstrap,) = _policies(plan)[("platform-bootstrap", "allow-data-stores-egress")]["egress"]
    # PostgreSQL, and Kubeflow Pipelines' MySQL for its login Job (KFP's own pods: test_kubeflow.py).
    assert {p["port"] for p in bootstrap["ports"]} == {5432} | (
        {3306} if stack_spec(stack).services.kubeflow else set()
    )


def _rules(plan: Plan, role: str) -> list[dict[str, Any]]:
    return _by_name(kube_objects(plan, "ClusterRole"))[f"mlops-{role}"]["rules"]


def _allows(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


def check_rbac(plan: Plan, spec: PlatformSpec, subjects: Mapping[str, list[dict[str, str]]] | None) -> None:
    """`subjects`: what the cloud maps each role to, when known (None for a real stack: bindings just non-empty)."""
    scientist = _rules(plan, "data-scientists")
    for verb in ("create", "get", "list"):
        assert _allows(scientist, "argoproj.io", "workflows", verb)
    assert _allows(scientist, "", "pods/log", "get")
    for verb in ("get", "list", "create", "update", "delete", "watch"):
        assert not _allows(scientist, "", "secrets", verb)
    assert not any("rbac.authorization.k8s.io" in r["apiGroups"] for r in scientist)
    assert not any(
        "*" in r["resources"] or "*" in r["verbs"]
        for role in ("data-scientists", "ml-engineers", "viewers")
        for r in _rules(plan, role)
    )
    engineer = _rules(plan, "ml-engineers")
    for group, resource in (
        ("apps", "deployments"),
        ("", "services"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
    ):
        assert _allows(engineer, group, resource, "update"), resource
    assert not any("secrets" in r["resources"] for r in engineer)
    viewer = _rules(plan, "viewers")
    assert all(set(r["verbs"]) <= {"get", "list", "watch"} for r in viewer)
    assert not any("secrets" in r["resources"] for r in viewer)

    bindings = {(b["metadata"]["namespace"], b["metadata"]["name"]): b for b in kube_objects(plan, "RoleBinding")}
    cluster = _by_name(kube_objects(plan, "ClusterRoleBinding"))
    for (_, name), binding in bindings.items():
        role = name.removeprefix("mlops-")
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}
        assert binding["subjects"], name
        if subjects is not None:
            assert binding["subjects"] == subjects[role], name
    if "mlops-platform-admins" in cluster:
        assert cluster["mlops-platform-admins"]["roleRef"]["name"] == "cluster-admin"
    if "mlops-viewers" in cluster:
        assert cluster["mlops-viewers"]["roleRef"]["name"] == "mlops-viewers"
    if subjects is None:
        return
    # With subjects for every role, every workload namespace binds scientists and engineers, and admins are bound.
    for namespace in [WORKLOADS_NS, *(t.name for t in spec.workloads.teams)]:
        assert (namespace, "mlops-data-scientists") in bindings
        assert (namespace, "mlops-ml-engineers") in bindings
    assert (KUBEFLOW_NS, "mlops-data-scientists") in bindings
    assert (KUBEFLOW_NS, "mlops-ml-engineers") not in bindings
    assert cluster["mlops-platform-admins"]["subjects"] == subjects["platform-admins"]
    assert cluster["mlops-viewers"]["subjects"] == subjects["viewers"]


def fake_subjects() -> dict[str, list[dict[str, str]]]:
    """The RBAC subjects `FakeCloud` maps each platform role to."""
    return {
        role: [{"kind": "Group", "name": f"mlops:{role}", "apiGroup": "rbac.authorization.k8s.io"}]
        for role in PLATFORM_ROLES
    }


@pytest.mark.parametrize("stack", STACKS)
def test_tenancy_and_rbac(stack: str) -> None:
    plan, _ = fake_cloud_plan(stack)
    spec = stack_spec(stack)
    check_namespaces(plan, spec)
    check_quotas(plan, spec)
    check_network_policies(plan, spec)
    check_rbac(plan, spec, fake_subjects())


def test_gpu_namespace_only_where_the_cluster_needs_gpu_plumbing() -> None:
    aws, _ = fake_cloud_plan("dev")
    gcp, _ = fake_cloud_plan("gcp-dev")
    names = {n["metadata"]["name"] for n in kube_objects(aws, "Namespace")}
    assert "nvidia-gpu" in names
    assert (
        _by_name(kube_objects(aws, "Namespace"))["nvidia-gpu"]["metadata"]["labels"][
            "pod-security.kubernetes.io/enforce"
        ]
        == "privileged"
    )
    assert "nvidia-gpu" not in {n["metadata"]["name"] for n in kube_objects(gcp, "Namespace")}
