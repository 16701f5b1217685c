"""Monthly cost of a stack from what its program registers, the price table and the stack's usage profile.

Each priced resource type has a function that turns the resource's inputs into usages (what is billed, which price,
how many units a month). Usages of one price are added up across the stack before free allowances and volume tiers
apply, then shared back to the resources in proportion. Usage that no single resource owns (log volume, the
Cloudflare plan, load balancer traffic) comes from stack-wide functions.
"""

from __future__ import annotations

import functools
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from components.config_types import REGIONS
from offline.engine import Recording, Resource
from offline.estimate.prices import MissingPriceError, PriceTable
from offline.estimate.profile import EstimatesArgs

HOURS = 730  # hours in a billing month, as Google's calculator counts them
SECONDS = HOURS * 3600
STACK_WIDE = "logging (stack-wide)"  # usage no component owns


class Usage(NamedTuple):
    item: str  # what is billed, for the breakdown
    price: str  # key in the price table
    quantity: float  # units of that price in a month


class UnpricedError(Exception):
    """A priced type whose inputs the estimator cannot read: the resource is listed as not priced, with the reason."""


@dataclass(frozen=True)
class Context:
    recording: Recording
    profile: EstimatesArgs
    region: str
    database_hours: float = HOURS  # hours a month Cloud SQL primaries run (fewer when stopped out of hours)

    @functools.cached_property
    def owners(self) -> dict[str, str]:
        """urn -> logical name of the top-level component that owns the resource (itself when it is one)."""
        by_urn = {r.urn: r for r in self.recording.resources}

        def top(r: Resource) -> Resource:
            parent = by_urn.get(r.parent or "")
            return top(parent) if parent is not None else r

        return {r.urn: top(r).name for r in self.recording.resources}

    def component_of(self, resource: Resource) -> str:
        return self.owners[resource.urn]


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


# --- Readers of inputs ------------------------------------------------------------------------------------------

_SHARED_CORE = ("db-f1-micro", "db-g1-small")
_N1_MEMORY_PER_CPU = {"standard": 3.75, "highmem": 6.5}


def sql_machine(tier: str) -> tuple[float, float]:
    """(vCPUs, memory GB) of a dedicated-core Cloud SQL tier."""
    if match := re.fullmatch(r"db-custom-(\d+)-(\d+)", tier):
        return float(match[1]), int(match[2]) / 1024
    if match := re.fullmatch(r"db-perf-optimized-N-(\d+)", tier):  # Enterprise Plus: 8 GB per vCPU
        return float(match[1]), float(match[1]) * 8
    if match := re.fullmatch(r"db-n1-(standard|highmem)-(\d+)", tier):
        return float(match[2]), float(match[2]) * _N1_MEMORY_PER_CPU[match[1]]
    raise UnpricedError(
        f"Cloud SQL tier '{tier}' is not one the estimator reads (db-custom-CPU-MB, db-perf-optimized-N-CPU)"
    )


def cpu_count(value: str | float | int | None) -> float:
    """A Kubernetes-style CPU quantity ("1", "2", "500m") in vCPUs; Cloud Run's default is 1."""
    text = str(value or "1")
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


_MEMORY_UNITS = {"Ki": 2**-20, "Mi": 2**-10, "Gi": 1.0, "K": 1e3 / 2**30, "M": 1e6 / 2**30, "G": 1e9 / 2**30}


