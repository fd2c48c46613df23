"""Every exception the checks accept, in one place, each with the reason it is safe.

An entry here is a decision someone reviewed: add one only with a reason a reviewer can check, and remove it when
the reason no longer holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

# Check 1 (schemas): custom resources whose CustomResourceDefinition the platform does not create itself, keyed by
# "<group>/<Kind>". Their objects cannot be validated offline; the cluster must already serve the API.
CRDS_OUTSIDE_THE_SET: Final[dict[str, str]] = {}

# Check 9 (images): where container images may come from, keyed by a registry or repository prefix (matched on whole
# path segments, after Docker Hub's implicit `docker.io/library/`). The stack's own registry (the plan's
# `registryUrl` output: ECR or Artifact Registry) is always allowed: the platform builds and scans those images.
IMAGE_SOURCES: Final[dict[str, str]] = {
    "registry.k8s.io": "the Kubernetes project's registry (cluster-autoscaler, kube-state-metrics, kubectl), signed "
    "releases of kubernetes/* repositories",
    "quay.io/prometheus": "the Prometheus project's images (Prometheus, Alertmanager, node-exporter, Pushgateway)",
    "quay.io/prometheus-operator": "the prometheus-operator project (operator and config reloader)",
    "quay.io/thanos": "the Thanos project (the operator's default Thanos sidecar image)",
    "quay.io/kiwigrid/k8s-sidecar": "the dashboard/datasource sidecar the grafana chart pins",
    "quay.io/argoproj": "the Argo Workflows project (workflow controller, executor) that Kubeflow Pipelines runs on",
    "quay.io/feastdev": "the Feast project's feature server image",
    "docker.io/grafana": "Grafana Labs' official images",
    "docker.io/library": "Docker Official Images (busybox, alpine, postgres), built and reviewed by Docker",
    "ghcr.io/kubeflow": "the Kubeflow Pipelines project's release images",
    "ghcr.io/jkroepke/kube-webhook-certgen": "the admission webhook certificate generator kube-prometheus-stack pins "
    "(maintained by a prometheus-community chart maintainer)",
    "gcr.io/cloud-sql-connectors/cloud-sql-proxy": "Google's Cloud SQL Auth Proxy, the image upstream Kubeflow "
    "Pipelines' env/gcp runs to reach Cloud SQL (GoogleCloudPlatform/cloud-sql-proxy release images)",
    "gcr.io/tfx-oss-public/ml_metadata_store_server": "Google's ML Metadata server, the image Kubeflow Pipelines "
    "releases pin for metadata-grpc",
    "nvcr.io/nvidia": "NVIDIA's registry (device plugin, DCGM exporter)",
}


# Check 3 (references): objects the set names that something outside the set creates, keyed "Kind namespace/name";
# each reason says what creates it and where in its source.
OBJECTS_OUTSIDE_THE_SET: Final[dict[str, str]] = {
    "Secret monitoring/kube-prometheus-stack-admission": "the operator's webhook TLS Secret, created at install and "
    "upgrade by the chart's `admission-create` hook Job (`kube-webhook-certgen create --secret-name=...`, "
    "kube-prometheus-stack 88.5.3 templates/prometheus-operator/admission-webhooks/job-patch/job-createSecret.yaml)",
    "Secret kubeflow/webhook-server-tls": "the cache server's webhook TLS Secret, created at run time by KFP's "
    "cache-deployer (kubeflow/pipelines 2.17.0 backend/src/cache/deployer/webhook-create-signed-cert.sh line 63, "
    "deploy-cache-service.sh line 29)",
}


@dataclass(frozen=True)
class SystemPod:
    """Pods the cloud runs in every cluster (managed add-ons), outside the set: selected by Services and
    ServiceMonitors of the set (checks 3 and 7) and the destination of every pod's DNS traffic."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    ports: tuple[tuple[int, str], ...]  # (port, protocol) they listen on
    host_network: bool
    reason: str


