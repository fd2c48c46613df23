"""Run a Pulumi program without the CLI, the engine or credentials, and record every resource it registers.

A `RecordingMonitor` stands in for the engine's resource monitor: it sees each full registration request (parent,
provider, dependencies, protect, retainOnDelete, ignoreChanges, secret inputs) and answers with plausible outputs
from `infra.plan.mocks`. It fails on duplicate URNs, as the real engine does. Pulumi's runtime is process-global,
so `run_program` resets it before every run: plans never leak into each other.
"""

from __future__ import annotations

import json
import runpy
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as resource_runtime
from pulumi.runtime import rpc, settings
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.plan.mocks import DEFAULT_OUTPUTS, INVOKES, RESOURCE_OUTPUTS, InvokeFailure, MockContext
from infra.plan.mocks.kubernetes import kubernetes_object

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STACK_TYPE = "pulumi:pulumi:Stack"
_SECRET_SIG = rpc._special_secret_sig
_SIG_KEY = rpc._special_sig_key


@dataclass
class RecordedResource:
    """One registration, as the engine would receive it. Inputs use wire (camelCase) names."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    ignore_changes: list[str]
    replace_on_changes: list[str]
    additional_secret_outputs: list[str]
    secret_inputs: list[str]
    id: str = ""
    aliases: list[dict[str, Any]] = field(default_factory=list)  # former identities (alias specs, wire names)

    @property
    def package(self) -> str:
        return self.type.split(":", 1)[0]


@dataclass
class Plan:
    project: str
    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: list[str] = field(default_factory=list)

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str) -> RecordedResource:
        found = [r for r in self.resources if r.type == type_ and r.name == name]
        if len(found) != 1:
            names = sorted(r.name for r in self.of_type(type_))
            raise LookupError(f"{len(found)} resources of type {type_} named {name!r}; names of that type: {names}")
        return found[0]

    def by_urn(self, urn: str) -> RecordedResource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise LookupError(urn)

    def children(self, parent: RecordedResource) -> list[RecordedResource]:
        return [r for r in self.resources if r.parent == parent.urn]

    def counts_by_type(self) -> dict[str, int]:
        return dict(sorted(Counter(r.type for r in self.resources).items()))

    def to_json(self) -> str:
        document = {
            "project": self.project,
            "stack": self.stack,
            "summary": {"resources": len(self.resources), "byType": self.counts_by_type()},
            "outputs": self.outputs,
            "secretOutputs": self.secret_outputs,
            "resources": [asdict(r) for r in self.resources],
        }
        return json.dumps(document, indent=2, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """The plan `to_json` wrote: render, verify, policy and cost all read one recorded plan, never re-plan."""
        document = json.loads(text)
        return cls(
            project=document["project"],
            stack=document["stack"],
            resources=[RecordedResource(**resource) for resource in document["resources"]],
            outputs=document["outputs"],
            secret_outputs=document["secretOutputs"],
        )


class PlanError(Exception):
    """The program could not be planned (duplicate URN, missing mock, program exception)."""


class StackFileError(PlanError):
    """The stack file cannot be read as YAML: one line naming the file, line and column (no traceback)."""


class ProgramFailed(PlanError):
    """The program raised; `registered` lists the URNs registered before it did (for bad config: none)."""

    def __init__(self, error: BaseException, registered: list[str]) -> None:
        super().__init__(str(error))
        self.error = error
        self.registered = registered


def _secret_paths(value: Any, path: str = "") -> list[str]:
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return [path or "."]
        return [p for k, v in value.items() for p in _secret_paths(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _secret_paths(v, f"{path}[{i}]")]
    return []


def _plain(value: Any) -> Any:
    """Deserialized inputs as JSON data: unknowns become None, resource references their URN."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:  # a secret: the plan keeps the value, `secret_inputs` marks the path
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items() if k != _SIG_KEY}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # numbers arrive as floats over the wire
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    return str(value)


class PlanMocks(pulumi_mocks.Mocks):
    def __init__(self, context: MockContext) -> None:
        self.context = context

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = _plain(args.inputs)
        factory = RESOURCE_OUTPUTS.get(args.typ)
        if factory is None and args.typ.startswith("kubernetes:"):
            factory = kubernetes_object
        if factory is None:
            factory = DEFAULT_OUTPUTS.get(args.typ.split(":", 1)[0])
        computed = factory(args.name, inputs, self.context) if factory else {}
        resource_id = computed.pop("id", None) or f"{args.name}-{_short(args.typ, args.name)}"
        return resource_id, {**inputs, **computed}

    # A plain dict, not the (dict, None) tuple the stub declares: the mock monitor crashes on None failures. A refused
    # invoke is returned as (dict, failures), which the SDK raises in the caller as the real engine's error would.
    def call(self, args: pulumi_mocks.MockCallArgs) -> Any:
        factory = INVOKES.get(args.token)
        if factory is None:
            raise PlanError(f"no mock for invoke {args.token}: add one to infra/plan/mocks/")
        try:
            return factory(_plain(args.args), self.context)
        except InvokeFailure as failure:
            return {}, [(failure.property_name, str(failure))]


