"""Monthly cost of a stack from what its program registers, the price table and the stack's usage profile.

Each resource is priced by its type's facts record (offline/catalog): its `price` turns the resource's inputs into
usages (what is billed, which price, how many units a month), or its `free` reason says why it costs nothing by
itself. Usages of one price are added up across the stack before free allowances and volume tiers apply, then shared
back to the resources in proportion. Usage that no single resource owns (log volume, the Cloudflare plan, load
balancer traffic) comes from stack-wide functions.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_gcp as gcp

from offline.catalog import facts_of
from offline.catalog.facts import token_of
from offline.engine import Recording, Resource
from offline.estimate.prices import MissingPriceError, PriceTable
from offline.estimate.pricing import HOURS, Context, UnpricedError, Usage
from stack_config import EstimatesArgs

STACK_WIDE = "logging (stack-wide)"  # usage no component owns


@dataclass(frozen=True)
class Line:
    component: str  # top-level component, or STACK_WIDE
    resource: str  # logical name ("" for stack-wide usage)
    item: str
    price: str
    quantity: float
    usd: float = 0.0


@dataclass(frozen=True)
class CostEstimate:
    region: str
    lines: tuple[Line, ...]
    unpriced: tuple[tuple[str, str], ...] = ()  # (logical name, reason)
    budget_usd: float | None = None
    saving: tuple[str, float] | None = None  # what the estimate already saves, and how much a month

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    def by_component(self) -> list[tuple[str, float]]:
        return _ranked((line.component, line.usd) for line in self.lines)

    def by_resource(self) -> list[tuple[str, float]]:
        return _ranked((line.resource or line.item, line.usd) for line in self.lines)

    @property
    def over_budget(self) -> float:
        """How far the estimate exceeds the budget (0 when within it or when there is no budget)."""
        return max(0.0, self.total - self.budget_usd) if self.budget_usd else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "monthlyUsd": round(self.total, 2),
            "budgetUsd": self.budget_usd,
            "overBudgetUsd": round(self.over_budget, 2),
            "byComponent": {name: round(usd, 2) for name, usd in self.by_component()},
            "lines": [
                {
                    "component": line.component,
                    "resource": line.resource,
                    "item": line.item,
                    "price": line.price,
                    "quantity": line.quantity,
                    "usd": round(line.usd, 4),
                }
                for line in self.lines
            ],
            "unpriced": [{"resource": name, "reason": reason} for name, reason in self.unpriced],
            "saving": {"what": self.saving[0], "usd": round(self.saving[1], 2)} if self.saving else None,
        }


def _ranked(pairs: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    totals: dict[str, float] = defaultdict(float)
    for name, usd in pairs:
        totals[name] += usd
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))


# --- Stack-wide usage -------------------------------------------------------------------------------------------

StackUsage = Callable[[Context], list[tuple[str, str, Usage]]]  # (component, resource, usage)


def _millions(ctx: Context) -> float:
    return ctx.profile.requests_per_month / 1e6


def _by_name(resource: Resource) -> str:
    return resource.name


def _first(resources: Iterable[Resource]) -> Resource | None:
    """The resource that carries usage several share: the first by logical name (registration order varies)."""
    return min(resources, key=_by_name, default=None)


def _of(ctx: Context, resource: type[pulumi.CustomResource]) -> list[Resource]:
    return ctx.recording.of(token_of(resource))


def _load_balancer_traffic(ctx: Context) -> list[tuple[str, str, Usage]]:
    rule = _first(_of(ctx, gcp.compute.GlobalForwardingRule))
    if rule is None:
        return []
    where = (ctx.component_of(rule), rule.name)
    return [
        (*where, Usage(f"{ctx.profile.ingress_gb:g} GB processed", "lb.data_processed", ctx.profile.ingress_gb)),
        (
            *where,
            Usage(f"{ctx.profile.egress_gb:g} GB to the internet", "network.internet_egress", ctx.profile.egress_gb),
        ),
    ]


def _secret_accesses(ctx: Context) -> list[tuple[str, str, Usage]]:
    secret = _first(_of(ctx, gcp.secretmanager.Secret))
    if secret is None:
        return []
    accesses = ctx.profile.secret_accesses_per_month
    usage = Usage(f"{accesses:,} access operations", "secrets.access", accesses / 10_000)
    return [(ctx.component_of(secret), secret.name, usage)]


def _logging(ctx: Context) -> list[tuple[str, str, Usage]]:
    return [
        (
            STACK_WIDE,
            "cloud-logging",
            Usage(f"{ctx.profile.log_gb:g} GiB logs ingested", "logging.ingestion", ctx.profile.log_gb),
        )
    ]


def _cloudflare(ctx: Context) -> list[tuple[str, str, Usage]]:
    edge = [r for r in ctx.recording.resources if r.type.startswith("cloudflare:")]
    if not edge:
        return []
    subscription = _first(_of(ctx, cloudflare.ZoneSubscription))
    plan = (
        (subscription.inputs.get("ratePlan") or {}).get("id") if subscription else None
    ) or ctx.profile.cloudflare_plan
    owner = subscription or min(edge, key=_by_name)
    where = (ctx.component_of(owner), owner.name)
    usages = [(*where, Usage(f"Cloudflare {plan} plan", f"cloudflare.plan.{plan}", 1))]
    script = _first(_of(ctx, cloudflare.WorkersScript))
    if script and ctx.profile.requests_per_month > 100_000 * 30:  # above the free plan's 100,000 a day
        worker = (ctx.component_of(script), script.name)
        usages.append((*worker, Usage("Workers Paid", "cloudflare.workers_paid", 1)))
        usages.append(
            (
                *worker,
                Usage(
                    f"{ctx.profile.requests_per_month:,} Worker requests", "cloudflare.workers_requests", _millions(ctx)
                ),
            )
        )
    return usages


STACK_USAGE: tuple[StackUsage, ...] = (_load_balancer_traffic, _secret_accesses, _logging, _cloudflare)


# --- The estimate -----------------------------------------------------------------------------------------------


def budget_of(recording: Recording, profile: EstimatesArgs) -> float | None:
    """The stack's budget: the billing budget the program creates, else `estimates.budget_usd`."""
    for budget in recording.of(token_of(gcp.billing.Budget)):
        amount = ((budget.inputs.get("amount") or {}).get("specifiedAmount") or {}).get("units")
        if amount:
            return float(amount)
    return profile.budget_usd


