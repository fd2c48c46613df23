"""Bad stack config is refused before anything is registered, with one line per problem naming key, value and fix."""

from __future__ import annotations

import copy
import json
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import infra.plan.__main__ as plan_cli
from infra.config import StackConfigError, parse_spec
from infra.plan.engine import PROJECT_ROOT, ProgramFailed, run_program
from infra.plan.mocks import MockContext

DELETE = object()


def stack_document(stack: str) -> dict[str, Any]:
    return dict(yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"])


def as_engine_config(document: dict[str, Any]) -> dict[str, str]:
    """What the Pulumi engine hands the program: strings, JSON for structured values."""
    out = {}
    for key, value in document.items():
        if isinstance(value, (dict, list)):
            out[key] = json.dumps(value)
        elif isinstance(value, bool):
            out[key] = str(value).lower()
        else:
            out[key] = str(value)
    return out


def mutate(stack: str, changes: dict[str, Any]) -> dict[str, str]:
    """`{"nodePools.gpu.maxSize": 2}` sets mlops:nodePools → gpu → maxSize; DELETE removes the key."""
    document = copy.deepcopy(stack_document(stack))
    for dotted, value in changes.items():
        top, *rest = dotted.split(".")
        key = f"mlops:{top}"
        if not rest:
            if value is DELETE:
                document.pop(key, None)
            else:
                document[key] = value
            continue
        node = document.setdefault(key, {})
        for part in rest[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = rest[-1]
        if value is DELETE:
            node.pop(last, None)
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return as_engine_config(document)


def run_real_program(
    stack: str, config: dict[str, str], secret_keys: list[str] | None = None, context: MockContext | None = None
) -> ProgramFailed:
    main = str(PROJECT_ROOT / "infra" / "__main__.py")

    def program() -> None:
        import runpy

        runpy.run_path(main, run_name="__main__")

    with pytest.raises(ProgramFailed) as failure:
        run_program(program, project="mlops", stack=stack, config=config, secret_keys=secret_keys, context=context)
    return failure.value


def refused_lines(stack: str, config: dict[str, str], **options: Any) -> list[str]:
    """Run the real stack program; it must stop on the config, before registering anything, with one line each."""
    failure = run_real_program(stack, config, **options)
    assert isinstance(failure.error, StackConfigError), failure.error
    assert failure.registered == []
    header, *lines = str(failure.error).splitlines()
    assert header == f"{len(lines)} problem(s) in the stack configuration:"
    assert all(line.startswith(f"Pulumi.{stack}.yaml: mlops:") and "; fix: " in line for line in lines), lines
    return lines


CATALOG = "(catalog: https://docs.aws.amazon.com/ec2/latest/instancetypes/ (gp, co, mo, ac pages), 2026-12-01)"
CATALOG_FIX = "(a type the catalog lacks is added to components/aws/catalog.py with its source)"
CRON_FIX = (
    "use five cron fields (minute 0-59, hour 0-23, day of month 1-31, month 1-12 or jan-dec, day of week 0-6 or "
    "sun-sat) or a descriptor like @daily, e.g. '0 * * * *'"
)
TAG_FIX = "use an immutable version tag such as '0.1.0' (ECR/Artifact Registry tags are immutable)"
ADMIN_FIX = "list only your admin networks (e.g. the VPN egress /32), or leave the list empty for a private endpoint"
TAG_NOT_VERSION = "is not a version (MAJOR.MINOR.PATCH[-prerelease]): a moving tag makes deploys unreproducible"
TAG_NOT_OCI = (
    "is not a valid OCI image tag (1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'; "
    "no '/', ':' or spaces)"
)
VPC = "vpc-0a1b2c3d4e5f67890"
SUBNETS = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]

# One bad stack file per row: (stack, changes to the shipped stack file, the exact line that must refuse it).
BAD_CONFIGS = [
    pytest.param("dev", {"nodePools.gpu.maxSize": 2, "nodePools.gpu.minSize": 3},
                 "mlops:nodePools.gpu.maxSize = 2 is below minSize = 3; fix: raise maxSize to at least 3 or lower "
                 "minSize", id="min-above-max"),
    pytest.param("dev", {"nodePools.cpu.desiredSize": 12},
                 "mlops:nodePools.cpu.desiredSize = 12 is outside minSize..maxSize = 0..10; fix: set desiredSize "
                 "within the bounds or leave it unset", id="desired-outside"),
    pytest.param("dev", {"nodePools.system.capacityType": "SPOT"},
                 "mlops:nodePools.system.capacityType = 'SPOT' is not allowed: CoreDNS and the platform services must "
                 "not run on reclaimable nodes; fix: use ON_DEMAND; spot capacity belongs to nodePools.cpu",
                 id="spot-system-pool"),
    pytest.param("dev", {"nodePools.cpu.instanceTypes": ["m6i.xlarge", "m7g.xlarge"]},
                 "mlops:nodePools.cpu.instanceTypes = [\"m6i.xlarge\", \"m7g.xlarge\"] mixes CPU architectures (arm64: "
                 "m7g.xlarge; x86_64: m6i.xlarge); fix: keep one architecture per pool (a node group's AMI is either "
                 "x86_64 or arm64)", id="mixed-arch-aws"),
    pytest.param("dev", {"nodePools.cpu.instanceTypes": ["m6i.xlarge", "m6i.2xlarge"]},
                 "mlops:nodePools.cpu.instanceTypes = [\"m6i.xlarge\", \"m6i.2xlarge\"] mixes instance sizes "
                 "(m6i.xlarge: 4 vCPU/16 GiB; m6i.2xlarge: 8 vCPU/32 GiB): the cluster autoscaler plans every node as "
                 "the first type; fix: list types with the same vCPUs and memory (e.g. m6i.xlarge, m6a.xlarge, "
                 "m5.xlarge)", id="mixed-sizes-aws"),
    pytest.param("gcp-dev", {"nodePools.cpu.instanceTypes": ["n2-standard-4", "n2d-standard-4"]},
                 "mlops:nodePools.cpu.instanceTypes = [\"n2-standard-4\", \"n2d-standard-4\"] lists 2 machine types, "
                 "but a GKE node pool runs exactly one (the others would be ignored); fix: keep one machine type, e.g. "
                 "[n2-standard-4]", id="gke-pool-with-two-types"),
    pytest.param("gcp-dev", {"nodePools.cpu.instanceTypes": ["n2-standard-4", "t2a-standard-4"]},
                 "mlops:nodePools.cpu.instanceTypes = [\"n2-standard-4\", \"t2a-standard-4\"] mixes CPU architectures "
                 "(arm64: t2a-standard-4; x86_64: n2-standard-4); fix: keep one architecture per pool (a node group's "
                 "AMI is either x86_64 or arm64)", id="mixed-arch-gcp"),
    pytest.param("dev", {"nodePools.gpu.accelerator": DELETE},
                 "mlops:nodePools.gpu.accelerator = (not set) is missing: a GPU pool needs its accelerator for "
                 "scheduling and scale-from-zero; fix: set nodePools.gpu.accelerator: {type: nvidia-a10g, count: 1}",
                 id="gpu-without-accelerator"),
    pytest.param("dev", {"nodePools.gpu.instanceTypes": ["m6i.xlarge"]},
                 "mlops:nodePools.gpu.instanceTypes[0] = 'm6i.xlarge' has no GPU; fix: use a GPU type (AWS: "
                 "g5.xlarge, g6.xlarge; GCP: g2-standard-8)", id="gpu-pool-without-gpu"),
    pytest.param("dev", {"nodePools.cpu.instanceTypes": ["g5.xlarge"]},
                 "mlops:nodePools.cpu.instanceTypes = [\"g5.xlarge\"] puts GPU machines in the cpu pool (g5.xlarge); "
                 "fix: move GPU types to nodePools.gpu, which is tainted and scales to zero", id="gpu-in-cpu-pool"),
    pytest.param("dev", {"nodePools.cpu.accelerator": {"type": "nvidia-a10g", "count": 1}},
                 "mlops:nodePools.cpu.accelerator = {\"type\": \"nvidia-a10g\", \"count\": 1} is set on the cpu pool, "
                 "which runs no GPUs; fix: remove it; GPUs belong to nodePools.gpu", id="accelerator-on-cpu-pool"),
    pytest.param("dev", {"nodePools.gpu.accelerator.type": "nvidia-l4"},
                 "mlops:nodePools.gpu.accelerator.type = 'nvidia-l4' is not a GPU g5.xlarge can have (g5.xlarge: 1 x "
                 "nvidia-a10g); fix: set accelerator: {type: nvidia-a10g, count: 1} or use a machine type with "
                 "nvidia-l4", id="aws-wrong-gpu-model"),
    pytest.param("dev", {"nodePools.gpu.accelerator.count": 4},
                 "mlops:nodePools.gpu.accelerator.count = 4 is not a number of nvidia-a10g GPUs g5.xlarge can have "
                 "(g5.xlarge: 1 x nvidia-a10g); fix: set count: 1 or use a machine type with 4 x nvidia-a10g",
                 id="aws-wrong-gpu-count"),
    pytest.param("gcp-dev", {"nodePools.gpu.accelerator": {"type": "nvidia-tesla-t4", "count": 4}},
                 "mlops:nodePools.gpu.accelerator.type = 'nvidia-tesla-t4' is not a GPU g2-standard-8 can have "
                 "(g2-standard-8: 1 x nvidia-l4); fix: set accelerator: {type: nvidia-l4, count: 1} or use a machine "
                 "type with nvidia-tesla-t4", id="gcp-four-t4-on-g2"),
    pytest.param("gcp-dev", {"nodePools.gpu.instanceTypes": ["n1-standard-64"],
                             "nodePools.gpu.accelerator": {"type": "nvidia-tesla-t4", "count": 1}},
                 "mlops:nodePools.gpu.accelerator.count = 1 is not a number of nvidia-tesla-t4 GPUs n1-standard-64 can "
                 "have (n1-standard-64: 4 x nvidia-tesla-p4; 4 x nvidia-tesla-t4; 8 x nvidia-tesla-v100); fix: set "
                 "count: 4 or use a machine type with 1 x nvidia-tesla-t4", id="gcp-n1-too-many-vcpus-for-one-t4"),
    pytest.param("dev", {"nodePools.cpu.instanceTypes": ["m9z.huge"]},
                 f"mlops:nodePools.cpu.instanceTypes[0] = 'm9z.huge' is not a known EC2 instance type {CATALOG}; fix: "
                 f"use a type such as 'm6i.xlarge' {CATALOG_FIX}", id="unknown-instance-type"),
    pytest.param("dev", {"nodePools.cpu.instanceTypes": ["m6i-xlarge"]},
                 f"mlops:nodePools.cpu.instanceTypes[0] = 'm6i-xlarge' is not a known EC2 instance type {CATALOG}; "
                 f"fix: did you mean 'm6i.xlarge'? {CATALOG_FIX}", id="instance-type-did-you-mean"),
    pytest.param("dev", {"region": "us-central1"},
                 "mlops:region = 'us-central1' is a GCP region, but cloud = aws; fix: use an AWS region such as "
                 "'eu-central-1' or 'mx-central-1'", id="gcp-region-on-aws"),
    pytest.param("dev", {"region": "us-est-1"},
                 "mlops:region = 'us-est-1' is not an AWS region; fix: use an AWS region such as 'us-west-1' or "
                 "'us-east-1'", id="typo-region"),
    pytest.param("gcp-dev", {"gcp.zone": "europe-west1-b"},
                 "mlops:gcp.zone = 'europe-west1-b' is not a zone of region us-central1; fix: use a zone like "
                 "'us-central1-a'", id="zone-not-in-region"),
    pytest.param("gcp-dev", {"gcp": DELETE},
                 "mlops:gcp = (not set) is required when cloud = gcp; fix: set mlops:gcp.project (and gcp.zone for a "
                 "zonal cluster)", id="gcp-without-project"),
    pytest.param("dev", {"cluster.kubernetesVersion": "1.27"},
                 "mlops:cluster.kubernetesVersion = '1.27' is not a Kubernetes minor in EKS standard support "
                 "(supported: 1.35, 1.36); fix: set one of '1.35', '1.36' as a quoted string (components/versions.py)",
                 id="k8s-too-old"),
    pytest.param("gcp-dev", {"cluster.kubernetesVersion": "1.34"},
                 "mlops:cluster.kubernetesVersion = '1.34' is not a Kubernetes minor in GKE standard support "
                 "(supported: 1.35, 1.36); fix: set one of '1.35', '1.36' as a quoted string (components/versions.py)",
                 id="k8s-out-of-gke-standard-support"),
    pytest.param("dev", {"network.vpcCidr": "10.0.0.0/33"},
                 "mlops:network.vpcCidr = '10.0.0.0/33' is invalid: input is not a valid IPv4 network; fix: use an "
                 "IPv4 CIDR with its host bits zero, e.g. 10.0.0.0/16", id="invalid-cidr"),
    pytest.param("gcp-dev", {"network.servicesCidr": "10.65.0.0/20"},
                 "mlops:network.servicesCidr = 10.65.0.0/20 overlaps network.podsCidr = 10.64.0.0/14; fix: choose a "
                 "range disjoint from 10.64.0.0/14", id="overlapping-cidrs"),
    pytest.param("prod", {"deletionProtection": False},
                 "mlops:deletionProtection = False is off in prod: a mistaken destroy would drop the database, buckets "
                 "and cluster; fix: set mlops:deletionProtection: true (to tear prod down on purpose, see the README)",
                 id="prod-without-deletion-protection"),
    pytest.param("dev", {"decommission": True},
                 "mlops:decommission = True only applies to prod; a dev stack is destroyed as it is; fix: remove "
                 "mlops:decommission and run `pulumi destroy`", id="decommission-outside-prod"),
    pytest.param("prod", {"decommission": True},
                 "mlops:decommission = True has no effect while deletionProtection is true; fix: set "
                 "mlops:deletionProtection: false as well, or remove mlops:decommission", id="decommission-protected"),
    pytest.param("prod", {"cluster.publicAccessCidrs": ["0.0.0.0/0"]},
                 f"mlops:cluster.publicAccessCidrs = [\"0.0.0.0/0\"] together cover the whole internet (0.0.0.0/0); "
                 f"fix: {ADMIN_FIX}", id="prod-open-api"),
    pytest.param("prod", {"cluster.publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]},
                 f"mlops:cluster.publicAccessCidrs = [\"0.0.0.0/1\", \"128.0.0.0/1\"] together cover the whole "
                 f"internet (0.0.0.0/0); fix: {ADMIN_FIX}", id="prod-open-api-in-two-halves"),
    pytest.param("prod", {"cluster.publicAccessCidrs": ["203.0.113.10/32", "52.0.0.0/12"]},
                 f"mlops:cluster.publicAccessCidrs[1] = 52.0.0.0/12 opens the prod API server to 1,048,576 addresses "
                 f"(more than a /16); fix: {ADMIN_FIX}", id="prod-public-range-too-broad"),
    pytest.param("prod", {"cluster.publicAccessCidrs": ["52.0.0.0/17", "53.0.0.0/17", "54.0.0.0/17"]},
                 f"mlops:cluster.publicAccessCidrs = [\"52.0.0.0/17\", \"53.0.0.0/17\", \"54.0.0.0/17\"] together open "
                 f"the prod API server to 98,304 addresses (more than a /16); fix: {ADMIN_FIX}",
                 id="prod-public-ranges-too-broad-together"),
    pytest.param("prod", {"storage.forceDestroy": True},
                 "mlops:storage.forceDestroy = True would let a destroy delete non-empty prod buckets; fix: set "
                 "storage.forceDestroy: false (only dev may force-destroy)", id="prod-force-destroy"),
    pytest.param("prod", {"database.backupRetentionDays": 1},
                 "mlops:database.backupRetentionDays = 1 is below 7 days in prod; fix: keep at least 7 days of backups "
                 "(14 recommended)", id="prod-short-backups"),
    pytest.param("dev", {"nodePools.gpu.maxSzie": 3},
                 "mlops:nodePools.gpu.maxSzie = 3 is not a known key; fix: did you mean 'maxSize'? (remove or rename "
                 "it)", id="unknown-key-did-you-mean"),
    pytest.param("dev", {"nodePols": {}},
                 "mlops:nodePols = {} is not a known key; fix: did you mean 'nodePools'? (remove or rename it)",
                 id="unknown-top-level-key"),
    pytest.param("dev", {"nodePools.cpu.minSize": "three"},
                 "mlops:nodePools.cpu.minSize = 'three' is invalid: input should be a valid integer, unable to parse "
                 "string as an integer; fix: use a whole number", id="wrong-type"),
    pytest.param("dev", {"nodePools.cpu.capacityType": "spot"},
                 "mlops:nodePools.cpu.capacityType = 'spot' is not an allowed value; fix: use one of 'ON_DEMAND' or "
                 "'SPOT'", id="bad-enum"),
    pytest.param("dev", {"cloud": "azure"},
                 "mlops:cloud = 'azure' is not an allowed value; fix: use one of 'aws' or 'gcp'", id="unknown-cloud"),
    pytest.param("dev", {"region": DELETE},
                 "mlops:region = (not set) is required; fix: set mlops:region in the stack file", id="missing-region"),
    pytest.param("dev", {"workloads.imageTag": "0.2.0"},
                 "mlops:workloads.imageTag = '0.2.0' is not a known key; fix: did you mean 'images'? (remove or "
                 "rename it)", id="retired-image-tag"),
    pytest.param("dev", {"workloads.images.source": "ci"},
                 "mlops:workloads.images.source = 'ci' is not an allowed value; fix: use one of 'build' or "
                 "'prebuilt'", id="unknown-image-source"),
    pytest.param("dev", {"workloads.images.digests": {"serving": "sha256:" + "a" * 64}},
                 'mlops:workloads.images.digests = {"serving": "sha256:' + "a" * 64 + '"} is set although '
                 "images.source = build (pulumi up builds and pins its own digests); fix: remove the digests, or set "
                 "workloads.images.source: prebuilt to run the images CI pushed", id="digests-while-building"),
    pytest.param("dev", {"workloads.images": {"source": "prebuilt", "digests": {"serving": "0.1.0"}}},
                 "mlops:workloads.images.digests.serving = '0.1.0' is not an image digest; fix: use the `sha256:<64 lo"
                 'wercase hex>` digest CI printed for the push (not a tag)', id="tag-as-digest"),
    pytest.param("dev", {"workloads.images": {"source": "prebuilt", "digests": {"inference": "sha256:" + "b" * 64}}},
                 "mlops:workloads.images.digests.inference = 'inference' is not an allowed value; fix: use one o"
                 "f 'training', 'serving', 'monitoring' or 'mlflow'", id="unknown-image-name"),
    pytest.param("dev", {"models.0.monitoring.schedule": "99 99 * * *"},
                 "mlops:models[0].monitoring.schedule = '99 99 * * *' is out of range (minute '99': 99 is outside "
                 f"0-59; hour '99': 99 is outside 0-23); fix: {CRON_FIX}", id="cron-out-of-range"),
    pytest.param("dev", {"models.0.batch.schedule": "0 2 * *"},
                 "mlops:models[0].batch.schedule = '0 2 * *' has 4 field(s), not 5 (minute 0-59, hour 0-23, day of "
                 f"month 1-31, month 1-12 or jan-dec, day of week 0-6 or sun-sat); fix: {CRON_FIX}",
                 id="cron-four-fields"),
    pytest.param("dev", {"models.0.batch.schedule": "*/0 2 * * *"},
                 "mlops:models[0].batch.schedule = '*/0 2 * * *' is out of range (minute '*/0': step '0' is not a "
                 f"positive number); fix: {CRON_FIX}", id="cron-zero-step"),
    pytest.param("dev", {"models.0.batch.schedule": "0 2 * JAN-XYZ *"},
                 "mlops:models[0].batch.schedule = '0 2 * JAN-XYZ *' is out of range (month 'JAN-XYZ': 'XYZ' is not a "
                 f"number or a name); fix: {CRON_FIX}", id="cron-bad-month-name"),
    pytest.param("dev", {"models.0.batch.schedule": "0 2 * * 7"},
                 "mlops:models[0].batch.schedule = '0 2 * * 7' is out of range (day of week '7': 7 is outside 0-6); "
                 f"fix: {CRON_FIX}", id="cron-sunday-as-seven"),
    pytest.param("dev", {"models.0.batch.schedule": "0 5-2 * * *"},
                 "mlops:models[0].batch.schedule = '0 5-2 * * *' is out of range (hour '5-2': range 5-2 runs "
                 f"backwards); fix: {CRON_FIX}", id="cron-backwards-range"),
    pytest.param("dev", {"models.1.name": "fraud-detection"},
                 "mlops:models[1].name = 'fraud-detection' is listed twice; fix: give each model a unique name",
                 id="model-listed-twice"),
    pytest.param("dev", {"models.0.serving.aliases": {"champion": "production", "challenger": "Production"}},
                 "mlops:models[0].serving.aliases.challenger = 'Production' is also the champion alias ('production'): "
                 "registering a candidate would replace the released version; fix: give champion and challenger "
                 "different names", id="model-aliases-the-same"),
    pytest.param("dev", {"models.1.serving.aliases.champion": "prod@eu"},
                 "mlops:models[1].serving.aliases.champion = 'prod@eu' is not a valid MLflow alias (1 to 255 letters, "
                 "digits, underscores and dashes); fix: use a name such as 'production' or 'candidate'",
                 id="model-alias-not-an-mlflow-alias"),
    pytest.param("gcp-prod", {"models.0.serving.aliases.challenger": "V2"},
                 "mlops:models[0].serving.aliases.challenger = 'V2' is reserved ('latest' and 'v<number>' by MLflow, "
                 "'previous-champion' by the platform's rollback); fix: choose another name",
                 id="model-alias-reserved"),
    pytest.param("dev", {"models.1.team": "search"},
                 "mlops:models[1].team = 'search' is not a team of workloads.teams; fix: use one of ml-team or add the "
                 "team to workloads.teams", id="model-of-unknown-team"),
    pytest.param("dev", {"models.0.name": "Fraud_Detection"},
                 "mlops:models[0].name = 'Fraud_Detection' is invalid: string should match pattern "
                 "'^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$'; fix: use a value matching ^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$",
                 id="model-name-not-a-dns-label"),
    pytest.param("dev", {"nodePools.gpu": DELETE, "cost.gpuHoursPerMonth": DELETE,
                         "models.1.training.accelerator": "gpu"},
                 "mlops:models[1].training.accelerator = 'gpu' needs a GPU node pool, but nodePools.gpu is not set; "
                 "fix: add nodePools.gpu to the stack or train on cpu", id="gpu-model-without-gpu-pool"),
    pytest.param("dev", {"models.1.training.accelerator": "tpu"},
                 "mlops:models[1].training.accelerator = 'tpu' is not an allowed value; fix: use one of 'cpu' or 'gpu'",
                 id="unknown-accelerator"),
    pytest.param("dev", {"models.1.training.schedule": "0 4 * * 8"},
                 "mlops:models[1].training.schedule = '0 4 * * 8' is out of range (day of week '8': 8 is outside 0-6); "
                 f"fix: {CRON_FIX}", id="training-cron-out-of-range"),
    pytest.param("dev", {"models.1.training.pipeline": "pipelines/delivery_time.py"},
                 "mlops:models[1].training.pipeline = 'pipelines/delivery_time.py' is not a pipeline module of the "
                 "training image; fix: use `pipelines.<module>` naming a file pipelines/<module>.py, e.g. "
                 "'pipelines.fraud_detection'", id="pipeline-as-a-path"),
    pytest.param("dev", {"models.1.training.pipeline": "mypkg.delivery_time"},
                 "mlops:models[1].training.pipeline = 'mypkg.delivery_time' is not a pipeline module of the "
                 "training image; fix: use `pipelines.<module>` naming a file pipelines/<module>.py, e.g. "
                 "'pipelines.fraud_detection'", id="pipeline-outside-pipelines"),
    pytest.param("dev", {"models.1.training.pipeline": "pipelines.delivery_tme"},
                 "mlops:models[1].training.pipeline = 'pipelines.delivery_tme' has no file pipelines/delivery_tme.py "
                 "in the repository; fix: add the module or use one of pipelines.delivery_time, "
                 "pipelines.fraud_detection", id="pipeline-module-missing"),
    pytest.param("dev", {"models.0.training.parameters": {"nEstimator": 100}},
                 "mlops:models[0].training.parameters.nEstimator = 100 is not a parameter of "
                 "pipelines.fraud_detection a stack may set; fix: use one of class_weight, feature_repo, max_depth, "
                 "max_null_fraction, min_rows, min_samples_leaf, min_samples_split, n_estimators, random_state, "
                 "split_seed, test_fraction (camelCase or snake_case); the platform sets the others",
                 id="pipeline-parameter-misspelt"),
    pytest.param("dev", {"models.1.training.parameters": {"championTolerance": 0.5}},
                 "mlops:models[1].training.parameters.championTolerance = 0.5 is not a parameter of "
                 "pipelines.delivery_time a stack may set; fix: use one of max_depth, min_rows, min_samples_leaf, "
                 "n_estimators, random_state, split_seed, test_fraction (camelCase or snake_case); the platform sets "
                 "the others", id="pipeline-parameter-the-platform-sets"),
    pytest.param("dev", {"models.1.training": DELETE},
                 "mlops:models[1].training = (not set) is required; fix: set mlops:models[1].training in the stack "
                 "file", id="model-without-training"),
    pytest.param("dev", {"models.0.serving.challengerWeight": 0.1},
                 "mlops:models[0].serving.challengerWeight = 0.1 routes traffic to a challenger, but promotion = auto "
                 "promotes a passing challenger at once (there is never a @challenger to serve); fix: set promotion: "
                 "manual to A/B test challengers, or challengerWeight: 0", id="challenger-weight-without-challenger"),
    pytest.param("dev", {"models.0.serving.minReplicas": 4},
                 "mlops:models[0].serving.maxReplicas = 3 is below minReplicas = 4; fix: raise maxReplicas or lower "
                 "minReplicas", id="serving-min-above-max"),
    pytest.param("dev", {"models.0.serving.cpu": "40", "models.0.serving.maxReplicas": 3},
                 "mlops:models[0].serving.cpu = '40' x maxReplicas 3 exceeds the cpu quota '100' of team ml-team; fix: "
                 "lower serving.cpu or maxReplicas, or raise workloads.teams quota.cpu", id="serving-above-team-quota"),
    pytest.param("dev", {"models.0.serving.memory": "1 GB"},
                 "mlops:models[0].serving.memory = '1 GB' is not a Kubernetes quantity; fix: use e.g. '500m' for cpu "
                 "or '1Gi' for memory", id="serving-memory-not-a-quantity"),
    pytest.param("dev", {"models.0.serving.memoryLimit": "512Mi"},
                 "mlops:models[0].serving.memoryLimit = '512Mi' is below the memory request = '1Gi'; fix: set "
                 "memoryLimit to at least memory", id="serving-limit-below-request"),
    pytest.param("dev", {"models.1.qualityGates": {"min": {"rmse": 20.0}, "max": {"rmse": 12.5}}},
                 "mlops:models[1].qualityGates.min.rmse = 20.0 is above max.rmse = 12.5: no model can pass; fix: lower "
                 "min.rmse or raise max.rmse", id="gates-no-model-can-pass"),
    pytest.param("dev", {"models.1.qualityGates": {"min": {"r-2": 0.6}}},
                 "mlops:models[1].qualityGates.min.r-2 = 0.6 does not name a metric; fix: use the metric name the "
                 "pipeline's evaluate step reports (letters, digits, underscores)", id="gate-not-a-metric"),
    pytest.param("dev", {"models.1.features": {"project": "delivery", "featureView": "routes"}},
                 "mlops:models[1].features.project = 'delivery' differs from the Feast project of another model "
                 "(fraud_detection): the platform's feature server serves one project; fix: put every model's feature "
                 "views in one Feast project", id="second-feast-project"),
    pytest.param("dev", {"services.feast": False},
                 "mlops:models[0].features = {\"project\": \"fraud_detection\", \"featureView\": \"card_features\"} "
                 "names a Feast feature source, but services.feast is false; fix: set services.feast: true or remove "
                 "the model's features", id="features-without-feast"),
    pytest.param("dev", {"services.kubeflow": False},
                 "mlops:models[0].training.schedule = '0 3 * * 0' needs Kubeflow Pipelines to submit runs to, but "
                 "services.kubeflow is false; fix: set services.kubeflow: true or remove the schedule",
                 id="training-schedule-without-kubeflow"),
    pytest.param("dev", {"models.0.inference": {"minReplicas": 1}},
                 "mlops:models[0].inference = {\"minReplicas\": 1} is not a known key; fix: valid keys here: batch, "
                 "features, monitoring, name, promotion, qualityGates, serving, team, training (remove or rename it)",
                 id="retired-inference-key"),
    pytest.param("dev", {"workloads.batchSchedule": "0 2 * * *"},
                 "mlops:workloads.batchSchedule = '0 2 * * *' is a per-model setting now; fix: move it to "
                 'mlops:models[].batch.schedule of each model (README, "Add a model")',
                 id="retired-workloads-schedule"),
    pytest.param("dev", {"monitoring.driftShareThreshold": 0.3},
                 "mlops:monitoring.driftShareThreshold = 0.3 is a per-model setting now; fix: move it to "
                 'mlops:models[].monitoring.driftShare of each model (README, "Add a model")',
                 id="retired-drift-threshold"),
    pytest.param("dev", {"network.existingVpcId": "vpc-123", "network.existingPrivateSubnetIds": SUBNETS[:1]},
                 "mlops:network.existingVpcId = 'vpc-123' is not a VPC id; fix: use the id `aws ec2 describe-vpcs` "
                 "shows, e.g. vpc-0a1b2c3d4e5f67890", id="existing-vpc-id-malformed"),
    pytest.param("dev", {"network.existingVpcId": VPC, "network.existingPrivateSubnetIds": [SUBNETS[0], "sg-0123"]},
                 "mlops:network.existingPrivateSubnetIds[1] = 'sg-0123' is not a subnet id; fix: use ids from `aws ec2 "
                 f"describe-subnets --filters Name=vpc-id,Values={VPC}`, e.g. subnet-0a1b2c3d4e5f67890",
                 id="existing-subnet-id-malformed"),
    pytest.param("dev", {"network.existingVpcId": VPC, "network.existingPrivateSubnetIds": SUBNETS[:1]},
                 "mlops:network.existingPrivateSubnetIds = [\"subnet-0aaaaaaaaaaaaaaaa\"] lists fewer than two "
                 "subnets: EKS needs subnets in at least two availability zones; fix: list one private subnet per "
                 "zone, in two zones or more", id="existing-vpc-one-subnet"),
    pytest.param("gcp-dev", {"network.existingVpcId": "projects/p/global/networks/n"},
                 "mlops:network.existingVpcId = 'projects/p/global/networks/n' is not supported on GCP: the GCP layer "
                 "creates its own VPC, subnet and private services range; fix: remove network.existingVpcId (and the "
                 "subnet ids) from the GCP stack", id="existing-vpc-on-gcp"),
    pytest.param("dev", {"database.engineVersion": "11"},
                 "mlops:database.engineVersion = '11' is not a supported PostgreSQL major version; fix: use one of 15, "
                 "16, 17", id="old-postgres"),
    pytest.param("dev", {"workloads.teams": [{"name": "mlflow"}]},
                 "mlops:workloads.teams[0].name = 'mlflow' collides with a platform namespace; fix: choose another "
                 "team name", id="team-collision"),
    pytest.param("dev", {"cluster.access.0.principal": "admin@example.com"},
                 "mlops:cluster.access[0].principal = 'admin@example.com' is not a valid AWS principal; fix: use a "
                 "value like 'arn:aws:iam::123456789012:role/PlatformAdmin'", id="bad-principal"),
    pytest.param("dev", {"storage.archiveAfterDays": 100},
                 "mlops:storage.archiveAfterDays = 100 is less than 30 days after infrequentAccessAfterDays = 90; fix: "
                 "set it to at least 120", id="lifecycle-order"),
    pytest.param("gcp-prod", {"budget.monthlyLimitUsd": float("inf")},
                 "mlops:budget.monthlyLimitUsd = inf is invalid: input should be a finite number; fix: use a finite "
                 "number", id="infinite-budget-crashed-the-gcp-plan"),
    pytest.param("dev", {"nodePools.cpu.maxSize": 10**30},
                 "mlops:nodePools.cpu.maxSize = 1000000000000000000000000000000 is invalid: input should be less than "
                 "or equal to 2147483647; fix: use a value <= 2147483647", id="huge-number"),
    pytest.param("dev", {"costCenter": ""},
                 "mlops:costCenter = '' is invalid: string should have at least 1 character; fix: use at least 1 "
                 "character(s)", id="empty-tag-value"),
    pytest.param('dev', {'pipelinesDatabase.engineVersion': '8.0'},
                 "mlops:pipelinesDatabase.engineVersion = '8.0' is not a supported MySQL version; fix: use one of 8.4 "
                 '(quoted)',
                 id='kfp-mysql-version-gone'),
    pytest.param('gcp-dev', {'pipelinesDatabase.instanceClass': 'db.t4g.small'},
                 "mlops:pipelinesDatabase.instanceClass = 'db.t4g.small' is not a Cloud SQL tier; fix: use a value lik"
                 "e 'db-custom-1-3840'",
                 id='kfp-mysql-aws-class-on-gcp'),
    pytest.param('dev', {'pipelinesDatabase.instanceClass': 't4g.small'},
                 "mlops:pipelinesDatabase.instanceClass = 't4g.small' is not an RDS instance class; fix: use a value l"
                 "ike 'db.t4g.small'",
                 id='kfp-mysql-bad-class'),
    pytest.param('dev', {'pipelinesDatabase.storageGb': 100, 'pipelinesDatabase.maxStorageGb': 50},
                 'mlops:pipelinesDatabase.maxStorageGb = 50 is below storageGb = 100; fix: set maxStorageGb to at leas'
                 't storageGb (it is the storage autoscaling ceiling)',
                 id='kfp-mysql-storage-ceiling'),
    pytest.param('dev', {'pipelinesDatabase.backupRetentionDays': 0},
                 'mlops:pipelinesDatabase.backupRetentionDays = 0 is invalid: input should be greater than or equal to'
                 ' 1; fix: use a value >= 1',
                 id='kfp-mysql-no-backups'),
    pytest.param('prod', {'pipelinesDatabase.backupRetentionDays': 3},
                 'mlops:pipelinesDatabase.backupRetentionDays = 3 is below 7 days in prod: pipeline runs, schedules an'
                 'd lineage could not be restored; fix: keep at least 7 days of backups (14 recommended)',
                 id='kfp-mysql-prod-backups'),
    pytest.param('gcp-prod', {'pipelinesDatabase.highAvailability': False},
                 'mlops:pipelinesDatabase.highAvailability = False is off in prod: one zone outage would stop every pi'
                 'peline run and schedule; fix: set pipelinesDatabase.highAvailability: true (Multi-AZ / REGIONAL)',
                 id='kfp-mysql-prod-single-zone'),
    pytest.param('dev', {'pipelinesDatabse': {}},
                 "mlops:pipelinesDatabse = {} is not a known key; fix: did you mean 'pipelinesDatabase'? (remove or re"
                 'name it)',
                 id='kfp-mysql-typo'),
]  # fmt: skip


@pytest.mark.parametrize(("stack", "changes", "expected"), BAD_CONFIGS)
def test_bad_config_is_refused_before_any_resource(stack: str, changes: dict[str, Any], expected: str) -> None:
    assert f"Pulumi.{stack}.yaml: {expected}" in refused_lines(stack, mutate(stack, changes))


def test_an_existing_vpc_is_looked_up_before_anything_is_created() -> None:
    """Subnets of another VPC and subnets all in one zone are refused from what the cloud says about them (an
    invoke, which registers nothing), together with the static problems."""
    config = mutate("dev", {"network.existingVpcId": VPC,
                            "network.existingPrivateSubnetIds": [*SUBNETS, "subnet-0ccccccccccccccccc"[:24]],
                            "models.0.batch.schedule": "99 * * * *"})  # fmt: skip
    account = MockContext(
        project="mlops",
        stack="dev",
        aws_subnets={SUBNETS[0]: (VPC, "us-east-1a"), SUBNETS[1]: (VPC, "us-east-1a"), "subnet-0cccccccccccccccc":
                     ("vpc-0ffffffffffffffff", "us-east-1b")},
    )  # fmt: skip
    lines = refused_lines("dev", config, context=account)
    assert lines == [
        "Pulumi.dev.yaml: mlops:models[0].batch.schedule = '99 * * * *' is out of range (minute '99': 99 is outside "
        f"0-59); fix: {CRON_FIX}",
        "Pulumi.dev.yaml: mlops:network.existingPrivateSubnetIds[2] = 'subnet-0cccccccccccccccc' is not a subnet of "
        f"{VPC} in us-east-1 (invoke of aws:ec2/getSubnet:getSubnet failed: no matching EC2 Subnet found (id "
        f"subnet-0cccccccccccccccc, vpc-id {VPC}) (id)); fix: use ids from `aws ec2 describe-subnets --filters "
        f"Name=vpc-id,Values={VPC}`",
        'Pulumi.dev.yaml: mlops:network.existingPrivateSubnetIds = ["subnet-0aaaaaaaaaaaaaaaa", '
        '"subnet-0bbbbbbbbbbbbbbbb", "subnet-0cccccccccccccccc"] puts every subnet in one availability zone '
        "(us-east-1a): EKS needs subnets in at least two zones; fix: add a private subnet of another availability zone",
    ]


def test_an_existing_vpc_in_two_zones_plans() -> None:
    no_services = {f"services.{name}": False for name in ("mlflow", "kubeflow", "feast", "monitoring")}
    config = mutate(
        "dev",
        {"network.existingVpcId": VPC, "network.existingPrivateSubnetIds": SUBNETS, "models": DELETE, **no_services},
    )
    account = MockContext(project="mlops", stack="dev", aws_subnets={SUBNETS[0]: (VPC, "us-east-1a"),
                                                                     SUBNETS[1]: (VPC, "us-east-1b")})  # fmt: skip
    main = str(PROJECT_ROOT / "infra" / "__main__.py")
    plan = run_program(lambda: runpy.run_path(main, run_name="__main__") and None, project="mlops", stack="dev",
                       config=config, context=account)  # fmt: skip
    assert plan.of_type("aws:ec2/vpc:Vpc") == []  # the existing VPC is used, not created
    (cluster,) = plan.of_type("aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["subnetIds"] == SUBNETS


WEBHOOK = "https://hooks.slack.com/services/T0000/B0000/s3cr3tT0k3n"


@pytest.mark.parametrize(
    ("key", "secret_keys", "expected"),
    [
        pytest.param("mlops:slackWebhookUrl", [],
                     "mlops:slackWebhookUrl = (secret, not shown) is a secret stored in plain text in the stack file "
                     "(and so in git and CI logs); fix: remove it and run `pulumi config set --secret "
                     "mlops:slackWebhookUrl <value>` (stored encrypted)", id="secret-key-in-plain-text"),
        pytest.param("mlops:slackWebhookURL", ["mlops:slackWebhookURL"],
                     "mlops:slackWebhookURL = (secret, not shown) is not a known key; fix: did you mean "
                     "'slackWebhookUrl'? remove it and run `pulumi config set --secret mlops:slackWebhookUrl <value>`",
                     id="mistyped-secret-key"),
        pytest.param("mlops:pagerdutyRoutngKey", [],
                     "mlops:pagerdutyRoutngKey = (secret, not shown) is not a known key; fix: did you mean "
                     "'pagerdutyRoutingKey'? remove it and run `pulumi config set --secret mlops:pagerdutyRoutingKey "
                     "<value>`", id="mistyped-secret-key-in-plain-text"),
    ],
)  # fmt: skip
def test_secrets_are_refused_outside_their_encrypted_keys_and_never_echoed(
    key: str, secret_keys: list[str], expected: str
) -> None:
    config = {**mutate("dev", {}), key: WEBHOOK}
    lines = refused_lines("dev", config, secret_keys=secret_keys)
    assert lines == [f"Pulumi.dev.yaml: {expected}"]
    assert "s3cr3t" not in "\n".join(lines)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"monitoring.slackChannel": WEBHOOK},
         "mlops:monitoring.slackChannel = (secret, not shown) is a secret (a webhook or events URL) in plain text; "
         "fix: put the channel name here and run `pulumi config set --secret mlops:slackWebhookUrl <url>` (or "
         "mlops:pagerdutyRoutingKey)"),
        ({"monitoring.slackWebhookUrl": WEBHOOK},
         "mlops:monitoring.slackWebhookUrl = (secret, not shown) is not a known key; fix: secrets live in their own "
         "encrypted keys: remove it and run `pulumi config set --secret mlops:<slackWebhookUrl or "
         "pagerdutyRoutingKey> <value>`"),
    ],
)  # fmt: skip
def test_secrets_pasted_into_the_spec_are_refused_unseen(changes: dict[str, Any], expected: str) -> None:
    lines = refused_lines("dev", mutate("dev", changes))
    assert lines == [f"Pulumi.dev.yaml: {expected}"]
    assert "s3cr3t" not in "\n".join(lines)


