"""The platform spec: one typed model of everything a user tunes per environment.

`infra/config.py` fills it from the stack file (`Pulumi.<stack>.yaml`, keys under the `mlops:` namespace, camelCase)
and runs the semantic checks in `components/spec_checks.py` before any resource is registered. Components take the
sub-models they need as their Args, so a field is defined once, here.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

from components.versions import DEFAULT_KUBERNETES_VERSION

Cloud = Literal["aws", "gcp"]
Environment = Literal["dev", "staging", "prod"]
CapacityType = Literal["ON_DEMAND", "SPOT"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
PoolName = Literal["system", "cpu", "gpu"]
BucketRole = Literal["data", "models", "pipelines", "monitoring"]
PlatformRole = Literal["platform-admins", "ml-engineers", "data-scientists", "viewers"]
# The container images built from workloads/docker/<name>.Dockerfile (`feast` jobs and server run `training`).
ImageName = Literal["training", "serving", "monitoring", "mlflow"]
ImageSource = Literal["build", "prebuilt"]

BUCKET_ROLES: tuple[BucketRole, ...] = ("data", "models", "pipelines", "monitoring")
PLATFORM_ROLES: tuple[PlatformRole, ...] = ("platform-admins", "ml-engineers", "data-scientists", "viewers")
IMAGE_NAMES: tuple[ImageName, ...] = ("training", "serving", "monitoring", "mlflow")

DnsLabel = Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")]
# At most 26 characters: `<prefix>-staging-feast` must fit the 40 characters of an ElastiCache replication group or
# Memorystore instance id. tests/infra/test_verify_names.py plans the program under generated prefixes and proves
# every cloud name fits its API's rules (`make verify` check 10).
NamePrefix = Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]{0,24}[a-z0-9])?$")]
# Counts and sizes end up in cloud APIs as 32-bit integers: a larger value would plan but fail to deploy.
INT32_MAX = 2**31 - 1
NonNegativeInt = Annotated[int, Field(ge=0, le=INT32_MAX)]
PositiveInt = Annotated[int, Field(ge=1, le=INT32_MAX)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
TagValue = Annotated[str, Field(min_length=1, max_length=256)]  # AWS tag values: 1-256 characters


def _cidr_text(value: object) -> object:
    """A CIDR is written as text: pydantic would read `true` or `42` as the address 0.0.0.1/32 or 0.0.0.42/32."""
    if isinstance(value, (bool, int, float)):
        raise ValueError("a CIDR is written as text, e.g. 10.0.0.0/16")
    return value


Cidr = Annotated[IPv4Network, BeforeValidator(_cidr_text)]


class SpecModel(BaseModel):
    """camelCase keys in the stack file, snake_case in Python; unknown keys are errors, never ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
        use_attribute_docstrings=True,
        allow_inf_nan=False,  # `.inf` would pass `gt=0` and crash the plan (int(inf)) or the deploy
    )


class NetworkSpec(SpecModel):
    vpc_cidr: Cidr = IPv4Network("10.0.0.0/16")
    """VPC (AWS) or subnet (GCP) primary range; /16 to /20."""
    zone_count: Annotated[int, Field(ge=1, le=6)] = 2
    """Zones to spread subnets and nodes over: 2 in dev, 3 in prod (AWS); GCP regional clusters use 3."""
    nat_gateways: Literal["single", "perZone"] = "single"
    """`single` NAT gateway (cheap) or one `perZone` (no cross-zone dependency)."""
    existing_vpc_id: str | None = None
    """Bring your own VPC: its id; no network resources are created then."""
    existing_private_subnet_ids: list[str] = []
    """With existingVpcId: private subnet ids, one per zone (nodes, database, cache)."""
    existing_public_subnet_ids: list[str] = []
    """With existingVpcId: public subnet ids for internet-facing load balancers."""
    pods_cidr: Cidr = IPv4Network("10.16.0.0/14")
    """GKE secondary range for pods."""
    services_cidr: Cidr = IPv4Network("10.20.0.0/20")
    """GKE secondary range for services."""
    control_plane_cidr: Cidr = IPv4Network("172.16.0.0/28")
    """GKE private control plane range (/28)."""


