"""The offline renderer shows what the deploy creates: Helm options from the recorded release inputs, hooks and CRDs as
`helm install` handles them, API versions from what a release depends on, Directory namespaces, overlays built from
the chart cache, and loud errors for anything it cannot see."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from components.k8s.common import helm_release
from components.versions import KFP_VERSION, PROMETHEUS_PUSHGATEWAY_CHART, HelmChart
from infra.plan.engine import Plan, run_program
from infra.render import charts
from infra.render.charts import ChartCacheError, chart_archive, pinned_chart
from infra.render.helm import HELM_RELEASE, HelmRelease, ReleaseError, template_args
from infra.render.renderer import RenderError, render_plan, write_rendering
from tests.infra.render_fixtures import chart_files, crd, package, write_tree

WIDGET_SCHEMA = {
    "type": "object",
    "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}},
}
WIDGET_CRD = yaml.safe_dump(crd("example.com", "Widget", WIDGET_SCHEMA))
PROVIDER = HelmChart("widget-operator", "https://charts.example.com", "1.2.0")
CONSUMER = HelmChart("gadget", "https://charts.example.com", "0.3.0")


def plan_of(program: Any) -> Plan:
    return run_program(program, project="mlops", stack="dev", config={})


def one_release(plan: Plan) -> Any:
    (resource,) = plan.of_type(HELM_RELEASE)
    return resource


def test_helm_options_are_derived_from_the_recorded_release_inputs(tmp_path: Path) -> None:
    """The deploy sends the provider the release's inputs; the offline render passes Helm the very same ones."""
    role = k8s.core.v1.ServiceAccount  # an output-valued input, resolved as in a preview

    def program() -> None:
        account = role("sa", metadata={"name": "pushgateway", "namespace": "monitoring"})
        values = account.metadata.apply(lambda m: {"serviceAccount": {"name": m["name"]}, "replicaCount": 2})
        helm_release(
            "pushgateway",
            PROMETHEUS_PUSHGATEWAY_CHART,
            "monitoring",
            values,
            pulumi.ResourceOptions(),
            release_name="pushgw",
        )

    resource = one_release(plan_of(program))
    release = HelmRelease.from_resource(resource)
    values_file = tmp_path / "values.json"
    values_file.write_text(release.values_json)
    archive = tmp_path / "chart.tgz"
    args = template_args(release, archive, values_file, "1.33", {"example.com/v1"})

    assert args[:3] == ["template", resource.inputs["name"], str(archive)]
    assert args[args.index("--namespace") + 1] == resource.inputs["namespace"]
    assert (
        json.loads(values_file.read_text())
        == resource.inputs["values"]
        == {"serviceAccount": {"name": "pushgateway"}, "replicaCount": 2}
    )
    assert args[args.index("--kube-version") + 1] == "v1.33.0"
    assert args[args.index("--api-versions") + 1] == "example.com/v1"
    assert "--include-crds" in args and "--no-hooks" not in args and "--skip-tests" in args
    assert release.chart == PROMETHEUS_PUSHGATEWAY_CHART

    # A release recorded with other inputs renders differently: the options follow the inputs, not a constant.
    resource.inputs |= {"skipCrds": True, "disableWebhooks": True, "namespace": "other", "name": "renamed"}
    changed = template_args(HelmRelease.from_resource(resource), archive, values_file, "1.33", set())
    assert "--include-crds" not in changed and "--no-hooks" in changed
    assert changed[1] == "renamed" and changed[changed.index("--namespace") + 1] == "other"


def test_a_release_of_a_chart_or_version_that_is_not_pinned_is_refused() -> None:
    def program() -> None:
        k8s.helm.v3.Release(
            "p",
            name="p",
            chart=PROMETHEUS_PUSHGATEWAY_CHART.name,
            version="3.0.0",
            repository_opts={"repo": PROMETHEUS_PUSHGATEWAY_CHART.repository},
        )

    with pytest.raises(
        ChartCacheError,
        match=r"prometheus-pushgateway 3\.0\.0 .* not pinned.*pinned: "
        r"prometheus-pushgateway 3\.8\.0",
    ):
        HelmRelease.from_resource(one_release(plan_of(program)))

    def postrendered() -> None:
        k8s.helm.v3.Release("p", name="p", chart="x", version="1", postrender="./kustomize.sh")

    with pytest.raises(ReleaseError, match="postrender cannot be rendered offline"):
        HelmRelease.from_resource(one_release(plan_of(postrendered)))