def test_an_encrypted_secret_is_accepted_and_stays_out_of_the_spec() -> None:
    config = {**mutate("dev", {}), "mlops:slackWebhookUrl": WEBHOOK}
    spec = parse_spec(config, "Pulumi.dev.yaml", ["mlops:slackWebhookUrl"])
    assert "s3cr3t" not in json.dumps(spec.model_dump(mode="json"))


@pytest.mark.parametrize(
    ("stack", "changes", "paths"),
    [
        pytest.param("prod", {"nodePools.system.capacityType": "SPOT", "deletionProtection": False,
                              "nodePools.gpu.accelerator": DELETE, "models.0.batch.schedule": "99 * * * *"},
                     ["deletionProtection", "models[0].batch.schedule", "nodePools.gpu.accelerator",
                      "nodePools.system.capacityType"], id="semantic-problems"),
        pytest.param("dev", {"nodePools.cpu.minSize": "x", "nodePools.cpu.maxSize": "y", "mlflow.replicas": 0},
                     ["mlflow.replicas", "nodePools.cpu.maxSize", "nodePools.cpu.minSize"], id="type-problems"),
        pytest.param("dev", {"cloud": "azure", "nodePools.gpu.minSize": 3,
                             "models.0.monitoring.schedule": "0 99 * * *"},
                     ["cloud", "models[0].monitoring.schedule", "nodePools.gpu.maxSize"], id="invalid-cloud"),
        pytest.param("dev", {"environment": "production", "region": ["us-east-1"],
                             "models.0.batch.schedule": "99 * * * *"},
                     ["environment", "models[0].batch.schedule", "region"], id="invalid-environment-and-region"),
        pytest.param("dev", {"nodePols": {}, "nodePools": DELETE, "models.0.batch.schedule": "99 * * * *"},
                     ["models[0].batch.schedule", "nodePols", "nodePools"], id="misspelt-required-top-level-key"),
        pytest.param("dev", {"nodePools.system.instanceTypes": [], "cluster.access.0.principal": 5,
                             "models.0.batch.schedule": "99 * * * *", "cluster.access.1.principal": "nobody"},
                     ["cluster.access[0].principal", "cluster.access[1].principal", "models[0].batch.schedule",
                      "nodePools.system.instanceTypes"], id="required-values-that-are-invalid"),
    ],
)  # fmt: skip
def test_every_problem_is_reported_at_once(stack: str, changes: dict[str, Any], paths: list[str]) -> None:
    """Also when a top-level key is unknown or invalid: the other keys are still checked (stand-ins, not silence)."""
    with pytest.raises(StackConfigError) as error:
        parse_spec(mutate(stack, changes), f"Pulumi.{stack}.yaml")
    assert sorted(p.path for p in error.value.problems) == paths
    assert str(error.value).startswith(f"{len(paths)} problem(s) in the stack configuration:")


