"""`pulumi up` builds every workload image and everything runs it by digest: the build resources in the plan of every
stack (context, Dockerfile, platforms, registry, push, credentials, cache), the order registry → images → workloads,
and the relation that matters: the image of each container is the `ref` its build reported, and it depends on that
build. Also the prebuilt mode, and the image tags that change with every build input.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_config import mutate

from components.aws import catalog as aws_catalog
from components.gcp import catalog as gcp_catalog
from components.images import RECIPES, build_tag, context_digest
from components.spec import IMAGE_NAMES, PlatformSpec
from infra.plan.engine import PROJECT_ROOT, Plan, RecordedResource, run_program
from infra.plan.manifests import HELM_RELEASE
from tests.infra.conftest import GCP_STACKS, STACKS, _stack_plan, stack_spec
from tests.infra.image_harness import pod_specs, render_release

BUILD = "docker-build:index:Image"
REGISTRY_REPOSITORIES = ("aws:ecr/repository:Repository", "gcp:artifactregistry/repository:Repository")
DIGEST_REF = re.compile(r"^(?P<repository>[^@\s]+):(?P<tag>[^:@/\s]+)@sha256:[0-9a-f]{64}$")


def workloads_version() -> str:
    with (PROJECT_ROOT / "workloads" / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def builds(plan: Plan) -> dict[str, RecordedResource]:
    return {r.name.removeprefix("image-"): r for r in plan.of_type(BUILD)}


def expected_platforms(spec: PlatformSpec, image: str) -> list[str]:
    """From the stack file and the instance-type catalogs: the architectures of the pools the image's pods use."""
    catalog = aws_catalog.INSTANCE_TYPES if spec.cloud == "aws" else gcp_catalog.MACHINE_TYPES
    pools = {"system": spec.node_pools.system, "cpu": spec.node_pools.cpu, "gpu": spec.node_pools.gpu}
    names = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
    return sorted(
        {
            names[catalog[pool.instance_types[0]].architecture]
            for name, pool in pools.items()
            if pool is not None and name in RECIPES[image].pools  # type: ignore[index]
        }
    )


def plan_with(stack: str, changes: dict[str, Any]) -> Plan:
    def program() -> None:
        import runpy

        runpy.run_path(str(PROJECT_ROOT / "infra" / "__main__.py"), run_name="__main__")

    return run_program(program, project="mlops", stack=stack, config=mutate(stack, changes))


