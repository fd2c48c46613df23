"""`python -m infra.render --stack prod`: the recorded plan's charts and manifests, into build/plan/<stack>/rendered.

Reads `build/plan/<stack>.json` (planning first if it is missing or stale), prints the objects per release and
Directory. Exit status: 0 rendered, 1 the stack cannot be planned or rendered (a message says why).
"""

from __future__ import annotations

import argparse
import sys

from infra.config import StackConfigError
from infra.plan.engine import PlanError
from infra.plan.recorded import recorded_plan, stack_spec
from infra.render.renderer import RenderError, render_plan, rendered_dir, summary_lines, write_rendering


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.render", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    try:
        spec = stack_spec(args.stack)
        rendering = render_plan(recorded_plan(args.stack), spec.cluster.kubernetes_version)
    except (StackConfigError, PlanError, RenderError) as error:
        print(f"render failed for stack {args.stack}: {error}", file=sys.stderr)
        return 1
    target = rendered_dir(args.stack)
    write_rendering(rendering, target)
    print("\n".join(summary_lines(rendering)))
    print(f"Rendered objects written to {target}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
