"""Persistent volumes a resource creates, read from its recorded inputs: Helm values, pinned manifests, objects.

A Helm release records only its values, so `CHART_VOLUMES` says, per chart, which values create a claim, of what
size, how many copies and with which StorageClass, with the chart's defaults (cited at the pinned chart version).
Kustomize directories record only their URL, so `DIRECTORY_VOLUMES` lists the claims of each pinned directory.
tests/infra/test_cost_volumes.py renders every release and directory of the shipped stacks offline and checks
these tables against what the charts and manifests really create.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from components.versions import KFP_MANIFESTS_URL, KFP_VERSION
from infra.cost.catalog import MissingPrice

VOLUMES_FILE = "infra/cost/volumes.py"


@dataclass(frozen=True)
class Claim:
    what: str
    gb: float
    copies: int
    storage_class: str | None
    """None: the cluster's default StorageClass."""


@dataclass(frozen=True)
class ChartVolume:
    """One claim template of a chart: created when every `enabled` value is truthy and `template` is set."""

    what: str
    enabled: tuple[tuple[str, bool], ...]
    size: tuple[str, str | None]
    storage_class: str
    copies: tuple[tuple[str, int], ...] = ()
    template: str | None = None
    """A value that must be a non-empty mapping (a volumeClaimTemplate) for the claim to exist."""


_PROMETHEUS_VCT = "prometheus.prometheusSpec.storageSpec.volumeClaimTemplate"
_ALERTMANAGER_VCT = "alertmanager.alertmanagerSpec.storage.volumeClaimTemplate"
# Defaults cited from the pinned charts in components/versions.py:
#   prometheus-community/helm-charts@kube-prometheus-stack-88.5.3 charts/kube-prometheus-stack/values.yaml:
#     402 alertmanager.enabled: true, 1116 alertmanagerSpec.replicas: 1, 1126 alertmanagerSpec.storage: {},
#     1378 grafana.enabled: true, 3615 prometheus.enabled: true, 4589 prometheusSpec.replicas: 1,
#     4601 prometheusSpec.shards: 1, 4675 prometheusSpec.storageSpec: {} (the operator creates one claim per replica
#     and shard from the volumeClaimTemplate);
#   grafana-community/helm-charts@grafana-12.11.1 charts/grafana/values.yaml:489-497 persistence (type pvc,
#     enabled false, size 10Gi), templates/pvc.yaml:1 (one claim when enabled and type is pvc);
#   prometheus-community/helm-charts@prometheus-pushgateway-3.8.0 charts/prometheus-pushgateway/values.yaml:
#     380-384 persistentVolume.enabled: false, 408 size: 2Gi, 278 runAsStatefulSet: false (a Deployment, one claim).
CHART_VOLUMES: Mapping[str, tuple[ChartVolume, ...]] = {
    "kube-prometheus-stack": (
        ChartVolume(
            "Prometheus TSDB",
            enabled=(("prometheus.enabled", True),),
            template=_PROMETHEUS_VCT,
            size=(f"{_PROMETHEUS_VCT}.spec.resources.requests.storage", None),
            storage_class=f"{_PROMETHEUS_VCT}.spec.storageClassName",
            copies=(("prometheus.prometheusSpec.replicas", 1), ("prometheus.prometheusSpec.shards", 1)),
        ),
        ChartVolume(
            "Alertmanager data",
            enabled=(("alertmanager.enabled", True),),
            template=_ALERTMANAGER_VCT,
            size=(f"{_ALERTMANAGER_VCT}.spec.resources.requests.storage", None),
            storage_class=f"{_ALERTMANAGER_VCT}.spec.storageClassName",
            copies=(("alertmanager.alertmanagerSpec.replicas", 1),),
        ),
        ChartVolume(
            "Grafana data",
            enabled=(("grafana.enabled", True), ("grafana.persistence.enabled", False)),
            size=("grafana.persistence.size", "10Gi"),
            storage_class="grafana.persistence.storageClassName",
        ),
    ),
    "prometheus-pushgateway": (
        ChartVolume(
            "Pushgateway metrics",
            enabled=(("persistentVolume.enabled", False),),
            size=("persistentVolume.size", "2Gi"),
            storage_class="persistentVolume.storageClass",
        ),
    ),
    # These create no claim with the platform's values (checked by rendering them); a chart that could (mlflow's
    # optional in-cluster MinIO, MySQL and PostgreSQL) must gain its entries before values enabling them are priced.
    "mlflow": (),
    "feast-feature-server": (),
    "cluster-autoscaler": (),
    "nvidia-device-plugin": (),
    "dcgm-exporter": (),
}


def _directory(path: str) -> str:
    return f"{KFP_MANIFESTS_URL}/{path}?ref={KFP_VERSION}"


# kubeflow/pipelines@2.17.0 manifests/kustomize/base/metadata/overlays/postgres/metadata-db-pvc.yaml:4-10 (a 20Gi
# claim without storageClassName, bound by the ML Metadata PostgreSQL that components/k8s/kubeflow.py scales to zero).
DIRECTORY_VOLUMES: Mapping[str, tuple[Claim, ...]] = {
    _directory("third-party/application/cluster-scoped"): (),
    _directory("third-party/argo/installs/namespace/cluster-scoped"): (),
    _directory("base/pipeline/cluster-scoped"): (),
    _directory("base/cache-deployer/cluster-scoped"): (),
    _directory("base/installs/generic/postgres"): (),
    _directory("base/metadata/overlays/postgres"): (
        Claim("KFP metadata-postgres claim (its database is scaled to zero)", 20.0, 1, None),
    ),
    _directory("third-party/argo/installs/namespace"): (),
}

