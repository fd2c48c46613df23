"""How an estimate and a cost diff are shown: a table for people, JSON for machines, Markdown for pull requests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from infra.cost.catalog import HOURS_PER_MONTH, entry_key, load_catalog
from infra.cost.model import CATALOG_FILE, SCENARIOS, ZERO, Estimate, Line, Usage

SCENARIO_HELP = (
    "idle = every pool at minSize (a GPU pool that scales to zero costs nothing); typical = the averages and GPU "
    "node-hours of mlops:cost; peak = every pool at maxSize. Storage, logs and traffic are the same in all three."
)


def money(value: float, signed: bool = False) -> str:
    text = f"${abs(value):,.2f}"
    if signed:
        return ("+" if value >= 0.005 else "-" if value <= -0.005 else "±") + text
    return text


@dataclass(frozen=True)
class SpotPool:
    group: str
    spot: Usage
    on_demand: Usage

    @property
    def saving(self) -> Usage:
        return Usage(
            self.on_demand.idle - self.spot.idle,
            self.on_demand.typical - self.spot.typical,
            self.on_demand.peak - self.spot.peak,
        )


def spot_pools(estimate: Estimate) -> list[SpotPool]:
    pools: dict[str, SpotPool] = {}
    for line in estimate.lines:
        if line.on_demand is None:
            continue
        current = pools.get(line.group, SpotPool(line.group, ZERO, ZERO))
        pools[line.group] = SpotPool(line.group, current.spot + line.monthly, current.on_demand + line.on_demand)
    return list(pools.values())


def gpu_node_month(estimate: Estimate) -> float | None:
    """What one GPU-pool node (instances and boot volume) costs for a whole month, if the stack has a GPU pool."""
    lines = [line for line in estimate.lines if line.group == "node pool gpu"]
    nodes = [line for line in lines if line.node_hours is not None]
    if not nodes or not nodes[0].node_hours or not nodes[0].node_hours.peak:
        return None
    peak_hours = nodes[0].node_hours.peak
    return sum(line.monthly.peak for line in lines) * HOURS_PER_MONTH / peak_hours


def to_json(estimate: Estimate) -> dict[str, Any]:
    catalog = load_catalog()
    budget = estimate.budget()
    gpu_month = gpu_node_month(estimate)
    return {
        "stack": estimate.stack,
        "cloud": estimate.cloud,
        "region": estimate.region,
        "currency": "USD",
        "hoursPerMonth": HOURS_PER_MONTH,
        "catalog": CATALOG_FILE,
        "scenarios": SCENARIO_HELP,
        "assumptions": {
            "recorded": estimate.assumptions.recorded,
            "usage": estimate.assumptions.usage.model_dump(by_alias=True, mode="json"),
        },
        "total": estimate.total().as_dict(),
        "groups": {group: usage.as_dict() for group, usage in estimate.groups().items()},
        "resources": [_line_json(line) for line in estimate.lines],
        "spot": [
            {
                "group": p.group,
                "spot": p.spot.as_dict(),
                "onDemand": p.on_demand.as_dict(),
                "saving": p.saving.as_dict(),
            }
            for p in spot_pools(estimate)
        ],
        "gpuNodeMonth": None if gpu_month is None else round(gpu_month, 2),
        "budget": None
        if budget is None
        else {
            "monthlyLimitUsd": budget.limit,
            "typical": round(budget.typical, 2),
            "exceeded": budget.exceeded,
            "enforce": budget.enforce,
            "message": budget.message(),
        },
        "free": {t: {"count": f.count, "reason": f.reason} for t, f in estimate.free.items()},
        "caveats": [
            {"price": entry_key(catalog, e), "basis": e.basis, "note": e.note, "source": catalog.sources[e.source].ref}
            for e in estimate.caveated_prices()
        ],
    }


def _line_json(line: Line) -> dict[str, Any]:
    return {
        "group": line.group,
        "resource": line.resource,
        "type": line.type,
        "item": line.item,
        "detail": line.detail,
        "monthly": line.monthly.as_dict(),
        "onDemand": None if line.on_demand is None else line.on_demand.as_dict(),
    }


def _row(label: str, usage: Usage, width: int = 46) -> str:
    return f"{label:<{width}}" + "".join(f"{money(usage.get(s)):>14}" for s in SCENARIOS)


def render_text(estimate: Estimate) -> str:
    lines = [
        f"Monthly cost estimate of stack {estimate.stack} ({estimate.cloud} {estimate.region}), USD, "
        f"{HOURS_PER_MONTH} h/month, prices from {CATALOG_FILE}",
        SCENARIO_HELP,
        "",
        f"{'Group':<46}" + "".join(f"{s:>14}" for s in SCENARIOS),
    ]
    lines += [_row(group, usage) for group, usage in estimate.groups().items()]
    lines.append(_row("TOTAL", estimate.total()))
    budget = estimate.budget()
    lines += ["", f"Budget: {budget.message()}" if budget else "Budget: none recorded in this plan"]
    pools = spot_pools(estimate)
    if pools:
        lines += ["", "Spot pools, on-demand price beside the spot price:"]
        for pool in pools:
            for scenario in ("typical", "peak"):
                spot, on_demand = pool.spot.get(scenario), pool.on_demand.get(scenario)
                share = f" ({1 - spot / on_demand:.0%})" if on_demand else ""
                lines.append(
                    f"  {pool.group:<20} {scenario:<8} spot {money(spot):>11}  on-demand {money(on_demand):>11}  "
                    f"saving {money(on_demand - spot):>11}{share}"
                )
    gpu_month = gpu_node_month(estimate)
    if gpu_month is not None:
        gpu = estimate.groups().get("node pool gpu", ZERO)
        lines += [
            "",
            f"GPU pool: idle {money(gpu.idle)}, typical {money(gpu.typical)}; one GPU node kept running all month "
            f"would cost {money(gpu_month)}.",
        ]
    lines += ["", "Usage assumptions (mlops:cost" + ("" if estimate.assumptions.recorded else ", defaults: the plan "
              "records none") + "):"]  # fmt: skip
    usage = estimate.assumptions.usage.model_dump(by_alias=True, mode="json")
    lines += ["  " + " · ".join(f"{key} {_setting(value)}" for key, value in _flat(usage).items())]
    lines += ["", f"{'Resources by group':<60}" + "".join(f"{s:>14}" for s in SCENARIOS)]
    groups = list(estimate.groups())
    for group in groups:
        lines.append(group)
        for line in sorted((li for li in estimate.lines if li.group == group), key=lambda li: li.resource):
            lines.append(_row(f"  {line.resource}: {line.item}", line.monthly, width=60) + f"  {line.detail}")
    free_count = sum(f.count for f in estimate.free.values())
    lines += ["", f"Free: {free_count} resources of {len(estimate.free)} types cost nothing by themselves (--json "
              "lists each type with its reason)."]  # fmt: skip
    lines += _caveats(estimate)
    return "\n".join(lines)


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _setting(value: Any) -> str:
    return "(unset)" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _caveats(estimate: Estimate) -> list[str]:
    caveats = estimate.caveated_prices()
    if not caveats:
        return []
    catalog = load_catalog()
    lines = ["", f"{len(caveats)} price(s) behind this estimate are not quoted by a dated source ({CATALOG_FILE}):"]
    lines += [f"  [{e.basis}] {entry_key(catalog, e)}" + (f": {e.note}" if e.note else "") for e in caveats]
    return lines


# --- the change between two plans ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostDiff:
    base: Estimate
    head: Estimate

    def groups(self) -> list[tuple[str, Usage, Usage]]:
        base, head = self.base.groups(), self.head.groups()
        names = sorted(set(base) | set(head), key=lambda g: list({**base, **head}).index(g))
        return [(name, base.get(name, ZERO), head.get(name, ZERO)) for name in names]

    def items(self) -> list[tuple[str, Usage, Usage]]:
        """Resource items whose cost changed, with their base and head monthly cost."""
        base, head = _by_item(self.base.lines), _by_item(self.head.lines)
        changed = []
        for key in list(base) + [k for k in head if k not in base]:
            before, after = base.get(key, ZERO), head.get(key, ZERO)
            if any(abs(after.get(s) - before.get(s)) >= 0.005 for s in SCENARIOS):
                changed.append((key, before, after))
        return changed


def _by_item(lines: Iterable[Line]) -> dict[str, Usage]:
    items: dict[str, Usage] = {}
    for line in lines:
        key = f"{line.resource} {line.item}"
        items[key] = items.get(key, ZERO) + line.monthly
    return items


def _delta(before: Usage, after: Usage) -> Usage:
    return Usage(after.idle - before.idle, after.typical - before.typical, after.peak - before.peak)


def diff_json(diff: CostDiff) -> dict[str, Any]:
    return {
        "stack": diff.head.stack,
        "base": to_json(diff.base),
        "head": to_json(diff.head),
        "change": {
            "total": _delta(diff.base.total(), diff.head.total()).as_dict(),
            "groups": {name: _delta(before, after).as_dict() for name, before, after in diff.groups()},
            "items": {key: _delta(before, after).as_dict() for key, before, after in diff.items()},
        },
    }


def render_diff_text(diff: CostDiff) -> str:
    head, base = diff.head, diff.base
    lines = [
        f"Monthly cost change of stack {head.stack} ({head.cloud} {head.region}), USD: base plan -> this plan",
        "",
        f"{'Group':<46}" + "".join(f"{s:>14}" for s in SCENARIOS),
    ]
    for name, before, after in diff.groups():
        lines.append(_signed_row(name, _delta(before, after)))
    lines.append(_signed_row("TOTAL change", _delta(base.total(), head.total())))
    lines.append(_row("TOTAL base", base.total()))
    lines.append(_row("TOTAL this plan", head.total()))
    items = diff.items()
    lines += ["", "Changed items:" if items else "No resource changes its cost."]
    lines += [_signed_row(key, _delta(before, after), width=60) for key, before, after in items]
    budget = head.budget()
    if budget:
        lines += ["", f"Budget: {budget.message()}"]
    return "\n".join(lines)


def _signed_row(label: str, usage: Usage, width: int = 46) -> str:
    return f"{label:<{width}}" + "".join(f"{money(usage.get(s), signed=True):>14}" for s in SCENARIOS)


def render_diff_markdown(diff: CostDiff) -> str:
    head, base = diff.head, diff.base
    total = _delta(base.total(), head.total())
    lines = [
        f"#### Monthly cost of `{head.stack}` ({head.cloud} {head.region}, USD)",
        "",
        "| | idle | typical | peak |",
        "| --- | ---: | ---: | ---: |",
        "| base branch | " + " | ".join(money(base.total().get(s)) for s in SCENARIOS) + " |",
        "| this pull request | " + " | ".join(money(head.total().get(s)) for s in SCENARIOS) + " |",
        "| **change** | " + " | ".join(f"**{money(total.get(s), signed=True)}**" for s in SCENARIOS) + " |",
        "",
    ]
    changed_groups = [(n, b, a) for n, b, a in diff.groups() if any(abs(a.get(s) - b.get(s)) >= 0.005
                                                                     for s in SCENARIOS)]  # fmt: skip
    if changed_groups:
        lines += ["| group | idle | typical | peak |", "| --- | ---: | ---: | ---: |"]
        lines += [
            f"| {name} | " + " | ".join(money(_delta(b, a).get(s), signed=True) for s in SCENARIOS) + " |"
            for name, b, a in changed_groups
        ]
        lines.append("")
        items = diff.items()
        lines += ["<details><summary>Changed items</summary>", "", "| item | typical before | typical after |",
                  "| --- | ---: | ---: |"]  # fmt: skip
        lines += [f"| {key} | {money(b.typical)} | {money(a.typical)} |" for key, b, a in items]
        lines += ["", "</details>", ""]
    else:
        lines += ["No change in the estimated monthly cost.", ""]
    budget = head.budget()
    if budget:
        lines.append(("**Over budget** - " if budget.exceeded else "Budget: ") + budget.message())
    lines.append(f"_Offline estimate from the recorded plans and `{CATALOG_FILE}`; {SCENARIO_HELP}_")
    return "\n".join(lines)


# --- the README's table of the shipped stacks ----------------------------------------------------------------------

README_MARKERS = ("<!-- cost-estimates:start -->", "<!-- cost-estimates:end -->")


def _dollars(value: float) -> str:
    return f"${value:,.0f}"


def readme_table(estimates: Iterable[Estimate]) -> str:
    """The figures of the README's cost section, generated from the shipped stacks' plans (`make docs`)."""
    estimates = list(estimates)
    lines = [
        "| Stack | Cloud, region | Idle | Typical | Peak | Budget (typical share) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for e in estimates:
        total, budget = e.total(), e.budget()
        share = f"{_dollars(budget.limit)} ({budget.typical / budget.limit:.0%})" if budget else "none"
        lines.append(
            f"| `{e.stack}` | {e.cloud} {e.region} | {_dollars(total.idle)} | {_dollars(total.typical)} | "
            f"{_dollars(total.peak)} | {share} |"
        )
    lines += [
        "",
        "| Stack | Spot CPU pool, typical: spot / on-demand (saving) | Spot CPU pool at peak | GPU pool idle / typical "
        "| One GPU node kept all month |",
        "| --- | --- | --- | --- | ---: |",
    ]
    for e in estimates:
        spot = next(iter(spot_pools(e)), None)
        gpu, gpu_month = e.groups().get("node pool gpu", ZERO), gpu_node_month(e)
        typical = peak = "no spot pool"
        if spot is not None:
            typical = (f"{_dollars(spot.spot.typical)} / {_dollars(spot.on_demand.typical)} "
                       f"(-{_dollars(spot.saving.typical)})")  # fmt: skip
            peak = f"{_dollars(spot.spot.peak)} / {_dollars(spot.on_demand.peak)} (-{_dollars(spot.saving.peak)})"
        month = _dollars(gpu_month) if gpu_month is not None else "no GPU pool"
        lines.append(f"| `{e.stack}` | {typical} | {peak} | {_dollars(gpu.idle)} / {_dollars(gpu.typical)} | {month} |")
    return "\n".join(lines)


def readme_with_table(readme: str, table: str) -> str:
    start, end = README_MARKERS
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{table}\n{end}{tail}"
