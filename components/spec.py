"""The platform spec: one typed model of everything a user tunes per environment.

`infra/config.py` fills it from the stack file (`Pulumi.<stack>.yaml`, keys under the `mlops:` namespace, camelCase)
and runs the semantic checks in `components/spec_checks.py` before any resource is registered. Components take the
sub-models they need as their Args, so a field is defined once, here.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Cloud = Literal["aws", "gcp"]
Environment = Literal["dev", "staging", "prod"]
CapacityType = Literal["ON_DEMAND", "SPOT"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
PoolName = Literal["system", "cpu", "gpu"]
BucketRole = Literal["data", "models", "pipelines", "monitoring"]
PlatformRole = Literal["platform-admins", "ml-engineers", "data-scientists", "viewers"]

BUCKET_ROLES: tuple[BucketRole, ...] = ("data", "models", "pipelines", "monitoring")
PLATFORM_ROLES: tuple[PlatformRole, ...] = ("platform-admins", "ml-engineers", "data-scientists", "viewers")

DnsLabel = Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(ge=1)]
Ratio = Annotated[float, Field(ge=0.0, le=1.0)]


class SpecModel(BaseModel):
    """camelCase keys in the stack file, snake_case in Python; unknown keys are errors, never ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, validate_default=True
    )


class NetworkSpec(SpecModel):
    vpc_cidr: IPv4Network = IPv4Network("10.0.0.0/16")
    zone_count: Annotated[int, Field(ge=1, le=6)] = 2
    nat_gateways: Literal["single", "perZone"] = "single"
    existing_vpc_id: str | None = None
    existing_private_subnet_ids: list[str] = []
    existing_public_subnet_ids: list[str] = []
    pods_cidr: IPv4Network = IPv4Network("10.16.0.0/14")
    services_cidr: IPv4Network = IPv4Network("10.20.0.0/20")
    control_plane_cidr: IPv4Network = IPv4Network("172.16.0.0/28")


class AccessEntrySpec(SpecModel):
    principal: str
    role: PlatformRole


class ClusterSpec(SpecModel):
    kubernetes_version: str = "1.33"
    public_access_cidrs: list[IPv4Network] = []
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "UNSPECIFIED"] = "UNSPECIFIED"
    access: list[AccessEntrySpec] = []
    log_retention_days: PositiveInt = 30


class TaintSpec(SpecModel):
    key: str
    value: str
    effect: TaintEffect = "NoSchedule"


class AcceleratorSpec(SpecModel):
    type: str
    count: PositiveInt = 1


class NodePoolSpec(SpecModel):
    instance_types: Annotated[list[str], Field(min_length=1)]
    capacity_type: CapacityType = "ON_DEMAND"
    min_size: NonNegativeInt = 0
    max_size: NonNegativeInt = 1
    desired_size: NonNegativeInt | None = None
    disk_size_gb: Annotated[int, Field(ge=20, le=16384)] = 100
    labels: dict[str, str] = {}
    taints: list[TaintSpec] = []
    accelerator: AcceleratorSpec | None = None

    @property
    def initial_size(self) -> int:
        return self.desired_size if self.desired_size is not None else self.min_size


class NodePoolsSpec(SpecModel):
    system: NodePoolSpec
    cpu: NodePoolSpec
    gpu: NodePoolSpec | None = None


class StorageSpec(SpecModel):
    version_data: bool = False
    infrequent_access_after_days: PositiveInt = 90
    archive_after_days: PositiveInt = 365
    noncurrent_version_expiry_days: PositiveInt = 90
    abort_multipart_after_days: PositiveInt = 7
    force_destroy: bool = False


class DatabaseSpec(SpecModel):
    engine_version: str = "16"
    instance_class: str = "db.t4g.medium"
    storage_gb: Annotated[int, Field(ge=20, le=65536)] = 20
    max_storage_gb: Annotated[int, Field(ge=20, le=65536)] = 100
    backup_retention_days: Annotated[int, Field(ge=0, le=35)] = 1
    high_availability: bool = False


class OnlineStoreSpec(SpecModel):
    node_type: str = "cache.t4g.small"
    memory_size_gb: PositiveInt = 1
    replicas: NonNegativeInt = 0


class ServicesSpec(SpecModel):
    mlflow: bool = True
    kubeflow: bool = True
    feast: bool = True
    monitoring: bool = True


class MlflowSpec(SpecModel):
    replicas: PositiveInt = 1
    auth: Literal["none", "basic"] = "none"


class MonitoringSpec(SpecModel):
    prometheus_retention: Annotated[str, Field(pattern=r"^[1-9][0-9]*[hdwy]$")] = "15d"
    prometheus_volume_gb: PositiveInt = 50
    grafana_volume_gb: PositiveInt = 10
    drift_share_threshold: Ratio = 0.3
    slack_channel: str = "#ml-alerts"


class QuotaSpec(SpecModel):
    cpu: str = "100"
    memory: str = "500Gi"
    gpu: NonNegativeInt = 8
    pods: PositiveInt = 50


class TeamSpec(SpecModel):
    name: DnsLabel
    quota: QuotaSpec = QuotaSpec()


class QualityGatesSpec(SpecModel):
    f1: Ratio = 0.75
    precision: Ratio = 0.70
    recall: Ratio = 0.60
    roc_auc: Ratio = 0.85
    champion_tolerance: Ratio = 0.01


class InferenceSpec(SpecModel):
    min_replicas: PositiveInt = 1
    max_replicas: PositiveInt = 4
    target_cpu_utilization: Annotated[int, Field(ge=10, le=95)] = 70
    challenger_weight: Ratio = 0.0


class WorkloadsSpec(SpecModel):
    image_tag: Annotated[str, Field(min_length=1, max_length=128)] = "0.1.0"
    teams: list[TeamSpec] = [TeamSpec(name="ml-team")]
    inference: InferenceSpec = InferenceSpec()
    quality_gates: QualityGatesSpec = QualityGatesSpec()
    promotion: Literal["auto", "manual"] = "auto"
    monitoring_schedule: str = "0 * * * *"
    batch_schedule: str = "0 2 * * *"
    retraining_cooldown_hours: NonNegativeInt = 24


class BudgetSpec(SpecModel):
    monthly_limit_usd: Annotated[float, Field(gt=0)] = 1000.0
    notification_emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = []


class GcpSpec(SpecModel):
    project: Annotated[str, Field(pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")]
    zone: str | None = None
    billing_account: str | None = None


class PlatformSpec(SpecModel):
    """The whole platform, one environment. Every default is the cheap dev value; prod stacks override."""

    cloud: Cloud
    environment: Environment
    region: str
    name_prefix: DnsLabel = "mlops"
    team: str = "ml-platform"
    owner: str = "ml-platform@example.com"
    cost_center: str = "ml"
    deletion_protection: bool = False
    network: NetworkSpec = NetworkSpec()
    cluster: ClusterSpec = ClusterSpec()
    node_pools: NodePoolsSpec
    storage: StorageSpec = StorageSpec()
    database: DatabaseSpec = DatabaseSpec()
    online_store: OnlineStoreSpec = OnlineStoreSpec()
    services: ServicesSpec = ServicesSpec()
    mlflow: MlflowSpec = MlflowSpec()
    monitoring: MonitoringSpec = MonitoringSpec()
    workloads: WorkloadsSpec = WorkloadsSpec()
    budget: BudgetSpec = BudgetSpec()
    gcp: GcpSpec | None = None

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def base_name(self) -> str:
        """Prefix of every physical name, e.g. `mlops-dev`."""
        return f"{self.name_prefix}-{self.environment}"