@pytest.fixture
def widget_charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A chart cache with an operator chart (CRD in crds/, a hook, a test hook) and a chart that uses its API."""
    cache = tmp_path / "cache"
    operator = {
        "operator.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n"
        "  selector: {matchLabels: {app: op}}\n  template:\n    metadata: {labels: {app: op}}\n"
        "    spec: {containers: [{name: op, image: 'registry.k8s.io/pause:3.10'}]}\n",
        "clusterrole.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n"
        "  name: {{ .Release.Name }}-reader\nrules: []\n",
        "hook.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-bootstrap\n"
        '  annotations: {"helm.sh/hook": pre-install}\n',
        "tests/probe.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: probe\n  annotations: "
        "{\"helm.sh/hook\": test}\nspec: {containers: [{name: p, image: 'busybox:1.37.0'}]}\n",
        "default-widget.yaml": '{{- if .Capabilities.APIVersions.Has "example.com/v1/Widget" }}\n'
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: default\nspec: {size: 1}\n{{- end }}\n",
        "kube.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kube\n"
        "data: {version: {{ .Capabilities.KubeVersion.Version | quote }}}\n",
    }
    package(
        cache,
        PROVIDER.name,
        PROVIDER.version,
        chart_files(PROVIDER.name, PROVIDER.version, {}, operator, {"crds/widgets.yaml": WIDGET_CRD}),
    )
    consumer = {
        "widget.yaml": '{{- if .Capabilities.APIVersions.Has "example.com/v1" }}\napiVersion: example.com/v1\n'
        "kind: Widget\nmetadata:\n  name: {{ .Release.Name }}\nspec: {size: {{ .Values.size }}}\n{{- else }}\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-no-widget-api\n{{- end }}\n",
    }
    package(cache, CONSUMER.name, CONSUMER.version, chart_files(CONSUMER.name, CONSUMER.version, {"size": 1}, consumer))
    monkeypatch.setattr(charts, "pinned_charts", lambda: [PROVIDER, CONSUMER])
    return cache


def widget_program(skip_crds: bool = False) -> None:
    ns = pulumi.ResourceOptions()
    operator = k8s.helm.v3.Release(
        "operator",
        name="operator",
        chart=PROVIDER.name,
        version=PROVIDER.version,
        repository_opts={"repo": PROVIDER.repository},
        namespace="widgets",
        skip_crds=skip_crds,
    )
    after = pulumi.ResourceOptions(depends_on=[operator])
    helm_release("gadget", CONSUMER, "apps", {"size": 3}, after)
    helm_release("gadget-early", CONSUMER, "apps", {"size": 5}, ns)


def by_release(rendering: Any) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    return {s.name: {(o.kind, o.name): dict(o.manifest) for o in s.objects} for s in rendering.sources}


def test_a_release_renders_what_helm_install_creates(widget_charts: Path, tmp_path: Path) -> None:
    rendering = render_plan(plan_of(widget_program), "1.31", cache=widget_charts, render_cache=tmp_path / "r")
    objects = by_release(rendering)
    operator = objects["operator"]
    assert ("CustomResourceDefinition", "widgets.example.com") in operator  # crds/ installed
    assert ("Secret", "operator-bootstrap") in operator  # hooks run on install
    assert ("Pod", "probe") not in operator  # test hooks do not
    assert operator[("Deployment", "operator")]["metadata"]["namespace"] == "widgets"  # release namespace
    assert "namespace" not in operator[("ClusterRole", "operator-reader")]["metadata"]  # cluster-scoped
    assert operator[("Widget", "default")]["metadata"]["namespace"] == "widgets"  # namespaced per its CRD
    assert operator[("ConfigMap", "kube")]["data"]["version"] == "v1.31.0"  # the stack's Kubernetes version
    # The Widget API exists for a release installed after the operator, not for one that may install before it.
    assert objects["gadget"][("Widget", "gadget")]["spec"] == {"size": 3}
    assert ("ConfigMap", "gadget-early-no-widget-api") in objects["gadget-early"]
    assert rendering.counts() == {f"{s.kind} {s.label}": len(s.objects) for s in rendering.sources}

    write_rendering(rendering, tmp_path / "out")
    index = yaml.safe_load((tmp_path / "out" / "index.yaml").read_text())
    assert {entry["file"] for entry in index["sources"]} == {p.name for p in (tmp_path / "out").glob("*-*.yaml")}
    assert sum(entry["objects"] for entry in index["sources"]) == len(rendering.objects) == index["objects"]


def test_skip_crds_leaves_the_crds_and_what_needs_them_out(widget_charts: Path) -> None:
    rendering = render_plan(
        plan_of(lambda: widget_program(skip_crds=True)), "1.31", cache=widget_charts, render_cache=None
    )
    objects = by_release(rendering)
    assert not [key for key in objects["operator"] if key[0] == "CustomResourceDefinition"]
    assert ("Widget", "default") not in objects["operator"]
    assert ("ConfigMap", "gadget-no-widget-api") in objects["gadget"]


def test_a_cached_render_is_the_same_render(widget_charts: Path, tmp_path: Path) -> None:
    plan = plan_of(widget_program)
    first = render_plan(plan, "1.31", cache=widget_charts, render_cache=tmp_path / "r")
    again = render_plan(plan, "1.31", cache=widget_charts, render_cache=tmp_path / "r")
    assert [dict(o.manifest) for o in again.objects] == [dict(o.manifest) for o in first.objects]
    assert [o.origin for o in again.objects] == [o.origin for o in first.objects]
    other = render_plan(plan, "1.34", cache=widget_charts, render_cache=tmp_path / "r")
    assert by_release(other)["operator"][("ConfigMap", "kube")]["data"]["version"] == "v1.34.0"


@pytest.fixture
def kfp_cache(tmp_path: Path) -> Path:
    """A chart cache holding a small Kubeflow-Pipelines-shaped tree at the pinned tag."""
    cache = tmp_path / "cache"
    base = f"kubeflow-pipelines/{KFP_VERSION}/manifests/kustomize/base/api"
    write_tree(
        cache,
        {
            f"{base}/kustomization.yaml": "resources: [deployment.yaml, configmap.yaml, clusterrole.yaml]\n",
            f"{base}/deployment.yaml": yaml.safe_dump(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "ml-pipeline"},
                    "spec": {
                        "selector": {"matchLabels": {"app": "api"}},
                        "template": {
                            "metadata": {"labels": {"app": "api"}},
                            "spec": {
                                "containers": [{"name": "api", "image": "ghcr.io/kubeflow/kfp-api-server:2.17.0"}]
                            },
                        },
                    },
                }
            ),
            f"{base}/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pipeline-install-config}\n"
            "data: {bucketName: mlpipeline}\n",
            f"{base}/clusterrole.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
            "metadata: {name: ml-pipeline}\nrules: []\n",
        },
    )
    return cache


def overlay(root: Path, ref: str = KFP_VERSION, repo: str = "kubeflow/pipelines") -> Path:
    url = f"https://github.com/{repo}/manifests/kustomize/base/api?ref={ref}"
    write_tree(
        root,
        {
            "deploy/kfp/aws/kustomization.yaml": f"resources:\n- {url}\n- ../common\npatches:\n- path: bucket.yaml\n",
            "deploy/kfp/aws/bucket.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pipeline-install-config}\n"
            "data: {bucketName: mlops-pipelines}\n",
            "deploy/kfp/common/kustomization.yaml": "resources: [secret.yaml]\n",
            "deploy/kfp/common/secret.yaml": "apiVersion: v1\nkind: Secret\n"
            "metadata: {name: mlpipeline-minio-artifact}\n",
        },
    )
    return root / "deploy/kfp/aws"


def directory_program(directory: str) -> Any:
    return lambda: k8s.kustomize.v2.Directory("kfp", directory=directory, namespace="kubeflow")


def test_a_local_overlay_builds_against_the_cached_upstream(kfp_cache: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    path = overlay(project)
    rendering = render_plan(
        plan_of(directory_program(str(path.relative_to(project)))),
        "1.33",
        cache=kfp_cache,
        render_cache=None,
        project_root=project,
    )
    objects = {(o.kind, o.name): o for o in rendering.objects}
    assert objects[("ConfigMap", "pipeline-install-config")].manifest["data"] == {"bucketName": "mlops-pipelines"}
    assert ("Secret", "mlpipeline-minio-artifact") in objects  # a sibling directory of the overlay
    assert {o.namespace for o in rendering.objects if o.kind != "ClusterRole"} == {"kubeflow"}
    assert objects[("ClusterRole", "ml-pipeline")].namespace == ""
    assert {o.origin.kind for o in rendering.objects} == {"kustomize"}
    assert (path / "kustomization.yaml").read_text().count("https://github.com") == 1  # the repository is untouched


def test_the_pinned_upstream_url_builds_from_the_cache(kfp_cache: Path) -> None:
    url = f"https://github.com/kubeflow/pipelines/manifests/kustomize/base/api?ref={KFP_VERSION}"
    rendering = render_plan(plan_of(directory_program(url)), "1.33", cache=kfp_cache, render_cache=None)
    assert {(o.kind, o.namespace) for o in rendering.objects} == {
        ("Deployment", "kubeflow"),
        ("ConfigMap", "kubeflow"),
        ("ClusterRole", ""),
    }


@pytest.mark.parametrize(
    ("ref", "repo", "error"),
    [
        ("2.14.0", "kubeflow/pipelines", rf"ref 2\.14\.0, but Kubeflow Pipelines is pinned at {KFP_VERSION}"),
        (KFP_VERSION, "someone/pipelines", r"not in the chart cache"),
    ],
)
def test_an_overlay_naming_an_uncached_remote_is_an_error(
    kfp_cache: Path, tmp_path: Path, ref: str, repo: str, error: str
) -> None:
    project = tmp_path / "project"
    path = overlay(project, ref, repo)
    with pytest.raises(RenderError, match=error):
        render_plan(
            plan_of(directory_program(str(path))), "1.33", cache=kfp_cache, render_cache=None, project_root=project
        )


def test_remote_components_whose_objects_the_renderer_cannot_see_are_refused(kfp_cache: Path) -> None:
    def program() -> None:
        k8s.helm.v4.Chart("grafana", chart="grafana", version="9.0.0")

    with pytest.raises(RenderError, match=r"cannot render kubernetes:helm\.sh/v4:Chart grafana"):
        render_plan(plan_of(program), "1.33", cache=kfp_cache, render_cache=None)


def test_the_cache_serves_only_the_pinned_version(tmp_path: Path) -> None:
    chart = HelmChart("grafana", "https://grafana.github.io/helm-charts", "9.0.0")
    package(tmp_path, "grafana", "8.15.0", chart_files("grafana", "8.15.0", {}, {}))
    with pytest.raises(
        ChartCacheError,
        match=r"grafana-9\.0\.0\.tgz not found: .* pinned at 9\.0\.0 .* holds "
        r"grafana-8\.15\.0\.tgz, not the pinned version",
    ):
        chart_archive(chart, tmp_path)
    (tmp_path / "grafana-8.15.0.tgz").rename(tmp_path / "grafana-9.0.0.tgz")  # renamed, still 8.15.0 inside
    with pytest.raises(ChartCacheError, match=r"holds chart grafana 8\.15\.0, not the pinned grafana 9\.0\.0"):
        chart_archive(chart, tmp_path)
    assert pinned_chart("mlflow", "1.11.5", "https://community-charts.github.io/helm-charts/").version == "1.11.5"
