"""Kubernetes objects with their origin, parsed from rendered YAML, and the namespace the deploy gives them.

An object is judged together with where it comes from: a Pulumi resource (its URN), a Helm release or a kustomize
Directory (the URN of that release or Directory, plus the chart template or directory it was rendered from), so a
violation names what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from infra.plan.engine import Plan, RecordedResource
from infra.plan.manifests import is_kubernetes_object, object_manifest


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader (libyaml when available) that reads `=` as the string Kubernetes' YAML reads, not YAML 1.1's
    `value` type (CRDs carry `=` as an enum member)."""


_Loader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_yaml_str)
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load_yaml(text: str | bytes) -> Any:
    """One YAML document, read as Kubernetes and Helm read it."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader (C or Python)


def dump_yaml_all(documents: Iterable[Any]) -> str:
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False)


_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)
_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)

OriginKind = Literal["pulumi", "helm", "kustomize"]

# Cluster-scoped built-in kinds; every other built-in kind is namespaced. The Pulumi provider applies a default
# namespace only to kinds it knows are namespaced (pulumi/pulumi-kubernetes provider/pkg/kinds/kinds.go at 94977969d,
# `Kind.Namespaced`, lines 188-250; the list here adds the cluster-scoped kinds of newer API groups), and Helm does the
# same through the API server's discovery.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "DeviceClass",
        "ResourceSlice",
        "IPAddress",
        "ServiceCIDR",
        "StorageVersionMigration",
        "VolumeAttributesClass",
        "ClusterTrustBundle",
    }
)
BUILTIN_GROUP_SUFFIX = ".k8s.io"
_BUILTIN_GROUPS = frozenset({"", "apps", "batch", "autoscaling", "policy"})


@dataclass(frozen=True)
class Origin:
    """What creates an object: `kind` of creator, the URN of the Pulumi resource, and where inside it."""

    kind: OriginKind
    urn: str
    source: str = ""  # helm: "<chart>-<version>/templates/x.yaml"; kustomize: the directory built

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    def __str__(self) -> str:
        creator = {"pulumi": "pulumi resource", "helm": "helm release", "kustomize": "kustomize directory"}[self.kind]
        return f"{creator} {self.name}" + (f" ({self.source})" if self.source else "")


@dataclass(frozen=True)
class KubeObject:
    """One object the deploy sends to the API server. `partial`: a server-side-apply patch of a few fields."""

    manifest: Mapping[str, Any]
    origin: Origin
    partial: bool = False

    @property
    def api_version(self) -> str:
        return str(self.manifest.get("apiVersion", ""))

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def kind(self) -> str:
        return str(self.manifest.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.manifest.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str:
        return str((self.manifest.get("metadata") or {}).get("namespace") or "")

    @property
    def ref(self) -> str:
        """`Kind namespace/name` (or `Kind name` when cluster-scoped): how a violation names the object."""
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def __str__(self) -> str:
        return f"{self.ref} from {self.origin}"


@dataclass(frozen=True)
class Document:
    manifest: dict[str, Any]
    source: str = ""


def parse_documents(text: str, load: Callable[[str], Any] = load_yaml) -> list[Document]:
    """Every object of a multi-document YAML stream, with the `# Source:` template Helm writes above it.

    `List` objects are expanded into their items, as the provider does before registering them. `load` reads one
    document (the renderer passes a cached reader).
    """
    documents: list[Document] = []
    for chunk in _SEPARATOR.split(text):
        source = _SOURCE.search(chunk)
        loaded = load(chunk)
        if not loaded:
            continue
        if not isinstance(loaded, dict):
            raise ValueError(f"not a Kubernetes object: {str(loaded)[:120]}")
        items = loaded.get("items") if str(loaded.get("kind", "")).endswith("List") else None
        for manifest in items if isinstance(items, list) else [loaded]:
            documents.append(Document(manifest, source.group(1).strip() if source else ""))
    return documents


@dataclass
class Scopes:
    """Whether a kind is namespaced: built-in knowledge plus every CustomResourceDefinition of the set."""

    crd_scopes: dict[tuple[str, str], str] = field(default_factory=dict)  # (group, kind) -> Namespaced | Cluster

    @classmethod
    def of(cls, manifests: Iterable[Mapping[str, Any]]) -> Scopes:
        scopes = cls()
        for crd in manifests:
            if crd.get("kind") == "CustomResourceDefinition":
                spec = crd.get("spec") or {}
                key = (str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", "")))
                scopes.crd_scopes[key] = str(spec.get("scope", "Namespaced"))
        return scopes

    def namespaced(self, api_version: str, kind: str) -> bool | None:
        """True / False, or None when unknown (a custom resource whose CRD is not in the set)."""
        group = api_version.rpartition("/")[0]
        if (group, kind) in self.crd_scopes:
            return self.crd_scopes[(group, kind)] == "Namespaced"
        if group in _BUILTIN_GROUPS or group.endswith(BUILTIN_GROUP_SUFFIX):
            return kind not in CLUSTER_SCOPED_KINDS
        return None


def with_default_namespace(manifest: dict[str, Any], namespace: str, scopes: Scopes) -> dict[str, Any]:
    """The object as created: a namespaced object without a namespace lands in the release's / Directory's one, and
    a cluster-scoped object has none (the API server clears it)."""
    metadata = manifest.get("metadata") or {}
    namespaced = scopes.namespaced(str(manifest.get("apiVersion", "")), str(manifest.get("kind", "")))
    if namespaced and not metadata.get("namespace") and namespace:
        return {**manifest, "metadata": {**metadata, "namespace": namespace}}
    if namespaced is False and "namespace" in metadata:
        return {**manifest, "metadata": {k: v for k, v in metadata.items() if k != "namespace"}}
    return manifest


def walk(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every (path, value) pair of a JSON-like document, depth first."""
    yield path, value
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from walk(child, (*path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from walk(child, (*path, index))


def provider_namespace(plan: Plan, resource: RecordedResource) -> str:
    """The namespace the resource's Kubernetes provider gives objects that name none: its `namespace` setting, else
    the kubeconfig's current context namespace, else `default` (as kubectl and the provider resolve it)."""
    provider = next((p for p in plan.resources if resource.provider.startswith(f"{p.urn}::")), None)
    inputs = provider.inputs if provider else {}
    if inputs.get("namespace"):
        return str(inputs["namespace"])
    kubeconfig = inputs.get("kubeconfig")
    try:
        config = load_yaml(kubeconfig) if isinstance(kubeconfig, str) else {}
    except yaml.YAMLError:
        config = {}
    if isinstance(config, dict):
        for context in config.get("contexts") or []:
            if context.get("name") == config.get("current-context"):
                return str((context.get("context") or {}).get("namespace") or "default")
    return "default"


def pulumi_objects(plan: Plan, scopes: Scopes | None = None) -> list[KubeObject]:
    """The objects Pulumi itself creates, each with its resource's URN; `*Patch` resources are partial objects.
    With `scopes`, each lands where the API server puts it (its provider's default namespace if it names none)."""
    objects = []
    for resource in plan.resources:
        if is_kubernetes_object(resource):
            manifest = object_manifest(resource)
            if scopes is not None:
                manifest = with_default_namespace(manifest, provider_namespace(plan, resource), scopes)
            objects.append(KubeObject(manifest, Origin("pulumi", resource.urn), resource.type.endswith("Patch")))
    return objects