def containers(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for pod in pod_specs(manifest):
        yield from [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]


def workload_objects(plan: Plan) -> Iterator[tuple[RecordedResource, dict[str, Any]]]:
    """Every object that runs containers: the plain ones, and each chart release rendered with its plan values."""
    for resource in plan.resources:
        if resource.type.startswith("kubernetes:") and "kind" in resource.inputs:
            yield resource, resource.inputs
    registry = plan.outputs["registryUrl"]
    for release in plan.of_type(HELM_RELEASE):
        if registry in json.dumps(release.inputs.get("values")):
            for manifest in render_release(release.inputs):
                yield release, manifest


# --- the builds ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_each_image_is_built_from_its_dockerfile_and_pushed_to_the_stack_registry(stack: str) -> None:
    plan, spec = _stack_plan(stack), stack_spec(stack)
    registry = plan.outputs["registryUrl"]
    repositories = [r for t in REGISTRY_REPOSITORIES for r in plan.of_type(t)]
    assert sorted(builds(plan)) == sorted(IMAGE_NAMES)
    for name, build in builds(plan).items():
        inputs = build.inputs
        assert (Path.cwd() / inputs["context"]["location"]).resolve() == PROJECT_ROOT
        dockerfile = (Path.cwd() / inputs["dockerfile"]["location"]).resolve()
        assert dockerfile == PROJECT_ROOT / "workloads" / "docker" / f"{name}.Dockerfile" and dockerfile.is_file()
        assert inputs["platforms"] == expected_platforms(spec, name)
        assert inputs["push"] is True and inputs["buildOnPreview"] is False
        (tag,) = inputs["tags"]
        assert re.fullmatch(rf"{re.escape(registry)}/mlops-{name}:{re.escape(workloads_version())}-[0-9a-f]{{12}}", tag)
        # Pushed with the deploying identity's short-lived token, kept secret, for the registry host of the tag.
        (credentials,) = inputs["registries"]
        assert credentials["address"] == tag.split("/", 1)[0]
        assert credentials["username"] == ("AWS" if spec.cloud == "aws" else "oauth2accesstoken")
        assert credentials["password"] and "registries[0].password" in build.secret_inputs
        # Registry build cache, exported as an OCI image manifest (what ECR accepts) with every layer.
        (cache_from,), (cache_to,) = inputs["cacheFrom"], inputs["cacheTo"]
        assert cache_from["registry"]["ref"] == cache_to["registry"]["ref"]
        cache = cache_to["registry"]
        assert (cache["mode"], cache["imageManifest"], cache["ociMediaTypes"]) == ("max", True, True)
        cache_repository, _, cache_tag = cache["ref"].rpartition(":")
        assert cache_repository.endswith(f"/mlops-{name}") and cache_tag == "buildcache"
        assert_cache_tag_is_mutable_there(plan, cache_repository.rsplit("/", 1)[0], cache_tag, spec)
        # Registry first: the repositories exist before anything is pushed.
        assert repositories and {r.urn for r in repositories} <= set(build.dependencies)


def assert_cache_tag_is_mutable_there(plan: Plan, cache_url: str, tag: str, spec: PlatformSpec) -> None:
    """The cache tag is rewritten by every build: its repository must allow exactly that, and images stay immutable."""
    if spec.cloud == "aws":
        assert cache_url == plan.outputs["registryUrl"]
        for repository in plan.of_type("aws:ecr/repository:Repository"):
            assert repository.inputs["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
            assert [f["filter"] for f in repository.inputs["imageTagMutabilityExclusionFilters"]] == [tag]
    else:
        repositories = {r.inputs["repositoryId"]: r.inputs for r in plan.of_type(REGISTRY_REPOSITORIES[1])}
        cache_repository = repositories[cache_url.rsplit("/", 1)[1]]
        assert cache_repository["dockerConfig"] == {"immutableTags": False}
        assert repositories[plan.outputs["registryUrl"].rsplit("/", 1)[1]]["dockerConfig"] == {"immutableTags": True}


def test_images_are_built_for_every_architecture_their_pools_have() -> None:
    """An arm64 (Graviton) system pool: the images that run there (MLflow, the Feast server, pipeline steps) are
    built for both architectures; the ones that only run on the x86 CPU pool stay single-platform."""
    plan = plan_with("dev", {"nodePools.system.instanceTypes": ["m7g.large"]})
    platforms = {name: build.inputs["platforms"] for name, build in builds(plan).items()}
    assert platforms == {
        "mlflow": ["linux/arm64"],
        "training": ["linux/amd64", "linux/arm64"],
        "serving": ["linux/amd64"],
        "monitoring": ["linux/amd64"],
    }


# --- everything runs what was built, by digest ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_container_runs_the_digest_its_build_reported_and_waits_for_it(stack: str) -> None:
    plan = _stack_plan(stack)
    registry = plan.outputs["registryUrl"]
    by_ref = {build.outputs["ref"]: build for build in builds(plan).values()}
    consumers: set[str] = set()
    for resource, manifest in workload_objects(plan):
        for container in containers(manifest):
            if not container.get("image", "").startswith(f"{registry}/"):
                continue
            where = f"{manifest['kind']}/{manifest['metadata']['name']} container {container['name']}"
            assert container["image"] in by_ref, f"{where} runs {container['image']}, which no build reported"
            assert by_ref[container["image"]].urn in resource.dependencies, f"{where} does not wait for its build"
            consumers.add(by_ref[container["image"]].name)
    # Every image has a consumer in the cluster (training: the Feast jobs and server, and the pipeline below).
    assert consumers == {f"image-{name}" for name in IMAGE_NAMES}


@pytest.mark.parametrize("stack", STACKS)
def test_no_container_runs_a_workload_image_by_tag(stack: str) -> None:
    """Property: any reference to the stack's registry in a workload object (a container image, an argument, a
    setting) carries a digest."""
    plan = _stack_plan(stack)
    registry = plan.outputs["registryUrl"]
    seen = 0
    for _, manifest in workload_objects(plan):
        for value in strings(manifest):
            for reference in re.findall(rf"{re.escape(registry)}/\S+", value):
                seen += 1
                assert DIGEST_REF.match(reference), f"{manifest['kind']}/{manifest['metadata']['name']}: {reference}"
    assert seen >= len(IMAGE_NAMES)


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


@pytest.mark.parametrize("stack", STACKS)
def test_retraining_runs_the_training_image_this_stack_built(stack: str) -> None:
    """The monitoring job's retrainer points every pipeline step at `--training-image` before it submits
    (tests/workloads/test_monitoring_retrain.py): that is the training build's digest reference, and the platform
    settings name the same image."""
    plan = _stack_plan(stack)
    training = builds(plan)["training"]
    # Every job that starts a training run: each model's monitoring (retraining) and scheduled training CronJob.
    submitters = [
        c
        for c in plan.of_type("kubernetes:batch/v1:CronJob")
        if c.inputs["metadata"]["name"].endswith(("-monitoring", "-training"))
    ]
    assert len(submitters) >= 2 * len(stack_spec(stack).models)
    for cron in submitters:
        (container,) = cron.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        args = container["args"]
        assert args[args.index("--training-image") + 1] == training.outputs["ref"]
        assert training.urn in cron.dependencies
    settings = [
        r for r in plan.of_type("kubernetes:core/v1:ConfigMap") if r.inputs["metadata"]["name"] == "mlops-platform"
    ]
    assert settings and {s.inputs["data"]["TRAINING_IMAGE"] for s in settings} == {training.outputs["ref"]}


# --- prebuilt: what CI pushed, still by digest ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", *GCP_STACKS[:1]])
def test_prebuilt_images_run_by_digest_without_building(stack: str) -> None:
    pinned = "sha256:" + "5" * 64
    plan = plan_with(stack, {"workloads.images": {"source": "prebuilt", "digests": {"serving": pinned}}})
    assert plan.of_type(BUILD) == []
    registry, version = plan.outputs["registryUrl"], workloads_version()
    refs = plan.outputs["images"]
    assert refs["serving"] == f"{registry}/mlops-serving:{version}@{pinned}"
    for name in IMAGE_NAMES:  # the others: the digest the version tag CI pushed resolves to in the registry
        match = DIGEST_REF.match(refs[name])
        assert match and (match["repository"], match["tag"]) == (f"{registry}/mlops-{name}", version)
    for _, manifest in workload_objects(plan):
        for container in containers(manifest):
            if container.get("image", "").startswith(f"{registry}/"):
                assert container["image"] in refs.values()


# --- tags: a new tag for every new content ---------------------------------------------------------------------------


@pytest.fixture
def source_tree(tmp_path: Path) -> Path:
    """A copy of what the image builds read: the context allow-list, the Dockerfiles, the workloads project."""
    for relative in [".dockerignore", "workloads/docker", "workloads/pyproject.toml", "infra/bootstrap_uv.py",
                     "workloads/uv.lock", "workloads/mlops_workloads", "workloads/feature_repo/definitions.py",
                     "pipelines"]:  # fmt: skip
        source, target = PROJECT_ROOT / relative, tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return tmp_path


def tags(root: Path, platforms: dict[str, list[str]] | None = None) -> dict[str, str]:
    context_digest.cache_clear()
    platforms = platforms or {name: ["linux/amd64"] for name in IMAGE_NAMES}
    return {name: build_tag(name, platforms, root) for name in IMAGE_NAMES}


def test_a_tag_changes_with_every_build_input_and_only_then(source_tree: Path) -> None:
    before = tags(source_tree)
    assert tags(source_tree) == before  # deterministic
    assert all(tag.startswith(f"{workloads_version()}-") for tag in before.values())

    # Outside the context (docs, caches): the same images, the same tags.
    (source_tree / "README.md").write_text("docs")
    (source_tree / "pipelines" / "__pycache__").mkdir()
    (source_tree / "pipelines" / "__pycache__" / "training.cpython-311.pyc").write_bytes(b"\0")
    assert tags(source_tree) == before

    # Code every image copies: every tag changes.
    code = source_tree / "workloads" / "mlops_workloads" / "features.py"
    code.write_text(code.read_text() + "\n# changed\n")
    after_code = tags(source_tree)
    assert all(after_code[name] != before[name] for name in IMAGE_NAMES)

    # A file mode is part of the content BuildKit copies.
    code.chmod(0o755)
    after_mode = tags(source_tree)
    assert all(after_mode[name] != after_code[name] for name in IMAGE_NAMES)

    # One Dockerfile: that image only.
    dockerfile = source_tree / "workloads" / "docker" / "mlflow.Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("EXPOSE 5000", "EXPOSE 5000 5001"))
    after_dockerfile = tags(source_tree)
    assert {n for n in IMAGE_NAMES if after_dockerfile[n] != after_mode[n]} == {"mlflow"}

    # Another platform for the training image: that image only.
    arm = {name: ["linux/amd64"] for name in IMAGE_NAMES} | {"training": ["linux/amd64", "linux/arm64"]}
    after_platform = tags(source_tree, arm)
    assert {n for n in IMAGE_NAMES if after_platform[n] != after_dockerfile[n]} == {"training"}


def test_the_image_version_is_declared_once(source_tree: Path) -> None:
    project = source_tree / "workloads" / "pyproject.toml"
    project.write_text(project.read_text().replace(f'version = "{workloads_version()}"', 'version = "0.2.0"', 1))
    assert all(tag.startswith("0.2.0-") for tag in tags(source_tree).values())
    assert "imageTag" not in " ".join(p.read_text() for p in PROJECT_ROOT.glob("Pulumi.*.yaml"))
