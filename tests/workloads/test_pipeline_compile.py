"""The compiled pipelines, as ``python -m mlops_workloads.submit --compile-only`` writes them: step structure, the
stack's arguments baked in, the pinned or the stack's image, and the GPU placement of the training step on both
clouds' GPU pools (and on nothing else)."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlops_workloads.gates import Gate
from mlops_workloads.images import TRAINING_IMAGE
from mlops_workloads.release import ReleasePolicy
from mlops_workloads.submission import TrainingRequest
from mlops_workloads.submit import main as submit_main
from mlops_workloads.training import DEFAULT_PARAMS

from pipelines.steps import PLATFORM_PARAMETERS

# The GPU pools' placement as components.k8s.common.placement_fields(cloud.placements["gpu"]) gives it:
# AWS: selector gpu-enabled=true (components/aws/nodegroups.py line 33), taint nvidia.com/gpu=true:NoSchedule (line 22);
# GKE: selector gpu-enabled=true (components/gcp/nodepools.py line 34), taint nvidia.com/gpu=present:NoSchedule
# (line 29). The AWS fixture adds a pool taint a stack may configure (NodePoolSpec.taints), so "every toleration"
# is tested with more than one.
AWS_GPU = {
    "nodeSelector": {"gpu-enabled": "true"},
    "tolerations": [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
        {"key": "team", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
    ],
}
GKE_GPU = {
    "nodeSelector": {"gpu-enabled": "true"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}],
}
STACK_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme-ml/mlops-training:2.3.4"
MODULES = ("pipelines.fraud_detection", "pipelines.delivery_time")


def _compile(tmp_path: Path, *flags: str, model: str = "fraud-detection") -> tuple[dict[str, Any], dict[str, Any]]:
    target = tmp_path / f"{model}.yaml"
    assert submit_main(["--model-name", model, "--compile-only", str(target), *flags]) == 0
    documents = list(yaml.safe_load_all(target.read_text()))
    return documents[0], documents[1] if len(documents) > 1 else {}


# The compiled layout these helpers read is kfp 2.17.0's (the workloads lock): parameter defaults under
# root.inputDefinitions (kfp/compiler/pipeline_spec_builder.py:412-415, _fill_in_component_input_default_value at
# :816), task wiring as componentInputParameter / taskOutputArtifact.producerTask (:154-197) and dependentTasks
# (:1179), component names `comp-<name>` and executor labels `exec-<name>` (kfp/dsl/utils.py:23-24, 70-82), the GPU
# request as container.resources.accelerator (:791-796); kfp-kubernetes 2.17.0 writes nodeSelector.labels and
# tolerations into the platform document (kfp/kubernetes/node_selector.py:43, toleration.py:69).
def _parameters(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v.get("defaultValue") for k, v in spec["root"]["inputDefinitions"]["parameters"].items()}


def _executor_of(spec: dict[str, Any], task: str) -> str:
    return str(spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]).replace("comp-", "exec-")


def test_fraud_steps_and_their_order(tmp_path: Path) -> None:
    spec, _ = _compile(tmp_path)
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"ingest", "validate", "engineer-features", "train", "evaluate", "register", "promote"}
    assert tasks["validate"]["dependentTasks"] == ["ingest"]
    assert set(tasks["engineer-features"]["dependentTasks"]) == {"ingest", "validate"}
    assert tasks["evaluate"]["inputs"]["artifacts"]["model"]["taskOutputArtifact"]["producerTask"] == "train"
    assert "evaluate" in tasks["register"]["dependentTasks"]
    assert tasks["promote"]["dependentTasks"] == ["register"]  # promotion applies to the version just registered


def test_the_stacks_arguments_are_baked_into_the_spec(tmp_path: Path) -> None:
    spec, _ = _compile(
        tmp_path,
        "--pipeline-parameters", '{"nEstimators": 300, "max_depth": 9}',
        "--train-source", "s3://data/fraud-detection/inputs",
        "--gate", "f1>=0.8", "--gate", "precision>=0.72",
        "--champion-tolerance", "0.01", "--promotion", "auto", "--experiment", "fraud-weekly",
        "--champion-alias", "production", "--challenger-alias", "candidate",
    )  # fmt: skip
    params = _parameters(spec)
    assert (params["champion_alias"], params["challenger_alias"]) == ("production", "candidate")
    assert params["n_estimators"] == 300 and params["max_depth"] == 9  # camelCase stack names reach the pipeline
    assert params["min_samples_leaf"] == DEFAULT_PARAMS["min_samples_leaf"]
    assert params["source_uri"] == "s3://data/fraud-detection/inputs"
    assert json.loads(params["gates"]) == ["f1>=0.8", "precision>=0.72"]
    assert (params["champion_tolerance"], params["promotion"]) == (0.01, "auto")
    assert (params["model_name"], params["experiment"]) == ("fraud-detection", "fraud-weekly")


def test_without_gates_the_pipelines_own_gates_and_manual_promotion_apply(tmp_path: Path) -> None:
    params = _parameters(_compile(tmp_path)[0])
    assert json.loads(params["gates"]) == ["f1>=0.75", "precision>=0.7", "recall>=0.6", "roc_auc>=0.85"]
    assert params["promotion"] == "manual"  # no champion changes unless the stack says auto
    delivery = _parameters(_compile(tmp_path, "--pipeline-module", MODULES[1], model="delivery-time")[0])
    assert {g.split("<")[0].split(">")[0] for g in json.loads(delivery["gates"])} == {"rmse", "mae", "r2"}


@pytest.mark.parametrize("module", MODULES)
def test_the_release_steps_read_the_runs_aliases(tmp_path: Path, module: str) -> None:
    """evaluate compares with the champion alias, register sets the challenger alias, promote moves both: each from
    the run's parameters, never a name of its own."""
    tasks = _compile(tmp_path, "--pipeline-module", module)[0]["root"]["dag"]["tasks"]
    wiring = {
        task: {
            name: tasks[task]["inputs"]["parameters"][name]["componentInputParameter"]
            for name in ("champion_alias", "challenger_alias")
            if name in tasks[task]["inputs"]["parameters"]
        }
        for task in ("evaluate", "register", "promote")
    }
    assert wiring == {
        "evaluate": {"champion_alias": "champion_alias"},
        "register": {"challenger_alias": "challenger_alias"},
        "promote": {"champion_alias": "champion_alias", "challenger_alias": "challenger_alias"},
    }


