"""Each workload image can start what the cluster runs in it, proven without building it (no Docker engine here or
in CI): the Dockerfiles are parsed and linted, each image is recreated from its Dockerfile and lock
(tests/infra/image_harness.py), and every command of every Kubernetes object, chart and pipeline step that runs the
image is started with `--help` in it. The commands are collected from the plans of every stack, the charts rendered
with the plan's values and the pipeline compiled inside the recreated monitoring image, so a new CronJob is covered
without touching this file.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.aws.catalog import INSTANCE_TYPES
from components.gcp.catalog import MACHINE_TYPES
from components.images import ContextRules
from components.spec import IMAGE_NAMES
from infra.plan.engine import Plan, run_program, stack_program
from infra.plan.manifests import HELM_RELEASE
from tests.infra.conftest import STACKS, _stack_plan, stack_config, stack_spec
from tests.infra.image_harness import (
    PROJECT_ROOT,
    Dockerfile,
    EnvironmentFactory,
    Invocation,
    Layout,
    RecreationError,
    base_image_problems,
    copy_source_problems,
    hadolint,
    import_check,
    invocations,
    pod_specs,
    python_version_problems,
    recreate,
    render_release,
    start_problems,
    user_problems,
)

DOCKER_DIR = PROJECT_ROOT / "workloads" / "docker"
DOCKERFILES = sorted(DOCKER_DIR.glob("*.Dockerfile"))
IDENTITY_ANNOTATIONS = ("eks.amazonaws.com/role-arn", "iam.gke.io/gcp-service-account")
BUILD = "docker-build:index:Image"
# The code the images carry: the workloads package (its wheel's packages) and the pipeline package (PYTHONPATH=/app).
with (PROJECT_ROOT / "workloads" / "pyproject.toml").open("rb") as _handle:
    FIRST_PARTY = (*tomllib.load(_handle)["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"], "pipelines")


def requires_python(lock: Path = PROJECT_ROOT / "workloads" / "uv.lock") -> str:
    with lock.open("rb") as handle:
        return str(tomllib.load(handle)["requires-python"])


def stack_plans() -> list[Plan]:
    return [_stack_plan(stack) for stack in STACKS]


def built_refs(plan: Plan) -> dict[str, str]:
    return {r.name.removeprefix("image-"): r.outputs["ref"] for r in plan.of_type(BUILD)}


# --- the Dockerfiles themselves --------------------------------------------------------------------------------------


def test_every_image_has_its_dockerfile() -> None:
    assert sorted(p.stem for p in DOCKERFILES) == sorted(IMAGE_NAMES)


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.stem)
def test_dockerfile_is_pinned_complete_and_non_root(path: Path) -> None:
    dockerfile = Dockerfile.parse(path)
    assert base_image_problems(dockerfile) == []
    assert python_version_problems(dockerfile, requires_python()) == []
    assert copy_source_problems(dockerfile, PROJECT_ROOT) == []
    assert user_problems(dockerfile) == []


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.stem)
def test_dockerfile_is_hadolint_clean(path: Path) -> None:
    result = hadolint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_all_images_share_one_pinned_base() -> None:
    assert len({base for path in DOCKERFILES for base in Dockerfile.parse(path).external_bases()}) == 1


def test_the_build_context_is_exactly_what_the_dockerfiles_copy() -> None:
    copied = {source.rstrip("/") for path in DOCKERFILES for source in Dockerfile.parse(path).context_sources()}
    assert set(ContextRules.read().included) == copied


# The checks fail on the defects they exist for (each was also seen failing on a broken real Dockerfile).
BROKEN = {
    "unpinned base": ("FROM python:3.11.14-slim-bookworm AS runtime", base_image_problems, "is not pinned"),
    "floating tag": ("FROM python:latest@sha256:" + "a" * 64, base_image_problems, "is not pinned"),
    "python outside the lock": (
        "FROM python:3.12.8-slim-bookworm@sha256:" + "b" * 64,
        lambda d: python_version_problems(d, requires_python()),
        "outside the lock's requires-python",
    ),
    "missing COPY source": (
        "COPY workloads/feature_repo/features.py /app/feature_repo/features.py",
        lambda d: copy_source_problems(d, PROJECT_ROOT),
        "does not exist",
    ),
    "root user": ("USER root", user_problems, "is not a numeric non-root uid"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_static_checks_catch_a_broken_dockerfile(case: str) -> None:
    line, check, message = BROKEN[case]
    text = (DOCKER_DIR / "serving.Dockerfile").read_text()
    if line.startswith("FROM"):
        base = Dockerfile.parse(DOCKER_DIR / "serving.Dockerfile").external_bases()[0]
        text = text.replace(f"FROM {base} AS runtime", line if " AS " in line else f"{line} AS runtime")
    else:
        text = text.replace("USER 10001:10001", f"{line}\nUSER 10001:10001" if line.startswith("COPY") else line)
    problems = check(Dockerfile.parse(DOCKER_DIR / "serving.Dockerfile", text))
    assert any(message in p for p in problems), problems


def test_hadolint_fails_on_a_bad_dockerfile() -> None:
    text = (DOCKER_DIR / "serving.Dockerfile").read_text().replace("USER 10001:10001", "RUN pip install flask")
    result = hadolint(DOCKER_DIR / "serving.Dockerfile", text)
    assert result.returncode != 0 and "DL3013" in result.stdout  # pip install without a pinned version


# --- recreated images and what the cluster runs in them --------------------------------------------------------------


@functools.cache
def rendered(plan_index: int, release_name: str) -> list[dict[str, Any]]:
    plan = _stack_plan(STACKS[plan_index])
    (release,) = [r.inputs for r in plan.of_type(HELM_RELEASE) if r.inputs["name"] == release_name]
    return render_release(release)


def cluster_manifests(plan_index: int) -> list[dict[str, Any]]:
    """Plain objects of one stack's plan plus the objects its workload-image charts render."""
    plan = _stack_plan(STACKS[plan_index])
    objects = [r.inputs for r in plan.resources if r.type.startswith("kubernetes:") and "kind" in r.inputs]
    digests = [ref.rsplit("@", 1)[1] for ref in built_refs(plan).values()]
    charts = [
        r.inputs["name"]
        for r in plan.of_type(HELM_RELEASE)
        if any(digest in json.dumps(r.inputs.get("values")) for digest in digests)
    ]
    return objects + [doc for name in charts for doc in rendered(plan_index, name)]


