"""Bad stack config is refused before anything is registered, with one line per problem naming key, value and fix."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import StackConfigError, parse_spec
from infra.plan.engine import PROJECT_ROOT, ProgramFailed, run_program

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


def run_real_program(stack: str, config: dict[str, str]) -> ProgramFailed:
    main = str(PROJECT_ROOT / "infra" / "__main__.py")

    def program() -> None:
        import runpy

        runpy.run_path(main, run_name="__main__")

    with pytest.raises(ProgramFailed) as failure:
        run_program(program, project="mlops", stack=stack, config=config)
    return failure.value


BAD_CONFIGS = [
    pytest.param("dev", {"nodePools.gpu.maxSize": 2, "nodePools.gpu.minSize": 3},
                 "mlops:nodePools.gpu.maxSize = 2 is below minSize = 3; fix: raise maxSize to at least 3",
                 id="min-above-max"),
    pytest.param("dev", {"nodePools.cpu.desiredSize": 12},
                 "mlops:nodePools.cpu.desiredSize = 12 is outside minSize..maxSize = 0..10", id="desired-outside"),
    pytest.param("dev", {"nodePools.system.capacityType": "SPOT"},
                 "mlops:nodePools.system.capacityType = 'SPOT' is not allowed", id="spot-system-pool"),
    pytest.param("dev", {"nodePools.cpu.instanceTypes": ["m6i.xlarge", "m7g.xlarge"]},
                 "mixes CPU architectures (arm64: m7g.xlarge; x86_64: m6i.xlarge)", id="mixed-arch-aws"),
    pytest.param("gcp-dev", {"nodePools.cpu.instanceTypes": ["n2-standard-4", "t2a-standard-4"]},
                 "mixes CPU architectures (arm64: t2a-standard-4; x86_64: n2-standard-4)", id="mixed-arch-gcp"),
    pytest.param("dev", {"nodePools.gpu.accelerator": DELETE},
                 "mlops:nodePools.gpu.accelerator = (not set) is missing", id="gpu-without-accelerator"),
    pytest.param("dev", {"nodePools.gpu.instanceTypes": ["m6i.xlarge"]},
                 "mlops:nodePools.gpu.instanceTypes[0] = 'm6i.xlarge' has no GPU", id="gpu-pool-without-gpu"),
    pytest.param("dev", {"nodePools.cpu.instanceTypes": ["g5.xlarge"]},
                 "puts GPU machines in the cpu pool", id="gpu-in-cpu-pool"),
    pytest.param("dev", {"nodePools.cpu.instanceTypes": ["m6i-xlarge"]},
                 "mlops:nodePools.cpu.instanceTypes[0] = 'm6i-xlarge' is not a valid EC2 instance type",
                 id="bad-instance-type"),
    pytest.param("dev", {"region": "us-central1"},
                 "mlops:region = 'us-central1' is a GCP region, but cloud = aws", id="gcp-region-on-aws"),
    pytest.param("dev", {"region": "us-est-1"},
                 "mlops:region = 'us-est-1' is not an AWS region; fix: use an AWS region such as", id="typo-region"),
    pytest.param("gcp-dev", {"gcp.zone": "europe-west1-b"},
                 "mlops:gcp.zone = 'europe-west1-b' is not a zone of region us-central1", id="zone-not-in-region"),
    pytest.param("gcp-dev", {"gcp": DELETE}, "mlops:gcp = (not set) is required when cloud = gcp",
                 id="gcp-without-project"),
    pytest.param("dev", {"cluster.kubernetesVersion": "1.27"},
                 "mlops:cluster.kubernetesVersion = '1.27' is outside the supported range 1.31 to 1.34",
                 id="k8s-too-old"),
    pytest.param("dev", {"network.vpcCidr": "10.0.0.0/33"}, "mlops:network.vpcCidr = '10.0.0.0/33' is invalid",
                 id="invalid-cidr"),
    pytest.param("gcp-dev", {"network.servicesCidr": "10.65.0.0/20"},
                 "mlops:network.servicesCidr = 10.65.0.0/20 overlaps network.podsCidr = 10.64.0.0/14",
                 id="overlapping-cidrs"),
    pytest.param("prod", {"deletionProtection": False},
                 "mlops:deletionProtection = False is off in prod", id="prod-without-deletion-protection"),
    pytest.param("prod", {"cluster.publicAccessCidrs": ["0.0.0.0/0"]},
                 "mlops:cluster.publicAccessCidrs[0] = 0.0.0.0/0 opens the prod API server to the whole internet",
                 id="prod-open-api"),
    pytest.param("prod", {"storage.forceDestroy": True}, "mlops:storage.forceDestroy = True would let a destroy",
                 id="prod-force-destroy"),
    pytest.param("dev", {"nodePools.gpu.maxSzie": 3}, "mlops:nodePools.gpu.maxSzie = 3 is not a known key; "
                 "fix: did you mean 'maxSize'?", id="unknown-key-did-you-mean"),
    pytest.param("dev", {"nodePols": {}}, "mlops:nodePols = {} is not a known key; fix: did you mean 'nodePools'?",
                 id="unknown-top-level-key"),
    pytest.param("dev", {"nodePools.cpu.minSize": "three"}, "mlops:nodePools.cpu.minSize = 'three' is invalid",
                 id="wrong-type"),
    pytest.param("dev", {"nodePools.cpu.capacityType": "spot"},
                 "mlops:nodePools.cpu.capacityType = 'spot' is not an allowed value; fix: use one of 'ON_DEMAND'",
                 id="bad-enum"),
    pytest.param("dev", {"cloud": "azure"}, "mlops:cloud = 'azure' is not an allowed value", id="unknown-cloud"),
    pytest.param("dev", {"workloads.imageTag": "0.2.0"},
                 "mlops:workloads.imageTag = '0.2.0' is not a known key; fix: did you mean 'images'?",
                 id="retired-image-tag"),
    pytest.param("dev", {"workloads.images.source": "ci"},
                 "mlops:workloads.images.source = 'ci' is not an allowed value; fix: use one of 'build' or 'prebuilt'",
                 id="unknown-image-source"),
    pytest.param("dev", {"workloads.images.digests": {"serving": "sha256:" + "a" * 64}},
                 "mlops:workloads.images.digests = {\"serving\": \"sha256:aaaa", id="digests-while-building"),
    pytest.param("dev", {"workloads.images": {"source": "prebuilt", "digests": {"serving": "0.1.0"}}},
                 "mlops:workloads.images.digests.serving = '0.1.0' is not an image digest; fix: use the `sha256:",
                 id="tag-as-digest"),
    pytest.param("dev", {"workloads.images": {"source": "prebuilt", "digests": {"inference": "sha256:" + "b" * 64}}},
                 "mlops:workloads.images.digests.inference", id="unknown-image-name"),
    pytest.param("dev", {"storage.archiveAfterDays": 100},
                 "mlops:storage.archiveAfterDays = 100 is less than 30 days after infrequentAccessAfterDays = 90",
                 id="lifecycle-order"),
    pytest.param("dev", {"database.engineVersion": "11"},
                 "mlops:database.engineVersion = '11' is not a supported PostgreSQL major version", id="old-postgres"),
    pytest.param("dev", {"workloads.teams": [{"name": "mlflow"}]},
                 "mlops:workloads.teams[0].name = 'mlflow' collides with a platform namespace", id="team-collision"),
    pytest.param("dev", {"cluster.access.0.principal": "admin@example.com"},
                 "mlops:cluster.access[0].principal = 'admin@example.com' is not a valid AWS principal",
                 id="bad-principal"),
    pytest.param("prod", {"database.backupRetentionDays": 1},
                 "mlops:database.backupRetentionDays = 1 is below 7 days in prod", id="prod-short-backups"),
    pytest.param("dev", {"region": DELETE}, "mlops:region = (not set) is required", id="missing-region"),
]  # fmt: skip


@pytest.mark.parametrize(("stack", "changes", "expected"), BAD_CONFIGS)
def test_bad_config_is_refused_before_any_resource(stack: str, changes: dict[str, Any], expected: str) -> None:
    failure = run_real_program(stack, mutate(stack, changes))
    assert isinstance(failure.error, StackConfigError), failure.error
    assert failure.registered == []
    lines = str(failure.error).splitlines()
    assert any(line.startswith(f"Pulumi.{stack}.yaml: ") and expected in line for line in lines), lines


def test_every_problem_is_reported_at_once() -> None:
    config = mutate(
        "prod",
        {
            "nodePools.system.capacityType": "SPOT",
            "deletionProtection": False,
            "nodePools.gpu.accelerator": DELETE,
            "workloads.images.source": "prebuilt",
            "workloads.images.digests": {"mlflow": "sha256:deadbeef"},
        },
    )
    with pytest.raises(StackConfigError) as error:
        parse_spec(config, source="Pulumi.prod.yaml")
    paths = sorted(p.path for p in error.value.problems)
    assert paths == ["deletionProtection", "nodePools.gpu.accelerator", "nodePools.system.capacityType",
                     "workloads.images.digests.mlflow"]  # fmt: skip
    assert str(error.value).startswith("4 problem(s) in the stack configuration:")


def test_type_errors_are_all_reported_together() -> None:
    config = mutate("dev", {"nodePools.cpu.minSize": "x", "nodePools.cpu.maxSize": "y", "mlflow.replicas": 0})
    with pytest.raises(StackConfigError) as error:
        parse_spec(config, source="Pulumi.dev.yaml")
    assert sorted(p.path for p in error.value.problems) == [
        "mlflow.replicas",
        "nodePools.cpu.maxSize",
        "nodePools.cpu.minSize",
    ]


@pytest.mark.parametrize("stack", ["dev", "prod", "gcp-dev", "gcp-prod"])
def test_shipped_stacks_are_valid(stack: str) -> None:
    spec = parse_spec(mutate(stack, {}), source=f"Pulumi.{stack}.yaml")
    assert spec.environment == ("prod" if stack.endswith("prod") else "dev")
    assert spec.cloud == ("gcp" if stack.startswith("gcp") else "aws")
    assert spec.deletion_protection is spec.is_prod


def test_secret_keys_are_not_spec_keys() -> None:
    config = mutate("dev", {})
    config["mlops:slackWebhookUrl"] = "https://hooks.slack.example/T000/B000/XXXX"
    spec = parse_spec(config, source="Pulumi.dev.yaml")
    assert "hooks.slack.example" not in json.dumps(spec.model_dump(mode="json"))


def test_pulumi_project_points_at_the_stack_program() -> None:
    project = yaml.safe_load(Path(PROJECT_ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "mlops"
    assert project["runtime"]["name"] == "python"
    assert (PROJECT_ROOT / project["main"] / "__main__.py").is_file()
    assert {"cloud", "environment", "region"} <= set(project["config"])


def test_readme_configuration_reference_is_current() -> None:
    from infra.config import readme_with_reference

    readme = (PROJECT_ROOT / "README.md").read_text()
    assert readme == readme_with_reference(readme), "run `make docs` to regenerate the configuration reference"