_QUANTITY = re.compile(r"^(?P<number>[0-9]+(\.[0-9]+)?)(?P<unit>Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
_GB_PER_UNIT = {
    None: 1 / 1024**3, "Ki": 1 / 1024**2, "Mi": 1 / 1024, "Gi": 1.0, "Ti": 1024.0, "Pi": 1024.0**2,
    "k": 1e3 / 1024**3, "M": 1e6 / 1024**3, "G": 1e9 / 1024**3, "T": 1e12 / 1024**3, "P": 1e15 / 1024**3,
}  # fmt: skip


def gigabytes(quantity: Any) -> float:
    """A Kubernetes storage quantity in GiB (providers bill volumes per GiB-month)."""
    match = _QUANTITY.match(str(quantity).strip())
    if match is None:
        raise ValueError(f"not a storage quantity: {quantity!r}")
    return float(match["number"]) * _GB_PER_UNIT[match["unit"]]


def _value(values: Mapping[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def helm_claims(props: Mapping[str, Any]) -> list[Claim]:
    chart = str(props.get("chart") or "")
    if chart not in CHART_VOLUMES:
        raise MissingPrice(
            f"volumes of Helm chart {chart!r}",
            sorted(CHART_VOLUMES),
            fix=f"render the chart with these values and add the claims it creates to CHART_VOLUMES in {VOLUMES_FILE}",
        )
    values = props.get("values") or {}
    claims = []
    for volume in CHART_VOLUMES[chart]:
        if not all(_default(_value(values, path), default) for path, default in volume.enabled):
            continue
        if volume.template is not None and not _value(values, volume.template):
            continue
        size = _default(_value(values, volume.size[0]), volume.size[1])
        if size is None:
            continue  # a claim template without a size is refused by the API server; nothing is created
        copies = 1
        for path, default in volume.copies:
            copies *= int(_default(_value(values, path), default))
        storage_class = _value(values, volume.storage_class)
        claims.append(Claim(volume.what, gigabytes(size), copies, str(storage_class) if storage_class else None))
    return claims


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value


def kustomize_claims(props: Mapping[str, Any]) -> tuple[Claim, ...]:
    directory = str(props.get("directory") or "")
    if directory not in DIRECTORY_VOLUMES:
        raise MissingPrice(
            f"volumes of kustomize directory {directory}",
            sorted(DIRECTORY_VOLUMES),
            fix=f"build the directory and add the claims it creates to DIRECTORY_VOLUMES in {VOLUMES_FILE}",
        )
    return DIRECTORY_VOLUMES[directory]


def object_claims(props: Mapping[str, Any]) -> Iterator[Claim]:
    """Claims of a PersistentVolumeClaim or of a StatefulSet's volumeClaimTemplates (one per replica)."""
    kind, spec = props.get("kind"), props.get("spec") or {}
    name = str((props.get("metadata") or {}).get("name") or kind)
    if kind == "PersistentVolumeClaim":
        yield _claim(name, spec, 1)
    elif kind == "StatefulSet":
        replicas = int(spec.get("replicas", 1) or 0)
        for template in spec.get("volumeClaimTemplates") or []:
            template_name = str((template.get("metadata") or {}).get("name") or "claim")
            yield _claim(f"{name}/{template_name}", template.get("spec") or {}, replicas)


def _claim(what: str, spec: Mapping[str, Any], copies: int) -> Claim:
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "0")
    return Claim(what, gigabytes(storage), copies, spec.get("storageClassName") or None)


# The classes each cluster provides itself (GKE: standard-rwo is the default), and the disk type behind them.
BUILTIN_CLASSES: Mapping[str, Mapping[str, str]] = {
    "aws": {"gp2": "gp2"},
    "gcp": {"standard-rwo": "pd-balanced", "premium-rwo": "pd-ssd", "standard": "pd-standard"},
}
DEFAULT_CLASS = {"aws": None, "gcp": "standard-rwo"}
PROVISIONER_DEFAULT_TYPE = {"ebs.csi.aws.com": "gp3", "pd.csi.storage.gke.io": "pd-standard"}


def disk_type(cloud: str, storage_class: str | None, resources: Iterable[Any]) -> str | None:
    """The disk type behind `storage_class` (None: the default class): a StorageClass in the graph, else a built-in."""
    classes = [r for r in resources if r.type == "kubernetes:storage.k8s.io/v1:StorageClass"]
    for candidate in classes:
        metadata = candidate.props.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        is_default = annotations.get("storageclass.kubernetes.io/is-default-class") == "true"
        if metadata.get("name") == storage_class or (storage_class is None and is_default):
            provisioner = str(candidate.props.get("provisioner") or "")
            parameters = candidate.props.get("parameters") or {}
            return str(parameters.get("type") or PROVISIONER_DEFAULT_TYPE.get(provisioner, "")) or None
    name = storage_class or DEFAULT_CLASS[cloud]
    return BUILTIN_CLASSES[cloud].get(name) if name else None
