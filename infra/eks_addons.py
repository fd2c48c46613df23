"""`python -m infra.eks_addons --stack dev`: the EKS add-ons a stack pins, one `<name> <version> <minor>` per line.

Offline nothing can ask AWS which add-on versions it offers for a Kubernetes minor. deploy.yml and preview.yml feed
these lines to `aws eks describe-addon-versions` right before `pulumi preview/up`, so a pin AWS does not offer for
the cluster's minor stops the run before anything changes (instead of `InvalidParameterException: Addon version
specified is not supported` half-way through an update). GCP stacks print nothing.
"""

from __future__ import annotations

import argparse
import sys

from components.versions import EKS_ADDON_VERSIONS
from infra.config import StackConfigError, parse_spec
from infra.plan.engine import PROJECT_ROOT, PlanError, load_stack_config


def pinned_addons(stack: str) -> list[tuple[str, str, str]]:
    config, secret_keys = load_stack_config(PROJECT_ROOT, stack)
    spec = parse_spec(config, f"Pulumi.{stack}.yaml", secret_keys)
    if spec.cloud != "aws":
        return []
    minor = spec.cluster.kubernetes_version
    return [(name, version, minor) for name, version in sorted(EKS_ADDON_VERSIONS[minor].items())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.eks_addons", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    try:
        lines = pinned_addons(args.stack)
    except (StackConfigError, PlanError) as error:
        print(error, file=sys.stderr)
        return 1
    for line in lines:
        print(*line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