def pipeline_steps(layout: Layout) -> list[dict[str, Any]]:
    """Every step of every reference pipeline the monitoring image compiled at build time (/app/pipelines/*.yaml)."""
    steps = []
    for package in sorted(layout.path("/app/pipelines").glob("*.yaml")):
        # The pipeline spec, then kfp-kubernetes' platform spec (node selectors, tolerations) as a second document.
        spec = next(yaml.safe_load_all(package.read_text()))
        steps += [
            {"name": f"{package.stem}/{name}", **executor["container"]}
            for name, executor in spec["deploymentSpec"]["executors"].items()
            if "container" in executor
        ]
    return steps


def neutral(run: Invocation, stack: str) -> Invocation:
    """The stack's own names (bucket, project) replaced, so the stacks' identical commands are started once."""
    spec = stack_spec(stack)
    names = {spec.base_name: "STACK", **({spec.gcp.project: "PROJECT"} if spec.gcp else {})}

    def clean(text: str) -> str:
        for name, placeholder in names.items():
            text = text.replace(name, placeholder)
        return text

    return Invocation(
        run.origin,
        tuple(clean(w) for w in run.command),
        tuple(clean(w) for w in run.args),
        tuple((key, clean(value)) for key, value in run.env),
        run.mounts,
    )


@pytest.fixture(scope="session")
def cluster_invocations(image_layouts: dict[str, Layout]) -> dict[str, list[Invocation]]:
    """What runs in each image: its own CMD/ENTRYPOINT, every container of every stack, every pipeline step."""
    found: dict[str, list[Invocation]] = {
        name: [Invocation("the image's ENTRYPOINT/CMD", (), ())] for name in IMAGE_NAMES
    }
    for index, plan in enumerate(stack_plans()):
        manifests = cluster_manifests(index)
        config_maps = {m["metadata"]["name"]: m.get("data") or {} for m in manifests if m.get("kind") == "ConfigMap"}
        for name, runs in invocations(manifests, built_refs(plan), config_maps).items():
            found[name] += [neutral(run, STACKS[index]) for run in runs]
    # Pipeline steps run in the training image (the retrainer points them at it: the test below).
    for step in pipeline_steps(image_layouts["monitoring"]):
        origin = f"pipeline step {step['name']}"
        found["training"].append(Invocation(origin, tuple(step["command"]), tuple(step.get("args") or ())))
    unique: dict[str, list[Invocation]] = {}
    for name, runs in found.items():
        seen: dict[str, Invocation] = {}
        for run in runs:
            # Stacks differ in their object-store scheme too (s3://, gs://): one of them starts the command.
            seen.setdefault(re.sub(r"\b(s3|gs)://", "bucket://", repr((run.command, run.args, run.mounts))), run)
        unique[name] = list(seen.values())
    return unique