def _short(*parts: str) -> str:
    from infra.plan.mocks.common import short_hash

    return short_hash(*parts)


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        self.records: dict[str, RecordedResource] = {}
        self.errors: list[str] = []
        self._claimed: set[str] = set()
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the real engine: a child's type is its parent's whole qualified type chain plus its own, and the root
        # stack is left out of the chain (the stock mock keeps only the parent's last type).
        parent_type = parent.split("::")[2] if parent else STACK_TYPE
        qualified = type_ if parent_type == STACK_TYPE else f"{parent_type}${type_}"
        return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{qualified}::{name}"

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            return super().RegisterResource(request)  # type: ignore[no-untyped-call]
        # Check and claim the URN in one locked step: registrations run on threads, and a check followed later by an
        # insert lets two concurrent registrations of one URN both pass.
        with self._lock:
            duplicate = urn in self._claimed
            self._claimed.add(urn)
            if duplicate:
                self.errors.append(f"duplicate URN {urn}: the real engine refuses two resources with one name")
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        raw = json_format.MessageToDict(request.object)
        record = RecordedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            provider=request.provider,
            inputs=_plain(rpc.deserialize_properties(request.object)),
            outputs={},
            dependencies=sorted(set(request.dependencies)),
            property_dependencies={k: sorted(v.urns) for k, v in sorted(request.propertyDependencies.items())},
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            delete_before_replace=bool(request.deleteBeforeReplace),
            ignore_changes=sorted(request.ignoreChanges),
            replace_on_changes=sorted(request.replaceOnChanges),
            additional_secret_outputs=sorted(request.additionalSecretOutputs),
            secret_inputs=sorted(_secret_paths(raw)),
            id=response.id,
            aliases=[json_format.MessageToDict(alias) for alias in request.aliases],
        )
        record.outputs = _plain(self.resources[urn].state) if urn in self.resources else {}
        if not duplicate:
            with self._lock:
                self.records[urn] = record
        return response


def _no_stack_trace() -> source_pb2.StackTrace:
    return source_pb2.StackTrace()


def load_stack_config(project_dir: Path, stack: str) -> tuple[dict[str, str], list[str]]:
    """Config values of `Pulumi.<stack>.yaml` as the engine passes them: strings, JSON for structured values.

    Encrypted values (`secure:`) cannot be decrypted offline; they become a marked stand-in value and a secret key.
    """
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.exists():
        stacks = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in project_dir.glob("Pulumi.*.yaml"))
        raise PlanError(f"{path.name} not found; stacks here: {', '.join(stacks)}")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        problem = " ".join(str(part) for part in (error.context, error.problem) if part)
        fix = "correct the YAML at that line (indentation, a missing ':' or an unclosed quote)"
        raise StackFileError(f"{where}: {problem}; fix: {fix}") from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{path.name}: not valid YAML ({error}); fix: correct the stack file") from None
    config_section = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config_section or {}, dict):
        raise StackFileError(f"{path.name}: `config` is not a mapping; fix: write `config:` then `mlops:<key>: value`")
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in (config_section or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[key] = f"offline-plan-secret:{key}"
            secret_keys.append(key)
        elif isinstance(value, (dict, list)):
            config[key] = json.dumps(value)
        elif isinstance(value, bool):
            config[key] = "true" if value else "false"
        else:
            config[key] = str(value)
    return config, secret_keys


def project_name(project_dir: Path) -> str:
    return str(yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["name"])


def run_program(
    program: Callable[[], None],
    *,
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str] | None = None,
    context: MockContext | None = None,
) -> Plan:
    """Run `program` under mocks with `config`; return every registered resource, sorted by URN."""
    mocks = PlanMocks(context or MockContext(project=project, stack=stack))
    monitor = RecordingMonitor(mocks)
    settings.ROOT.set(None)
    # The SDK captures a full Python stack trace (with source lines) per registration for the engine's diagnostics;
    # the plan records no source positions, and the capture costs ~1 ms per resource.
    capture, resource_runtime._get_stack_trace = resource_runtime._get_stack_trace, _no_stack_trace
    pulumi_mocks.set_mocks(mocks, project=project, stack=stack, preview=True, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config), secret_keys or [])
    try:
        try:
            _sync_await(run_pulumi_func(program))
        except Exception as error:
            raise ProgramFailed(error, sorted(monitor.records)) from error
        root = settings.get_root_resource()
        exports: dict[str, Any] = dict(getattr(root, "outputs", {}) or {})
        outputs, secret_outputs = {}, []
        for key, value in sorted(exports.items()):
            output = pulumi.Output.from_input(value)
            if _sync_await(output.is_secret()):
                secret_outputs.append(key)
                outputs[key] = "[secret]"
            else:
                outputs[key] = _plain(_sync_await(output.future()))
    finally:
        resource_runtime._get_stack_trace = capture
        settings.ROOT.set(None)
        pulumi.runtime.set_all_config({}, [])
    if monitor.errors:
        raise PlanError("\n".join(sorted(set(monitor.errors))))
    resources = sorted(monitor.records.values(), key=lambda r: r.urn)
    return Plan(project=project, stack=stack, resources=resources, outputs=outputs, secret_outputs=secret_outputs)


def stack_program(project_dir: Path = PROJECT_ROOT) -> Callable[[], None]:
    """The real stack program, `infra/__main__.py`, as `run_program` runs it."""
    main = project_dir / "infra" / "__main__.py"

    def program() -> None:
        runpy.run_path(str(main), run_name="__main__")

    return program


def plan_stack(stack: str, project_dir: Path = PROJECT_ROOT) -> Plan:
    """Plan the real stack program `infra/__main__.py` for `Pulumi.<stack>.yaml`."""
    config, secret_keys = load_stack_config(project_dir, stack)
    return run_program(
        stack_program(project_dir),
        project=project_name(project_dir),
        stack=stack,
        config=config,
        secret_keys=secret_keys,
    )
