"""GCP naming and labelling rules in one place: label values, service-account ids, bucket names, service agents."""

from __future__ import annotations

import hashlib
import re

from components.spec import PlatformSpec

KMS_ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
_LABEL_INVALID = re.compile(r"[^a-z0-9_-]+")
_ACCOUNT_INVALID = re.compile(r"[^a-z0-9-]+")


def label_value(value: str) -> str:
    """GCP label values: at most 63 of lowercase letters, digits, `_` and `-` (an email becomes `a-b-example-com`)."""
    return _LABEL_INVALID.sub("-", value.lower()).strip("-")[:63]


def platform_labels(spec: PlatformSpec) -> dict[str, str]:
    """The labels every labelable resource carries (the provider applies them as default_labels)."""
    return {
        "project": label_value(spec.name_prefix),
        "environment": label_value(spec.environment),
        "team": label_value(spec.team),
        "owner": label_value(spec.owner),
        "cost-center": label_value(spec.cost_center),
        "managed-by": "pulumi",
    }


def _fit(name: str, limit: int) -> str:
    """`name` if it fits in `limit` characters, else a prefix plus a stable hash so distinct names stay distinct."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: limit - 7].rstrip('-')}-{digest}"


def account_id(base_name: str, name: str) -> str:
    """A Google service-account id (6-30 chars, `[a-z][-a-z0-9]*[a-z0-9]`) for `base_name` and a short name."""
    raw = _ACCOUNT_INVALID.sub("-", f"{base_name}-{name}".lower()).strip("-")
    if not raw[:1].isalpha():
        raw = f"sa-{raw}"
    return _fit(raw.ljust(6, "0"), 30)


def bucket_name(base_name: str, role: str, project: str) -> str:
    """Globally unique bucket names: the project id makes `mlops-dev-data` unique per project (max 63 chars)."""
    return _fit(f"{base_name}-{role}-{project}", 63)


def service_agent(project_number: str, domain: str) -> str:
    """A Google-managed service agent, e.g. `service-123@container-engine-robot.iam.gserviceaccount.com`."""
    return f"serviceAccount:service-{project_number}@{domain}.iam.gserviceaccount.com"
