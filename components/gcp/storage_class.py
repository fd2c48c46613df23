"""`pd-balanced-cmek`: the platform's StorageClass, persistent disks encrypted with the platform's KMS key.

GKE's built-in `standard-rwo` encrypts with Google-managed keys; this class puts Prometheus, Grafana and any
workload volume under the same customer-managed key (rotation, revocation, audit) as the buckets and the database.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

STORAGE_CLASS_NAME = "pd-balanced-cmek"


def cmek_storage_class(
    name: str, key_id: pulumi.Input[str], retain: bool, labels: Mapping[str, str], opts: pulumi.ResourceOptions
) -> k8s.storage.v1.StorageClass:
    return k8s.storage.v1.StorageClass(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=STORAGE_CLASS_NAME, labels=dict(labels)),
        provisioner="pd.csi.storage.gke.io",
        parameters={"type": "pd-balanced", "disk-encryption-kms-key": key_id},
        reclaim_policy="Retain" if retain else "Delete",
        volume_binding_mode="WaitForFirstConsumer",  # create the disk in the zone the pod is scheduled to
        allow_volume_expansion=True,
        opts=opts,
    )
