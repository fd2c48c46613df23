"""The compiled pipeline: step structure, parameters from the contract's defaults, pinned image, GPU option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from mlops_workloads.gates import DEFAULT_THRESHOLDS
from mlops_workloads.images import TRAINING_IMAGE
from mlops_workloads.training import DEFAULT_PARAMS

from pipelines.training import compile_pipeline


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    path = compile_pipeline(tmp_path_factory.mktemp("compiled") / "fraud_training.yaml")
    pipeline_spec, platform_spec = list(yaml.safe_load_all(path.read_text()))
    return pipeline_spec, platform_spec


def test_steps_and_their_order(compiled) -> None:  # type: ignore[no-untyped-def]
    spec, _ = compiled
    root = spec["root"]["dag"]["tasks"]
    assert set(root) == {"ingest", "validate", "engineer-features", "condition-branches-1"}
    assert root["validate"]["dependentTasks"] == ["ingest"]
    assert set(root["engineer-features"]["dependentTasks"]) == {"ingest", "validate"}
    for branch in ("comp-condition-2", "comp-condition-3"):
        tasks = spec["components"][branch]["dag"]["tasks"]
        train, evaluate, register, promote = (_key(tasks, n) for n in ("train", "evaluate", "register", "promote"))
        assert tasks[evaluate]["inputs"]["artifacts"]["model"]["taskOutputArtifact"]["producerTask"] == train
        assert evaluate in tasks[register]["dependentTasks"]
        assert tasks[promote]["dependentTasks"] == [register]  # promotion applies to the version just registered


def _key(tasks: dict[str, Any], base: str) -> str:
    (key,) = (key for key in tasks if key == base or key.startswith(f"{base}-"))
    return key


def test_typed_artifacts_between_steps(compiled) -> None:  # type: ignore[no-untyped-def]
    spec, _ = compiled
    outputs = {
        name: {
            k: v["artifactType"]["schemaTitle"]
            for k, v in comp.get("outputDefinitions", {}).get("artifacts", {}).items()
        }
        for name, comp in spec["components"].items()
    }
    assert outputs["comp-ingest"] == {"transactions": "system.Dataset"}
    assert outputs["comp-engineer-features"] == {"train_data": "system.Dataset", "test_data": "system.Dataset"}
    assert outputs["comp-train"] == {"model": "system.Model"}
    assert outputs["comp-evaluate"]["metrics"] == "system.Metrics"


def test_parameters_default_to_the_seed_values(compiled) -> None:  # type: ignore[no-untyped-def]
    spec, _ = compiled
    params = spec["root"]["inputDefinitions"]["parameters"]
    for name in ("n_estimators", "max_depth", "min_samples_split", "min_samples_leaf", "random_state"):
        assert params[name]["defaultValue"] == DEFAULT_PARAMS[name]
    assert params["class_weight"]["defaultValue"] == "balanced"
    for metric, threshold in DEFAULT_THRESHOLDS.items():
        assert params[f"min_{metric}"]["defaultValue"] == threshold
    assert params["use_gpu"]["defaultValue"] is False
    assert params["promotion"]["defaultValue"] == "manual"  # no champion changes unless the stack says auto
    assert {"source_uri", "tracking_uri"} <= {k for k, v in params.items() if "defaultValue" not in v}


def test_every_step_runs_the_pinned_image_without_installing_anything(compiled) -> None:  # type: ignore[no-untyped-def]
    spec, _ = compiled
    executors = spec["deploymentSpec"]["executors"]
    assert len(executors) == 11  # ingest, validate, engineer + train/evaluate/register/promote in each GPU branch
    for executor in executors.values():
        container = executor["container"]
        assert container["image"] == TRAINING_IMAGE
        assert not container["image"].endswith(":latest")
        assert "pip install" not in " ".join(container["command"])


def test_gpu_option_adds_toleration_and_node_selector_to_the_gpu_train_step_only(compiled) -> None:  # type: ignore[no-untyped-def]
    spec, platform = compiled
    gpu_condition = spec["components"]["comp-condition-branches-1"]["dag"]["tasks"]["condition-2"]
    assert gpu_condition["triggerPolicy"]["condition"] == "inputs.parameter_values['pipelinechannel--use_gpu'] == true"
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(k8s) == {"exec-train"}
    assert k8s["exec-train"]["nodeSelector"]["labels"] == {"gpu-enabled": "true"}
    assert k8s["exec-train"]["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
    gpu_train = spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]["accelerator"]
    assert gpu_train["resourceType"] == "nvidia.com/gpu"
    assert "resources" not in spec["deploymentSpec"]["executors"]["exec-train-2"]["container"]


def test_compile_creates_parent_directories(tmp_path: Path) -> None:
    target = compile_pipeline(tmp_path / "nested" / "dir" / "p.yaml")
    assert target.is_file()
