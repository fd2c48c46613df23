"""The object set as the API server would hold it, for the checks that look across objects.

- Patches (`*Patch` resources, server-side apply) are merged into the object they patch: the pods that run carry
  the patched env and args, not the upstream ones.
- Every pod template of the set, wherever it is: Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs,
  Pods, Argo templates, and the pods prometheus-operator builds from a `Prometheus` or `Alertmanager` resource.
- What a container names: its env (literal values, ConfigMap keys and `envFrom` resolved from the set), its command
  and args with `$(VAR)` expanded as the kubelet expands them, and the in-cluster Service hosts among those strings.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.render.objects import KubeObject

# Namespaces the API server itself creates (kubernetes/kubernetes pkg/controlplane/controller/systemnamespaces:
# kube-system, kube-public, kube-node-lease; `default` by the same bootstrap): objects may live there without a
# Namespace object in the set.
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
NAME_LABEL = "kubernetes.io/metadata.name"  # set on every namespace by the API server (pkg/apis/core/v1/defaults.go)

# Where each workload kind keeps its pod template.
TEMPLATE_PATHS: Mapping[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "PodTemplate": ("template",),
}
BUILTIN_WORKLOAD_GROUPS = frozenset({"", "apps", "batch"})
ARGO_KINDS = frozenset({"Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow"})
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

# prometheus-operator v0.93.0 (the kube-prometheus-stack 88.5.3 operator) labels and ports of the pods it runs:
# pkg/prometheus/server/operator.go lines 1696-1704 and pkg/alertmanager/operator.go lines 796-802 (selector labels),
# pkg/prometheus/common.go line 457 (web 9090), pkg/alertmanager/statefulset.go lines 65-66 (web 9093, mesh 9094),
# pkg/operator/config_reloader.go lines 30 and 228 (the config reloader's `reloader-web` 8080).
OPERATED = {
    "Prometheus": ("prometheus", 9090, (("operator.prometheus.io/name", "{name}"), ("prometheus", "{name}"))),
    "Alertmanager": ("alertmanager", 9093, (("alertmanager", "{name}"),)),
}
OPERATOR_GROUP = "monitoring.coreos.com"


@dataclass(frozen=True)
class PodTemplate:
    """One pod template: the object it belongs to, where in it, and the pod's metadata and spec."""

    owner: KubeObject
    where: str  # path of the template inside the owner ("" for a Pod)
    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]

    @property
    def namespace(self) -> str:
        return self.owner.namespace

    @property
    def labels(self) -> Mapping[str, str]:
        return self.metadata.get("labels") or {}

    @property
    def service_account(self) -> str:
        return str(self.spec.get("serviceAccountName") or self.spec.get("serviceAccount") or "default")

    @property
    def subject(self) -> str:
        return str(self.owner) + (f" at {self.where}" if self.where and self.owner.kind in ARGO_KINDS else "")

    def containers(self, ephemeral: bool = True) -> list[Mapping[str, Any]]:
        """Init containers, containers and (unless told otherwise) ephemeral containers, as the kubelet runs them."""
        lists = CONTAINER_LISTS if ephemeral else CONTAINER_LISTS[:2]
        return [c for key in lists for c in self.spec.get(key) or [] if isinstance(c, Mapping)]

    def volumes(self) -> list[Mapping[str, Any]]:
        return [v for v in self.spec.get("volumes") or [] if isinstance(v, Mapping)]


def _dig(value: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def merge(base: Any, patch: Any) -> Any:
    """Server-side apply of a partial object, as far as the checks need it: maps merge key by key, lists of named
    items (containers, env, volumes, ports) merge by `name`, any other list is atomic and replaced."""
    if isinstance(base, Mapping) and isinstance(patch, Mapping):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = merge(base.get(key), value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        by_name = {item["name"]: item for item in base}
        result = [merge(by_name[item["name"]], item) if item["name"] in by_name else item for item in patch]
        patched = {item["name"] for item in patch}
        return [item for item in base if item["name"] not in patched] + result
    return patch


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, Mapping) and "name" in i for i in items)


