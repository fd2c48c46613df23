"""Recreate a workload image without a Docker engine, to prove it can start what the cluster runs in it.

`Dockerfile.parse` reads a Dockerfile with dockerfile-parse (a parser, not regexes). `recreate` replays it into a
directory per stage: COPY from the build context (through the .dockerignore allow-list, as BuildKit sends it), COPY
--from another stage, WORKDIR, ENV, ARG, USER, and the RUN lines the images use: the uv bootstrap (the host's uv
stands in), `uv sync` from the copied lock into a fresh environment (shared per lock and flags, the uv cache makes it
quick), user creation, and any other command, executed in the recreated stage. An instruction it does not know
fails, so a new Dockerfile line is never silently skipped. The image's absolute paths (`/opt/venv`, `/app`, `/tmp`,
mount points) live under the stage's directory; commands see them remapped.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser
from dockerfile_parse.util import WordSplitter, extract_key_values

from components.images import ContextRules

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HADOLINT = PROJECT_ROOT / "workloads" / ".venv" / "bin" / "hadolint"
# PATH of the python base images, which `ENV PATH=/opt/venv/bin:$PATH` extends.
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BASE_ENV = {"PATH": BASE_PATH, "LANG": "C.UTF-8"}
# Image paths that live under the recreated root; anything else (/usr, /bin, /etc...) is the host's stand-in.
SYSTEM_DIRS = {"/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/var", "/proc", "/dev", "/sys", "/root", "/home"}
_PINNED_BASE = re.compile(r"^(?P<name>[^@\s]+?):(?P<tag>[^:@\s/]+)@sha256:[0-9a-f]{64}$")
_VERSION = re.compile(r"^(\d+\.\d+\.\d+)")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    line: int


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction]


@dataclass
class Dockerfile:
    path: Path
    stages: list[Stage]

    @classmethod
    def parse(cls, path: Path, text: str | None = None) -> Dockerfile:
        content = path.read_text() if text is None else text
        parser = DockerfileParser(fileobj=io.BytesIO(content.encode()))
        stages: list[Stage] = []
        for item in parser.structure:
            keyword, value = item["instruction"], item["value"]
            if keyword == "COMMENT":
                continue
            if keyword == "FROM":
                words = value.split()
                name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
                stages.append(Stage(name=name, base=words[0], instructions=[]))
            elif not stages:
                raise ValueError(f"{path}:{item['startline'] + 1}: {keyword} before FROM")
            else:
                stages[-1].instructions.append(Instruction(keyword, value, item["startline"] + 1))
        return cls(path, stages)

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        (found,) = [s for s in self.stages if s.name == name]
        return found

    def external_bases(self) -> list[str]:
        names = {s.name for s in self.stages}
        return [s.base for s in self.stages if s.base not in names]

    def context_sources(self) -> list[str]:
        """Every path a COPY (without --from) takes from the build context."""
        sources = []
        for stage in self.stages:
            for ins in stage.instructions:
                if ins.keyword in ("COPY", "ADD"):
                    words = list(WordSplitter(ins.value).split())
                    if not any(w.startswith("--from=") for w in words):
                        sources += [w for w in words[:-1] if not w.startswith("--")]
        return sources

    def last(self, keyword: str, stage: Stage | None = None) -> str | None:
        found = [i.value for i in (stage or self.final).instructions if i.keyword == keyword]
        return found[-1] if found else None

    def exec_form(self, keyword: str) -> list[str]:
        value = self.last(keyword)
        if value is None:
            return []
        parsed = json.loads(value)
        if not isinstance(parsed, list):
            raise ValueError(f"{self.path.name}: {keyword} must use the exec form")
        return [str(p) for p in parsed]


# --- static checks: each returns the problems found (empty = fine) --------------------------------------------------


def base_image_problems(dockerfile: Dockerfile) -> list[str]:
    problems = []
    for base in dockerfile.external_bases():
        match = _PINNED_BASE.match(base)
        if match is None or not _VERSION.match(match["tag"]):
            problems.append(f"{dockerfile.path.name}: FROM {base} is not pinned as <image>:<version>@sha256:<digest>")
    return problems


def python_version_problems(dockerfile: Dockerfile, requires_python: str) -> list[str]:
    """The base image's Python must be one the lock resolved for (`requires-python` of uv.lock)."""
    from packaging.specifiers import SpecifierSet

    problems = []
    for base in dockerfile.external_bases():
        match = _PINNED_BASE.match(base)
        if match and match["name"].rsplit("/", 1)[-1] == "python":
            version = _VERSION.match(match["tag"])
            if version is None or version[1] not in SpecifierSet(requires_python):
                problems.append(
                    f"{dockerfile.path.name}: base image Python {match['tag']} is outside the lock's "
                    f"requires-python {requires_python}"
                )
    return problems


