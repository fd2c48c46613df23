"""The cluster's default StorageClass: gp3 EBS volumes encrypted with the platform key, bound where the pod lands."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.aws.common import child
from components.renames import formerly

STORAGE_CLASS = "gp3-encrypted"


class EncryptedGp3StorageClass(pulumi.ComponentResource):
    name: str

    def __init__(
        self,
        name: str,
        key_arn: pulumi.Output[str],
        retain_volumes: bool,
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlops:aws:EncryptedGp3StorageClass", name, None, formerly(opts, "mlops:aws:StorageClass"))
        self.name = STORAGE_CLASS
        k8s.storage.v1.StorageClass(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=STORAGE_CLASS,
                labels=dict(labels),
                annotations={"storageclass.kubernetes.io/is-default-class": "true"},
            ),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "kmsKeyId": key_arn, "csi.storage.k8s.io/fstype": "ext4"},
            volume_binding_mode="WaitForFirstConsumer",  # the volume is created in the zone of the scheduled pod
            allow_volume_expansion=True,
            reclaim_policy="Retain" if retain_volumes else "Delete",
            opts=child(self),
        )
        self.register_outputs({"name": self.name})
