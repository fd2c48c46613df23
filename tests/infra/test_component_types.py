"""One vocabulary: every component's type token is `mlops:<layer>:<ClassName>`, and a renamed token keeps its URN.

The layer is the package under `components/` (`aws`, `gcp`, `k8s`) or the module (`images`, `cost`). The rule is
checked on every `ComponentResource` subclass in the package, instantiated by a stack or not, by reading the token its
constructor passes to `ComponentResource.__init__`.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
import textwrap
from collections.abc import Callable

import pulumi
import pytest

import components
from infra.plan.engine import Plan
from tests.infra.conftest import STACKS

# Every type token renamed by the one-vocabulary change (issue 15), new -> former. Each keeps an alias to its former
# token, or `pulumi up` on an existing stack would replace the component and every resource under it.
RENAMED_TYPES: dict[str, tuple[str, ...]] = {
    "mlops:aws:AwsPlatform": ("mlops:aws:Platform",),
    "mlops:aws:Budget": ("mlops:aws:CostBudget",),
    "mlops:aws:DatabaseServer": ("mlops:aws:PostgresServer", "mlops:aws:MysqlServer"),
    "mlops:aws:EncryptedGp3StorageClass": ("mlops:aws:StorageClass",),
    "mlops:aws:NodePools": ("mlops:aws:NodeGroups",),
    "mlops:gcp:GcpPlatform": ("mlops:gcp:Platform",),
    "mlops:gcp:Budget": ("mlops:gcp:ProjectBudget",),
    "mlops:gcp:Buckets": ("mlops:gcp:ObjectStore",),
    "mlops:gcp:DatabaseServer": ("mlops:gcp:PostgresDatabase", "mlops:gcp:MysqlDatabase"),
    "mlops:gcp:RedisOnlineStore": ("mlops:gcp:RedisStore",),
    "mlops:k8s:InClusterPlatform": ("mlops:k8s:Platform",),
    "mlops:k8s:GpuPlumbing": ("mlops:k8s:Gpu",),
    "mlops:k8s:PlatformRbac": ("mlops:k8s:Rbac",),
    "mlops:k8s:ConnectorDeployment": ("mlops:k8s:DatabaseConnector",),
    "mlops:cost:CostAssumptions": ("mlops:cost:Assumptions",),
}


def component_classes() -> list[type[pulumi.ComponentResource]]:
    for module in pkgutil.walk_packages(components.__path__, "components."):
        importlib.import_module(module.name)
    found: list[type[pulumi.ComponentResource]] = []
    pending: list[type[pulumi.ComponentResource]] = [pulumi.ComponentResource]
    while pending:
        for sub in pending.pop().__subclasses__():
            pending.append(sub)
            if sub.__module__.startswith("components."):
                found.append(sub)
    return sorted(set(found), key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def layer(cls: type) -> str:
    """`components.aws.database` -> aws, `components.k8s.kubeflow.pipelines` -> k8s, `components.images` -> images."""
    return cls.__module__.split(".")[1]


def declared_type(cls: type) -> str:
    """The token `cls.__init__` passes to `super().__init__`: a literal or a module constant, never computed."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))  # type: ignore[misc]
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "__init__"
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "super"
    ]
    assert len(calls) == 1, f"{cls.__qualname__}.__init__ must call super().__init__ exactly once"
    token = calls[0].args[0]
    if isinstance(token, ast.Constant) and isinstance(token.value, str):
        return token.value
    if isinstance(token, ast.Name):
        value = vars(sys.modules[cls.__module__]).get(token.id)
        assert isinstance(value, str), f"{cls.__qualname__}: {token.id} is not a module-level string constant"
        return value
    raise AssertionError(f"{cls.__qualname__}: the type token must be a literal, got {ast.unparse(token)}")


CLASSES = component_classes()


def test_the_package_has_components_on_every_layer() -> None:
    assert {layer(cls) for cls in CLASSES} >= {"aws", "gcp", "k8s", "images", "cost"}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_type_token_is_layer_and_class_name(cls: type) -> None:
    assert declared_type(cls) == f"mlops:{layer(cls)}:{cls.__name__}"


def former_types(plan: Plan, type_: str) -> list[set[str]]:
    return [{alias.get("spec", {}).get("type", "") for alias in resource.aliases} for resource in plan.of_type(type_)]


@pytest.mark.parametrize("stack", STACKS)
def test_renamed_components_keep_their_former_urn(stack: str, stack_plan: Callable[[str], Plan]) -> None:
    plan = stack_plan(stack)
    for type_, formers in RENAMED_TYPES.items():
        for recorded in plan.of_type(type_):
            aliases = {alias.get("spec", {}).get("type", "") for alias in recorded.aliases}
            assert aliases & set(formers), f"{recorded.urn} has no alias to its former type {formers}: {aliases}"
            # A bare type alias: same name, same parent (an empty parentUrn is the current parent, with the parent's
            # own aliases applied by the engine), so it names exactly the former URN.
            for alias in recorded.aliases:
                assert set(alias["spec"]) <= {"type", "parentUrn"} and not alias["spec"].get("parentUrn"), alias
    for legacy in {former for formers in RENAMED_TYPES.values() for former in formers}:
        assert not plan.of_type(legacy), f"{legacy} is still registered"


def test_every_rename_is_exercised_by_a_stack(stack_plan: Callable[[str], Plan]) -> None:
    registered = {r.type for stack in STACKS for r in stack_plan(stack).resources}
    assert set(RENAMED_TYPES) <= registered
    by_former: dict[str, int] = {}
    for stack in STACKS:
        for type_ in RENAMED_TYPES:
            for aliases in former_types(stack_plan(stack), type_):
                for former in aliases:
                    by_former[former] = by_former.get(former, 0) + 1
    assert {former for formers in RENAMED_TYPES.values() for former in formers} <= set(by_former)
