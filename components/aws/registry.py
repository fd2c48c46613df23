"""ECR repositories for the workload images: immutable tags, scan on push, KMS encryption, bounded history.

Repositories are namespaced by environment (`<base_name>/mlops-<image>`) so dev and prod can share an account;
`url` ends with that namespace (`<url>/mlops-<image>`, the naming of `components/images.py`). Every tag is immutable
except BuildKit's registry cache tag, which each build rewrites.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.common import AccountContext, child, protected
from components.contract import BUILD_CACHE_TAG
from components.spec import IMAGE_NAMES

KEEP_TAGGED_IMAGES = 30
UNTAGGED_EXPIRY_DAYS = 14


def lifecycle_policy() -> str:
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"expire untagged images after {UNTAGGED_EXPIRY_DAYS} days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": UNTAGGED_EXPIRY_DAYS,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"keep the last {KEEP_TAGGED_IMAGES} tagged images",
                    "selection": {
                        "tagStatus": "tagged",
                        "tagPatternList": ["*"],
                        "countType": "imageCountMoreThan",
                        "countNumber": KEEP_TAGGED_IMAGES,
                    },
                    "action": {"type": "expire"},
                },
            ]
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class RegistryArgs:
    base_name: str
    account: AccountContext
    key_arn: pulumi.Output[str]
    protect: bool  # deletionProtection: repositories protected and retained
    force_delete: bool  # storage.forceDestroy: a destroy deletes repositories that still hold images


class ImageRegistry(pulumi.ComponentResource):
    repositories: dict[str, aws.ecr.Repository]
    host: str
    url: str

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:ImageRegistry", name, None, opts)
        self.host = f"{args.account.account_id}.dkr.ecr.{args.account.region}.amazonaws.com"
        self.url = f"{self.host}/{args.base_name}"
        self.repositories = {}
        for image in IMAGE_NAMES:
            repository = aws.ecr.Repository(
                f"{name}-{image}",
                name=f"{args.base_name}/mlops-{image}",
                image_tag_mutability="IMMUTABLE_WITH_EXCLUSION",
                image_tag_mutability_exclusion_filters=[
                    aws.ecr.RepositoryImageTagMutabilityExclusionFilterArgs(
                        filter=BUILD_CACHE_TAG, filter_type="WILDCARD"
                    )
                ],
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[
                    aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=args.key_arn)
                ],
                force_delete=args.force_delete,
                tags={"Name": f"{args.base_name}/mlops-{image}"},
                opts=child(self, protected(args.protect)),
            )
            aws.ecr.LifecyclePolicy(
                f"{name}-{image}", repository=repository.name, policy=lifecycle_policy(), opts=child(self)
            )
            self.repositories[image] = repository
        self.register_outputs({"url": self.url})