class AccessEntrySpec(SpecModel):
    principal: str
    """IAM role/user ARN (AWS) or `group:`/`user:` email (GCP)."""
    role: PlatformRole
    """Platform role granted: platform-admins, ml-engineers, data-scientists or viewers."""


class ClusterSpec(SpecModel):
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    """Kubernetes minor version, quoted; one in standard support on the cloud (components/versions.py)."""
    public_access_cidrs: list[Cidr] = []
    """Admin networks allowed to reach the public API endpoint; empty = private endpoint only."""
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "UNSPECIFIED"] = "UNSPECIFIED"
    """GKE release channel; UNSPECIFIED pins kubernetesVersion."""
    access: list[AccessEntrySpec] = []
    """Identities mapped to the platform's Kubernetes RBAC roles."""
    log_retention_days: PositiveInt = 30
    """Retention of control-plane logs."""


class TaintSpec(SpecModel):
    key: str
    """Taint key."""
    value: str
    """Taint value."""
    effect: TaintEffect = "NoSchedule"
    """NoSchedule, PreferNoSchedule or NoExecute."""


class AcceleratorSpec(SpecModel):
    type: str
    """GPU type, e.g. nvidia-a10g (AWS) or nvidia-l4 (GCP)."""
    count: PositiveInt = 1
    """GPUs per node."""


class NodePoolSpec(SpecModel):
    instance_types: Annotated[list[str], Field(min_length=1)]
    """EC2 instance types or GCE machine types, one CPU architecture per pool."""
    capacity_type: CapacityType = "ON_DEMAND"
    """ON_DEMAND or SPOT (never SPOT on the system pool)."""
    min_size: NonNegativeInt = 0
    """Minimum nodes (0 lets the pool scale to zero)."""
    max_size: NonNegativeInt = 1
    """Maximum nodes."""
    desired_size: NonNegativeInt | None = None
    """Initial nodes; the autoscaler owns it afterwards."""
    disk_size_gb: Annotated[int, Field(ge=20, le=16384)] = 100
    """Encrypted root volume size."""
    labels: dict[str, str] = {}
    """Extra node labels, merged with the pool's defaults."""
    taints: list[TaintSpec] = []
    """Extra node taints, merged with the pool's defaults."""
    accelerator: AcceleratorSpec | None = None
    """GPU pools: accelerator type and count (required there)."""

    @property
    def initial_size(self) -> int:
        return self.desired_size if self.desired_size is not None else self.min_size


class NodePoolsSpec(SpecModel):
    system: NodePoolSpec
    """On-demand, untainted pool for CoreDNS and the platform services."""
    cpu: NodePoolSpec
    """Spot CPU pool for inference and batch (label workload-type=ml-inference)."""
    gpu: NodePoolSpec | None = None
    """Tainted GPU pool for training, scales from zero; omit for no GPUs."""


class StorageSpec(SpecModel):
    version_data: bool = False
    """Version the data bucket (models is always versioned)."""
    infrequent_access_after_days: PositiveInt = 90
    """Data bucket: days before STANDARD_IA (AWS) / NEARLINE (GCP)."""
    archive_after_days: PositiveInt = 365
    """Data bucket: days before GLACIER (AWS) / COLDLINE (GCP)."""
    noncurrent_version_expiry_days: PositiveInt = 90
    """Days before noncurrent object versions expire."""
    abort_multipart_after_days: PositiveInt = 7
    """Days before incomplete multipart uploads are aborted."""
    force_destroy: bool = False
    """Allow destroying non-empty buckets (dev only)."""


class DatabaseSpec(SpecModel):
    engine_version: str = "16"
    """PostgreSQL major version, quoted."""
    instance_class: str = "db.t4g.medium"
    """RDS instance class (db.t4g.medium) or Cloud SQL tier (db-custom-2-7680)."""
    storage_gb: Annotated[int, Field(ge=20, le=65536)] = 20
    """Initial storage."""
    max_storage_gb: Annotated[int, Field(ge=20, le=65536)] = 100
    """Storage autoscaling ceiling."""
    backup_retention_days: Annotated[int, Field(ge=0, le=35)] = 1
    """Automated backup retention (at least 7 in prod)."""
    high_availability: bool = False
    """Multi-AZ (AWS) / REGIONAL (GCP)."""