def _argo_pods(obj: KubeObject) -> Iterator[PodTemplate]:
    """Each template of an Argo workflow that runs a container becomes a pod with the workflow's pod-level fields."""
    spec = obj.manifest.get("spec") or {}
    if obj.kind == "CronWorkflow":
        spec = spec.get("workflowSpec") or {}
    pod_fields = {
        k: spec[k]
        for k in ("serviceAccountName", "nodeSelector", "tolerations", "affinity", "securityContext", "volumes")
        if k in spec
    }
    for index, template in enumerate(spec.get("templates") or []):
        container = template.get("container") or template.get("script")
        if not isinstance(container, Mapping):
            continue
        pod = {**pod_fields, **{k: template[k] for k in ("nodeSelector", "tolerations", "affinity") if k in template}}
        pod["containers"] = [{"name": "main", **container}]
        if template.get("serviceAccountName"):
            pod["serviceAccountName"] = template["serviceAccountName"]
        yield PodTemplate(obj, f"spec/templates/{index}", template.get("metadata") or {}, pod)


def _operated_pod(obj: KubeObject) -> PodTemplate:
    """The pod prometheus-operator runs for a Prometheus or Alertmanager resource (its StatefulSet's template)."""
    spec = obj.manifest.get("spec") or {}
    app, web_port, extra = OPERATED[obj.kind]
    labels = {
        **((spec.get("podMetadata") or {}).get("labels") or {}),
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/managed-by": "prometheus-operator",
        "app.kubernetes.io/instance": obj.name,
        **{key: value.format(name=obj.name) for key, value in extra},
    }
    main = {
        "name": app,
        "image": spec.get("image", ""),
        "resources": spec.get("resources") or {},
        "ports": [{"name": spec.get("portName") or "web", "containerPort": web_port, "protocol": "TCP"}],
    }
    reloader = {"name": "config-reloader", "ports": [{"name": "reloader-web", "containerPort": 8080}]}
    pod_fields = ("serviceAccountName", "nodeSelector", "tolerations", "affinity", "securityContext")
    pod = {k: spec[k] for k in pod_fields if k in spec}
    pod["containers"] = [main, reloader, *(spec.get("containers") or [])]
    return PodTemplate(obj, "spec", {"labels": labels}, pod)


def pod_templates(obj: KubeObject) -> list[PodTemplate]:
    if obj.partial:
        return []
    builtin = obj.group in BUILTIN_WORKLOAD_GROUPS
    if obj.kind == "Pod" and builtin:
        return [PodTemplate(obj, "", obj.manifest.get("metadata") or {}, obj.manifest.get("spec") or {})]
    if obj.kind in TEMPLATE_PATHS and builtin:
        template = _dig(obj.manifest, TEMPLATE_PATHS[obj.kind])
        if not isinstance(template, Mapping):
            return []
        path = "/".join(TEMPLATE_PATHS[obj.kind])
        return [PodTemplate(obj, path, template.get("metadata") or {}, template.get("spec") or {})]
    if obj.kind in ARGO_KINDS and obj.group == "argoproj.io":
        return list(_argo_pods(obj))
    if obj.kind in OPERATED and obj.group == OPERATOR_GROUP:
        return [_operated_pod(obj)]
    return []


_VARIABLE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_URL = re.compile(rf"(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?P<host>{_DNS_LABEL}(?:\.{_DNS_LABEL})*)(?::(?P<port>\d+))?")
_HOST_VARIABLE = re.compile(r"(^|_)HOST(_?NAME)?$")
SERVICE_SCHEMES = frozenset({"http", "https", "grpc", "grpcs", "tcp", "ws", "wss"})  # not s3:// or gs:// buckets


@dataclass(frozen=True)
class ServiceRef:
    """An in-cluster Service a container names: `name.namespace.svc[.cluster.local][:port]`, `name.namespace`,
    `scheme://name:port` or a `*_HOST` variable holding a bare name (both in the pod's own namespace)."""

    name: str
    namespace: str
    port: int | None
    text: str  # what the container said


