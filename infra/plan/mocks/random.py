"""Mocked outputs for pulumi-random: deterministic values of the requested shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.plan.mocks.common import MockContext, short_hash


def random_password(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    length = int(inputs.get("length", 16))
    seed = short_hash(ctx.stack, name, length=64)
    return {"result": (seed * (length // len(seed) + 1))[:length]}


def random_id(name: str, inputs: Mapping[str, Any], ctx: MockContext) -> dict[str, Any]:
    hex_value = short_hash(ctx.stack, name, length=2 * int(inputs.get("byteLength", 4)))
    return {"hex": hex_value, "dec": str(int(hex_value, 16)), "b64Url": hex_value, "b64Std": hex_value}


RESOURCE_OUTPUTS: dict[str, Any] = {
    "random:index/randomPassword:RandomPassword": random_password,
    "random:index/randomString:RandomString": random_password,
    "random:index/randomId:RandomId": random_id,
}

INVOKES: dict[str, Any] = {}
