"""Check 3, references: everything an object names exists, in the set or on an explicit allowlist.

A pod whose service account, ConfigMap, Secret, key, claim or pull secret does not exist never starts
(`CreateContainerConfigError`, `FailedMount`, or the controller cannot even create it); a client pointed at a
Service that does not exist fails at run time. Judged, after patches are applied (infra/verify/cluster.py):

- every namespaced object lands in a namespace the set creates or the API server creates itself;
- every pod template: its service account (`default` exists in every namespace: the service-account controller,
  kubernetes/kubernetes pkg/controller/serviceaccount/serviceaccounts_controller.go, creates it), the ConfigMaps and
  Secrets of its volumes, projected volumes, `envFrom` and `valueFrom` (with the key, when the object's keys are
  known), its claims (or its StatefulSet's volumeClaimTemplates), its image pull secrets, and every in-cluster Service
  host its env, command or args name (`<svc>.<ns>.svc...`, `<svc>.<ns>`, `http://<svc>:<port>`, `*_HOST=<svc>`),
  with the port when one is given. `optional: true` references are allowed to be missing, as the kubelet allows;
- Services select at least one pod (or a pod the cloud runs: SYSTEM_PODS) and their named target ports exist on it;
  ServiceMonitors and PodMonitors select something and scrape a port it has; webhook configurations call an existing
  Service port; RoleBindings name an existing role and existing service accounts; HPAs scale an existing target;
  claims name an existing StorageClass (or the set has a default one); patches patch an existing object.

An object created outside the set (by a controller at run time) is allowed when OBJECTS_OUTSIDE_THE_SET
(infra/verify/allowlists.py) lists it with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from infra.render.objects import KubeObject, Scopes
from infra.verify.allowlists import OBJECTS_OUTSIDE_THE_SET, SYSTEM_PODS, SYSTEM_SERVICES, SystemPod, SystemService
from infra.verify.cluster import Cluster, PodTemplate
from infra.verify.model import Check, CheckResult, ObjectSet, Violation

NAME = "references"
# ClusterRoles every API server bootstraps (kubernetes/kubernetes plugin/pkg/auth/authorizer/rbac/bootstrappolicy/
# policy.go, ClusterRoles()); `system:` roles are bootstrapped there too.
BOOTSTRAP_CLUSTER_ROLES = frozenset({"cluster-admin", "admin", "edit", "view"})
DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (`matchLabels` and `matchExpressions`) against labels; an empty selector matches all."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if (
            (operator == "In" and (not present or labels[key] not in values))
            or (operator == "NotIn" and present and labels[key] in values)
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


def service_pods(cluster: Cluster, service: KubeObject, cloud: str) -> tuple[list[PodTemplate], list[SystemPod]]:
    """The pod templates and system pods a Service's selector picks (none for a Service without a selector)."""
    selector = (service.manifest.get("spec") or {}).get("selector") or {}
    if not selector:
        return [], []
    pods = [p for p in cluster.pods if p.namespace == service.namespace and _selects(selector, p.labels)]
    system = [
        s for s in SYSTEM_PODS.get(cloud, ()) if s.namespace == service.namespace and _selects(selector, s.labels)
    ]
    return pods, system


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def container_port(pod: PodTemplate, name: str) -> int | None:
    for container in pod.containers(ephemeral=False):
        for port in container.get("ports") or []:
            if port.get("name") == name:
                return int(port["containerPort"])
    return None


