"""`python -m infra.verify --stack prod`: judge everything the stack's deploy creates, offline.

Reads the recorded plan (planning first if it is missing or stale), renders its charts and manifests (written to
build/plan/<stack>/rendered, as `make render` does), runs every registered check, prints a table per check and writes
build/verify/<stack>.json. Exit status: 0 no violation, 1 violations, 2 the stack cannot be planned or rendered.
"""

from __future__ import annotations

import argparse
import sys

from infra.config import StackConfigError
from infra.plan.engine import PlanError
from infra.render.renderer import RenderError, rendered_dir, write_rendering
from infra.verify.registry import CHECKS, check
from infra.verify.runner import VERIFY_DIR, report, stack_objects, table, verify, write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.verify", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--check", action="append", choices=[c.name for c in CHECKS], help="run only these checks")
    args = parser.parse_args(argv)
    try:
        objects, rendering = stack_objects(args.stack)
    except (StackConfigError, PlanError, RenderError) as error:
        print(f"verify failed for stack {args.stack}: {error}", file=sys.stderr)
        return 2
    write_rendering(rendering, rendered_dir(args.stack))
    checks = [check(name) for name in args.check] if args.check else list(CHECKS)
    results = verify(objects, checks)
    print(
        f"Stack {args.stack}: {len(objects.objects)} objects ({len(objects.objects) - len(rendering.objects)} "
        f"from Pulumi, {len(rendering.objects)} rendered from {len(rendering.sources)} releases and directories), "
        f"Kubernetes v{objects.kubernetes_version}\n"
    )
    for found in results:
        print(table(*found), end="\n\n")
    path = VERIFY_DIR / f"{args.stack}.json"
    document = report(args.stack, objects, results)
    write_report(document, path)
    violations = sum(len(result.violations) for _, result in results)
    print(f"{args.stack}: {len(results)} checks, {violations} violation(s); report written to {path}")
    return 0 if document["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
