"""Artifact Registry Docker repositories: the images (immutable tags, CMEK, cleanup of untagged and old images) and
BuildKit's registry cache beside them (Artifact Registry makes tags immutable per repository, and each build rewrites
the cache tag)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

UNTAGGED_MAX_AGE = "1209600s"  # 14 days: build leftovers and superseded layers
KEEP_RECENT_VERSIONS = 20  # enough to roll back well past any release cadence
CACHE_SUFFIX = "build-cache"


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
    cache: gcp.artifactregistry.Repository
    host: str
    url: pulumi.Output[str]
    cache_url: pulumi.Output[str]

    def __init__(self, name: str, args: ImageRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:ImageRegistry", name, None, opts)
        self.location = args.region
        self.host = f"{args.region}-docker.pkg.dev"
        self.repository = self._repository(f"{name}-docker", args.base_name, "Container images", True, args)
        self.cache = self._repository(
            f"{name}-{CACHE_SUFFIX}", f"{args.base_name}-{CACHE_SUFFIX}", "Build cache", False, args
        )
        self.url = self.repository.repository_id.apply(lambda repo: f"{self.host}/{args.project}/{repo}")
        self.cache_url = self.cache.repository_id.apply(lambda repo: f"{self.host}/{args.project}/{repo}")
        self.register_outputs({"url": self.url, "cacheUrl": self.cache_url})

    def _repository(
        self, resource_name: str, repository_id: str, what: str, immutable: bool, args: ImageRegistryArgs
    ) -> gcp.artifactregistry.Repository:
        return gcp.artifactregistry.Repository(
            resource_name,
            repository_id=repository_id,
            location=args.region,
            format="DOCKER",
            description=f"{what} of the {args.base_name} MLOps platform",
            kms_key_name=args.key_id,
            docker_config=gcp.artifactregistry.RepositoryDockerConfigArgs(immutable_tags=immutable),
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