class PipelinesDatabaseSpec(DatabaseSpec):
    """Kubeflow Pipelines' own MySQL: KFP 2.17.0 runs on MySQL only (its PostgreSQL path is broken upstream)."""

    engine_version: str = "8.4"
    """MySQL version, quoted ("8.4", the LTS line)."""
    instance_class: str = "db.t4g.small"
    """RDS instance class (db.t4g.small) or Cloud SQL tier (db-custom-1-3840)."""
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] = 1
    """Automated backup retention with point-in-time recovery (at least 7 in prod)."""
    high_availability: bool = False
    """Multi-AZ (AWS) / REGIONAL (GCP); required in prod."""


class OnlineStoreSpec(SpecModel):
    node_type: str = "cache.t4g.small"
    """AWS: ElastiCache node type."""
    memory_size_gb: PositiveInt = 1
    """GCP: Memorystore capacity."""
    replicas: NonNegativeInt = 0
    """Read replicas; 1 or more enables automatic failover / STANDARD_HA."""


class ServicesSpec(SpecModel):
    mlflow: bool = True
    """Deploy the MLflow tracking server and model registry."""
    kubeflow: bool = True
    """Deploy Kubeflow Pipelines."""
    feast: bool = True
    """Deploy the Feast feature server."""
    monitoring: bool = True
    """Deploy Prometheus, Grafana and Alertmanager."""


class MlflowSpec(SpecModel):
    replicas: PositiveInt = 1
    """Tracking server replicas (2 or more adds a PodDisruptionBudget)."""
    auth: Literal["none", "basic"] = "none"
    """`none` or `basic` (generated admin password)."""


class MonitoringSpec(SpecModel):
    prometheus_retention: Annotated[str, Field(pattern=r"^[1-9][0-9]*[hdwy]$")] = "15d"
    """Prometheus retention, e.g. 15d."""
    prometheus_volume_gb: PositiveInt = 50
    """Prometheus volume size."""
    grafana_volume_gb: PositiveInt = 10
    """Grafana volume size."""
    slack_channel: str = "#ml-alerts"
    """Slack channel for warning alerts (webhook: secret mlops:slackWebhookUrl)."""


class QuotaSpec(SpecModel):
    cpu: str = "100"
    """requests.cpu quota."""
    memory: str = "500Gi"
    """requests.memory quota."""
    gpu: NonNegativeInt = 8
    """requests.nvidia.com/gpu quota."""
    pods: PositiveInt = 50
    """Pod count quota."""


class TeamSpec(SpecModel):
    name: DnsLabel
    """Team namespace name (DNS label)."""
    quota: QuotaSpec = QuotaSpec()
    """Resource quota of the namespace."""


class ImagesSpec(SpecModel):
    source: ImageSource = "build"
    """`build`: `pulumi up` builds the images from workloads/docker/ and pushes them; `prebuilt`: run what CI pushed."""
    digests: dict[ImageName, str] = {}
    """prebuilt only: `sha256:<64 hex>` per image; an image not listed runs the digest its version tag has at deploy."""


class WorkloadsSpec(SpecModel):
    images: ImagesSpec = ImagesSpec()
    """Container images; their version is the one in workloads/pyproject.toml."""
    teams: list[TeamSpec] = [TeamSpec(name="ml-team")]
    """Team namespaces with their quotas; a model runs in its team's namespace."""


# --- models: what the platform hosts, one entry per model (`mlops:models`) ---

Accelerator = Literal["cpu", "gpu"]
Promotion = Literal["auto", "manual"]


class TrainingSpec(SpecModel):
    pipeline: str
    """Pipeline module in the training image, `pipelines.<module>`, exposing a kfp v2 function `pipeline`."""
    parameters: dict[str, JsonValue] = {}
    """Pipeline parameters of this model (passed as JSON to the pipeline function)."""
    schedule: str | None = None
    """Cron schedule of a recurring training run; unset = trained on demand and on drift only."""
    accelerator: Accelerator = "cpu"
    """`cpu`, or `gpu`: the train step requests one GPU on the GPU pool (needs nodePools.gpu)."""


