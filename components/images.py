"""The workload images, between the cloud layer and the in-cluster layer: built and pushed by `pulumi up`, or run as CI
pushed them (`mlops:workloads.images.source`).

`build` (default): BuildKit (pulumi-docker-build) builds `workloads/docker/<name>.Dockerfile` with the repository as
context, for the CPU architectures of the node pools the image runs on, pushes it to the stack's registry with a
short-lived token of the deploying identity, and keeps a registry build cache beside it. `prebuilt`: the images CI
pushed with the workloads version as tag, pinned by the digests in the stack file or resolved from the registry.

Either way the in-cluster layer receives one reference per image, `<repository>:<tag>@sha256:<digest>` (`ImageRefs`),
and every container runs exactly that digest. The image version is declared once, in workloads/pyproject.toml. A
built image's tag is that version plus a fingerprint of everything the build reads (the files the context sends,
the Dockerfile, the platforms): registry tags are immutable, so a tag may only ever be pushed
for one content, and a changed input must mean a new tag.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pulumi
import pulumi_docker_build as docker_build

from components.contract import BUILD_CACHE_TAG, CloudPlatform, ContainerRegistry, CpuArchitecture
from components.image_tags import workloads_version
from components.spec import IMAGE_NAMES, ImageName, PlatformSpec, PoolName

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE_DIR = Path("workloads/docker")
DOCKERIGNORE = Path(".dockerignore")
FINGERPRINT_LENGTH = 12
PLATFORMS: Mapping[CpuArchitecture, str] = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}

# What the in-cluster layer receives: the digest reference every container of that image runs.
ImageRefs = Mapping[ImageName, pulumi.Output[str]]


@dataclass(frozen=True)
class ImageRecipe:
    """How one image is built: the pools its pods run on (their architectures are the build platforms)."""

    pools: tuple[PoolName, ...]


RECIPES: Mapping[ImageName, ImageRecipe] = {
    # Kubeflow steps land on any untainted pool and the GPU step on the GPU pool; the Feast jobs and feature server
    # (system pool) run this image too.
    "training": ImageRecipe(pools=("system", "cpu", "gpu")),
    "serving": ImageRecipe(pools=("cpu",)),  # inference Deployment and batch-scoring CronJob
    # Its retrainer submits the training pipeline with every step on the training image the CronJob names
    # (components/k8s/workloads.py: --training-image, the training build's digest reference).
    "monitoring": ImageRecipe(pools=("cpu",)),
    "mlflow": ImageRecipe(pools=("system",)),
}


def dockerfile(name: ImageName) -> Path:
    return DOCKERFILE_DIR / f"{name}.Dockerfile"


def split_ref(ref: str) -> tuple[str, str, str]:
    """`<repository>:<tag>@<digest>` → (repository, tag, digest), for charts that take them apart."""
    name, _, digest = ref.partition("@")
    repository, _, tag = name.rpartition(":")
    if not (repository and tag and digest.startswith("sha256:")) or "/" in tag:
        raise ValueError(f"{ref!r} is not a <repository>:<tag>@sha256:<digest> image reference")
    return repository, tag, digest


def platforms(name: ImageName, architectures: Mapping[PoolName, CpuArchitecture]) -> list[str]:
    """Build platforms of an image: the architectures of the node pools (present in this stack) it runs on."""
    found = {PLATFORMS[architectures[pool]] for pool in RECIPES[name].pools if pool in architectures}
    if not found:
        raise ValueError(f"image {name!r} runs on pools {RECIPES[name].pools}, none of which this cluster has")
    return sorted(found)


# --- the build context and its fingerprint ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextRules:
    """`.dockerignore` as an allow-list: `*`, then `!<path>` lines for what the Dockerfiles copy, then `**/<glob>`
    exclusions. Only this form is accepted, so the fingerprint below reads exactly the files BuildKit sends."""

    included: tuple[str, ...]
    excluded: tuple[str, ...]

    @classmethod
    def read(cls, root: Path = REPO_ROOT) -> ContextRules:
        lines = [line.strip() for line in (root / DOCKERIGNORE).read_text().splitlines()]
        rules = [line for line in lines if line and not line.startswith("#")]
        if rules[:1] != ["*"]:
            raise ValueError(f"{DOCKERIGNORE} must start with '*' (an allow-list of what the images copy)")
        included = tuple(line[1:].rstrip("/") for line in rules[1:] if line.startswith("!"))
        excluded = tuple(line.removeprefix("**/") for line in rules[1:] if line.startswith("**/"))
        unsupported = [line for line in rules[1:] if not line.startswith(("!", "**/"))]
        if unsupported:
            raise ValueError(f"{DOCKERIGNORE}: unsupported lines {unsupported}; use '!<path>' or '**/<glob>'")
        return cls(included, excluded)

    def files(self, root: Path = REPO_ROOT) -> Iterator[Path]:
        """Every file of the context, relative to the root, sorted."""
        found: set[Path] = set()
        for entry in self.included:
            path = root / entry
            candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for candidate in candidates:
                relative = candidate.relative_to(root)
                if not any(fnmatch(part, glob) for part in relative.parts for glob in self.excluded):
                    found.add(relative)
        yield from sorted(found)


@functools.cache
def context_digest(root: Path = REPO_ROOT) -> str:
    """sha256 of the context BuildKit receives: path, mode and content of every file (pulumi-docker-build rebuilds
    when any of them changes: provider/internal/context.go hashFile, v0.0.22)."""
    digest = hashlib.sha256()
    for relative in ContextRules.read(root).files(root):
        path = root / relative
        digest.update(f"{relative.as_posix()}\0{stat.filemode(path.stat().st_mode)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(name: ImageName, image_platforms: Mapping[ImageName, list[str]], root: Path = REPO_ROOT) -> str:
    """Changes with every build input of `name`: the context it sends, its Dockerfile and its platforms."""
    digest = hashlib.sha256()
    digest.update(context_digest(root).encode())
    digest.update((root / dockerfile(name)).read_bytes())
    digest.update(",".join(image_platforms[name]).encode())
    return digest.hexdigest()[:FINGERPRINT_LENGTH]


def build_tag(name: ImageName, image_platforms: Mapping[ImageName, list[str]], root: Path = REPO_ROOT) -> str:
    return f"{workloads_version(root)}-{fingerprint(name, image_platforms, root)}"


# --- the component ---------------------------------------------------------------------------------------------------


@dataclass
class WorkloadImagesArgs:
    spec: PlatformSpec
    cloud: CloudPlatform


class WorkloadImages(pulumi.ComponentResource):
    """The workload images of one stack; `refs` is what the in-cluster layer runs."""

    refs: ImageRefs
    builds: dict[ImageName, docker_build.Image]

    def __init__(self, name: str, args: WorkloadImagesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:images:WorkloadImages", name, None, opts)
        self.builds = {}
        if args.spec.workloads.images.source == "build":
            self.refs = self._build(args.cloud)
        else:
            self.refs = self._prebuilt(args.spec, args.cloud)
        self.register_outputs({"refs": dict(self.refs)})

    def _build(self, cloud: CloudPlatform) -> ImageRefs:
        registry = cloud.container_registry()
        image_platforms = {name: platforms(name, cloud.architectures) for name in IMAGE_NAMES}
        # Paths relative to the program's working directory (Pulumi starts it in the `main` directory, infra/:
        # pulumi/pulumi pkg/engine/project.go getPwdMain), so the state holds no machine-specific path.
        context = os.path.relpath(REPO_ROOT, Path.cwd())
        for name in IMAGE_NAMES:
            self.builds[name] = self._image(name, registry, context, image_platforms)
        return {name: image.ref for name, image in self.builds.items()}

    def _image(
        self,
        name: ImageName,
        registry: ContainerRegistry,
        context: str,
        image_platforms: Mapping[ImageName, list[str]],
    ) -> docker_build.Image:
        tag = build_tag(name, image_platforms)
        version = workloads_version()
        cache = registry.cache_url.apply(lambda url: f"{url}/mlops-{name}:{BUILD_CACHE_TAG}")
        return docker_build.Image(
            f"image-{name}",
            context=docker_build.BuildContextArgs(location=context),
            dockerfile=docker_build.DockerfileArgs(location=(Path(context) / dockerfile(name)).as_posix()),
            platforms=[docker_build.Platform(p) for p in image_platforms[name]],
            labels={"org.opencontainers.image.title": f"mlops-{name}", "org.opencontainers.image.version": version},
            push=True,
            tags=[registry.url.apply(lambda url: f"{url}/mlops-{name}:{tag}")],
            registries=[
                docker_build.RegistryArgs(
                    address=registry.address, username=registry.username, password=registry.password
                )
            ],
            cache_from=[docker_build.CacheFromArgs(registry=docker_build.CacheFromRegistryArgs(ref=cache))],
            # ECR takes a registry cache only as an OCI image manifest (image-manifest=true, oci-mediatypes=true);
            # Artifact Registry accepts the same. A failed cache export must not fail a deploy whose image pushed.
            cache_to=[
                docker_build.CacheToArgs(
                    registry=docker_build.CacheToRegistryArgs(
                        ref=cache,
                        mode=docker_build.CacheMode.MAX,
                        image_manifest=True,
                        oci_media_types=True,
                        ignore_error=True,
                    )
                )
            ],
            # Previews run with read-only credentials (preview.yml): nothing to push a cache with, and the image
            # contents are proven by the test suite instead.
            build_on_preview=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(registry.ready)),
        )

    def _prebuilt(self, spec: PlatformSpec, cloud: CloudPlatform) -> ImageRefs:
        version = workloads_version()
        pinned = spec.workloads.images.digests
        refs: dict[ImageName, pulumi.Output[str]] = {}
        for name in IMAGE_NAMES:
            digest = pulumi.Output.from_input(pinned[name]) if name in pinned else cloud.image_digest(name, version)
            refs[name] = pulumi.Output.format("{0}/mlops-{1}:{2}@{3}", cloud.registry_url, name, version, digest)
        return refs
