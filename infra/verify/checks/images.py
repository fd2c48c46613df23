"""Check 9, images: every image the deploy runs is pinned and comes from an allowed source.

Images are found wherever the set names one: every `image` of every object (containers, init and ephemeral
containers, pod templates of every workload kind, Argo templates, operator CRs such as `Prometheus.spec.image`), and
images a controller is configured to start (container args like `--executor-image quay.io/...:v1`, env vars and
ConfigMap keys whose name says image). Pinned = a digest, or a tag that is a version (`v1.33.0`, `3.23`,
`4.5.3-4.8.2-distroless`); `latest`, `main`, `master`, `edge` or no tag at all (which means `latest`) is a
violation. The image must come from the stack's own registry or a source on `IMAGE_SOURCES`
(infra/verify/allowlists.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from infra.render.objects import KubeObject, walk
from infra.verify.allowlists import IMAGE_SOURCES
from infra.verify.model import Check, CheckResult, ObjectSet, Violation

NAME = "images"
MUTABLE_TAGS = frozenset({"latest", "main", "master", "edge"})
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_VERSION_TAG = re.compile(r"^v?\d+(\.\d+)*([._+-][0-9A-Za-z][0-9A-Za-z._-]*)?$")
_REFERENCE = re.compile(
    r"^(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)
_REGISTRY_VALUE = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d+)?/[a-z0-9]")  # quay.io/x, 123.dkr.ecr.../x
_IMAGE_FLAG = re.compile(r"^--?[\w.-]*image[\w.-]*$", re.IGNORECASE)


@dataclass(frozen=True)
class Image:
    reference: str
    where: str  # path inside the object, e.g. spec/template/spec/containers/0/image

    @property
    def name(self) -> str:
        """Repository with its registry, Docker Hub's implicit prefixes made explicit."""
        parts = _DIGEST.sub("", self.reference).split("/")
        parts[-1] = parts[-1].split(":", 1)[0]
        if len(parts) == 1 or not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
            parts.insert(0, "docker.io")
        if parts[0] in {"index.docker.io", "registry-1.docker.io"}:
            parts[0] = "docker.io"
        if parts[0] == "docker.io" and len(parts) == 2:
            parts.insert(1, "library")
        return "/".join(parts)

    @property
    def tag(self) -> str:
        last = _DIGEST.sub("", self.reference).rsplit("/", 1)[-1]
        return last.split(":", 1)[1] if ":" in last else ""


def _path(path: tuple[str | int, ...]) -> str:
    return "/".join(str(p) for p in path)


def _flag_values(args: list[Any]) -> Iterator[tuple[int, str]]:
    """(index, value) of args that name an image: `--x-image=ref`, `--x-image ref`, `--flag=<registry>/<repo>`."""
    for index, arg in enumerate(args):
        if not isinstance(arg, str):
            continue
        flag, equals, value = arg.partition("=")
        if equals and (_IMAGE_FLAG.match(flag) or (flag.startswith("-") and _REGISTRY_VALUE.match(value))):
            yield index, value
        elif _IMAGE_FLAG.match(arg) and index + 1 < len(args) and isinstance(args[index + 1], str):
            yield index + 1, args[index + 1]


def images(obj: KubeObject) -> list[Image]:
    """Every image `obj` runs or configures a controller to run."""
    if obj.kind == "CustomResourceDefinition":
        return []  # schemas name `image` properties; they run nothing
    found: list[Image] = []
    for path, value in walk(obj.manifest):
        key = path[-1] if path else ""
        if key == "image" and isinstance(value, str):
            found.append(Image(value, _path(path)))
        elif key in {"args", "command"} and isinstance(value, list):
            found += [Image(v, f"{_path(path)}/{i}") for i, v in _flag_values(value)]
        elif key == "env" and isinstance(value, list):
            for index, variable in enumerate(value):
                named = isinstance(variable, Mapping) and "image" in str(variable.get("name", "")).lower()
                if named and isinstance(variable.get("value"), str) and _REFERENCE.match(variable["value"]):
                    found.append(Image(variable["value"], f"{_path(path)}/{index}/value"))
    if obj.kind == "ConfigMap":
        for key, value in (obj.manifest.get("data") or {}).items():
            if "image" in key.lower() and isinstance(value, str) and _REFERENCE.match(value.strip()):
                found.append(Image(value.strip(), f"data/{key}"))
    return found


def pinning_problem(image: Image) -> str | None:
    if _DIGEST.search(image.reference):
        return None
    tag = image.tag
    if not tag:
        return "has no tag, which pulls `latest`: pin a version tag or a digest"
    if tag in MUTABLE_TAGS:
        return f"uses the mutable tag `{tag}`: pin a version tag or a digest"
    if not _VERSION_TAG.match(tag):
        return f"tag `{tag}` is not a version: pin a version tag or a digest"
    return None


def allowed_source(name: str, own_registry: str) -> bool:
    prefixes = [*IMAGE_SOURCES, *([own_registry] if own_registry else [])]
    return any(name == prefix or name.startswith(prefix.rstrip("/") + "/") for prefix in prefixes)


def run(objects: ObjectSet) -> CheckResult:
    own_registry = str(objects.outputs.get("registryUrl") or "")
    violations: list[Violation] = []
    checked = 0
    for obj in objects.objects:
        for image in images(obj):
            checked += 1
            subject = f"{obj} at {image.where}"
            problem = pinning_problem(image)
            if problem:
                violations.append(Violation(NAME, subject, f"image {image.reference} {problem}"))
            if not allowed_source(image.name, own_registry):
                violations.append(
                    Violation(
                        NAME,
                        subject,
                        f"image {image.reference} comes from {image.name}, "
                        "which is neither the stack's registry nor on IMAGE_SOURCES "
                        "(infra/verify/allowlists.py)",
                    )
                )
    return CheckResult(NAME, checked, "images", tuple(violations))


CHECK = Check(
    9,
    NAME,
    "every image (rendered ones included) is pinned to a version tag or digest, from an allowed registry",
    run,
)