def missing_paths(layout: Layout, run: Invocation) -> list[str]:
    """Absolute paths a command names (`/app/pipelines/training.yaml`, `--chdir /app/feature_repo`) that neither the
    image nor a volume of the pod provides."""
    mounts = [path.rstrip("/") for path, _ in run.mounts]
    words = [w.split("=", 1)[1] if w.startswith("--") and "=" in w else w for w in run.argv(layout)]
    return [
        word
        for word in words
        if word.startswith("/")
        and not any(word == m or word.startswith(f"{m}/") for m in mounts)
        and not layout.path(word).exists()
    ]


@pytest.mark.parametrize("image", IMAGE_NAMES)
def test_every_command_that_runs_the_image_starts_in_it(
    image: str, image_layouts: dict[str, Layout], cluster_invocations: dict[str, list[Invocation]]
) -> None:
    layout = image_layouts[image]
    runs = cluster_invocations[image]
    assert len(runs) > 1, f"nothing in any plan runs the {image} image"
    problems = []
    for run in runs:
        problems += [f"{run.origin}: {path} is neither in the image nor mounted" for path in missing_paths(layout, run)]
        for mount_path, files in run.mounts:
            layout.mount(mount_path, dict(files))
        problems += [f"{run.origin}: {p}" for p in start_problems(layout, run.argv(layout), dict(run.env), FIRST_PARTY)]
    assert problems == []


def _training_cron(plan: Plan, model: str) -> dict[str, Any]:
    (cron,) = [
        c.inputs
        for c in plan.of_type("kubernetes:batch/v1:CronJob")
        if c.inputs["metadata"]["name"] == f"{model}-training"
    ]
    return cron


