"""RBAC for the platform roles, bound to the subjects the cloud maps its identities to (least privilege)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.contract import CloudPlatform, RbacSubject
from components.k8s.common import KUBEFLOW_NS, Manifest, labels
from components.renames import formerly
from components.spec import PlatformRole, PlatformSpec

READ = ["get", "list", "watch"]
RUN = ["create", "get", "list", "watch"]
RBAC_GROUP = "rbac.authorization.k8s.io"
MANAGE = ["create", "get", "list", "watch", "update", "patch", "delete"]


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> Manifest:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


# Data scientists run pipelines (Argo workflows behind KFP, KFP scheduled runs) and read what they produce.
# No secrets, no RBAC objects, no workload mutation.
DATA_SCIENTIST_RULES = [
    _rule(["argoproj.io"], ["workflows", "cronworkflows", "workflowtemplates"], RUN),
    _rule(["kubeflow.org"], ["scheduledworkflows", "viewers"], RUN),
    _rule([""], ["pods", "pods/log", "events", "configmaps", "services"], READ),
    _rule(["batch"], ["jobs", "cronjobs"], READ),
]

# ML engineers operate the serving and batch workloads in workload namespaces.
ML_ENGINEER_RULES = [
    _rule(["apps"], ["deployments", "deployments/scale", "replicasets", "statefulsets"], MANAGE),
    _rule([""], ["services", "configmaps", "serviceaccounts", "persistentvolumeclaims"], MANAGE),
    _rule([""], ["pods", "pods/log", "events", "endpoints"], READ),
    _rule([""], ["pods"], ["delete"]),
    _rule(["autoscaling"], ["horizontalpodautoscalers"], MANAGE),
    _rule(["batch"], ["jobs", "cronjobs"], MANAGE),
    _rule(["policy"], ["poddisruptionbudgets"], MANAGE),
    _rule(["monitoring.coreos.com"], ["servicemonitors", "podmonitors", "prometheusrules"], MANAGE),
    _rule(["argoproj.io"], ["workflows", "cronworkflows", "workflowtemplates"], MANAGE),
    _rule(["kubeflow.org"], ["scheduledworkflows"], MANAGE),
]

# Business analysts: read-only everywhere, resources listed explicitly so Secrets are never included.
VIEWER_RULES = [
    _rule(
        [""],
        [
            "pods",
            "pods/log",
            "services",
            "endpoints",
            "configmaps",
            "events",
            "namespaces",
            "nodes",
            "persistentvolumeclaims",
            "resourcequotas",
            "limitranges",
            "serviceaccounts",
        ],
        READ,
    ),
    _rule(["apps"], ["deployments", "replicasets", "statefulsets", "daemonsets"], READ),
    _rule(["batch"], ["jobs", "cronjobs"], READ),
    _rule(["autoscaling"], ["horizontalpodautoscalers"], READ),
    _rule(["policy"], ["poddisruptionbudgets"], READ),
    _rule(["networking.k8s.io"], ["networkpolicies"], READ),
    _rule(["argoproj.io"], ["workflows", "cronworkflows", "workflowtemplates"], READ),
    _rule(["kubeflow.org"], ["scheduledworkflows"], READ),
    _rule(["monitoring.coreos.com"], ["servicemonitors", "prometheusrules"], READ),
]

ROLE_RULES: dict[PlatformRole, list[Manifest]] = {
    "data-scientists": DATA_SCIENTIST_RULES,
    "ml-engineers": ML_ENGINEER_RULES,
    "viewers": VIEWER_RULES,
}


def subjects(found: tuple[RbacSubject, ...]) -> list[k8s.rbac.v1.SubjectArgs]:
    return [k8s.rbac.v1.SubjectArgs(kind=s.kind, name=s.name, api_group=RBAC_GROUP) for s in found]


def cluster_role_ref(name: str) -> k8s.rbac.v1.RoleRefArgs:
    return k8s.rbac.v1.RoleRefArgs(api_group=RBAC_GROUP, kind="ClusterRole", name=name)


@dataclass
class RbacArgs:
    spec: PlatformSpec
    cloud: CloudPlatform
    workload_namespaces: list[str]
    depends_on: list[pulumi.Resource]


class PlatformRbac(pulumi.ComponentResource):
    """ClusterRoles per platform role; namespaced RoleBindings where the role acts, ClusterRoleBindings for
    read-only viewers and platform admins (cluster-admin equivalent)."""

    def __init__(self, name: str, args: RbacArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:PlatformRbac", name, None, formerly(opts, "mlops:k8s:Rbac"))
        spec, cloud = args.spec, args.cloud
        child = pulumi.ResourceOptions(parent=self, depends_on=args.depends_on)
        meta_labels = labels(spec, "rbac")
        for role, rules in ROLE_RULES.items():
            k8s.rbac.v1.ClusterRole(
                f"role-{role}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"mlops-{role}", labels=meta_labels),
                rules=rules,
                opts=child,
            )
        # Data scientists act in workload namespaces and read pipeline pods in kubeflow (standalone KFP runs there).
        bindings: dict[PlatformRole, list[str]] = {
            "data-scientists": args.workload_namespaces + ([KUBEFLOW_NS] if spec.services.kubeflow else []),
            "ml-engineers": list(args.workload_namespaces),
        }
        for role, namespaces in bindings.items():
            found = cloud.role_subjects.get(role, ())
            if not found:
                continue
            for namespace in namespaces:
                k8s.rbac.v1.RoleBinding(
                    f"{namespace}-{role}",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=f"mlops-{role}", namespace=namespace, labels=meta_labels),
                    role_ref=cluster_role_ref(f"mlops-{role}"),
                    subjects=subjects(found),
                    opts=child,
                )
        cluster_bindings: dict[PlatformRole, str] = {"viewers": "mlops-viewers", "platform-admins": "cluster-admin"}
        for role, cluster_role in cluster_bindings.items():
            found = cloud.role_subjects.get(role, ())
            if not found:
                continue
            k8s.rbac.v1.ClusterRoleBinding(
                f"binding-{role}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"mlops-{role}", labels=meta_labels),
                role_ref=cluster_role_ref(cluster_role),
                subjects=subjects(found),
                opts=child,
            )
        self.register_outputs({})
