"""Check 2, Helm values: every value path a release sets is one the chart knows; anything else silently does nothing.

A path is known when the chart's `values.yaml` has it, its `values.schema.json` declares it, one of its templates
reads it (`.Values.a.b`, `$.Values.a.b`, `index .Values "a-b"`) or a Chart.yaml dependency condition names it.
Values under a subchart's key (its alias) are judged against the subchart too, `global` against every chart.
The walk descends into a value only while the chart gives it structure: below a key whose default is an empty map,
that the schema leaves open, or that a template reads whole (`toYaml`, `with`, `range`, `include`, assigned to a
variable) the keys are the user's data (labels, resources, annotations) and are not judged. An unknown path is a
violation naming the release and the path, with the closest known keys as a did-you-mean.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.render.charts import ChartFiles
from infra.verify.model import Check, CheckResult, ObjectSet, ReleaseChart, Violation

NAME = "helm-values"
Path = tuple[str, ...]

_REFERENCE = re.compile(r"(?:\$\w*)?\.Values((?:\.[A-Za-z_]\w*)*)(?![\w.])")
_INDEX = re.compile(r'index\s+\(?\s*(?:\$\w*)?\.Values((?:\.[A-Za-z_]\w*)*)\s*\)?((?:\s+"[^"]*")+)')
# A reference right after one of these reads the value as a scalar or tests it: its keys are still the chart's.
_SCALAR_CONTEXT = frozenset(
    {
        "if",
        "not",
        "and",
        "or",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "default",
        "empty",
        "quote",
        "squote",
        "required",
        "int",
        "int64",
        "float64",
        "toString",
        "upper",
        "lower",
        "trim",
        "b64enc",
        "kindIs",
        "typeIs",
        "print",
        "printf",
        "hasPrefix",
        "hasSuffix",
        "contains",
        "semverCompare",
        "ternary",
        "len",
        "hasKey",
        "coalesce",
        "else",
    }
)


def _segments(dotted: str) -> Path:
    return tuple(part for part in dotted.split(".") if part)


def template_references(templates: Mapping[str, str]) -> tuple[set[Path], set[Path]]:
    """(every `.Values` path the templates read, the paths they read whole)."""
    refs: set[Path] = set()
    whole: set[Path] = set()
    for text in templates.values():
        for match in _INDEX.finditer(text):
            path = _segments(match[1]) + tuple(re.findall(r'"([^"]*)"', match[2]))
            refs.add(path)
        for match in _REFERENCE.finditer(text):
            path = _segments(match[1])
            refs.add(path)
            start = text.rfind("{{", 0, match.start())
            tokens = re.findall(r'[\w$]+|:?=|"[^"]*"|[|(]', text[start + 2 : match.start()] if start >= 0 else "")
            previous = tokens[-1] if tokens else ""
            if path and previous not in _SCALAR_CONTEXT:
                whole.add(path)
    return refs, whole


@dataclass
class ChartView:
    """What one chart reads from its values."""

    chart: ChartFiles
    refs: set[Path] = field(default_factory=set)
    whole: set[Path] = field(default_factory=set)
    prefixes: set[Path] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.refs, self.whole = template_references(self.chart.templates)
        self.refs |= {_segments(condition) for condition in self.chart.conditions}
        self.prefixes = {ref[:n] for ref in self.refs for n in range(1, len(ref) + 1)}

    def default(self, path: Path) -> tuple[bool, Any]:
        node: Any = self.chart.values
        for segment in path:
            if not isinstance(node, Mapping) or segment not in node:
                return False, None
            node = node[segment]
        return True, node

    def schema(self, path: Path) -> Mapping[str, Any] | str:
        """The schema node at `path`, "open" where any key is allowed, "absent" where none is declared."""
        root = self.chart.schema
        if root is None:
            return "absent"
        node: Mapping[str, Any] = root
        for depth, segment in enumerate(path):
            node = _resolve(root, node)
            properties = node.get("properties") or {}
            patterns = [s for p, s in (node.get("patternProperties") or {}).items() if re.search(p, segment)]
            extra = node.get("additionalProperties")
            if segment in properties:
                node = properties[segment]
            elif patterns:
                node = patterns[0]
            elif isinstance(extra, Mapping):
                node = extra
            elif extra is True or (depth and _open_object(node)):
                return "open"  # a declared map (a bare schema root declares nothing)
            else:
                return "absent"
        return _resolve(root, node)

    def knows(self, path: Path) -> bool:
        return self.default(path)[0] or self.schema(path) != "absent" or path in self.prefixes

    def opens(self, path: Path) -> bool:
        """Keys below `path` are the user's data, not chart values."""
        if path in self.whole:
            return True
        schema = self.schema(path)
        if schema == "open" or (isinstance(schema, Mapping) and _open_object(schema)):
            return True
        found, default = self.default(path)
        deeper = any(len(ref) > len(path) and ref[: len(path)] == path for ref in self.refs)
        if found and isinstance(default, Mapping):
            return not default and not deeper
        return not deeper and not (isinstance(schema, Mapping) and schema.get("properties"))

    def keys_at(self, path: Path) -> set[str]:
        found, default = self.default(path)
        keys = set(default) if found and isinstance(default, Mapping) else set()
        schema = self.schema(path)
        if isinstance(schema, Mapping):
            keys |= set(schema.get("properties") or {})
        return keys | {ref[len(path)] for ref in self.refs if len(ref) > len(path) and ref[: len(path)] == path}