def submitted_by(layout: Layout, cron: dict[str, Any], target: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the training CronJob would submit: its exact command line, run in the monitoring image with
    `--compile-only` (the pipeline spec and kfp-kubernetes' platform spec)."""
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    argv = [*container["command"], *container["args"], "--compile-only", target]
    result = layout.run(argv)
    assert result.returncode == 0, f"{' '.join(argv)}\n{result.stderr}"
    documents = list(yaml.safe_load_all(layout.path(target).read_text()))
    return documents[0], documents[1] if len(documents) > 1 else {}


def test_every_models_training_run_uses_the_training_image_the_stack_built(image_layouts: dict[str, Layout]) -> None:
    """Each model's training CronJob, run as the cluster runs it, submits a pipeline whose every step runs the
    training image this stack built (by digest) and trains that model with its own release policy."""
    stack = STACKS[0]
    plan, spec = _stack_plan(stack), stack_spec(stack)
    assert len(spec.models) >= 2
    for model in spec.models:
        pipeline, _ = submitted_by(
            image_layouts["monitoring"], _training_cron(plan, model.name), f"/tmp/{model.name}.yaml"
        )
        steps = [e["container"] for e in pipeline["deploymentSpec"]["executors"].values() if "container" in e]
        assert len(steps) >= 3 and {step["image"] for step in steps} == {built_refs(plan)["training"]}
        defaults = {k: v.get("defaultValue") for k, v in pipeline["root"]["inputDefinitions"]["parameters"].items()}
        assert defaults["model_name"] == model.name


def _gpu_pool(plan: Plan, cloud: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Labels and taints (as the API server spells them) of the stack's node pool that has GPUs, read from the
    cloud resources of the plan."""
    effects = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}
    if cloud == "aws":
        pools = [
            r.inputs for r in plan.of_type("aws:eks/nodeGroup:NodeGroup")
            if any(INSTANCE_TYPES[t].gpus for t in r.inputs["instanceTypes"])
        ]  # fmt: skip
    else:
        pools = [
            r.inputs["nodeConfig"] for r in plan.of_type("gcp:container/nodePool:NodePool")
            if MACHINE_TYPES[r.inputs["nodeConfig"]["machineType"]].gpus
        ]  # fmt: skip
    (pool,) = pools
    taints = [{"key": t["key"], "value": t["value"], "effect": effects[t["effect"]]} for t in pool.get("taints") or []]
    return dict(pool["labels"]), taints


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, str]) -> bool:
    """Kubernetes' rule: same key and effect (or no effect), and Exists or the same value."""
    return any(
        t.get("key") == taint["key"]
        and t.get("effect") in (None, "", taint["effect"])
        and (t.get("operator") == "Exists" or t.get("value") == taint["value"])
        for t in tolerations
    )


@pytest.mark.parametrize("stack", ["dev", "gcp-dev"])
def test_a_gpu_models_training_step_gets_a_gpu_on_the_stacks_gpu_pool(
    stack: str, image_layouts: dict[str, Layout]
) -> None:
    """A model switched to GPU training by configuration: its CronJob, run as the cluster runs it, submits a training
    step that requests one nvidia.com/gpu, selects the labels the stack's GPU node pool carries and tolerates every
    taint it has, so the autoscaler brings a GPU node up from zero for it; the CPU model gets none of it."""
    config, secret_keys = stack_config(stack)
    models = json.loads(config["mlops:models"])
    models[0]["training"]["accelerator"] = "gpu"
    config = {**config, "mlops:models": json.dumps(models)}
    plan = run_program(stack_program(), project="mlops", stack=stack, config=config, secret_keys=secret_keys)
    labels, taints = _gpu_pool(plan, stack_spec(stack).cloud)
    assert taints, "a GPU pool without a taint would take any pod"
    gpu_model, cpu_model = models[0]["name"], models[1]["name"]
    layout = image_layouts["monitoring"]

    pipeline, platform = submitted_by(layout, _training_cron(plan, gpu_model), f"/tmp/{stack}-{gpu_model}.yaml")
    executors = pipeline["deploymentSpec"]["executors"]
    placed = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    train = str(pipeline["root"]["dag"]["tasks"]["train"]["componentRef"]["name"]).replace("comp-", "exec-")
    accelerator = executors[train]["container"]["resources"]["accelerator"]
    assert (accelerator["resourceType"], accelerator["resourceCount"]) == ("nvidia.com/gpu", "1")
    selector = placed[train]["nodeSelector"]["labels"]
    assert selector and selector.items() <= labels.items()
    assert all(_tolerates(placed[train]["tolerations"], taint) for taint in taints)
    assert set(placed) == {train}  # only the training step goes to the GPU pool

    pipeline, platform = submitted_by(layout, _training_cron(plan, cpu_model), f"/tmp/{stack}-{cpu_model}.yaml")
    assert not platform and all(
        "resources" not in e.get("container", {}) for e in pipeline["deploymentSpec"]["executors"].values()
    )


def test_images_whose_pods_reach_buckets_carry_both_object_store_clients(
    image_layouts: dict[str, Layout],
) -> None:
    """An image run by a service account with a cloud identity (bucket grants) must import boto3 and GCS."""
    needing: set[str] = set()
    for index, plan in enumerate(stack_plans()):
        manifests = cluster_manifests(index)
        identified = {
            (m["metadata"].get("namespace"), m["metadata"]["name"])
            for m in manifests
            if m.get("kind") == "ServiceAccount"
            and any(key in (m["metadata"].get("annotations") or {}) for key in IDENTITY_ANNOTATIONS)
        }
        by_ref = {ref: name for name, ref in built_refs(plan).items()}
        for manifest in manifests:
            for pod in pod_specs(manifest):
                account = (manifest["metadata"].get("namespace"), pod.get("serviceAccountName"))
                for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
                    if container.get("image") in by_ref and account in identified:
                        needing.add(by_ref[container["image"]])
    assert needing >= {"serving", "monitoring", "training", "mlflow"}
    for image in sorted(needing):
        assert import_check(image_layouts[image], ["boto3", "google.cloud.storage"]) == [], image


# --- the start checks fail on the defects they exist for -------------------------------------------------------------


def test_a_cmd_naming_a_missing_module_fails(image_layouts: dict[str, Layout]) -> None:
    problems = start_problems(
        image_layouts["serving"], ["python", "-m", "mlops_workloads.servng"], first_party=FIRST_PARTY
    )
    assert problems and "No module named mlops_workloads.servng" in problems[0]


def test_a_dependency_missing_from_the_production_set_fails(
    tmp_path: Path, image_environments: EnvironmentFactory
) -> None:
    """onnxruntime moved to the dev group (so the lock's production set lacks it, nothing else requires it): the
    serving image, which imports it only when it loads a model, is refused. The lock is re-resolved offline from the
    uv cache, as `uv lock` would."""
    import shutil
    import subprocess

    context = tmp_path / "context"
    for path in [*ContextRules.read().included, ".dockerignore", "workloads/docker"]:
        source = PROJECT_ROOT / path
        (context / path).parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, context / path, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, context / path)
    project = context / "workloads" / "pyproject.toml"
    text = project.read_text()
    dependency = next(line for line in text.splitlines() if '"onnxruntime' in line)
    text = text.replace(f"{dependency}\n", "", 1).replace("dev = [\n", f"dev = [\n{dependency}\n", 1)
    project.write_text(text)
    relock = subprocess.run(
        ["uv", "lock", "--offline", "--project", str(project.parent)], capture_output=True, text=True
    )
    assert relock.returncode == 0, relock.stderr
    layout = recreate(
        Dockerfile.parse(context / "workloads" / "docker" / "serving.Dockerfile"), context, tmp_path / "images",
        image_environments,
    )  # fmt: skip
    problems = start_problems(layout, [*layout.entrypoint, *layout.cmd], first_party=FIRST_PARTY)
    assert problems and "No module named 'onnxruntime'" in " ".join(problems), problems


def test_a_copy_source_outside_the_build_context_fails(tmp_path: Path, image_environments: EnvironmentFactory) -> None:
    text = (
        (DOCKER_DIR / "training.Dockerfile")
        .read_text()
        .replace("COPY workloads/feature_repo/definitions.py", "COPY workloads/feature_repo/feature_store.yaml")
    )
    with pytest.raises(RecreationError, match="not in the build context"):
        recreate(Dockerfile.parse(DOCKER_DIR / "training.Dockerfile", text), PROJECT_ROOT, tmp_path, image_environments)