class FeaturesSpec(SpecModel):
    project: str
    """Feast project the model's features live in (a Python identifier)."""
    feature_view: str
    """Feast feature view the model reads (a Python identifier)."""


class QualityGatesSpec(SpecModel):
    min: dict[str, float] = {}
    """Metric -> lowest value a trained model may have to be registered, e.g. `{f1: 0.75}`."""
    max: dict[str, float] = {}
    """Metric -> highest value a trained model may have, e.g. `{rmse: 12.5}`."""
    champion_tolerance: Ratio = 0.01
    """How much worse than the champion a challenger may be."""


class ServingAliasesSpec(SpecModel):
    champion: str = "champion"
    """Registry alias of the released version: served, batch-scored, monitored, set by promotion."""
    challenger: str = "challenger"
    """Registry alias a newly trained version is registered under: the candidate A/B tests and promotion judge."""


class ServingSpec(SpecModel):
    min_replicas: PositiveInt = 1
    """HPA minimum replicas."""
    max_replicas: PositiveInt = 4
    """HPA maximum replicas."""
    target_cpu_utilization: Annotated[int, Field(ge=10, le=95)] = 70
    """HPA CPU utilisation target (%)."""
    challenger_weight: Ratio = 0.0
    """Share of traffic (0-1) routed to the challenger alias's version (needs promotion: manual)."""
    cpu: str = "500m"
    """CPU request per replica."""
    memory: str = "1Gi"
    """Memory request per replica."""
    memory_limit: str = "2Gi"
    """Memory limit per replica."""
    aliases: ServingAliasesSpec = ServingAliasesSpec()
    """MLflow registry aliases of the model's champion and challenger (serving, batch, monitoring, promotion)."""


class BatchSpec(SpecModel):
    schedule: str = "0 2 * * *"
    """Cron schedule of batch scoring (`<model>/inputs/` -> `<model>/predictions/` in the data bucket)."""


class ModelMonitoringSpec(SpecModel):
    schedule: str = "0 * * * *"
    """Cron schedule of drift and performance monitoring."""
    drift_share: Ratio = 0.3
    """Share of drifted features that raises the drift alert and triggers retraining."""
    missing_share: Ratio = 0.2
    """Share of missing values in a feature that fails the data quality check."""
    retraining_cooldown_hours: NonNegativeInt = 24
    """Minimum hours between two drift-triggered retrainings."""


class ModelSpec(SpecModel):
    name: DnsLabel
    """Model name: the MLflow registered model and the prefix of its Kubernetes objects and bucket paths."""
    team: DnsLabel
    """Owning team (one of workloads.teams): the model runs in its namespace, under its quota and RBAC."""
    training: TrainingSpec
    """Training pipeline, parameters, schedule and accelerator."""
    features: FeaturesSpec | None = None
    """Feast feature source; unset = the model reads no Feast features."""
    quality_gates: QualityGatesSpec = QualityGatesSpec()
    """Gates a trained model must pass before registration."""
    promotion: Promotion = "auto"
    """`auto` promotes a passing challenger; `manual` keeps it as @challenger until approved."""
    serving: ServingSpec = ServingSpec()
    """Online inference: replicas, autoscaling, resources, A/B split."""
    batch: BatchSpec = BatchSpec()
    """Batch scoring."""
    monitoring: ModelMonitoringSpec = ModelMonitoringSpec()
    """Monitoring schedule and thresholds."""


class BudgetSpec(SpecModel):
    monthly_limit_usd: Annotated[float, Field(gt=0, le=1e9)] = 1000.0
    """Monthly budget; alerts at 80/90/100%."""
    notification_emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = []
    """Who receives budget alerts."""
    enforce_estimate: bool = False
    """Refuse a plan or preview whose typical monthly estimate (`make cost`) exceeds monthlyLimitUsd; false warns."""


class BucketUsageSpec(SpecModel):
    data: NonNegativeFloat = 500.0
    """GB stored in the data bucket."""
    models: NonNegativeFloat = 50.0
    """GB stored in the models bucket (all versions)."""
    pipelines: NonNegativeFloat = 100.0
    """GB of pipeline artifacts."""
    monitoring: NonNegativeFloat = 20.0
    """GB of monitoring reports and reference data."""


