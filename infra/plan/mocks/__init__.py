"""Plausible, typed outputs for every resource type and invoke the stack program uses, per provider.

The outputs let the program's `apply` chains run as in a real preview (endpoints, ARNs, emails have the right
shape). An invoke without a mock fails loudly: add it to the provider's module here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from infra.plan.mocks import aws, gcp, kubernetes, random
from infra.plan.mocks.common import InvokeFailure, MockContext

OutputFactory = Callable[[str, Mapping[str, Any], MockContext], dict[str, Any]]
InvokeFactory = Callable[[Mapping[str, Any], MockContext], dict[str, Any]]

RESOURCE_OUTPUTS: dict[str, OutputFactory] = {
    **aws.RESOURCE_OUTPUTS,
    **gcp.RESOURCE_OUTPUTS,
    **kubernetes.RESOURCE_OUTPUTS,
    **random.RESOURCE_OUTPUTS,
}
INVOKES: dict[str, InvokeFactory] = {**aws.INVOKES, **gcp.INVOKES, **kubernetes.INVOKES, **random.INVOKES}
DEFAULT_OUTPUTS: dict[str, OutputFactory] = {"aws": aws.default_outputs, "gcp": gcp.default_outputs}

__all__ = ["DEFAULT_OUTPUTS", "INVOKES", "RESOURCE_OUTPUTS", "InvokeFailure", "MockContext"]
