"""What `helm install` receives for a recorded `helm.sh/v3:Release`, and the `helm template` run that shows it.

Every rendering option comes from the release's recorded inputs (the same inputs `pulumi up` sends the provider):
release name, namespace, chart and version, values, `skipCrds` and `disableWebhooks`. The cluster's side of the
install, which `helm install` reads from the API server, is given explicitly: the stack's Kubernetes version
(`--kube-version`) and the API versions of the CRDs installed before the release (`--api-versions`).

How the provider installs a Release (pulumi/pulumi-kubernetes provider/pkg/provider/helm_release.go at 94977969d,
`helmCreate`, lines 606-619): hooks run unless `disableWebhooks` (`client.DisableHooks`), CRDs from `crds/` are
installed unless `skipCrds` (`client.SkipCRDs`), test hooks never run on install. So the offline view is
`helm template --skip-tests` plus `--include-crds` unless skipCrds and `--no-hooks` only with disableWebhooks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.versions import HelmChart
from infra.plan.engine import RecordedResource
from infra.render.charts import pinned_chart

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# Inputs the renderer cannot reproduce offline: a release using one would render differently when deployed.
UNSUPPORTED_INPUTS = ("postrender", "valueYamlFiles", "dependencyUpdate", "devel")


class ReleaseError(Exception):
    """A recorded release cannot be rendered as it would be deployed."""


@dataclass(frozen=True)
class HelmRelease:
    urn: str
    release: str
    namespace: str
    chart: HelmChart
    values: dict[str, Any]
    include_crds: bool
    run_hooks: bool

    @classmethod
    def from_resource(cls, resource: RecordedResource, default_namespace: str = "default") -> HelmRelease:
        """The release as recorded; without a namespace it goes to its provider's default namespace."""
        inputs = resource.inputs
        used = [key for key in UNSUPPORTED_INPUTS if inputs.get(key)]
        if used:
            raise ReleaseError(f"{resource.urn}: inputs {', '.join(used)} cannot be rendered offline")
        if not inputs.get("name"):
            raise ReleaseError(f"{resource.urn}: no release name; the provider would add a random suffix")
        repository = str((inputs.get("repositoryOpts") or {}).get("repo") or "")
        chart = pinned_chart(str(inputs.get("chart")), str(inputs.get("version")), repository)
        return cls(
            urn=resource.urn,
            release=str(inputs["name"]),
            namespace=str(inputs.get("namespace") or default_namespace),
            chart=chart,
            values=dict(inputs.get("values") or {}),
            include_crds=not inputs.get("skipCrds", False),
            run_hooks=not inputs.get("disableWebhooks", False),
        )

    @property
    def values_json(self) -> str:
        return json.dumps(self.values, sort_keys=True)


def cluster_version(minor: str) -> str:
    """What the API server reports for a stack's `1.33`: `v1.33.0` (charts compare it with semver)."""
    parts = minor.removeprefix("v").split(".")
    return "v" + ".".join(parts + ["0"] * (3 - len(parts)))


def template_args(
    release: HelmRelease, archive: Path, values_file: Path, kube_version: str, api_versions: Iterable[str]
) -> list[str]:
    """`helm template` arguments that render what `helm install` of this release creates."""
    args = ["template", release.release, str(archive), "--namespace", release.namespace]
    args += ["--values", str(values_file), "--kube-version", cluster_version(kube_version), "--skip-tests"]
    if release.include_crds:
        args.append("--include-crds")
    if not release.run_hooks:
        args.append("--no-hooks")
    for api in sorted(set(api_versions)):
        args += ["--api-versions", api]
    return args
