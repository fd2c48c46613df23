"""Check 5, quotas and limits: what a quota tracks every container sets (or a LimitRange defaults), the namespace's
pods fit the quota, containers stay inside the LimitRange, and no LimitRange hands out GPUs."""

from __future__ import annotations

from typing import Any

from infra.quantity import quantity
from infra.verify.checks import quotas
from infra.verify.resources import container_resources, limit_range_defaults
from tests.infra.verify_sets import Manifest, container, judge, namespace, workload


def quota(hard: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "compute", "namespace": "team"},
        "spec": {"hard": hard},
    }


def limit_range(**item: Any) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "defaults", "namespace": "team"},
        "spec": {"limits": [{"type": "Container", **item}]},
    }


HARD = {"requests.cpu": "4", "requests.memory": "8Gi", "requests.nvidia.com/gpu": "1", "pods": "10"}


def test_pods_that_set_what_the_quota_tracks_and_fit_it_are_admitted() -> None:
    _, found = judge(quotas.run, namespace("team"), quota(HARD), workload("train", "team", container("train")))
    assert found == []


def test_a_container_without_a_tracked_request_is_refused_unless_a_limit_range_defaults_it() -> None:
    bare = workload("notebook", "team", {"name": "notebook", "image": "ghcr.io/acme/nb:1.0.0"})
    _, found = judge(quotas.run, namespace("team"), quota(HARD), bare)
    assert [f.split(" :: ")[1] for f in found] == [
        f"container notebook sets no requests.{r} and no LimitRange of namespace team defaults it, while its "
        f"ResourceQuota tracks requests.{r}: the API server refuses the pod (must specify requests.{r})"
        for r in ("cpu", "memory")
    ]
    defaults = limit_range(defaultRequest={"cpu": "250m", "memory": "512Mi"}, default={"memory": "1Gi"})
    _, found = judge(quotas.run, namespace("team"), quota(HARD), defaults, bare)
    assert found == []


def test_the_gpu_request_is_not_required_by_a_gpu_quota() -> None:
    """Extended resources are outside the quota's validation set (pods.go validationSet): CPU pods stay admitted."""
    _, found = judge(
        quotas.run,
        namespace("team"),
        quota({"requests.nvidia.com/gpu": "2"}),
        workload("cpu-only", "team", {"name": "c", "image": "ghcr.io/acme/c:1.0.0"}),
    )
    assert found == []


def test_a_limit_range_that_hands_out_gpus_is_a_violation_in_every_field_that_ends_up_in_defaults() -> None:
    for field in ("default", "defaultRequest", "max", "min"):
        _, found = judge(quotas.run, namespace("team"), limit_range(**{field: {"nvidia.com/gpu": "1"}}))
        assert found == [
            f"LimitRange team/defaults from pulumi resource app :: its Container {field} sets nvidia.com/gpu, which "
            "the API server puts into every container that names none: pods would hold GPUs nobody asked for"
        ], field


def test_the_namespace_pods_at_their_replica_counts_must_fit_the_quota() -> None:
    trainer = workload(
        "train",
        "team",
        container("train", resources={"requests": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"}}),
    )
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "train", "namespace": "team"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "train"}, "maxReplicas": 3},
    }
    _, found = judge(quotas.run, namespace("team"), quota(HARD), trainer)
    assert found == []
    _, found = judge(quotas.run, namespace("team"), quota(HARD), trainer, hpa)
    reasons = sorted(f.split(" :: ")[1].split(":")[0] for f in found)
    assert reasons == ["requests.cpu", "requests.memory", "requests.nvidia.com/gpu"]
    assert all("Deployment team/train x3" in f for f in found)


def test_a_container_outside_the_limit_range_is_refused() -> None:
    big = workload("big", "team", container("big", resources={"requests": {"cpu": "8", "memory": "1Gi"}}))
    _, found = judge(quotas.run, namespace("team"), limit_range(max={"cpu": "4"}), big)
    assert len(found) == 1 and "requests 8 CPU of cpu, above the LimitRange max 4: LimitRanger refuses" in found[0]
    tiny = workload("tiny", "team", container("tiny", resources={"requests": {"cpu": "10m", "memory": "1Gi"}}))
    _, found = judge(quotas.run, namespace("team"), limit_range(min={"cpu": "100m"}), tiny)
    assert len(found) == 1 and "below the LimitRange min 100m" in found[0]


def test_defaulting_follows_the_api_server() -> None:
    """A limit alone is also the request; LimitRange default -> defaultRequest, max -> default, min -> request."""
    assert container_resources({"resources": {"limits": {"cpu": "1"}}}) == ({"cpu": 1.0}, {"cpu": 1.0})
    defaults = limit_range_defaults([limit_range(max={"memory": "2Gi"}, min={"cpu": "100m"})])
    assert defaults == ({"memory": 2 * 2**30, "cpu": 0.1}, {"memory": 2 * 2**30})
    assert [quantity(q) for q in ("250m", "1Gi", "1G", "1e3", 2)] == [0.25, 2**30, 1e9, 1000.0, 2.0]