class _Judge:
    def __init__(self, objects: ObjectSet) -> None:
        self.cluster = objects.cluster
        self.cloud = objects.cloud
        self.violations: list[Violation] = []
        self.allowed: set[str] = set()
        self.checked = 0

    def report(self, obj: KubeObject | PodTemplate, reason: str) -> None:
        subject = obj.subject if isinstance(obj, PodTemplate) else str(obj)
        self.violations.append(Violation(NAME, subject, reason))

    def exists(self, kind: str, namespace: str, name: str) -> bool:
        """Whether the object exists in the set or is allowlisted (recorded as a note)."""
        self.checked += 1
        if self.cluster.get(kind, namespace, name) is not None:
            return True
        key = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
        if key in OBJECTS_OUTSIDE_THE_SET:
            self.allowed.add(f"{key}: {OBJECTS_OUTSIDE_THE_SET[key]}")
            return True
        return False

    def require(self, owner: KubeObject | PodTemplate, kind: str, namespace: str, name: str, what: str) -> bool:
        if self.exists(kind, namespace, name):
            return True
        self.report(owner, f"{what} {kind} {namespace}/{name} does not exist in the set" + _HINT)
        return False

    def keys(self, kind: str, namespace: str, name: str) -> set[str] | None:
        """The data keys of a ConfigMap or Secret of the set (None when unknown: allowlisted or absent)."""
        obj = self.cluster.get(kind, namespace, name)
        if obj is None:
            return None
        manifest = obj.manifest
        return {*(manifest.get("data") or {}), *(manifest.get("stringData") or {}), *(manifest.get("binaryData") or {})}

    def key_ref(self, pod: PodTemplate, ref: Mapping[str, Any], kind: str, what: str) -> None:
        if ref.get("optional"):
            return
        name = str(ref.get("name", ""))
        if not self.require(pod, kind, pod.namespace, name, what):
            return
        keys = self.keys(kind, pod.namespace, name)
        if keys is not None and ref.get("key") not in keys:
            self.report(
                pod,
                f"{what} names key {ref.get('key')!r} of {kind} {pod.namespace}/{name}, which has "
                f"{', '.join(sorted(keys)) or 'no keys'}",
            )


_HINT = " (create it, fix the name, or list it on OBJECTS_OUTSIDE_THE_SET in infra/verify/allowlists.py)"


def _namespaces(judge: _Judge, objects: ObjectSet) -> None:
    scopes = Scopes.of(crd.manifest for crd in objects.crds.values())
    for obj in judge.cluster.objects:
        if obj.namespace and scopes.namespaced(obj.api_version, obj.kind) is not False:
            judge.checked += 1
            if obj.namespace not in judge.cluster.namespaces:
                judge.report(obj, f"its namespace {obj.namespace} is neither created by the set nor a system namespace")


def _pod(judge: _Judge, pod: PodTemplate) -> None:
    ns = pod.namespace
    if pod.service_account != "default":
        judge.require(pod, "ServiceAccount", ns, pod.service_account, "service account")
    claims = {
        t.get("metadata", {}).get("name")
        for t in (pod.owner.manifest.get("spec") or {}).get("volumeClaimTemplates") or []
    }
    for volume in pod.volumes():
        where = f"volume {volume.get('name')}:"
        if "configMap" in volume:
            _volume_source(judge, pod, volume["configMap"], "ConfigMap", "name", where)
        if "secret" in volume:
            _volume_source(judge, pod, volume["secret"], "Secret", "secretName", where)
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                _volume_source(judge, pod, source["configMap"], "ConfigMap", "name", where)
            if "secret" in source:
                _volume_source(judge, pod, source["secret"], "Secret", "name", where)
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim and claim not in claims:
            judge.require(pod, "PersistentVolumeClaim", ns, str(claim), where)
    for secret in pod.spec.get("imagePullSecrets") or []:
        judge.require(pod, "Secret", ns, str(secret.get("name", "")), "image pull secret")
    for container in pod.containers():
        name = container.get("name")
        for source in container.get("envFrom") or []:
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                ref = source.get(key)
                if ref and not ref.get("optional"):
                    judge.require(pod, kind, ns, str(ref.get("name", "")), f"container {name} envFrom:")
        for variable in container.get("env") or []:
            value_from = variable.get("valueFrom") or {}
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if key in value_from:
                    judge.key_ref(pod, value_from[key], kind, f"container {name} env {variable.get('name')}:")
        for where, ref in judge.cluster.service_refs(pod, container):
            _service_ref(judge, pod, f"container {name} {where} ({ref.text})", ref.namespace, ref.name, ref.port)


def _volume_source(
    judge: _Judge, pod: PodTemplate, source: Mapping[str, Any], kind: str, name_key: str, where: str
) -> None:
    if source.get("optional"):
        return
    name = str(source.get(name_key, ""))
    if not judge.require(pod, kind, pod.namespace, name, where):
        return
    keys = judge.keys(kind, pod.namespace, name)
    missing = [i.get("key") for i in source.get("items") or [] if keys is not None and i.get("key") not in keys]
    if missing:
        judge.report(
            pod, f"{where} mounts keys {', '.join(map(repr, missing))} that {kind} {pod.namespace}/{name} does not have"
        )


