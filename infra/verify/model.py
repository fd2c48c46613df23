"""The data every check reads and writes.

- `ObjectSet`: everything the deploy creates for one stack — each Kubernetes object with its origin (Pulumi URN,
  Helm release, kustomize Directory), the Helm releases with their chart files, the CRDs of the set, the recorded
  plan (its cloud resources for cross-cloud checks) and the typed stack spec.
- `Check`: a numbered, named rule with a one-line summary and a function from an ObjectSet to a `CheckResult`.
- `CheckResult`: how many things the check judged, its violations, notes (what it let pass on an allowlist, with
  the reason) and waived findings (each waiver that accepted one, with what it covered and its reason).
- `Violation`: the check, the subject (an object and where it comes from, or a release and a value path) and the
  reason, phrased so the fix is clear.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.spec import PlatformSpec
from infra.plan.engine import Plan, RecordedResource
from infra.render.charts import ChartFiles, chart_archive, load_chart
from infra.render.helm import HelmRelease
from infra.render.objects import KubeObject, Scopes, pulumi_objects
from infra.render.renderer import Rendering
from infra.verify.cluster import Cluster

CLOUD_PACKAGES = ("aws", "gcp")


@dataclass(frozen=True)
class Violation:
    check: str
    subject: str
    reason: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.subject}: {self.reason}"


@dataclass(frozen=True)
class CheckResult:
    check: str
    checked: int
    unit: str  # what `checked` counts: "objects", "value paths", "images", ...
    violations: tuple[Violation, ...] = ()
    notes: tuple[str, ...] = ()
    waived: tuple[Violation, ...] = ()  # findings a reviewed waiver accepts: the waiver and what it covers, its reason

    @property
    def passed(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class ReleaseChart:
    """A Helm release of the plan and the files of the chart it installs."""

    release: HelmRelease
    chart: ChartFiles

    @property
    def subject(self) -> str:
        chart = self.release.chart
        return f"helm release {self.release.namespace}/{self.release.release} ({chart.name} {chart.version})"


@dataclass
class ObjectSet:
    stack: str
    kubernetes_version: str
    objects: list[KubeObject]
    releases: list[ReleaseChart] = field(default_factory=list)
    plan: Plan | None = None
    spec: PlatformSpec | None = None

    @functools.cached_property
    def crds(self) -> dict[tuple[str, str], KubeObject]:
        """(group, kind) -> the CustomResourceDefinition in the set that defines it."""
        found: dict[tuple[str, str], KubeObject] = {}
        for obj in self.objects:
            if obj.kind == "CustomResourceDefinition":
                spec = obj.manifest.get("spec") or {}
                found[(str(spec.get("group")), str((spec.get("names") or {}).get("kind")))] = obj
        return found

    @functools.cached_property
    def cluster(self) -> Cluster:
        """The set after patches, indexed, with every pod template (infra/verify/cluster.py)."""
        return Cluster.of(self.objects)

    @property
    def cloud(self) -> str:
        """`aws` or `gcp`: from the spec, else from the plan's cloud resources, else empty."""
        if self.spec is not None:
            return str(self.spec.cloud)
        return next((r.package for r in self.cloud_resources), "")

    @property
    def cloud_resources(self) -> list[RecordedResource]:
        return [r for r in self.plan.resources if r.package in CLOUD_PACKAGES] if self.plan else []

    @property
    def outputs(self) -> Mapping[str, Any]:
        return self.plan.outputs if self.plan else {}

    @classmethod
    def of_plan(cls, stack: str, plan: Plan, rendering: Rendering, spec: PlatformSpec | None = None) -> ObjectSet:
        """Pulumi's own objects plus the rendered ones, and each release with its chart's files."""
        releases = [ReleaseChart(r, load_chart(chart_archive(r.chart, rendering.cache))) for r in rendering.releases]
        scopes = Scopes.of(o.manifest for o in [*pulumi_objects(plan), *rendering.objects])
        return cls(
            stack,
            rendering.kubernetes_version,
            [*pulumi_objects(plan, scopes), *rendering.objects],
            releases,
            plan,
            spec,
        )


@dataclass(frozen=True)
class Check:
    number: int  # as numbered in the verification issue (1 schemas, 2 Helm values, ... 9 images)
    name: str
    summary: str  # one line: the README and the table header
    run: Callable[[ObjectSet], CheckResult]
