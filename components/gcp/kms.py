"""One Cloud KMS key for the platform: GKE secrets, GCS, Cloud SQL, Memorystore, Artifact Registry and node disks.

Each Google service agent gets `cryptoKeyEncrypterDecrypter` on this key only (never on the project), and every
resource encrypted with the key depends on its service agent's grant: the first write would fail without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from components.gcp.naming import KMS_ENCRYPTER_DECRYPTER

ROTATION_PERIOD = "7776000s"  # 90 days; older versions stay to decrypt existing data


@dataclass(frozen=True)
class PlatformKeyArgs:
    base_name: str
    region: str
    protect: bool


class PlatformKey(pulumi.ComponentResource):
    key_id: pulumi.Output[str]

    def __init__(self, name: str, args: PlatformKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:PlatformKey", name, None, opts)
        self._prefix = name
        # Key rings and keys cannot be deleted in GCP (only their versions destroyed): protect them in prod.
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)
        ring = gcp.kms.KeyRing(f"{name}-ring", name=f"{args.base_name}-keyring", location=args.region, opts=stateful)
        self.key = gcp.kms.CryptoKey(
            f"{name}-key",
            name=f"{args.base_name}-platform",
            key_ring=ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=ROTATION_PERIOD,
            opts=stateful,
        )
        self.key_id = self.key.id
        self.register_outputs({"keyId": self.key_id})

    def allow(self, name: str, member: pulumi.Input[str]) -> gcp.kms.CryptoKeyIAMMember:
        """Let one service agent encrypt and decrypt with this key (non-authoritative, key-level)."""
        return gcp.kms.CryptoKeyIAMMember(
            f"{self._prefix}-{name}",
            crypto_key_id=self.key_id,
            role=KMS_ENCRYPTER_DECRYPTER,
            member=member,
            opts=pulumi.ResourceOptions(parent=self),
        )