def _service_ref(
    judge: _Judge, owner: KubeObject | PodTemplate, what: str, namespace: str, name: str, port: int | None
) -> None:
    if not judge.require(owner, "Service", namespace, name, what):
        return
    service = judge.cluster.get("Service", namespace, name)
    if service is None or port is None or (service.manifest.get("spec") or {}).get("type") == "ExternalName":
        return
    ports = [int(p["port"]) for p in (service.manifest.get("spec") or {}).get("ports") or [] if "port" in p]
    if port not in ports:
        judge.report(
            owner,
            f"{what} uses port {port} of Service {namespace}/{name}, which serves "
            f"{', '.join(map(str, ports)) or 'no port'}",
        )


def _services(judge: _Judge) -> None:
    for service in judge.cluster.of_kind("Service"):
        spec = service.manifest.get("spec") or {}
        if not spec.get("selector"):
            continue  # endpoints managed by someone else (the operator's kubelet Service, ExternalName)
        judge.checked += 1
        pods, system = service_pods(judge.cluster, service, judge.cloud)
        if not pods and not system:
            judge.report(
                service,
                f"its selector {spec['selector']} picks no pod of the set and no pod the "
                f"{judge.cloud or 'cloud'} runs (SYSTEM_PODS): it has no endpoints",
            )
            continue
        if not pods:  # only system pods, whose ports are known: a port they do not listen on answers nothing
            listening = {port for pod in system for port, _ in pod.ports}
            for port in spec.get("ports") or []:
                target = port.get("targetPort", port.get("port"))
                if isinstance(target, int) and target not in listening:
                    judge.report(
                        service,
                        f"port {port.get('name') or port.get('port')} targets port {target}, on "
                        f"which {', '.join(p.name for p in system)} ({judge.cloud}) does not listen",
                    )
        for port in spec.get("ports") or []:
            target = port.get("targetPort")
            if isinstance(target, str) and pods and all(container_port(p, target) is None for p in pods):
                judge.report(
                    service,
                    f"port {port.get('name') or port.get('port')} targets the named port "
                    f"{target!r}, which none of its pods declares",
                )


def monitor_namespaces(cluster: Cluster, monitor: KubeObject) -> set[str]:
    """The namespaces a ServiceMonitor or PodMonitor looks in (its own when namespaceSelector is empty)."""
    scope = (monitor.manifest.get("spec") or {}).get("namespaceSelector") or {}
    return set(cluster.namespaces) if scope.get("any") else set(scope.get("matchNames") or [monitor.namespace])


def monitor_targets(cluster: Cluster, monitor: KubeObject) -> tuple[list[KubeObject], list[SystemService]]:
    """The Services of the set, and the system Services, a ServiceMonitor selects."""
    selector = (monitor.manifest.get("spec") or {}).get("selector")
    namespaces = monitor_namespaces(cluster, monitor)
    services = [
        s
        for s in cluster.of_kind("Service")
        if s.namespace in namespaces and matches(selector, (s.manifest.get("metadata") or {}).get("labels") or {})
    ]
    system = [s for s in SYSTEM_SERVICES if s.namespace in namespaces and matches(selector, s.labels)]
    return services, system


def _monitors(judge: _Judge) -> None:
    for monitor in judge.cluster.of_kind("ServiceMonitor"):
        judge.checked += 1
        services, system = monitor_targets(judge.cluster, monitor)
        if not services and not system:
            judge.report(monitor, "selects no Service of the set (nor SYSTEM_SERVICES): Prometheus scrapes nothing")
            continue
        judge.allowed.update(f"Service {s.namespace}/{s.name}: {s.reason}" for s in system)
        names = {p.get("name") for s in services for p in (s.manifest.get("spec") or {}).get("ports") or []}
        names |= {name for s in system for name, _ in s.ports}
        for endpoint in (monitor.manifest.get("spec") or {}).get("endpoints") or []:
            port = endpoint.get("port")
            if port and port not in names:
                judge.report(
                    monitor,
                    f"endpoint port {port!r} is not a port of the Services it selects "
                    f"({', '.join(sorted(map(str, names)))})",
                )
    for monitor in judge.cluster.of_kind("PodMonitor"):
        judge.checked += 1
        spec = monitor.manifest.get("spec") or {}
        namespaces = monitor_namespaces(judge.cluster, monitor)
        pods = [p for p in judge.cluster.pods if p.namespace in namespaces and matches(spec.get("selector"), p.labels)]
        if not pods:
            judge.report(monitor, "selects no pod of the set: Prometheus scrapes nothing")
        for endpoint in spec.get("podMetricsEndpoints") or []:
            if pods and endpoint.get("port") and all(container_port(p, endpoint["port"]) is None for p in pods):
                judge.report(monitor, f"endpoint port {endpoint['port']!r} is not a port of the pods it selects")


