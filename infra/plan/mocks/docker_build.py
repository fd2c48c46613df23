"""Mocked outputs of pulumi-docker-build: what a finished build-and-push reports.

`digest` is the pushed manifest's sha256 (derived from the build's inputs, so a plan is reproducible and a changed
input gives a new digest); `ref` is the first tag plus that digest, as the provider forms it (provider/internal/
image.go `addDigest`, v0.0.22).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from infra.plan.mocks.common import MockContext


def image(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    recipe = json.dumps({k: v for k, v in inputs.items() if k != "registries"}, sort_keys=True, default=str)
    digest = "sha256:" + hashlib.sha256(f"{ctx.stack}/{name}/{recipe}".encode()).hexdigest()
    tags = list(inputs.get("tags") or [])
    outputs: dict[str, Any] = {"digest": digest, "contextHash": hashlib.sha256(recipe.encode()).hexdigest()}
    if tags and inputs.get("push"):
        outputs["ref"] = f"{tags[0]}@{digest}"
    return outputs


RESOURCE_OUTPUTS: dict[str, Any] = {"docker-build:index:Image": image}

INVOKES: dict[str, Any] = {}
