"""What `make plan` adds after the resource tree: the monthly cost, its breakdown, the deploy time and the picture."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import stack_config
from offline.engine import ROOT, Recording
from offline.engine import stack_config as stack_values
from offline.estimate import cost, deploy_time, diagram
from offline.estimate.prices import MissingPriceError, load
from offline.estimate.pricing import HOURS
from offline.text import details, table, wrap_all

TOP_RESOURCES = 10


@dataclass(frozen=True)
class Estimates:
    stack: str
    cost: cost.CostEstimate | None
    cost_error: str  # why there is no cost estimate (a region missing from the price table)
    deploy: deploy_time.DeployTime
    diagram: diagram.Diagram

    def to_json(self) -> dict[str, Any]:
        return {
            "monthlyCost": self.cost.to_json() if self.cost else {"error": self.cost_error},
            "deployTime": self.deploy.to_json(),
        }


def config_of(stack: str) -> stack_config.StackConfig:
    """The stack file's validated config, read the way the program reads it."""
    values, _ = stack_values(stack)
    return stack_config.parse(stack_config.decode(values), stack_file=f"Pulumi.{stack}.yaml")


def estimate(stack: str, recording: Recording, config: stack_config.StackConfig) -> Estimates:
    office_hours = config.schedule.database_office_hours
    try:
        monthly: cost.CostEstimate | None = cost.estimate(
            recording,
            load(config.gcp.region),
            config.estimates,
            database_hours=HOURS * (office_hours.running_fraction if office_hours else 1),
            database_schedule=office_hours.describe() if office_hours else "",
            edge_plan=config.edge.plan if config.edge else None,
        )
        error = ""
    except MissingPriceError as err:
        monthly, error = None, str(err)
    return Estimates(stack, monthly, error, deploy_time.estimate(recording), diagram.build(stack, recording))


def render(estimates: Estimates, width: int | None = None) -> str:
    """The cost and deploy-time lines; with a `width`, long lines are wrapped to it."""
    lines = [*_cost_lines(estimates.cost, estimates.cost_error), "", estimates.deploy.line()]
    return "\n".join(wrap_all(lines, width) if width else lines)


def markdown(estimates: Estimates) -> list[str]:
    """The same for a pull request: the cost line, its breakdown as tables, the deploy-time line."""
    return [*_cost_markdown(estimates.cost, estimates.cost_error), "", "### Deploy time", "", estimates.deploy.line()]


def _cost_markdown(estimate: cost.CostEstimate | None, error: str) -> list[str]:
    lines = ["### Monthly cost", ""]
    if estimate is None:
        return [*lines, f"Estimated monthly cost: unavailable ({error})"]
    total = estimate.total
    lines.append(
        f"**Estimated monthly cost: ${cost.whole_dollars(total)}** ({estimate.region} list prices, no discounts;"
        " usage from `platform:estimates`)"
    )
    if estimate.over_budget:
        lines += [
            "",
            "> [!WARNING]",
            f"> The estimate is {_usd(estimate.over_budget)} over the stack's budget of"
            f" {_usd(estimate.budget_usd or 0)} a month.",
        ]
    if estimate.saving:
        what, usd = estimate.saving
        lines += ["", f"Saving included: {what} saves {_usd(usd)} a month."]
    components = estimate.by_component()
    if components and total:
        rows = [(f"`{name}`", _usd(usd), f"{usd / total:.0%}") for name, usd in components]
        lines += ["", *table(("component", "monthly", "share"), rows, right=(1, 2))]
    items: dict[str, list[str]] = defaultdict(list)
    for line in estimate.lines:
        items[line.resource or line.item].append(line.item)
    ranked = estimate.by_resource()
    rows = [(f"`{name}`", _usd(usd), "; ".join(dict.fromkeys(items[name]))) for name, usd in ranked]
    lines += [
        "",
        *details(f"Every priced resource ({len(ranked)})", table(("resource", "monthly", "what"), rows, right=(1,))),
    ]
    if estimate.unpriced:
        why = [(f"`{name}`", reason) for name, reason in estimate.unpriced]
        lines += ["", *details(f"Not priced ({len(estimate.unpriced)})", table(("resource", "why"), why))]
    return lines


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def _cost_lines(estimate: cost.CostEstimate | None, error: str) -> list[str]:
    if estimate is None:
        return [f"Estimated monthly cost: unavailable ({error})"]
    total = estimate.total
    lines = [
        f"Estimated monthly cost: ${cost.whole_dollars(total)}"
        f" ({estimate.region} list prices, no discounts; usage from platform:estimates)"
    ]
    if estimate.over_budget:
        lines.append(
            f"WARNING: the estimate is {_usd(estimate.over_budget)} over the stack's budget of"
            f" {_usd(estimate.budget_usd or 0)} a month"
        )
    components = estimate.by_component()
    if components and total:
        name, usd = components[0]
        lines.append(f"By component (dominated by {name}: {usd / total:.0%}):")
        lines += [f"  {name:<32} {_usd(usd):>12} {usd / total:>5.0%}" for name, usd in components]
    items: dict[str, list[str]] = defaultdict(list)
    for line in estimate.lines:
        items[line.resource or line.item].append(line.item)
    lines.append(f"Top resources (of {len(items)} priced):")
    for name, usd in estimate.by_resource()[:TOP_RESOURCES]:
        lines.append(f"  {name:<32} {_usd(usd):>12}  {'; '.join(dict.fromkeys(items[name]))}")
    if estimate.saving:
        what, usd = estimate.saving
        lines.append(f"Saving included: {what} saves {_usd(usd)} a month")
    lines.append(f"Free tiers: {estimate.free_tiers}")
    for charge in estimate.announced:
        lines.append(
            f"Not in the total: {charge.price}, {charge.quantity:g} x {charge.unit}: {_usd(charge.usd)} a month once"
            f" charged (announced from {charge.starts} at the earliest)"
        )
    if estimate.unpriced:
        lines.append(f"Not priced ({len(estimate.unpriced)}):")
        lines += [f"  {name}: {reason}" for name, reason in estimate.unpriced]
    return lines


def write_diagrams(estimates: Estimates, directory: Path = ROOT / "build") -> list[Path]:
    directory.mkdir(exist_ok=True)
    written = []
    for suffix, text in (("mmd", estimates.diagram.mermaid()), ("dot", estimates.diagram.dot())):
        path = directory / f"architecture-{estimates.stack}.{suffix}"
        path.write_text(text)
        written.append(path)
    return written
