"""`make charts` fills the chart cache from the chart repositories and GitHub, here served on 127.0.0.1 only: the
pinned package lands under the name `helm pull` gives it, and the Kubeflow Pipelines tree builds with no network."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from components.versions import KFP_VERSION, HelmChart
from infra.render import charts
from infra.render.charts import (
    ChartCacheError,
    RemoteTarget,
    chart_archive,
    helm_environment,
    kfp_tree,
    pull_chart,
    pull_kfp_manifests,
)
from infra.tools import tool
from tests.infra.render_fixtures import chart_files, package, tar_gz

ARGO = "https://github.com/argoproj/argo-workflows/manifests/base/workflow-controller?ref=v4.0.5&timeout=60s"


@pytest.fixture
def loopback(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving `tmp_path/site`: a Helm repository and GitHub-style archives."""
    site = tmp_path / "site"
    site.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", site
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def helm_repository(base: str, site: Path, name: str, versions: list[str], scratch: Path) -> str:
    repo = site / "charts"
    for version in versions:
        package(
            repo,
            name,
            version,
            chart_files(
                name,
                version,
                {"replicas": 1},
                {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"},
            ),
        )
    subprocess.run(
        [tool("helm"), "repo", "index", str(repo), "--url", f"{base}/charts"],
        check=True,
        env=helm_environment(scratch),
        capture_output=True,
    )
    return f"{base}/charts"


def test_make_charts_pulls_the_pinned_version_and_keeps_it(loopback: tuple[str, Path], tmp_path: Path) -> None:
    base, site = loopback
    url = helm_repository(base, site, "demo", ["0.3.0", "0.4.0"], tmp_path / "helm")
    chart, cache = HelmChart("demo", url, "0.3.0"), tmp_path / "cache"
    path = pull_chart(chart, cache)
    assert path == cache / "demo-0.3.0.tgz" == chart_archive(chart, cache)
    assert sorted(p.name for p in cache.iterdir()) == ["demo-0.3.0.tgz"]  # only the pin, nothing staged left
    (site / "charts" / "demo-0.3.0.tgz").unlink()
    assert pull_chart(chart, cache) == path  # served from the cache: no request for a cached pin

    with pytest.raises(ChartCacheError, match=r"helm pull demo 0\.9\.0 .* failed: .*0\.9\.0.* not found"):
        pull_chart(HelmChart("demo", url, "0.9.0"), cache)


def kfp_archives(site: Path) -> None:
    kustomize = "pipelines-2.17.0/manifests/kustomize"
    kfp = {
        "LICENSE": "Apache-2.0\n",
        "manifests/kustomize/third-party/argo/base/kustomization.yaml": f"resources:\n- {ARGO}\n- configmap.yaml\n",
        "manifests/kustomize/third-party/argo/base/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: workflow-controller-configmap\n",
        "backend/README.md": "not part of the manifests\n",
    }
    argo = {
        "manifests/base/workflow-controller/kustomization.yaml": "resources: [deployment.yaml]\n",
        "manifests/base/workflow-controller/deployment.yaml": yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "workflow-controller"},
                "spec": {
                    "selector": {"matchLabels": {"app": "wc"}},
                    "template": {
                        "metadata": {"labels": {"app": "wc"}},
                        "spec": {
                            "containers": [{"name": "wc", "image": "quay.io/argoproj/workflow-controller:v4.0.5"}]
                        },
                    },
                },
            }
        ),
    }
    (site / "kubeflow/pipelines/archive").mkdir(parents=True)
    (site / f"kubeflow/pipelines/archive/{KFP_VERSION}.tar.gz").write_bytes(tar_gz(kfp, kustomize.split("/")[0]))
    (site / "argoproj/argo-workflows/archive").mkdir(parents=True)
    (site / "argoproj/argo-workflows/archive/v4.0.5.tar.gz").write_bytes(tar_gz(argo, "argo-workflows-4.0.5"))


def test_make_charts_vendors_kubeflow_pipelines_so_it_builds_offline(
    loopback: tuple[str, Path], tmp_path: Path
) -> None:
    base, site = loopback
    kfp_archives(site)
    cache = tmp_path / "cache"
    tree = pull_kfp_manifests(cache, github=base)
    assert tree == kfp_tree(cache) == cache / "kubeflow-pipelines" / KFP_VERSION
    assert not (tree / "backend").exists()  # only manifests/kustomize (and the license) are kept
    kustomization = (tree / "manifests/kustomize/third-party/argo/base/kustomization.yaml").read_text()
    assert "https://" not in kustomization
    assert "remote/github.com/argoproj/argo-workflows/v4.0.5/manifests/base/workflow-controller" in kustomization
    assert "argo-workflows" in (tree / "REWRITES.md").read_text()

    built = subprocess.run(
        [tool("kubectl"), "kustomize", str(tree / "manifests/kustomize/third-party/argo/base")],
        capture_output=True,
        text=True,
        check=True,
    )
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(built.stdout))
    assert kinds == [("ConfigMap", "workflow-controller-configmap"), ("Deployment", "workflow-controller")]

    with pytest.raises(urllib.error.HTTPError):
        pull_kfp_manifests(tmp_path / "other", ref="2.99.0", github=base)


def test_remote_kustomize_urls_parse_in_every_form_kustomize_accepts() -> None:
    expected = RemoteTarget("kubeflow", "pipelines", "manifests/kustomize/env/gcp", "2.17.0")
    for url in (
        "https://github.com/kubeflow/pipelines/manifests/kustomize/env/gcp?ref=2.17.0",
        "https://github.com/kubeflow/pipelines.git/manifests/kustomize/env/gcp?ref=2.17.0&timeout=90s",
        "https://github.com/kubeflow/pipelines//manifests/kustomize/env/gcp?ref=2.17.0",
        "github.com/kubeflow/pipelines/manifests/kustomize/env/gcp?version=2.17.0",
        "git@github.com:kubeflow/pipelines/manifests/kustomize/env/gcp?ref=2.17.0",
    ):
        assert RemoteTarget.parse(url) == expected, url
    assert RemoteTarget.parse("../base") is None
    assert RemoteTarget.parse("deployment.yaml") is None


def test_make_charts_reports_every_pin_it_cannot_pull(
    loopback: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base, site = loopback
    url = helm_repository(base, site, "demo", ["0.3.0"], tmp_path / "helm")
    cache = tmp_path / "cache"
    (cache / "kubeflow-pipelines" / KFP_VERSION / "manifests" / "kustomize").mkdir(parents=True)
    pins = [HelmChart("demo", url, "0.3.0"), HelmChart("ghost", url, "1.0.0"), HelmChart("demo", url, "0.2.0")]
    monkeypatch.setattr(charts, "pinned_charts", lambda: pins)
    monkeypatch.setenv("MLOPS_CHART_CACHE", str(cache))
    assert charts.main() == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [str(cache / "demo-0.3.0.tgz"), str(cache / "kubeflow-pipelines" / KFP_VERSION)]
    failures = [line.split(":")[1].strip() for line in err.splitlines() if line.startswith("make charts:")]
    assert failures == ["ghost 1.0.0", "demo 0.2.0"]