def _webhooks(judge: _Judge) -> None:
    for config in judge.cluster.of_kind("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        for hook in config.manifest.get("webhooks") or []:
            service = (hook.get("clientConfig") or {}).get("service")
            if service:
                _service_ref(
                    judge,
                    config,
                    f"webhook {hook.get('name')}",
                    str(service.get("namespace", "")),
                    str(service.get("name", "")),
                    int(service.get("port") or 443),
                )


def _bindings(judge: _Judge) -> None:
    for binding in judge.cluster.of_kind("RoleBinding", "ClusterRoleBinding"):
        ref = binding.manifest.get("roleRef") or {}
        kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
        if kind == "ClusterRole" and (name in BOOTSTRAP_CLUSTER_ROLES or name.startswith("system:")):
            judge.checked += 1
        else:
            judge.require(binding, kind, binding.namespace if kind == "Role" else "", name, "roleRef")
        for subject in binding.manifest.get("subjects") or []:
            if subject.get("kind") != "ServiceAccount":
                continue
            namespace = str(subject.get("namespace") or binding.namespace)
            if not namespace:
                judge.checked += 1
                judge.report(
                    binding,
                    f"subject ServiceAccount {subject.get('name')} names no namespace: the API "
                    "server rejects a ServiceAccount subject without one",
                )
            elif subject.get("name") != "default" or namespace not in judge.cluster.namespaces:
                judge.require(binding, "ServiceAccount", namespace, str(subject.get("name", "")), "subject")


def _scalers(judge: _Judge) -> None:
    for hpa in judge.cluster.of_kind("HorizontalPodAutoscaler"):
        target = (hpa.manifest.get("spec") or {}).get("scaleTargetRef") or {}
        judge.require(hpa, str(target.get("kind", "")), hpa.namespace, str(target.get("name", "")), "scaleTargetRef")


def claim_templates(cluster: Cluster) -> Iterator[tuple[KubeObject, Mapping[str, Any]]]:
    """(owner, claim spec) of every claim the set creates: PVCs, StatefulSet templates, operator storage specs."""
    for obj in cluster.objects:
        spec = obj.manifest.get("spec") or {}
        if obj.kind == "PersistentVolumeClaim":
            yield obj, spec
        for template in spec.get("volumeClaimTemplates") or []:
            yield obj, template.get("spec") or {}
        claim = ((spec.get("storage") or {}).get("volumeClaimTemplate") or {}).get("spec")
        if claim:
            yield obj, claim


def _storage(judge: _Judge) -> None:
    classes = judge.cluster.of_kind("StorageClass")
    default = [
        c
        for c in classes
        if any(
            str(((c.manifest.get("metadata") or {}).get("annotations") or {}).get(a)) == "true"
            for a in DEFAULT_CLASS_ANNOTATIONS
        )
    ]
    for owner, claim in claim_templates(judge.cluster):
        name = claim.get("storageClassName")
        if name:
            judge.require(owner, "StorageClass", "", str(name), "claim's storageClassName")
        else:
            judge.checked += 1
            if not default:
                judge.report(
                    owner,
                    "a claim without storageClassName needs a default StorageClass, and the set "
                    "marks none as default: it stays Pending",
                )


def run(objects: ObjectSet) -> CheckResult:
    judge = _Judge(objects)
    _namespaces(judge, objects)
    for pod in judge.cluster.pods:
        _pod(judge, pod)
    _services(judge)
    _monitors(judge)
    _webhooks(judge)
    _bindings(judge)
    _scalers(judge)
    _storage(judge)
    for patch in judge.cluster.dangling_patches:
        judge.checked += 1
        judge.report(
            patch,
            "patches an object that nothing in the set creates: server-side apply would create a "
            "partial object, or the provider fails because it does not exist",
        )
    notes = tuple(sorted(judge.allowed))
    return CheckResult(NAME, judge.checked, "references", tuple(judge.violations), notes)


CHECK = Check(
    3,
    NAME,
    "every service account, ConfigMap, Secret, claim, Service, role and patch target an object names exists",
    run,
)