@pytest.mark.parametrize("module", MODULES)
def test_every_step_runs_the_stacks_image_without_installing_anything(tmp_path: Path, module: str) -> None:
    default, _ = _compile(tmp_path, "--pipeline-module", module)
    spec, _ = _compile(tmp_path, "--pipeline-module", module, "--training-image", STACK_IMAGE)
    assert {e["container"]["image"] for e in default["deploymentSpec"]["executors"].values()} == {TRAINING_IMAGE}
    executors = spec["deploymentSpec"]["executors"]
    assert len(executors) == len(spec["root"]["dag"]["tasks"])
    for executor in executors.values():
        assert executor["container"]["image"] == STACK_IMAGE
        assert "pip install" not in " ".join(executor["container"]["command"])


@pytest.mark.parametrize("placement", [AWS_GPU, GKE_GPU], ids=["aws", "gke"])
@pytest.mark.parametrize("module", MODULES)
def test_a_gpu_model_requests_a_gpu_and_lands_on_the_gpu_pool(
    tmp_path: Path, module: str, placement: dict[str, Any]
) -> None:
    spec, platform = _compile(
        tmp_path, "--pipeline-module", module, "--accelerator", "gpu", "--gpu-placement", json.dumps(placement),
        "--training-image", STACK_IMAGE,
    )  # fmt: skip
    train = _executor_of(spec, "train")
    resources = spec["deploymentSpec"]["executors"][train]["container"]["resources"]["accelerator"]
    assert (resources["resourceType"], resources["resourceCount"]) == ("nvidia.com/gpu", "1")
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(k8s) == {train}  # only the training step goes to the GPU pool
    assert k8s[train]["nodeSelector"]["labels"] == placement["nodeSelector"]
    assert sorted(k8s[train]["tolerations"], key=str) == sorted(placement["tolerations"], key=str)
    others = [e for name, e in spec["deploymentSpec"]["executors"].items() if name != train]
    assert all("resources" not in e["container"] for e in others)


@pytest.mark.parametrize("module", MODULES)
def test_a_cpu_model_gets_no_gpu_request_selector_or_toleration(tmp_path: Path, module: str) -> None:
    spec, platform = _compile(tmp_path, "--pipeline-module", module, "--gpu-placement", json.dumps(AWS_GPU))
    assert platform == {}
    assert all("resources" not in e["container"] for e in spec["deploymentSpec"]["executors"].values())


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--accelerator", "gpu"], "--accelerator gpu needs --gpu-placement"),
        (["--accelerator", "gpu", "--gpu-placement", "{"], "--gpu-placement is not valid JSON"),
        (["--accelerator", "gpu", "--gpu-placement", '{"tolerations": [{"effect": "NoSchedule"}]}'], "must have a key"),
        (["--pipeline-parameters", '{"nEstimatrs": 3}'], "has no parameter(s) ['n_estimatrs']; its parameters are"),
        (["--pipeline-parameters", '{"modelName": "x"}'], "sets ['model_name'], which the platform sets"),
        (["--pipeline-parameters", "[1]"], "must be a JSON object"),
        (["--pipeline-module", "pipelines.nope"], "'pipelines.nope' cannot be imported"),
        (["--pipeline-module", "mlops_workloads.gates"], "has no build(placement) function"),
        (["--gate", "f1=>0.7"], "is not METRIC>=NUMBER or METRIC<=NUMBER"),
        (["--training-image", "ghcr.io/acme/mlops-training:latest"], "is not a pinned image reference"),
        (
            ["--champion-alias", "live", "--challenger-alias", "live"],
            "--champion-alias/--challenger-alias: the champion and challenger aliases are both 'live'",
        ),
    ],
)
def test_bad_training_flags_are_refused_by_name_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    target = tmp_path / "spec.yaml"
    assert submit_main(["--model-name", "m", "--compile-only", str(target), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not target.exists()


def test_submit_without_a_kfp_host_or_image_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert submit_main(["--model-name", "m", "--tracking-uri", "http://mlflow:5000"]) == 2
    assert "--kfp-host (or KFP_HOST) is required" in capsys.readouterr().err


def test_the_platform_sets_exactly_the_parameters_the_stack_validation_reserves() -> None:
    """Every flag set: the platform's arguments are PLATFORM_PARAMETERS (what infra/config.py refuses in a stack's
    training.parameters), and every shipped pipeline accepts them all."""
    request = TrainingRequest(
        train_source="s3://data/x", experiment="e", release=ReleasePolicy(gates=(Gate.parse("f1>=0.5"),))
    )
    platform = request.arguments(model_name="m", tracking_uri="http://mlflow:5000")
    assert set(platform) == set(PLATFORM_PARAMETERS)
    for module in MODULES:
        accepted = inspect.signature(importlib.import_module(module).pipeline.pipeline_func).parameters
        assert set(PLATFORM_PARAMETERS) <= set(accepted), module
