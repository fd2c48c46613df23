"""The one rule for the tag of an image the platform builds and deploys: a valid OCI tag that names a version.

A tag must satisfy the OCI distribution spec (opencontainers/distribution-spec spec.md, "Pulling manifests": a tag is
at most 128 characters and matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`), or the registry refuses the push. It must
also name a version (SemVer 2.0 without build metadata, which OCI tags cannot carry: `0.1.0`, `1.4.2-rc.1`,
`v2.0.0`): branch names and `latest`-style tags move, so a deploy could not be reproduced or rolled back, and ECR and
Artifact Registry refuse to overwrite them once pushed (immutable tags).
"""

from __future__ import annotations

import re
from typing import Final

OCI_TAG: Final = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
VERSION_TAG: Final = re.compile(r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?")
EXAMPLE: Final[str] = "0.1.0"


def tag_problem(tag: str) -> str | None:
    """Why `tag` cannot tag a platform image (a phrase that follows the value), or None when it can."""
    if not OCI_TAG.fullmatch(tag):
        return (
            "is not a valid OCI image tag (1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'; "
            "no '/', ':' or spaces)"
        )
    if not VERSION_TAG.fullmatch(tag):
        return "is not a version (MAJOR.MINOR.PATCH[-prerelease]): a moving tag makes deploys unreproducible"
    return None