class CostSpec(SpecModel):
    """Usage assumptions of the monthly estimate (`make cost`); the plan records them, so review shows their changes."""

    gpu_hours_per_month: NonNegativeFloat = 40.0
    """Typical month: GPU node-hours (training runs); idle runs none, peak every GPU node all month."""
    cpu_average_nodes: NonNegativeFloat | None = None
    """Typical month: average CPU-pool nodes; unset = minSize, at least 1 (the inference service runs there)."""
    system_average_nodes: NonNegativeFloat | None = None
    """Typical month: average system-pool nodes; unset = desiredSize (or minSize)."""
    bucket_gb: BucketUsageSpec = BucketUsageSpec()
    """GB stored per bucket role, priced at the standard storage class."""
    registry_gb: NonNegativeFloat = 20.0
    """GB of container images in the registry."""
    log_gb_per_month: NonNegativeFloat = 20.0
    """GB of logs ingested per month (control plane, database, workloads, flow logs)."""
    nat_gb_per_month: NonNegativeFloat = 100.0
    """GB through the NAT gateways per month (object-store traffic bypasses NAT)."""
    internet_egress_gb_per_month: NonNegativeFloat = 50.0
    """GB sent to the internet per month."""
    gke_free_tier: bool = True
    """GCP: this stack's zonal cluster gets the billing account's one free GKE management fee."""


class GcpSpec(SpecModel):
    project: Annotated[str, Field(pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")]
    """GCP project id."""
    zone: str | None = None
    """Zone of a zonal (dev) cluster; unset = regional."""
    billing_account: str | None = None
    """Billing account id; enables the budget."""
    security_group: str | None = None
    """Google Groups for RBAC: `gke-security-groups@<domain>`, so `group:` principals in cluster.access match."""


class PlatformSpec(SpecModel):
    """The whole platform, one environment. Every default is the cheap dev value; prod stacks override."""

    cloud: Cloud
    """`aws` or `gcp`."""
    environment: Environment
    """`dev`, `staging` or `prod`."""
    region: str
    """Cloud region."""
    name_prefix: NamePrefix = "mlops"
    """Prefix of every physical name (a DNS label of at most 26 characters)."""
    team: TagValue = "ml-platform"
    """Team tag/label."""
    owner: TagValue = "ml-platform@example.com"
    """Owner tag/label."""
    cost_center: TagValue = "ml"
    """CostCenter tag (AWS)."""
    deletion_protection: bool = False
    """Protect and retain stateful resources (required in prod)."""
    decommission: bool = False
    """Prod only, with deletionProtection false: tear this stack down on purpose (README, "Tearing prod down")."""
    network: NetworkSpec = NetworkSpec()
    """Network layout."""
    cluster: ClusterSpec = ClusterSpec()
    """Kubernetes control plane."""
    node_pools: NodePoolsSpec
    """Node pools."""
    storage: StorageSpec = StorageSpec()
    """Bucket lifecycle."""
    database: DatabaseSpec = DatabaseSpec()
    """Shared PostgreSQL (MLflow, Feast)."""
    pipelines_database: PipelinesDatabaseSpec = PipelinesDatabaseSpec()
    """Managed MySQL of Kubeflow Pipelines (created only when services.kubeflow is on)."""
    online_store: OnlineStoreSpec = OnlineStoreSpec()
    """Feast online store (Redis)."""
    services: ServicesSpec = ServicesSpec()
    """Platform services to deploy."""
    mlflow: MlflowSpec = MlflowSpec()
    """MLflow server."""
    monitoring: MonitoringSpec = MonitoringSpec()
    """Observability stack."""
    workloads: WorkloadsSpec = WorkloadsSpec()
    """Workload images and team namespaces."""
    models: list[ModelSpec] = []
    """The models the platform hosts (training, serving, batch scoring, monitoring); none by default."""
    budget: BudgetSpec = BudgetSpec()
    """Cost budget."""
    cost: CostSpec = CostSpec()
    """Usage assumptions of the monthly cost estimate."""
    gcp: GcpSpec | None = None
    """GCP-only settings."""

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def base_name(self) -> str:
        """Prefix of every physical name, e.g. `mlops-dev`."""
        return f"{self.name_prefix}-{self.environment}"