# Wrong types at every level: every key of a shipped stack file, replaced by each of these.
MALFORMED = [None, [], {}, "", "x" * 300, 10**30, -1, 1.5, True, "ünïcödé ✓", ["a"], {"a": 1}, float("inf"),
             float("nan"), "1e400", "{unbalanced", "- a\n- b"]  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in children:
        yield from _paths(child, (*prefix, key))


@pytest.mark.parametrize("stack", ["prod", "gcp-prod"])
def test_malformed_stack_files_give_problems_never_a_traceback(stack: str) -> None:
    """A fuzz over the stack file (it found `budget.monthlyLimitUsd: .inf`, which crashed the GCP plan)."""
    base = stack_document(stack)
    accepted, refusals = 0, []
    for path in _paths(base):
        for bad in MALFORMED:
            document = copy.deepcopy(base)
            node = document
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = bad
            try:
                parse_spec(as_engine_config(document), f"Pulumi.{stack}.yaml")
                accepted += 1
            except StackConfigError as error:
                refusals.append(str(error).splitlines()[1:])
    lines = [line for refusal in refusals for line in refusal]
    assert all(line.startswith(f"Pulumi.{stack}.yaml: mlops:") and "; fix: " in line for line in lines)
    assert all(refusals) and len(refusals) > 10 * accepted  # most malformed values are refused, none crashes