_CORE_DNS = (
    "CoreDNS, the EKS `coredns` add-on: labels and ports of kubernetes/kubernetes "
    "cluster/addons/dns/coredns/coredns.yaml.base (k8s-app: kube-dns; dns 53, metrics 9153)"
)
SYSTEM_PODS: Final[dict[str, tuple[SystemPod, ...]]] = {
    "aws": (
        SystemPod("coredns", "kube-system", {"k8s-app": "kube-dns"},
                  ((53, "UDP"), (53, "TCP"), (9153, "TCP")), False, _CORE_DNS),
        SystemPod("kube-proxy", "kube-system", {"k8s-app": "kube-proxy"}, ((10249, "TCP"),), True,
                  "the EKS `kube-proxy` add-on DaemonSet (hostNetwork; metrics 10249)"),
    ),
    "gcp": (
        SystemPod("kube-dns", "kube-system", {"k8s-app": "kube-dns"},
                  ((53, "UDP"), (53, "TCP"), (10054, "TCP"), (10055, "TCP")), False,
                  "GKE's kube-dns: kubernetes/kubernetes cluster/addons/dns/kube-dns/kube-dns.yaml.base (k8s-app: "
                  "kube-dns; dns 53, metrics 10054 and 10055). Dataplane V2 clusters run no kube-proxy."),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class SystemService:
    """A Service created outside the set whose endpoints are not pods: the API server or the nodes' kubelets."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    ports: tuple[tuple[str, int], ...]  # (name, port)
    endpoints: str  # "api-server" or "nodes": who answers
    reason: str


SYSTEM_SERVICES: Final[tuple[SystemService, ...]] = (
    SystemService("kubernetes", "default", {"component": "apiserver", "provider": "kubernetes"},
                  (("https", 443),), "api-server",
                  "the API server's own Service, created and kept by the API server (kubernetes/kubernetes "
                  "pkg/controlplane/controller/kubernetesservice)"),
    SystemService("kube-prometheus-stack-kubelet", "kube-system",
                  {"k8s-app": "kubelet", "app.kubernetes.io/name": "kubelet",
                   "app.kubernetes.io/managed-by": "prometheus-operator"},
                  (("https-metrics", 10250), ("http-metrics", 10255), ("cadvisor", 4194)), "nodes",
                  "the kubelet Service prometheus-operator keeps for `--kubelet-service=kube-system/"
                  "kube-prometheus-stack-kubelet` (prometheus-operator v0.93.0 pkg/kubelet/controller.go lines 46-51 "
                  "and 436-444)"),
)  # fmt: skip


# Check 6 (scheduling): DaemonSets that by design run only on nodes another controller labels, keyed
# "namespace/name"; on this platform no node carries that label, so they run nowhere.
DAEMONSETS_FOR_LABELLED_NODES: Final[dict[str, str]] = {
    "nvidia-gpu/nvidia-device-plugin-mps-control-daemon": "the device plugin chart's MPS control daemon runs only on "
    "nodes labelled nvidia.com/mps.capable=true (nvidia-device-plugin 0.20.0 "
    "templates/daemonset-mps-control-daemon.yml "
    "line 212: 'We only deploy this pod if the following sharing label is applied'), which only GPU Feature Discovery "
    "sets when MPS sharing is configured; the platform gives each pod whole GPUs, so it stays at zero pods",
}


# Check 11 (iam): parliament findings that are not defects, keyed by (issue, a fragment of its detail).
IAM_FINDING_WAIVERS: Final[dict[tuple[str, str], str]] = {
    ("UNKNOWN_CONDITION_FOR_ACTION", "kms:EncryptionContext:aws:logs:arn for action kms:DescribeKey"): "the key "
    "policy statement for CloudWatch Logs is the one AWS documents, kms:Describe* included under the "
    "kms:EncryptionContext:aws:logs:arn condition (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/"
    "encrypt-log-data-kms.html, read 2026-12-01); parliament's condition table lacks the key for DescribeKey",
    ("MISMATCHED_TYPE", "ArnLike requires a value of type Arn but given String"): "AWS documents "
    "kms:EncryptionContext:aws:logs:arn with ArnEquals/ArnLike and a log-group ARN (same page); parliament types the "
    "EncryptionContext keys as String",
}


# Check 12 (peer scan): checkov findings waived, by check id, for objects matching `Kind.namespace.name` patterns.
_NODE_AGENT_REASON = (
    "a node agent in a `privileged` namespace by design (components/k8s/tenancy.py): node-exporter reads the host's "
    "/proc and /sys in its namespaces, the NVIDIA device plugin registers with the kubelet through a hostPath socket, "
    "DCGM needs SYS_ADMIN for profiling counters"
)
_API_CLIENTS = (
    "Deployment.kube-system.cluster-autoscaler",
    "Deployment.monitoring.kube-prometheus-stack-*",
    "Job.monitoring.kube-prometheus-stack-*",
    "DaemonSet.nvidia-gpu.nvidia-device-plugin*",
)
_DEVICE_PLUGIN_PROBES = (
    "the nvidia-device-plugin 0.20.0 chart defines no probe; a plugin that fails to register shows as GPU nodes "
    "without nvidia.com/gpu capacity, and kube-prometheus-stack's KubeDaemonSetRolloutStuck and KubePodCrashLooping "
    "rules alert on it"
)
_GRAFANA_PROBES = (
    "the grafana container has liveness and readiness probes; the dashboard and datasource sidecars have none in "
    "the grafana chart"
)
CHECKOV_WAIVERS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "CKV_K8S_43": (
        (
            "*",
            "images are pinned to version tags from allowlisted registries (check 9) and the platform's "
            "registries refuse to overwrite a tag (ECR IMMUTABLE, Artifact Registry immutable tags); digests "
            "of every upstream chart image would have to be overridden value by value",
        ),
    ),
    "CKV_K8S_15": (
        (
            "*",
            "with pinned, immutable tags IfNotPresent pulls each image once per node; Always would make "
            "every pod start depend on the registry",
        ),
    ),
    "CKV_K8S_11": (
        (
            "*",
            "no CPU limits by design: CFS throttling hurts latency-bound services; CPU requests, "
            "namespace quotas and the autoscaler bound use (memory limits are what protect a node)",
        ),
    ),
    "CKV_K8S_40": (
        (
            "*",
            "a heuristic against UID collisions with the host; non-root is what admission enforces "
            "(check 4, Pod Security `restricted` outside the node-agent namespaces) and upstream images run "
            "as their own users (1000, 1001, 472, 65534, 70)",
        ),
    ),
    "CKV_K8S_38": tuple(
        (
            p,
            "talks to the Kubernetes API (controller, operator, webhook certificate job, CRD upgrade, "
            "dashboard sidecar or device plugin) and needs its token",
        )
        for p in _API_CLIENTS
    ),
    "CKV_K8S_8": (
        ("DaemonSet.nvidia-gpu.*", _DEVICE_PLUGIN_PROBES),
        ("Deployment.monitoring.kube-prometheus-stack-grafana", _GRAFANA_PROBES),
    ),
    "CKV_K8S_9": (
        ("DaemonSet.nvidia-gpu.*", _DEVICE_PLUGIN_PROBES),
        ("Deployment.monitoring.kube-prometheus-stack-grafana", _GRAFANA_PROBES),
        (
            "Deployment.kube-system.cluster-autoscaler",
            "the cluster-autoscaler 9.59.0 chart defines a "
            "liveness probe only; one replica serves no traffic, so there is nothing to gate on readiness",
        ),
    ),
    "CKV_K8S_22": (
        (
            "Deployment.monitoring.kube-prometheus-stack-grafana",
            "Grafana writes plugins, sessions and "
            "its SQLite database under its home and data paths (the grafana chart mounts only the data "
            "volume); a read-only root would need every writable path mounted",
        ),
    ),
    "CKV_K8S_35": (
        (
            "Deployment.monitoring.kube-prometheus-stack-grafana",
            "the grafana chart passes the admin "
            "credentials of admin.existingSecret as GF_SECURITY_ADMIN_* variables, Grafana's only way",
        ),
        (
            "Deployment.mlflow.mlflow",
            "the mlflow 1.11.5 chart passes the database login from backendStore.existingDatabaseSecret as "
            "PGUSER/PGPASSWORD (templates/deployment.yaml:214-225 and 533-544, no file option) and the Flask secret "
            "key by envFrom (:262-265); MLflow 3.17.2 reads MLFLOW_FLASK_SERVER_SECRET_KEY from its environment only "
            "(mlflow/server/__init__.py:405-406)",
        ),
        (
            "Job.platform-bootstrap.db-bootstrap-*",
            "psql takes the admin password from PGPASSWORD; the "
            "Job runs for seconds in a namespace nothing else uses (components/k8s/database.py)",
        ),
    ),
    "CKV2_K8S_5": (
        (
            "RoleBinding.monitoring.kube-prometheus-stack-admission",
            "the webhook certificate job creates and reads the operator's TLS Secret, in its own namespace only",
        ),
        (
            "ClusterRoleBinding.*.kube-prometheus-stack-grafana-clusterrolebinding",
            "the dashboard sidecar watches ConfigMaps and Secrets labelled grafana_dashboard (searchNamespace ALL)",
        ),
    ),
    "CKV_K8S_155": (
        (
            "ClusterRole.*.kube-prometheus-stack-admission",
            "the certificate job patches the caBundle of the operator's own webhook configurations",
        ),
    ),
    "CKV_K8S_49": (
        (
            "ClusterRole.*.kube-prometheus-stack-operator",
            "prometheus-operator manages every monitoring.coreos.com resource (upstream ClusterRole)",
        ),
    ),
}
# Kubeflow Pipelines 2.17.0 (components/k8s/kubeflow/overlay/): what its overlay cannot fix, per Deployment, each
# with the line of kubeflow/pipelines@2.17.0 (or the Argo release it runs) that needs it.
_KFP = "https://github.com/kubeflow/pipelines@2.17.0 "
KFP_WAIVERS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "CKV_K8S_38": (
        ("Deployment.kubeflow.cache-deployer-deployment", "runs kubectl against the API: creates, approves and reads "
         "the webhook's CSR, writes its TLS Secret and applies the MutatingWebhookConfiguration ("
         f"{_KFP}backend/src/cache/deployer/webhook-create-signed-cert.sh:105,131,149; "
         "deploy-cache-service.sh:47,101)"),
        ("Deployment.kubeflow.cache-server", "a Kubernetes client: watches the namespace's pods and answers the "
         f"pod-mutating webhook ({_KFP}backend/src/cache/client_manager.go:70, main.go:92)"),
        ("Deployment.kubeflow.metadata-writer", "watches the pipeline steps' pods through the in-cluster config ("
         f"{_KFP}backend/metadata_writer/src/metadata_writer.py:38-40,150-158)"),
        ("Deployment.kubeflow.ml-pipeline", "the API server creates Argo Workflows and reads pods and secrets through "
         f"its Kubernetes clients ({_KFP}backend/src/apiserver/client_manager/client_manager.go:303)"),
        ("Deployment.kubeflow.ml-pipeline-persistenceagent", "an informer over Workflows and ScheduledWorkflows ("
         f"{_KFP}backend/src/agent/persistence/main.go:90-97)"),
        ("Deployment.kubeflow.ml-pipeline-scheduledworkflow", "the ScheduledWorkflow controller ("
         f"{_KFP}backend/src/crd/controller/scheduledworkflow/main.go:93-98)"),
        ("Deployment.kubeflow.ml-pipeline-ui", "reads pod logs and manages TensorBoard viewers through the API ("
         f"{_KFP}frontend/server/k8s-helper.ts:53-56, in-cluster config by loadFromDefault)"),
        ("Deployment.kubeflow.ml-pipeline-viewer-crd", "the Viewer controller (controller-runtime client, "
         f"{_KFP}backend/src/crd/controller/viewer/main.go:60-67)"),
        ("Deployment.kubeflow.workflow-controller", "Argo's workflow controller creates the steps' pods and leases ("
         "argoproj/argo-workflows@v4.0.5 manifests/namespace-install/workflow-controller-rbac/"
         "workflow-controller-role.yaml)"),
    ),
    "CKV_K8S_35": (
        ("Deployment.kubeflow.cache-server", "the cache server takes its MySQL login only as flags (--db_user, "
         f"--db_password: {_KFP}backend/src/cache/main.go:72-73), which upstream fills from the Secret's env"),
        ("Deployment.kubeflow.ml-pipeline", "the API server reads its database password and object-store keys only "
         "from viper keys (client_manager.go:60,392,994-995), i.e. the environment or its config.json in the image's "
         f"/config (main.go:624-635): no file of their own ({_KFP}backend/src/apiserver)"),
        ("Deployment.kubeflow.ml-pipeline-ui", "the UI reads TENSORBOARD_PROXY_SIGNING_SECRET from its environment "
         f"only ({_KFP}frontend/server/configs.ts:49,85)"),
    ),
    "CKV_K8S_22": (
        ("Deployment.kubeflow.cache-deployer-deployment", "the deploy script writes webhooks.txt, cache_secret.txt and "
         "the rendered webhook configuration into its working directory, which also holds the scripts it runs "
         f"({_KFP}backend/src/cache/deployer/Dockerfile:13, deploy-cache-service.sh:47-48,96); an emptyDir there "
         "would hide them"),
    ),
    "CKV_K8S_155": (
        ("ClusterRole.default.kubeflow-pipelines-cache-deployer-clusterrole", "creates the cache webhook's "
         f"MutatingWebhookConfiguration ({_KFP}backend/src/cache/deployer/deploy-cache-service.sh:101)"),
    ),
    "CKV_K8S_156": (
        ("ClusterRole.default.kubeflow-pipelines-cache-deployer-clusterrole", "approves the CSR of the cache "
         f"webhook's serving certificate ({_KFP}backend/src/cache/deployer/webhook-create-signed-cert.sh:131)"),
    ),
    "CKV2_K8S_5": (
        ("RoleBinding.kubeflow.kubeflow-pipelines-cache-deployer-rolebinding", "reads and writes the webhook TLS "
         f"Secret in kubeflow only ({_KFP}backend/src/cache/deployer/deploy-cache-service.sh:48, "
         "webhook-create-signed-cert.sh:149-153)"),
    ),
}  # fmt: skip
_NO_LISTENER = {
    "Deployment.kubeflow.cache-deployer-deployment": "a shell script that sleeps once the webhook exists, no port "
    f"({_KFP}backend/src/cache/deployer/deploy-cache-service.sh:104-116)",
    "Deployment.kubeflow.metadata-writer": "a pod watch loop with no server "
    f"({_KFP}backend/metadata_writer/src/metadata_writer.py:150-167)",
    "Deployment.kubeflow.ml-pipeline-persistenceagent": "informers and workers only, no listener "
    f"({_KFP}backend/src/agent/persistence/main.go)",
    "Deployment.kubeflow.ml-pipeline-viewer-crd": "a controller-runtime manager without a health-probe address "
    f"({_KFP}backend/src/crd/controller/viewer/main.go:86)",
}
for _check in ("CKV_K8S_8", "CKV_K8S_9"):
    KFP_WAIVERS[_check] = tuple((obj, f"nothing to probe: {why}") for obj, why in _NO_LISTENER.items())
for _check, _waivers in KFP_WAIVERS.items():
    CHECKOV_WAIVERS[_check] = (*CHECKOV_WAIVERS.get(_check, ()), *_waivers)
# What each node agent needs, by the checks that fail on it: node-exporter shares the host's PID and network
# namespaces (hostPID, hostNetwork); the NVIDIA plugins and DCGM run privileged or with added capabilities.
_NODE_AGENT_CHECKS = {
    "DaemonSet.monitoring.kube-prometheus-stack-prometheus-node-exporter": (
        "CKV_K8S_17", "CKV_K8S_19", "CKV_K8S_20", "CKV_K8S_28", "CKV_K8S_31", "CKV_K8S_37",
    ),
    "DaemonSet.nvidia-gpu.*": (
        "CKV_K8S_16", "CKV_K8S_17", "CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_23", "CKV_K8S_25", "CKV_K8S_28", "CKV_K8S_29",
        "CKV_K8S_31", "CKV_K8S_37", "CKV_K8S_39",
    ),
}  # fmt: skip
for _agent, _checks in _NODE_AGENT_CHECKS.items():
    for _check in _checks:
        CHECKOV_WAIVERS[_check] = (*CHECKOV_WAIVERS.get(_check, ()), (_agent, _NODE_AGENT_REASON))