def copy_source_problems(dockerfile: Dockerfile, context: Path) -> list[str]:
    return [
        f"{dockerfile.path.name}: COPY source {source} does not exist in the build context"
        for source in dockerfile.context_sources()
        if not (context / source).exists()
    ]


def user_problems(dockerfile: Dockerfile) -> list[str]:
    user = dockerfile.last("USER")
    if user is None:
        return [f"{dockerfile.path.name}: the final stage sets no USER, so the image runs as root"]
    uid = user.split(":", 1)[0]
    if uid in ("0", "root") or not uid.isdigit():
        return [f"{dockerfile.path.name}: USER {user} is not a numeric non-root uid (runAsNonRoot needs one)"]
    return []


def hadolint(path: Path, text: str | None = None) -> subprocess.CompletedProcess[str]:
    if text is None:
        return subprocess.run([str(HADOLINT), str(path)], capture_output=True, text=True, check=False)
    return subprocess.run([str(HADOLINT), "-"], input=text, capture_output=True, text=True, check=False)


# --- recreation ------------------------------------------------------------------------------------------------------


class EnvironmentFactory:
    """Fresh environments from a lock, one per (project files, uv sync flags); `uv sync` into a new directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.created: dict[str, Path] = {}

    def environment(self, project: Path, flags: Sequence[str]) -> Path:
        digest = hashlib.sha256(" ".join(flags).encode())
        for path in sorted(p for p in project.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(project)).encode())
            digest.update(path.read_bytes())
        key = digest.hexdigest()[:16]
        if key not in self.created:
            target = self.directory / f"env-{key}"
            if not target.exists():
                env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(target), "UV_PYTHON_DOWNLOADS": "never"}
                env.pop("VIRTUAL_ENV", None)
                result = subprocess.run(
                    ["uv", "sync", *flags, "--quiet", "--project", str(project)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if result.returncode != 0:
                    raise RecreationError(f"uv sync {' '.join(flags)} failed:\n{result.stderr}")
            self.created[key] = target
        return self.created[key]


class RecreationError(Exception):
    pass


@dataclass
class StageState:
    root: Path
    env: dict[str, str] = field(default_factory=lambda: dict(BASE_ENV))
    args: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = "root"
    users: dict[str, int] = field(default_factory=dict)


@dataclass
class Layout:
    """The final stage of a recreated image: run commands in it as the cluster would."""

    root: Path
    env: dict[str, str]
    workdir: str
    user: str
    users: dict[str, int]
    entrypoint: list[str]
    cmd: list[str]
    mapped: tuple[str, ...]
    search_path: list[Path] | None = None  # the image python's sys.path, once asked

    def path(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def remap(self, text: str) -> str:
        """Image paths inside `text` (a token, a `--flag=/path`, a shell script) → their place under the root."""
        return remap(text, self.root, self.mapped)

    def mount(self, mount_path: str, files: Mapping[str, str] | None = None) -> None:
        """A volume mount: an (empty) directory, or the given files (a ConfigMap's data)."""
        target = self.path(mount_path)
        target.mkdir(parents=True, exist_ok=True)
        for name, content in (files or {}).items():
            (target / name).write_text(content)
        top = mount_path if _top(mount_path) in SYSTEM_DIRS else _top(mount_path)
        if top not in self.mapped:
            self.mapped = (*self.mapped, top)

    def process_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {**self.env, **(extra or {})}
        return {key: self.remap(value) for key, value in env.items()}

    def resolve(self, program: str, env: Mapping[str, str]) -> str:
        if program.startswith("/"):
            return self.remap(program)
        found = shutil.which(program, path=env["PATH"])
        if found is None:
            raise RecreationError(f"{program!r} is not on the image's PATH {self.env['PATH']}")
        return found

    def command(
        self, argv: Sequence[str], extra_env: Mapping[str, str] | None
    ) -> tuple[list[str], dict[str, str], Path]:
        """argv, environment and working directory of `argv` as the image would start it."""
        env = self.process_env(extra_env)
        words = [self.remap(word) for word in argv]
        words[0] = self.resolve(argv[0], env)
        cwd = self.path(self.workdir)
        cwd.mkdir(parents=True, exist_ok=True)
        return words, env, cwd

    def run(
        self, argv: Sequence[str], extra_env: Mapping[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        words, env, cwd = self.command(argv, extra_env)
        return subprocess.run(words, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)

    def start(self, argv: Sequence[str], extra_env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
        """A long-running process (a server), its output in `log`; the caller stops it."""
        words, env, cwd = self.command(argv, extra_env)
        with log.open("wb") as output:
            return subprocess.Popen(words, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)


def _top(path: str) -> str:
    return "/" + path.strip("/").split("/", 1)[0]


def remap(text: str, root: Path, mapped: Iterable[str]) -> str:
    """One pass over `text`, so a replaced path (the root may itself live under /tmp) is never remapped again."""
    prefixes = "|".join(re.escape(p) for p in sorted(mapped, key=len, reverse=True))
    if not prefixes:
        return text
    pattern = re.compile(rf"(^|[\s'\"=(:,])({prefixes})(?=/|$|[\s'\"):,])")
    return pattern.sub(lambda m: f"{m.group(1)}{root}{m.group(2)}", text)


def recreate(
    dockerfile: Dockerfile,
    context: Path,
    workdir: Path,
    environments: EnvironmentFactory,
    build_args: Mapping[str, str] | None = None,
) -> Layout:
    rules = ContextRules.read(context)
    states: dict[str, StageState] = {}
    mapped: set[str] = {"/tmp"}
    for stage in dockerfile.stages:
        if stage.base in states:
            raise RecreationError(f"FROM {stage.base}: stages built on stages are not recreated")
        state = StageState(root=workdir / dockerfile.path.stem / stage.name)
        shutil.rmtree(state.root, ignore_errors=True)
        (state.root / "tmp").mkdir(parents=True)
        for ins in stage.instructions:
            _replay(ins, state, states, context, rules, environments, dict(build_args or {}), mapped)
        states[stage.name] = state
    final = states[dockerfile.final.name]
    return Layout(
        root=final.root,
        env=final.env,
        workdir=final.workdir,
        user=final.user,
        users=final.users,
        entrypoint=dockerfile.exec_form("ENTRYPOINT"),
        cmd=dockerfile.exec_form("CMD"),
        mapped=tuple(sorted(mapped)),
    )


def _absolute(state: StageState, path: str) -> str:
    return path if path.startswith("/") else os.path.normpath(f"{state.workdir}/{path}")


def _place(state: StageState, image_path: str, mapped: set[str]) -> Path:
    top = _top(image_path)
    if top in SYSTEM_DIRS:
        mapped.add(image_path.rstrip("/"))
    elif top != "/":
        mapped.add(top)
    return state.root / image_path.lstrip("/")


def _copy(source: Path, target: Path, excluded: Sequence[str] = ()) -> None:
    if source.is_symlink() or source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.unlink(missing_ok=True)
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
        return
    if not source.is_dir():
        raise RecreationError(f"COPY source {source} does not exist")
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*excluded))


def _replay(
    ins: Instruction,
    state: StageState,
    states: Mapping[str, StageState],
    context: Path,
    rules: ContextRules,
    environments: EnvironmentFactory,
    build_args: dict[str, str],
    mapped: set[str],
) -> None:
    where = f"line {ins.line}: {ins.keyword} {ins.value}"
    if ins.keyword == "WORKDIR":
        state.workdir = _absolute(state, ins.value)
        _place(state, state.workdir, mapped).mkdir(parents=True, exist_ok=True)
    elif ins.keyword == "ENV":
        for key, value in extract_key_values(env_replace=False, args={}, envs={}, instruction_value=ins.value):
            state.env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: state.env.get(m[1], ""), value)
    elif ins.keyword == "ARG":
        name, _, default = ins.value.partition("=")
        state.args[name] = build_args.get(name, default)
    elif ins.keyword == "USER":
        state.user = ins.value
    elif ins.keyword in ("ENTRYPOINT", "CMD", "EXPOSE", "HEALTHCHECK", "LABEL"):
        pass
    elif ins.keyword == "COPY":
        _replay_copy(ins, state, states, context, rules, mapped)
    elif ins.keyword == "RUN":
        _replay_run(ins, state, environments, mapped)
    else:
        raise RecreationError(f"{where}: not recreated by tests/infra/image_harness.py; teach it this instruction")


def _replay_copy(
    ins: Instruction,
    state: StageState,
    states: Mapping[str, StageState],
    context: Path,
    rules: ContextRules,
    mapped: set[str],
) -> None:
    words = list(WordSplitter(ins.value).split())
    options = [w for w in words if w.startswith("--")]
    *sources, destination = [w for w in words if not w.startswith("--")]
    source_stage = next((o.split("=", 1)[1] for o in options if o.startswith("--from=")), None)
    dest = _absolute(state, destination)
    into_dir = destination.endswith(("/", ".")) or len(sources) > 1
    for source in sources:
        if source_stage is not None:
            origin = states[source_stage].root / source.lstrip("/")
        else:
            origin = context / source
            included = {str(p) for p in rules.files(context)}
            if not any(s == source or s.startswith(f"{source.rstrip('/')}/") for s in included):
                raise RecreationError(f"line {ins.line}: COPY {source}: not in the build context ({rules.included})")
        target = _place(state, dest, mapped)
        if into_dir and not origin.is_dir():
            target = target / Path(source).name
        _copy(origin, target, excluded=[] if source_stage else list(rules.excluded))


def _replay_run(ins: Instruction, state: StageState, environments: EnvironmentFactory, mapped: set[str]) -> None:
    words = shlex.split(ins.value)
    if words[:2] == ["python", "/tmp/bootstrap_uv.py"]:  # installs uv; the host's uv stands in
        return
    if words[:1] == ["groupadd"]:
        return
    if words[:2] == ["uv", "sync"]:
        project = _place(state, state.workdir, mapped)
        venv = state.env.get("UV_PROJECT_ENVIRONMENT")
        if not venv:
            raise RecreationError(f"line {ins.line}: uv sync without UV_PROJECT_ENVIRONMENT")
        target = _place(state, venv, mapped)
        environment = environments.environment(project, words[2:])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        target.symlink_to(environment, target_is_directory=True)
        return
    if "useradd" in words:
        uid = words[words.index("--uid") + 1]
        state.users[words[-1]] = int(uid)
        return
    env = {key: remap(value, state.root, mapped) for key, value in {**state.env, **state.args}.items()}
    cwd = _place(state, state.workdir, mapped)
    result = subprocess.run(
        ["/bin/sh", "-c", remap(ins.value, state.root, mapped)], env=env, cwd=cwd, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RecreationError(f"line {ins.line}: RUN failed ({result.returncode}):\n{result.stdout}{result.stderr}")


# --- what the cluster runs in an image -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    """One container (or pipeline step) running a workload image: where it comes from and what it runs."""

    origin: str
    command: tuple[str, ...]  # empty: the image's ENTRYPOINT
    args: tuple[str, ...]  # empty with no command: the image's CMD
    env: tuple[tuple[str, str], ...] = ()
    mounts: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()  # mount path, files (ConfigMap data)

    def argv(self, layout: Layout) -> list[str]:
        """As the kubelet composes it: command replaces ENTRYPOINT (and drops CMD), args replace CMD."""
        if self.command:
            return [*self.command, *self.args]
        return [*layout.entrypoint, *(self.args or layout.cmd)]


def pod_specs(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = manifest.get("spec") or {}
    if "jobTemplate" in spec:
        spec = spec["jobTemplate"].get("spec") or {}
    if "template" in spec:
        return [spec["template"].get("spec") or {}]
    return [spec] if manifest.get("kind") == "Pod" else []


def invocations(
    manifests: Iterable[Mapping[str, Any]], images: Mapping[str, str], config_maps: Mapping[str, Mapping[str, str]]
) -> dict[str, list[Invocation]]:
    """Every container of `manifests` that runs one of `images` (name → exact reference), by image name."""
    by_ref = {ref: name for name, ref in images.items()}
    found: dict[str, list[Invocation]] = {}
    for manifest in manifests:
        for pod in pod_specs(manifest):
            volumes = {v["name"]: v for v in pod.get("volumes") or []}
            for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
                name = by_ref.get(container.get("image"))
                if name is None:
                    continue
                origin = f"{manifest['kind']}/{manifest['metadata']['name']} container {container['name']}"
                env = tuple((e["name"], str(e["value"])) for e in container.get("env") or [] if "value" in e)
                mounts = []
                for mount in container.get("volumeMounts") or []:
                    volume = volumes.get(mount["name"], {})
                    data = config_maps.get((volume.get("configMap") or {}).get("name", ""), {})
                    if "subPath" in mount:
                        directory, file_name = mount["mountPath"].rsplit("/", 1)
                        files = {file_name: data[mount["subPath"]]} if mount["subPath"] in data else {}
                        mounts.append((directory, tuple(files.items())))
                    else:
                        mounts.append((mount["mountPath"], tuple(data.items())))
                invocation = Invocation(
                    origin=origin,
                    command=tuple(container.get("command") or ()),
                    args=tuple(str(a) for a in container.get("args") or ()),
                    env=env,
                    mounts=tuple(mounts),
                )
                found.setdefault(name, []).append(invocation)
    return found


# --- proving a command starts ----------------------------------------------------------------------------------------

_SHELLS = {"sh", "/bin/sh", "bash", "/bin/bash"}
# (python executable, module) -> import error or None: images built from one lock share the answer.
_IMPORTED: dict[tuple[str, str], str | None] = {}
_STARTED: dict[tuple[str, str], list[str]] = {}  # (image root, KFP wrapper script) -> problems of its --help run


def imported_modules(source: str, package: str = "") -> list[str]:
    """Every module a Python source imports, anywhere: function bodies too (kfp components and lazily loaded heavy
    dependencies import there), `from a import b` as `a` and `a.b` (b may be a submodule); not `if TYPE_CHECKING:`."""
    tree = ast.parse(source)
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for child in ast.walk(node)
    }
    modules = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            modules.add(base)
            modules.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return sorted(m for m in modules if m)


def reachable_imports(layout: Layout, entries: Iterable[str], first_party: Iterable[str]) -> list[str]:
    """Third-party modules reachable from `entries` through the first-party code the image carries, following
    every import (including the ones inside functions, which `--help` never executes)."""
    roots = set(first_party)
    search = _module_dirs(layout)
    seen: set[str] = set()
    third_party: set[str] = set()
    queue = list(entries)
    while queue:
        name = queue.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
            module = ".".join(parts[:depth])
            if module in seen:
                continue
            seen.add(module)
            if parts[0] not in roots:
                third_party.add(module)
                continue
            source = _module_source(search, module)
            if source is None:
                continue  # `from package import name` where name is not a module: the import check catches typos
            package = module if source.name in ("__init__.py", "__main__.py") else module.rsplit(".", 1)[0]
            queue += imported_modules(source.read_text(), package)
            if source.name == "__init__.py" and (source.parent / "__main__.py").is_file() and module in entries:
                queue += imported_modules((source.parent / "__main__.py").read_text(), module)
    return sorted(third_party)


def _module_dirs(layout: Layout) -> list[Path]:
    if layout.search_path is None:
        result = layout.run(["python", "-c", "import json, sys; print(json.dumps(sys.path))"])
        layout.search_path = [Path(p) for p in json.loads(result.stdout.splitlines()[-1]) if p and Path(p).is_dir()]
    return layout.search_path


def _module_source(search: Sequence[Path], module: str) -> Path | None:
    relative = Path(*module.split("."))
    for directory in search:
        for candidate in (directory / relative / "__init__.py", directory / f"{relative}.py"):
            if candidate.is_file():
                return candidate
    return None


def import_check(layout: Layout, modules: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
    """Import each module with the image's python; problems as `module: error`."""
    # `a.b.c` is fine as a module, or as an attribute of module `a.b` (`from a.b import c`), as Python resolves it.
    script = (
        "import importlib, json, sys\n"
        "bad = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError as error:\n"
        "        parent, _, attribute = name.rpartition('.')\n"
        "        try:\n"
        "            if not (error.name == name and parent and hasattr(importlib.import_module(parent), attribute)):\n"
        "                bad[name] = f'ModuleNotFoundError: {error}'\n"
        "        except Exception as parent_error:\n"
        "            bad[name] = f'{type(parent_error).__name__}: {parent_error}'\n"
        "    except Exception as error:\n"
        "        bad[name] = f'{type(error).__name__}: {error}'\n"
        "print(json.dumps(bad))\n"
    )
    # The environment (venv) directory, not the interpreter: every venv's python links to the same base binary.
    environment = os.path.realpath(Path(layout.resolve("python", layout.process_env(env))).parent.parent)
    pending = [m for m in modules if (environment, m) not in _IMPORTED]
    if pending:
        result = layout.run(["python", "-c", script, *pending], env)
        if result.returncode != 0:
            return [f"python could not run: {result.stderr[-2000:]}"]
        bad = json.loads(result.stdout.splitlines()[-1])
        _IMPORTED.update({(environment, m): bad.get(m) for m in pending})
    return [f"{m}: {_IMPORTED[(environment, m)]}" for m in modules if _IMPORTED[(environment, m)]]


def start_problems(
    layout: Layout, argv: Sequence[str], env: Mapping[str, str] | None = None, first_party: Sequence[str] = ()
) -> list[str]:
    """Run `argv` with `--help` in the image: the program exists, its modules import, its flags parse; and import
    every third-party module its first-party code can reach, since `--help` does not run the lazy imports.

    `sh -c <script>` runs the script's command (without `exec`); `python <file>` (a script mounted from a ConfigMap)
    imports what the file imports, since running it would do the real work.
    """
    words = list(argv)
    if words[0] in _SHELLS and words[1:2] in (["-c"], ["-ec"]):
        script, positional = words[2], words[3:]
        if "kfp.dsl.executor_main" in script and positional:
            # A KFP lightweight component: the wrapper writes $0 (the component source) to a file and runs the
            # executor on it; every module the component reaches must be in the image.
            modules = reachable_imports(layout, imported_modules(positional[0]), first_party)
            key = (str(layout.root), script)  # the wrapper and its executor are the same for every step
            if key not in _STARTED:
                _STARTED[key] = _failed(argv[:3], layout.run([*words, "--help"], env))
            return import_check(layout, modules, env) + _STARTED[key]
        inner = shlex.split(script)
        inner = inner[1:] if inner[:1] == ["exec"] else inner
        return start_problems(layout, inner, env, first_party)
    if words[0] in ("python", "python3") and len(words) > 1 and not words[1].startswith("-"):
        source = Path(layout.remap(words[1]))
        if not source.is_file():
            return [f"{' '.join(argv)}: {words[1]} is neither in the image nor mounted"]
        return import_check(layout, reachable_imports(layout, imported_modules(source.read_text()), first_party), env)
    try:
        result = layout.run([*words, "--help"], env)
    except RecreationError as error:
        return [f"{' '.join(argv)}: {error}"]
    problems = _failed(argv, result)
    if not problems and words[0] in ("python", "python3") and words[1:2] == ["-m"]:
        problems = import_check(layout, reachable_imports(layout, [words[2]], first_party), env)
    return problems


def _failed(argv: Sequence[str], result: subprocess.CompletedProcess[str]) -> list[str]:
    if result.returncode == 0:
        return []
    tail = (result.stderr or result.stdout)[-1500:]
    return [f"{' '.join(argv)} --help exited {result.returncode}:\n{tail}"]


# --- charts ----------------------------------------------------------------------------------------------------------


def chart_cache() -> Path:
    """Where the pinned chart packages are: $MLOPS_CHART_CACHE, or the offline copy .ci/run also looks for."""
    candidates = [os.environ.get("MLOPS_CHART_CACHE", ""), str(PROJECT_ROOT.parent / "shared" / "charts")]
    candidates.append("/work/shared/charts")
    for candidate in filter(None, candidates):
        if Path(candidate).is_dir():
            return Path(candidate)
    raise RecreationError("no chart packages: set MLOPS_CHART_CACHE to a directory of <chart>-<version>.tgz files")


def render_release(release: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`helm template` of a recorded `helm.v3.Release` (its chart, version, namespace and values), offline."""
    return json.loads(_render(json.dumps(release, sort_keys=True)))  # a fresh copy: callers may change it


@functools.cache
def _render(release_json: str) -> str:
    import yaml

    from infra.tools import tool

    release = json.loads(release_json)
    package = chart_cache() / f"{release['chart']}-{release['version']}.tgz"
    result = subprocess.run(
        [str(tool("helm")), "template", release["name"], str(package), "--namespace", release["namespace"],
         "--values", "-"],
        input=json.dumps(release.get("values") or {}), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RecreationError(f"helm template {release['chart']} failed:\n{result.stderr}")
    return json.dumps([doc for doc in yaml.safe_load_all(result.stdout) if doc])
