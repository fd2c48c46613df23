"""The stack program: load the typed spec, build the cloud layer, build the in-cluster layer on it, export outputs.

`pulumi up` runs this file; `python -m infra.plan --stack <name>` runs it offline under mocks.
"""

from __future__ import annotations

import pulumi

from components.contract import CloudPlatform
from components.cost import CostAssumptions
from components.k8s import AlertingSecrets, InClusterPlatform, InClusterPlatformArgs
from components.spec import PlatformSpec
from infra.config import NAMESPACE, load_from_pulumi


def build_cloud_layer(spec: PlatformSpec) -> CloudPlatform:
    # Imported here: a stack loads only its own cloud's SDK (the other one costs ~0.3 s of every plan).
    if spec.cloud == "aws":
        from components.aws import AwsPlatform

        return AwsPlatform(spec.base_name, spec)
    from components.gcp import GcpPlatform

    return GcpPlatform(spec.base_name, spec)


def main() -> None:
    spec = load_from_pulumi()  # raises with every problem before anything is registered
    CostAssumptions(f"{spec.base_name}-cost", spec)  # what the cost estimate and the budget policies assume
    cloud = build_cloud_layer(spec)
    config = pulumi.Config(NAMESPACE)
    secrets = AlertingSecrets(
        slack_webhook_url=config.get_secret("slackWebhookUrl"),
        pagerduty_routing_key=config.get_secret("pagerdutyRoutingKey"),
    )
    platform = InClusterPlatform(
        spec.base_name, InClusterPlatformArgs(spec=spec, cloud=cloud, alerting=secrets), opts=cloud.child_options()
    )
    for key, value in {**cloud.stack_outputs(), **platform.stack_outputs()}.items():
        pulumi.export(key, value)


main()
