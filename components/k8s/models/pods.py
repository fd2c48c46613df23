"""Pod and CronJob templates shared by a model's workloads: restricted security, a /tmp emptyDir, no API token."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.common import (
    TMP_MOUNT,
    TMP_VOLUME,
    restricted_container_security,
    restricted_pod_security,
)


def container(name: str, image: pulumi.Input[str], env: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "env": env,
        "securityContext": restricted_container_security(),
        "volumeMounts": [TMP_MOUNT],
        **extra,
    }


def pod(
    service_account: str, containers: list[dict[str, Any]], placement: dict[str, Any], restart: str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "securityContext": restricted_pod_security(),
        "containers": containers,
        "volumes": [TMP_VOLUME],
        **placement,
    }
    if restart:
        spec["restartPolicy"] = restart
    return spec


def cron_job(
    resource_name: str,
    name: str,
    namespace: str,
    meta: dict[str, str],
    schedule: str,
    pod_spec: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.batch.v1.CronJob:
    """A CronJob that never overlaps itself and keeps a few finished Jobs for inspection."""
    return k8s.batch.v1.CronJob(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=meta),
        spec={
            "schedule": schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": {"metadata": {"labels": meta}, "spec": pod_spec}}},
        },
        opts=opts,
    )
