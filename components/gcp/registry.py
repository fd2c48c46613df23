"""Artifact Registry Docker repository: immutable tags, CMEK, cleanup of untagged and old images."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

UNTAGGED_MAX_AGE = "1209600s"  # 14 days: build leftovers and superseded layers
KEEP_RECENT_VERSIONS = 20  # enough to roll back well past any release cadence


@dataclass(frozen=True)
class ImageRegistryArgs:
    base_name: str
    project: str
    region: str
    key_id: pulumi.Input[str]
    key_grant: pulumi.Resource  # the Artifact Registry service agent's permission on the key
    protect: bool


class ImageRegistry(pulumi.ComponentResource):
    repository: gcp.artifactregistry.Repository
    url: pulumi.Output[str]

    def __init__(self, name: str, args: ImageRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:ImageRegistry", name, None, opts)
        self.location = args.region
        self.repository = gcp.artifactregistry.Repository(
            f"{name}-docker",
            repository_id=args.base_name,
            location=args.region,
            format="DOCKER",
            description=f"Container images of the {args.base_name} MLOps platform",
            kms_key_name=args.key_id,
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=True),
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="delete-untagged",
                    action="DELETE",
                    condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                        tag_state="UNTAGGED", older_than=UNTAGGED_MAX_AGE
                    ),
                ),
                # KEEP wins over DELETE: the newest versions survive whatever else matches.
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="keep-recent",
                    action="KEEP",
                    most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                        keep_count=KEEP_RECENT_VERSIONS
                    ),
                ),
            ],
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[args.key_grant], protect=args.protect, retain_on_delete=args.protect
            ),
        )
        self.url = self.repository.repository_id.apply(
            lambda repo: f"{args.region}-docker.pkg.dev/{args.project}/{repo}"
        )
        self.register_outputs({"url": self.url})
