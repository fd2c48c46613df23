"""Mocked outputs for pulumi-kubernetes resources: metadata as the API server would fill it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.plan.mocks.common import MockContext, short_hash


def kubernetes_object(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    metadata = dict(inputs.get("metadata") or {})
    metadata.setdefault("name", name)
    metadata["uid"] = f"{short_hash(ctx.stack, name, length=8)}-0000-4000-8000-{short_hash(name, length=12)}"
    return {"metadata": metadata}


def helm_release(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    return {
        "name": inputs.get("name", name),
        "status": {
            "name": inputs.get("name", name),
            "namespace": inputs.get("namespace", "default"),
            "status": "deployed",
            "version": inputs.get("version", ""),
            "revision": 1,
        },
    }


RESOURCE_OUTPUTS: dict[str, Any] = {"kubernetes:helm.sh/v3:Release": helm_release}

INVOKES: dict[str, Any] = {}
