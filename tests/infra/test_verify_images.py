"""Check 9, images: every image the set runs (init, ephemeral, job templates, operator CRs, controller flags and
config) is pinned and comes from the stack's registry or an allowlisted source."""

from __future__ import annotations

from typing import Any

import pytest

from infra.plan.engine import Plan
from infra.render.objects import KubeObject, Origin
from infra.verify.checks import images
from infra.verify.model import ObjectSet
from tests.infra.render_fixtures import SERVICE_MONITOR_CRD, deployment

ORIGIN = Origin("kustomize", "urn:pulumi:dev::mlops::kubernetes:kustomize/v2:Directory::kfp", "base/api")
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/platform"


def judge(*manifests: dict[str, Any]) -> tuple[int, list[str]]:
    plan = Plan("mlops", "dev", [], outputs={"registryUrl": REGISTRY})
    result = images.run(ObjectSet("dev", "1.33", [KubeObject(m, ORIGIN) for m in manifests], plan=plan))
    return result.checked, [f"{v.subject} :: {v.reason}" for v in result.violations]


def cronjob(image: str) -> dict[str, Any]:
    pod = deployment("x", "ml", image)["spec"]["template"]
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "batch", "namespace": "ml"},
        "spec": {"schedule": "0 2 * * *", "jobTemplate": {"spec": {"template": pod}}},
    }


def test_pinned_images_from_allowed_sources_are_admitted() -> None:
    checked, found = judge(
        deployment(
            "api", "ml", f"{REGISTRY}/mlops-serving:0.1.0", initContainers=[{"name": "wait", "image": "busybox:1.37.0"}]
        ),
        deployment("ui", "kubeflow", "ghcr.io/kubeflow/kfp-frontend@sha256:" + "a" * 64),
        cronjob("docker.io/alpine:3.23"),
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "metadata": {"name": "k8s", "namespace": "m"},
            "spec": {"image": "quay.io/prometheus/prometheus:v3.14.0-distroless"},
        },
        SERVICE_MONITOR_CRD,
    )
    assert found == []
    assert checked == 5  # the CRD names no image: its schema is not a container


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("ghcr.io/kubeflow/kfp-api-server:latest", "uses the mutable tag `latest`"),
        ("ghcr.io/kubeflow/kfp-api-server:main", "uses the mutable tag `main`"),
        ("quay.io/argoproj/argoexec:master", "uses the mutable tag `master`"),
        ("nvcr.io/nvidia/k8s-device-plugin:edge", "uses the mutable tag `edge`"),
        ("ghcr.io/kubeflow/kfp-api-server", "has no tag, which pulls `latest`"),
        ("quay.io/prometheus/prometheus:stable", "tag `stable` is not a version"),
    ],
)
def test_an_unpinned_image_is_a_violation_wherever_it_is(image: str, reason: str) -> None:
    ephemeral = deployment(
        "api", "ml", "quay.io/prometheus/pushgateway:v1.11.3", ephemeralContainers=[{"name": "debug", "image": image}]
    )
    for manifest, where in (
        (deployment("api", "ml", image), "spec/template/spec/containers/0/image"),
        (ephemeral, "spec/template/spec/ephemeralContainers/0/image"),
        (cronjob(image), "spec/jobTemplate/spec/template/spec/containers/0/image"),
    ):
        _, found = judge(manifest)
        assert len(found) == 1, found
        assert f" at {where} :: image {image} {reason}: pin a version tag or a digest" in found[0]


def test_images_a_controller_is_configured_to_run_are_judged_too() -> None:
    controller = deployment("workflow-controller", "kubeflow", "quay.io/argoproj/workflow-controller:v4.0.5")
    controller["spec"]["template"]["spec"]["containers"][0] |= {
        "args": [
            "--configmap",
            "workflow-controller-configmap",
            "--executor-image",
            "quay.io/argoproj/argoexec",
            "--prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:main",
        ],
        "env": [{"name": "V2_LAUNCHER_IMAGE", "value": "ghcr.io/kubeflow/kfp-launcher:latest"}],
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "pipeline-install-config", "namespace": "kubeflow"},
        "data": {"cacheImage": "ghcr.io/containerd/busybox", "appName": "pipeline"},
    }
    checked, found = judge(controller, config)
    assert checked == 5
    assert [f.split(" :: ")[1] for f in found] == [
        "image quay.io/argoproj/argoexec has no tag, which pulls `latest`: pin a version tag or a digest",
        "image quay.io/prometheus-operator/prometheus-config-reloader:main uses the mutable tag `main`: pin a version "
        "tag or a digest",
        "image ghcr.io/kubeflow/kfp-launcher:latest uses the mutable tag `latest`: pin a version tag or a digest",
        "image ghcr.io/containerd/busybox has no tag, which pulls `latest`: pin a version tag or a digest",
        "image ghcr.io/containerd/busybox comes from ghcr.io/containerd/busybox, which is neither the stack's "
        "registry nor on IMAGE_SOURCES (infra/verify/allowlists.py)",
    ]
    assert found[3].startswith(
        "ConfigMap kubeflow/pipeline-install-config from kustomize directory kfp (base/api) at data/cacheImage"
    )


@pytest.mark.parametrize(
    "image",
    [
        "docker.io/someone/mlflow:3.15.1",  # a personal Docker Hub namespace
        "someone/mlflow:3.15.1",  # the same, implicitly on Docker Hub
        "ghcr.io/kubeflow-fork/kfp-api-server:2.17.0",  # a prefix match must end on a path segment
        "999999999999.dkr.ecr.us-east-1.amazonaws.com/platform/mlops-serving:0.1.0",  # another account's registry
    ],
)
def test_an_image_from_a_source_not_on_the_allowlist_is_a_violation(image: str) -> None:
    _, found = judge(deployment("api", "ml", image))
    assert len(found) == 1 and "which is neither the stack's registry nor on IMAGE_SOURCES" in found[0], found


def test_docker_hub_names_are_normalised_before_the_allowlist_is_consulted() -> None:
    names = {
        ref: images.Image(ref, "").name
        for ref in (
            "busybox:1.37.0",
            "docker.io/alpine:3.23",
            "grafana/grafana:13.2.0",
            "index.docker.io/library/postgres:17.6",
            "localhost:5000/x/y:1",
            "quay.io/prometheus/prometheus@sha256:" + "b" * 64,
        )
    }
    assert list(names.values()) == [
        "docker.io/library/busybox",
        "docker.io/library/alpine",
        "docker.io/grafana/grafana",
        "docker.io/library/postgres",
        "localhost:5000/x/y",
        "quay.io/prometheus/prometheus",
    ]