def _resolve(root: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local `$ref` and merge the properties of `allOf` / `anyOf` / `oneOf` branches."""
    seen = 0
    while isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/") and seen < 32:
        target: Any = root
        for part in node["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        node, seen = target, seen + 1
    branches = [b for key in ("allOf", "anyOf", "oneOf") for b in node.get(key) or [] if isinstance(b, Mapping)]
    if not branches:
        return node
    merged: dict[str, Any] = dict(node)
    properties = dict(node.get("properties") or {})
    for branch in branches:
        properties |= _resolve(root, branch).get("properties") or {}
    if properties:
        merged["properties"] = properties
    return merged


def _open_object(schema: Mapping[str, Any]) -> bool:
    """A declared object whose keys are free: a map schema, or an object with no declared properties."""
    extra = schema.get("additionalProperties")
    return (
        extra is True
        or isinstance(extra, Mapping)
        or (not schema.get("properties") and extra is None and schema.get("type", "object") == "object")
    )


def _views(root: ChartFiles, path: Path, views: dict[int, ChartView]) -> Iterator[tuple[ChartView, Path]]:
    """The charts that read `path` and the path as each sees it: the release's chart, the subchart under its key,
    and every chart for `global`."""

    def view(chart: ChartFiles) -> ChartView:
        if id(chart) not in views:
            views[id(chart)] = ChartView(chart)
        return views[id(chart)]

    yield view(root), path
    chart, depth = root, 0
    while depth < len(path) - 1 and path[depth] in chart.subcharts:
        chart, depth = chart.subcharts[path[depth]], depth + 1
        yield view(chart), path[depth:]
    if path[0] == "global":
        pending = list(root.subcharts.values())
        while pending:
            sub = pending.pop()
            pending += list(sub.subcharts.values())
            yield view(sub), path


def _is_subchart_key(root: ChartFiles, path: Path) -> bool:
    chart = root
    for segment in path:
        if segment not in chart.subcharts:
            return False
        chart = chart.subcharts[segment]
    return True


def unknown_paths(values: Mapping[str, Any], root: ChartFiles) -> tuple[int, list[tuple[Path, list[str]]]]:
    """(paths judged, [(unknown path, did-you-mean keys)])."""
    views: dict[int, ChartView] = {}
    judged, unknown = 0, []
    pending: list[tuple[Path, Mapping[str, Any]]] = [((), values)]
    while pending:
        parent, node = pending.pop()
        for key, value in node.items():
            path = (*parent, str(key))
            judged += 1
            seen = list(_views(root, path, views))
            if _is_subchart_key(root, path):  # the subchart's values: always judged against the subchart
                if isinstance(value, Mapping):
                    pending.append((path, value))
                continue
            knowing = [(v, p) for v, p in seen if v.knows(p)]
            if not knowing:
                candidates = {k for v, p in seen for k in v.keys_at(p[:-1])}
                close = difflib.get_close_matches(str(key), sorted(candidates), n=3, cutoff=0.6)
                close += [c for c in candidates if c.lower() == str(key).lower() and c not in close]
                unknown.append((path, close))
            elif isinstance(value, Mapping) and value and not any(v.opens(p) for v, p in knowing):
                pending.append((path, value))
    return judged, sorted(unknown)


def judge(release: ReleaseChart) -> tuple[int, list[Violation]]:
    judged, unknown = unknown_paths(release.release.values, release.chart)
    chart = f"{release.chart.name} {release.chart.version}"
    violations = []
    for path, close in unknown:
        hint = "; did you mean " + " or ".join(f"`{'.'.join((*path[:-1], c))}`" for c in close) if close else ""
        violations.append(
            Violation(
                NAME,
                release.subject,
                f"value `{'.'.join(path)}` is not a value of {chart}: "
                "not in values.yaml or values.schema.json and read by no template, so it does "
                f"nothing{hint}",
            )
        )
    return judged, violations


def run(objects: ObjectSet) -> CheckResult:
    judged, violations = 0, []
    for release in objects.releases:
        count, found = judge(release)
        judged += count
        violations += found
    return CheckResult(NAME, judged, f"value paths in {len(objects.releases)} releases", tuple(violations))


CHECK = Check(
    2,
    NAME,
    "every value path a release sets exists in its chart (values.yaml, values.schema.json or a template)",
    run,
)