@dataclass
class Cluster:
    """The set after patches, indexed, with its pod templates."""

    objects: list[KubeObject]
    dangling_patches: list[KubeObject] = field(default_factory=list)

    @classmethod
    def of(cls, objects: list[KubeObject]) -> Cluster:
        whole = [o for o in objects if not o.partial]
        index = {_key(o): i for i, o in enumerate(whole)}
        merged = [o.manifest for o in whole]
        dangling = []
        for patch in (o for o in objects if o.partial):
            position = index.get(_key(patch))
            if position is None:
                dangling.append(patch)
                continue
            merged[position] = merge(merged[position], patch.manifest)
        return cls([KubeObject(m, o.origin) for m, o in zip(merged, whole, strict=True)], dangling)

    @functools.cached_property
    def index(self) -> dict[tuple[str, str, str], KubeObject]:
        return {_key(o): o for o in self.objects}

    def get(self, kind: str, namespace: str, name: str) -> KubeObject | None:
        return self.index.get((kind, namespace, name))

    def of_kind(self, *kinds: str) -> list[KubeObject]:
        return [o for o in self.objects if o.kind in kinds]

    @functools.cached_property
    def namespaces(self) -> dict[str, Mapping[str, str]]:
        """Namespace -> its labels (with the name label the API server adds), system namespaces included."""
        found: dict[str, Mapping[str, str]] = {ns: {NAME_LABEL: ns} for ns in SYSTEM_NAMESPACES}
        for ns in self.of_kind("Namespace"):
            found[ns.name] = {**((ns.manifest.get("metadata") or {}).get("labels") or {}), NAME_LABEL: ns.name}
        return found

    @functools.cached_property
    def created_namespaces(self) -> list[str]:
        return sorted(ns.name for ns in self.of_kind("Namespace"))

    @functools.cached_property
    def pods(self) -> list[PodTemplate]:
        return [pod for obj in self.objects for pod in pod_templates(obj)]

    def env(self, pod: PodTemplate, container: Mapping[str, Any]) -> dict[str, str]:
        """The container's environment as the kubelet builds it, where the set knows the values: `envFrom`
        ConfigMaps first, then `env` (literal values, ConfigMap keys, `$(VAR)` references to earlier variables)."""
        values: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            ref = source.get("configMapRef") or {}
            config = self.get("ConfigMap", pod.namespace, str(ref.get("name", "")))
            if config is not None:
                prefix = str(source.get("prefix") or "")
                values |= {prefix + k: str(v) for k, v in (config.manifest.get("data") or {}).items()}
        for variable in container.get("env") or []:
            name = str(variable.get("name", ""))
            if variable.get("value") is not None:
                values[name] = self.expand(str(variable["value"]), values)
                continue
            ref = (variable.get("valueFrom") or {}).get("configMapKeyRef") or {}
            config = self.get("ConfigMap", pod.namespace, str(ref.get("name", ""))) if ref else None
            data = (config.manifest.get("data") or {}) if config is not None else {}
            if ref.get("key") in data:
                values[name] = str(data[ref["key"]])
        return values

    @staticmethod
    def expand(text: str, env: Mapping[str, str]) -> str:
        return _VARIABLE.sub(lambda m: env.get(m.group(1), m.group(0)), text)

    def strings(self, pod: PodTemplate, container: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(where, text) of everything the container is told: env values, then command and args, expanded."""
        env = self.env(pod, container)
        found = [(f"env {name}", value) for name, value in env.items()]
        for key in ("command", "args"):
            for index, arg in enumerate(container.get(key) or []):
                if isinstance(arg, str):
                    found.append((f"{key}[{index}]", self.expand(arg, env)))
        return found

    def service_refs(self, pod: PodTemplate, container: Mapping[str, Any]) -> list[tuple[str, ServiceRef]]:
        """(where, Service) for every in-cluster Service host the container names."""
        found = []
        for where, text in self.strings(pod, container):
            bare = where.startswith("env ") and _HOST_VARIABLE.search(where.removeprefix("env "))
            for ref in service_hosts(text, pod.namespace, set(self.namespaces), bool(bare)):
                found.append((where, ref))
        return found


def service_hosts(text: str, namespace: str, namespaces: set[str], bare_name: bool = False) -> list[ServiceRef]:
    """The in-cluster Service hosts in `text` (a URL, a host[:port], a flag value or a shell line)."""
    found = []
    for token in re.split(r"[\s,;'\"=@]+", text):
        match = _URL.fullmatch(token.rstrip("/").split("/", 3)[0] if "://" not in token else _strip_path(token))
        if not match:
            continue
        host, port = match.group("host"), int(match.group("port")) if match.group("port") else None
        parts = host.split(".")
        if (len(parts) >= 3 and parts[2] == "svc" and (len(parts) == 3 or parts[3:] == ["cluster", "local"])) or (
            len(parts) == 2 and parts[1] in namespaces
        ):
            found.append(ServiceRef(parts[0], parts[1], port, token))
        elif (
            len(parts) == 1
            and not parts[0].isdigit()
            and parts[0] != "localhost"
            and (match.group("scheme") in SERVICE_SCHEMES or (bare_name and token == text))
        ):
            found.append(ServiceRef(parts[0], namespace, port, token))
    return found


def _strip_path(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _key(obj: KubeObject) -> tuple[str, str, str]:
    return obj.kind, obj.namespace, obj.name