def memory_gib(value: str | None) -> float:
    """A memory quantity ("512Mi", "1Gi", "2G") in GiB; Cloud Run's default is 512Mi."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i?)?", str(value or "512Mi"))
    if not match:
        raise UnpricedError(f"memory limit '{value}' is not a quantity like 512Mi or 2Gi")
    return float(match[1]) * _MEMORY_UNITS[match[2]] if match[2] else float(match[1]) / 2**30


def redis_capacity_tier(gb: float) -> str:
    """Memorystore prices by capacity tier: M1 1-4 GB, M2 5-10, M3 11-35, M4 36-100, M5 above."""
    for tier, upto in (("M1", 4), ("M2", 10), ("M3", 35), ("M4", 100)):
        if gb <= upto:
            return tier
    return "M5"


def _duration_seconds(value: str | None, default: float) -> float:
    return float(str(value).removesuffix("s")) if value else default


# --- Pricers per resource type ----------------------------------------------------------------------------------

Pricer = Callable[[Resource, Context], list[Usage]]


def _sql_instance(r: Resource, ctx: Context) -> list[Usage]:
    settings = r.inputs.get("settings") or {}
    tier = str(settings.get("tier") or "")
    replica = bool(r.inputs.get("masterInstanceName"))
    copies = 2 if settings.get("availabilityType") == "REGIONAL" else 1  # HA keeps a standby of the same size
    ha = " x2 HA" if copies == 2 else ""
    hours = HOURS if replica else ctx.database_hours
    usages: list[Usage] = []
    if tier in _SHARED_CORE:
        usages.append(Usage(f"{tier}{ha}, {hours:g} h", f"sql.shared.{tier}", copies * hours))
    else:
        # Only Enterprise Plus has db-perf-optimized tiers, so an instance without `edition` is priced by its tier.
        plus = settings.get("edition") == "ENTERPRISE_PLUS" or tier.startswith("db-perf-optimized")
        edition = "enterprise_plus" if plus else "enterprise"
        cpus, memory = sql_machine(tier)
        usages.append(Usage(f"{cpus:g} vCPU{ha}, {hours:g} h", f"sql.{edition}.vcpu", copies * cpus * hours))
        usages.append(Usage(f"{memory:g} GB memory{ha}, {hours:g} h", f"sql.{edition}.memory", copies * memory * hours))
    disk = float(settings.get("diskSize") or 10)
    disk_type = str(settings.get("diskType") or "PD_SSD")
    usages.append(Usage(f"{disk:g} GB {disk_type}{ha}", f"sql.storage.{disk_type}", copies * disk))
    if not replica and (settings.get("backupConfiguration") or {}).get("enabled"):
        backup = ctx.profile.database_backup_gb if ctx.profile.database_backup_gb is not None else disk
        usages.append(Usage(f"{backup:g} GB backups", "sql.backup", backup))
    return usages


def _redis(r: Resource, ctx: Context) -> list[Usage]:
    tier = str(r.inputs.get("tier") or "BASIC")
    gb = float(r.inputs.get("memorySizeGb") or 1)
    nodes = 1.0
    if tier == "STANDARD_HA" and r.inputs.get("readReplicasMode") == "READ_REPLICAS_ENABLED":
        # The Standard price covers a primary and one replica; every further read replica is another node.
        nodes = (1 + int(r.inputs.get("replicaCount") or 1)) / 2
    shape = f"{tier} {gb:g} GB" + (f" with {int(nodes * 2 - 1)} read replicas" if nodes != 1 else "")
    return [Usage(shape, f"redis.{tier}.{redis_capacity_tier(gb)}", gb * HOURS * nodes)]


def _cloud_run(r: Resource, ctx: Context) -> list[Usage]:
    template = r.inputs.get("template") or {}
    containers = template.get("containers") or [{}]
    limits = [(c.get("resources") or {}) for c in containers]
    cpus = sum(cpu_count((res.get("limits") or {}).get("cpu")) for res in limits)
    memory = sum(memory_gib((res.get("limits") or {}).get("memory")) for res in limits)
    request_based = all(res.get("cpuIdle", True) is not False for res in limits)
    minimum = max(
        int((template.get("scaling") or {}).get("minInstanceCount") or 0),
        int((r.inputs.get("scaling") or {}).get("minInstanceCount") or 0),
    )
    billing = "request" if request_based else "instance"
    usages: list[Usage] = []
    if minimum:
        idle = "idle" if request_based else "instance"
        warm = f"{minimum} always-on instance(s) of {cpus:g} vCPU/{memory:g} GiB"
        usages.append(Usage(warm, f"run.{idle}.cpu", minimum * cpus * SECONDS))
        usages.append(Usage(f"{warm}, memory", f"run.{idle}.memory", minimum * memory * SECONDS))
    busy = ctx.profile.requests_per_month * ctx.profile.avg_request_ms / 1000
    if busy:
        traffic = f"{ctx.profile.requests_per_month:,} requests x {ctx.profile.avg_request_ms} ms"
        usages.append(Usage(f"{traffic}, CPU", f"run.{billing}.cpu", busy * cpus))
        usages.append(Usage(f"{traffic}, memory", f"run.{billing}.memory", busy * memory))
        if request_based:
            usages.append(Usage(f"{traffic}, requests", "run.requests", ctx.profile.requests_per_month / 1e6))
    return usages


def _security_policy(r: Resource, ctx: Context) -> list[Usage]:
    rules = len(r.inputs.get("rules") or []) or 1  # every policy has at least its default rule
    return [
        Usage("policy", "armor.policy", 1),
        Usage(f"{rules} rules", "armor.rule", rules),
        Usage(f"{ctx.profile.requests_per_month:,} requests evaluated", "armor.requests", _millions(ctx)),
    ]


def _millions(ctx: Context) -> float:
    return ctx.profile.requests_per_month / 1e6


def _router_nat(r: Resource, ctx: Context) -> list[Usage]:
    instances = min(ctx.profile.nat_instances, 32)  # above 32 instances the gateway charge is flat
    return [
        Usage(f"gateway, {instances} instance(s)", "nat.gateway", instances * HOURS),
        Usage(f"{ctx.profile.nat_gb:g} GB processed", "nat.data", ctx.profile.nat_gb),
    ]


def _secret_locations(secret: Resource) -> int:
    replicas = ((secret.inputs.get("replication") or {}).get("userManaged") or {}).get("replicas") or []
    return len(replicas) or 1  # automatic replication is billed as one location


def _secret_version(r: Resource, ctx: Context) -> list[Usage]:
    secrets = [d for d in _dependencies(r, ctx.recording) if d.type == "gcp:secretmanager/secret:Secret"]
    locations = _secret_locations(secrets[0]) if secrets else 1
    return [Usage(f"active version in {locations} location(s)", "secrets.version", locations)]


def _dependencies(r: Resource, recording: Recording) -> list[Resource]:
    known = {x.urn: x for x in recording.resources}
    return [known[urn] for urn in r.dependencies if urn in known]


def _bucket(r: Resource, ctx: Context) -> list[Usage]:
    storage_class = str(r.inputs.get("storageClass") or "STANDARD").upper()
    location = str(r.inputs.get("location") or "US").upper()
    # Single regions share one list price in the table (EU and US regions differ by cents); multi- and dual-regions
    # have their own.
    where = "regional" if location.lower() in REGIONS else location
    return [
        Usage(
            f"{ctx.profile.bucket_gb:g} GB {storage_class} in {location}",
            f"storage.{where}.{storage_class}",
            ctx.profile.bucket_gb,
        )
    ]


_UPTIME_CHECKERS = {"USA": 3}  # "USA" runs from three locations; the other regions from one each; default: all six


def _uptime_check(r: Resource, ctx: Context) -> list[Usage]:
    regions = r.inputs.get("selectedRegions") or ["USA", "EUROPE", "SOUTH_AMERICA", "ASIA_PACIFIC"]
    checkers = sum(_UPTIME_CHECKERS.get(region, 1) for region in regions)
    period = _duration_seconds(r.inputs.get("period"), 60)
    executions = SECONDS / period * checkers
    return [Usage(f"every {period:g} s from {checkers} checkers", "uptime.executions", executions / 1000)]


def _fixed(item: str, price: str, quantity: Callable[[Context], float] = lambda ctx: 1) -> Pricer:
    return lambda r, ctx: [Usage(item, price, quantity(ctx))]


PRICERS: dict[str, Pricer] = {
    "gcp:sql/databaseInstance:DatabaseInstance": _sql_instance,
    "gcp:redis/instance:Instance": _redis,
    "gcp:cloudrunv2/service:Service": _cloud_run,
    "gcp:compute/globalForwardingRule:GlobalForwardingRule": _fixed(
        "forwarding rule", "lb.forwarding_rule", lambda ctx: HOURS
    ),
    "gcp:compute/securityPolicy:SecurityPolicy": _security_policy,
    "gcp:compute/securityPolicyRule:SecurityPolicyRule": _fixed("rule", "armor.rule"),
    "gcp:compute/routerNat:RouterNat": _router_nat,
    "gcp:compute/address:Address": lambda r, ctx: (
        [] if r.inputs.get("addressType") == "INTERNAL" else [Usage("static IP in use", "ip.static_in_use", HOURS)]
    ),
    "gcp:secretmanager/secretVersion:SecretVersion": _secret_version,
    "gcp:artifactregistry/repository:Repository": _fixed(
        "image storage", "artifacts.storage", lambda ctx: ctx.profile.artifact_gb
    ),
    "gcp:storage/bucket:Bucket": _bucket,
    "gcp:bigquery/dataset:Dataset": _fixed(
        "active storage", "bigquery.active_storage", lambda ctx: ctx.profile.bigquery_gb
    ),
    "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": _uptime_check,
    "gcp:cloudscheduler/job:Job": _fixed("job", "scheduler.job"),
}

# Types Google or Cloudflare do not bill for by themselves (their usage is priced elsewhere or is free).
FREE = (
    "pulumi:providers:",
    "random:",
    "docker:",  # built and pushed from the deploying machine; stored images are priced per repository
    "gcp:projects/",
    "gcp:serviceaccount/",
    "gcp:compute/network:",
    "gcp:compute/subnetwork:",
    "gcp:compute/firewall:",
    "gcp:compute/router:",
    "gcp:compute/globalAddress:",  # the load balancer's address is free while a forwarding rule uses it
    "gcp:compute/backendService:",
    "gcp:compute/regionNetworkEndpointGroup:",
    "gcp:compute/uRLMap:",
    "gcp:compute/targetHttpProxy:",
    "gcp:compute/targetHttpsProxy:",
    "gcp:compute/managedSslCertificate:",
    "gcp:compute/sSLPolicy:",
    "gcp:compute/sSLCertificate:",
    "gcp:compute/healthCheck:",
    "gcp:compute/backendBucket:",
    "gcp:compute/globalNetworkEndpointGroup:",
    "gcp:certificatemanager/",  # the first 100 certificates are free
    "gcp:storage/bucketObject:",
    "gcp:servicenetworking/",
    "gcp:secretmanager/secret:",  # billed per active version
    "gcp:sql/database:",
    "gcp:sql/user:",
    "gcp:monitoring/",
    "gcp:logging/",  # ingestion is priced stack-wide from the usage profile
    "gcp:billing/",
    "gcp:backupdisasterrecovery/backupVault:",  # billed per GiB it protects; no backup plan feeds it here yet
    "gcp:pubsub/",  # budget notifications: a few messages a month, far inside the free 10 GiB
    "gcp:cloudrunv2/job:",  # runs for seconds per deploy
    "cloudflare:",  # the plan and Workers are priced stack-wide
)


def _is_free(token: str) -> bool:
    return token.startswith(FREE) or re.search(r"Iam(Member|Binding|Policy)|IAM", token) is not None


# --- Stack-wide usage -------------------------------------------------------------------------------------------

StackUsage = Callable[[Context], list[tuple[str, str, Usage]]]  # (component, resource, usage)


def _first(ctx: Context, token: str) -> Resource | None:
    return next((r for r in ctx.recording.resources if r.type == token), None)


def _load_balancer_traffic(ctx: Context) -> list[tuple[str, str, Usage]]:
    rule = _first(ctx, "gcp:compute/globalForwardingRule:GlobalForwardingRule")
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
    secret = _first(ctx, "gcp:secretmanager/secret:Secret")
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
    subscription = _first(ctx, "cloudflare:index/zoneSubscription:ZoneSubscription")
    plan = (
        (subscription.inputs.get("ratePlan") or {}).get("id") if subscription else None
    ) or ctx.profile.cloudflare_plan
    owner = subscription or edge[0]
    where = (ctx.component_of(owner), owner.name)
    usages = [(*where, Usage(f"Cloudflare {plan} plan", f"cloudflare.plan.{plan}", 1))]
    workers = [r for r in edge if r.type == "cloudflare:index/workersScript:WorkersScript"]
    if workers and ctx.profile.requests_per_month > 100_000 * 30:  # above the free plan's 100,000 a day
        worker = (ctx.component_of(workers[0]), workers[0].name)
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
    for budget in recording.of("gcp:billing/budget:Budget"):
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
        if not r.custom:
            continue
        pricer = PRICERS.get(r.type)
        if pricer is None:
            if not _is_free(r.type):
                unpriced.append((r.name, f"no price model for {r.type}"))
            continue
        try:
            usages = pricer(r, ctx)
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
