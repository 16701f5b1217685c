"""Monthly cost of a stack from what its program registers, the price table and the stack's usage profile.

Each resource is priced by its type's facts record (offline/catalog): its `price` turns the resource's inputs into
usages (what is billed, which price, how many units a month), or its `free` reason says why it costs nothing by
itself. Usages of one price (in one region) are added up across the stack before free allowances and volume tiers
apply, then shared back to the resources in proportion. Usage that no single resource owns (log volume, the Cloudflare
plan, load balancer traffic) comes from stack-wide functions. A price the table marks as announced (`starts`) is
priced beside the total, not in it.
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
from offline.estimate.prices import BILLING_ACCOUNT, MissingPriceError, PriceTable
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
    region: str | None = None  # the region whose price applies, when not the stack's
    usd: float = 0.0


@dataclass(frozen=True)
class Announced:
    """A charge the price table marks as announced (`starts`): what it would add to the month, from when."""

    price: str
    unit: str
    quantity: float
    usd: float
    starts: str


@dataclass(frozen=True)
class CostEstimate:
    region: str
    lines: tuple[Line, ...]
    unpriced: tuple[tuple[str, str], ...] = ()  # (logical name, reason)
    budget_usd: float | None = None
    saving: tuple[str, float] | None = None  # what the estimate already saves, and how much a month
    announced: tuple[Announced, ...] = ()  # charges announced but not yet applied: not in the total
    free_tiers: str = ""  # whose the billing account's free tiers are taken to be

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
                    "region": line.region or self.region,
                    "usd": round(line.usd, 4),
                }
                for line in self.lines
            ],
            "unpriced": [{"resource": name, "reason": reason} for name, reason in self.unpriced],
            "saving": {"what": self.saving[0], "usd": round(self.saving[1], 2)} if self.saving else None,
            "announced": [
                {"price": a.price, "quantity": a.quantity, "usd": round(a.usd, 2), "starts": a.starts}
                for a in self.announced
            ],
            "freeTiers": self.free_tiers,
        }


def _ranked(pairs: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    totals: dict[str, float] = defaultdict(float)
    for name, usd in pairs:
        totals[name] += usd
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))


# --- Stack-wide usage -------------------------------------------------------------------------------------------

StackUsage = Callable[[Context], list[tuple[str, str, Usage]]]  # (component, resource, usage)


def _by_name(resource: Resource) -> str:
    return resource.name


def _first(resources: Iterable[Resource]) -> Resource | None:
    """The resource that carries usage several share: the first by logical name (registration order varies)."""
    return min(resources, key=_by_name, default=None)


def _of(ctx: Context, resource: type[pulumi.CustomResource]) -> list[Resource]:
    return ctx.recording.of(token_of(resource))


def _load_balancer_traffic(ctx: Context) -> list[tuple[str, str, Usage]]:
    """The load balancer processes the request bytes in and the response bytes out, and the responses leave Google
    Cloud as Premium Tier internet egress (to the visitor, or to Cloudflare)."""
    rule = _first(_of(ctx, gcp.compute.GlobalForwardingRule))
    if rule is None:
        return []
    where = (ctx.component_of(rule), rule.name)
    processed = ctx.profile.ingress_gb + ctx.profile.egress_gb
    return [
        (*where, Usage(f"{processed:g} GiB processed (in and out)", "lb.data_processed", processed)),
        (
            *where,
            Usage(f"{ctx.profile.egress_gb:g} GiB to the internet", "network.internet_egress", ctx.profile.egress_gb),
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


def _network_logs(ctx: Context) -> list[tuple[str, str, Usage]]:
    """VPC flow logs, firewall rules logging and NAT logs are vended network logs: billed from the first GiB."""
    logging = [
        *(r for r in _of(ctx, gcp.compute.Subnetwork) if r.inputs.get("logConfig")),
        *(r for r in _of(ctx, gcp.compute.Firewall) if r.inputs.get("logConfig")),
        *(r for r in _of(ctx, gcp.compute.RouterNat) if (r.inputs.get("logConfig") or {}).get("enable")),
    ]
    owner = _first(logging)
    if owner is None or not ctx.profile.network_log_gb:
        return []
    gib = ctx.profile.network_log_gb
    usage = Usage(f"{gib:g} GiB flow, firewall and NAT logs", "logging.network", gib)
    return [(ctx.component_of(owner), owner.name, usage)]


FREE_WORKER_REQUESTS = 100_000 * 30  # the Workers Free plan: 100,000 requests a day


def _cloudflare(ctx: Context) -> list[tuple[str, str, Usage]]:
    """The zone's plan (its subscription when the program manages one, else `edge.plan`), and Workers Paid once the
    Worker, which runs on every request at the edge, outgrows the free plan."""
    edge = [r for r in ctx.recording.resources if r.type.startswith("cloudflare:")]
    if not edge:
        return []
    subscription = _first(_of(ctx, cloudflare.ZoneSubscription))
    plan = ((subscription.inputs.get("ratePlan") or {}).get("id") if subscription else None) or ctx.edge_plan
    if plan is None:
        raise UnpricedError("the stack has Cloudflare resources but no plan: set edge.plan")
    owner = subscription or min(edge, key=_by_name)
    usages = [(ctx.component_of(owner), owner.name, Usage(f"Cloudflare {plan} plan", f"cloudflare.plan.{plan}", 1))]
    script = _first(_of(ctx, cloudflare.WorkersScript))
    requests = ctx.profile.requests_per_month
    if script and requests > FREE_WORKER_REQUESTS:
        worker = (ctx.component_of(script), script.name)
        cpu_ms = requests * ctx.profile.worker_cpu_ms
        usages += [
            (*worker, Usage("Workers Paid", "cloudflare.workers_paid", 1)),
            (*worker, Usage(f"{requests:,} Worker requests", "cloudflare.workers_requests", requests / 1e6)),
            (*worker, Usage(f"{cpu_ms / 1e6:g}M Worker CPU ms", "cloudflare.workers_cpu", cpu_ms / 1e6)),
        ]
    return usages


STACK_USAGE: tuple[StackUsage, ...] = (_load_balancer_traffic, _secret_accesses, _logging, _network_logs, _cloudflare)


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
    edge_plan: str | None = None,
) -> CostEstimate:
    """The monthly cost of everything `recording` creates, priced with `prices` and the usage in `profile`.

    `database_hours` is how long Cloud SQL primaries run a month (`database_schedule` says when, for the breakdown);
    the saving against running them all month is reported with the estimate. `edge_plan` is the Cloudflare plan of
    the stack's zone (`edge.plan`).
    """
    result = _priced(Context(recording, profile, prices.region, database_hours, edge_plan), prices)
    if database_hours < HOURS:
        always_on = _priced(Context(recording, profile, prices.region, HOURS, edge_plan), prices).total
        if always_on > result.total:
            result = replace(
                result, saving=(f"Cloud SQL stopped out of hours ({database_schedule})", always_on - result.total)
            )
    return result


def _priced(ctx: Context, prices: PriceTable) -> CostEstimate:
    lines: list[Line] = []
    unpriced: list[tuple[str, str]] = []

    def check(usages: list[Usage]) -> None:
        for usage in usages:
            prices.price(usage.price, usage.region)

    for r in ctx.recording.resources:
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
            check(usages)
        except (UnpricedError, MissingPriceError) as reason:
            unpriced.append((r.name, str(reason)))
            continue
        component = ctx.component_of(r)
        lines += [Line(component, r.name, *u) for u in usages]
    for stack_usage in STACK_USAGE:
        try:
            found = stack_usage(ctx)
            check([u for _, _, u in found])
        except (UnpricedError, MissingPriceError) as reason:
            unpriced.append((stack_usage.__name__.strip("_").replace("_", " "), str(reason)))
            continue
        lines += [Line(component, name, *u) for component, name, u in found]
    shared = ctx.profile.shares_billing_account
    costed = list(_apply_prices(lines, prices, shared=shared))
    later = [line for line in costed if prices.price(line.price, line.region).starts]
    return CostEstimate(
        region=prices.region,
        lines=tuple(line for line in costed if line not in later),
        unpriced=tuple(sorted(unpriced)),
        budget_usd=budget_of(ctx.recording, ctx.profile),
        announced=_announced(later, prices),
        free_tiers=(
            "the billing account's free tiers are used by its other projects (estimates.shares_billing_account)"
            if shared
            else "the billing account's free tiers are counted in this stack"
        ),
    )


def _announced(lines: list[Line], prices: PriceTable) -> tuple[Announced, ...]:
    by_price: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        by_price[line.price].append(line)
    return tuple(
        Announced(
            key,
            (price := prices[key]).unit,
            sum(line.quantity for line in group),
            sum(line.usd for line in group),
            price.starts,
        )
        for key, group in sorted(by_price.items())
    )


def _apply_prices(lines: list[Line], prices: PriceTable, *, shared: bool) -> Iterable[Line]:
    """Cost per line: each price's free allowance and tiers apply to the stack's total quantity of it (per region),
    and the cost is shared between the lines in proportion to their quantity. With `shared`, the free tiers Google
    grants per billing account are taken to be used up by the account's other projects.

    A free allowance is the billing account's (or the project's), not a region's: a price with one that is used in
    several regions (Cloud Run serving from two) is costed on its quantity across them, in each region's price, and
    each region pays its share of that."""
    totals: dict[tuple[str, str | None], float] = defaultdict(float)
    pooled: dict[str, float] = defaultdict(float)
    for line in lines:
        totals[line.price, line.region] += line.quantity
        pooled[line.price] += line.quantity
    costs = {}
    for (key, region), quantity in totals.items():
        price = prices.price(key, region)
        free_tier = not (shared and price.per == BILLING_ACCOUNT)
        if price.free and pooled[key] > quantity:
            across = pooled[key]
            costs[key, region] = price.cost(across, free_tier=free_tier) * quantity / across
        else:
            costs[key, region] = price.cost(quantity, free_tier=free_tier)
    for line in lines:
        total = totals[line.price, line.region]
        share = line.quantity / total if total else 0.0
        yield replace(line, usd=costs[line.price, line.region] * share)


def whole_dollars(usd: float) -> int:
    """Rounded up: an estimate that is meant to warn should not round a cost away."""
    return math.ceil(usd - 1e-9)