def estimate(
    recording: Recording,
    prices: PriceTable,
    profile: EstimatesArgs,
    *,
    database_hours: float = HOURS,
    database_schedule: str = "",
) -> CostEstimate:
    """The monthly cost of everything `recording` creates, priced with `prices` and the usage in `profile`.

    `database_hours` is how long Cloud SQL primaries run a month (`database_schedule` says when, for the breakdown);
    the saving against running them all month is reported with the estimate.
    """
    result = _priced(recording, prices, profile, database_hours)
    if database_hours < HOURS:
        always_on = _priced(recording, prices, profile, HOURS).total
        if always_on > result.total:
            result = replace(
                result, saving=(f"Cloud SQL stopped out of hours ({database_schedule})", always_on - result.total)
            )
    return result


def _priced(recording: Recording, prices: PriceTable, profile: EstimatesArgs, database_hours: float) -> CostEstimate:
    ctx = Context(recording, profile, prices.region, database_hours)
    lines: list[Line] = []
    unpriced: list[tuple[str, str]] = []
    for r in recording.resources:
        if not r.custom or r.type.startswith("pulumi:providers:"):
            continue
        facts = facts_of(r.type)
        if facts is None:
            unpriced.append((r.name, f"no price model for {r.type}"))
            continue
        if facts.price is None:  # free: the record says why
            continue
        try:
            usages = facts.price(r, ctx)
            prices.check(u.price for u in usages)
        except (UnpricedError, MissingPriceError) as reason:
            unpriced.append((r.name, str(reason)))
            continue
        component = ctx.component_of(r)
        lines += [Line(component, r.name, *u) for u in usages]
    for usage in STACK_USAGE:
        lines += [Line(component, name, *u) for component, name, u in usage(ctx)]
    return CostEstimate(
        region=prices.region,
        lines=tuple(_apply_prices(lines, prices)),
        unpriced=tuple(sorted(unpriced)),
        budget_usd=budget_of(recording, profile),
    )


def _apply_prices(lines: list[Line], prices: PriceTable) -> Iterable[Line]:
    """Cost per line: each price's free allowance and tiers apply to the stack's total quantity of it, and the cost
    is shared between the lines in proportion to their quantity."""
    totals: dict[str, float] = defaultdict(float)
    for line in lines:
        totals[line.price] += line.quantity
    costs = {key: prices[key].cost(quantity) for key, quantity in totals.items()}
    for line in lines:
        total = totals[line.price]
        share = line.quantity / total if total else 0.0
        yield replace(line, usd=costs[line.price] * share)


def whole_dollars(usd: float) -> int:
    """Rounded up: an estimate that is meant to warn should not round a cost away."""
    return math.ceil(usd - 1e-9)