def test_a_yaml_syntax_error_is_one_line_with_file_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: mlops\n")
    (tmp_path / "Pulumi.broken.yaml").write_text(
        "config:\n  mlops:cloud: aws\n  mlops:network:\n    vpcCidr: 10.0.0.0/16\n   zoneCount: 2\n"
    )
    monkeypatch.setattr(plan_cli, "PROJECT_ROOT", tmp_path)
    assert plan_cli.main(["--stack", "broken"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "Pulumi.broken.yaml:5:4: while parsing a block mapping expected <block end>, but found '<block mapping start>'"
        "; fix: correct the YAML at that line (indentation, a missing ':' or an unclosed quote)"
    ]


@pytest.mark.parametrize("stack", ["dev", "prod", "gcp-dev", "gcp-prod"])
def test_shipped_stacks_are_valid(stack: str) -> None:
    spec = parse_spec(mutate(stack, {}), source=f"Pulumi.{stack}.yaml")
    assert spec.environment == ("prod" if stack.endswith("prod") else "dev")
    assert spec.cloud == ("gcp" if stack.startswith("gcp") else "aws")
    assert spec.deletion_protection is spec.is_prod


def test_pulumi_project_points_at_the_stack_program() -> None:
    project = yaml.safe_load(Path(PROJECT_ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "mlops"
    assert project["runtime"]["name"] == "python"
    assert (PROJECT_ROOT / project["main"] / "__main__.py").is_file()
    assert {"cloud", "environment", "region"} <= set(project["config"])


def test_readme_configuration_reference_is_current() -> None:
    from infra.config_reference import readme_with_reference

    readme = (PROJECT_ROOT / "README.md").read_text()
    assert readme == readme_with_reference(readme), "run `make docs` to regenerate the configuration reference"
