"""The Google APIs the platform calls, enabled on the project before anything uses them."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

PLATFORM_APIS = (
    "compute.googleapis.com",
    "container.googleapis.com",
    "cloudkms.googleapis.com",
    "iam.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "redis.googleapis.com",
    "artifactregistry.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
)
BUDGET_APIS = ("billingbudgets.googleapis.com",)


class ProjectApis(pulumi.ComponentResource):
    def __init__(self, name: str, apis: tuple[str, ...], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gcp:ProjectApis", name, None, opts)
        for api in apis:
            gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                service=api,
                # Other stacks in the project may use the API too: never switch it off on destroy.
                disable_on_destroy=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})
