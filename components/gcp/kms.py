"""One Cloud KMS key for the platform: GKE secrets, GCS, Cloud SQL, Memorystore, Artifact Registry and node disks.

Each Google service agent gets `cryptoKeyEncrypterDecrypter` on this key only (never on the project), and every
resource encrypted with the key depends on its service agent's grant: the first write would fail without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from components.gcp.naming import KMS_ENCRYPTER_DECRYPTER

ROTATION_PERIOD = "7776000s"  # 90 days; older versions stay to decrypt existing data


@dataclass(frozen=True)
class PlatformKeyArgs:
    base_name: str
    region: str
    protect: bool
    keep: bool  # prod: a stable ring name, retained even by a deliberate teardown (the final backup needs the key)


class PlatformKey(pulumi.ComponentResource):
    key_id: pulumi.Output[str]

    def __init__(self, name: str, args: PlatformKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:PlatformKey", name, None, opts)
        self._prefix = name
        # Key rings and keys can never be deleted in GCP (a destroy only destroys the key's versions, which makes
        # everything encrypted with them unreadable; pulumi_gcp 10.2.0 kms/key_ring.py and crypto_key.py notes).
        # Prod (keep): one stable ring, retained even by a deliberate teardown, so the final Cloud SQL backup and
        # any data kept stay readable, and a rebuild imports the same ring (README, "Tearing prod down"). Dev: a
        # fresh ring name per stack lifetime, or `up` after `destroy` collides with the ring the previous dev stack
        # left behind; its data is destroyed with it, so nothing readable is lost with the old key.
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.keep)
        ring_name: pulumi.Input[str] = f"{args.base_name}-keyring"
        if not args.keep:
            suffix = random.RandomId(f"{name}-ring-suffix", byte_length=2, opts=pulumi.ResourceOptions(parent=self))
            ring_name = suffix.hex.apply(lambda h: f"{args.base_name}-keyring-{h}")
        ring = gcp.kms.KeyRing(f"{name}-ring", name=ring_name, location=args.region, opts=stateful)
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
