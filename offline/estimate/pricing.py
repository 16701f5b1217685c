"""What a facts record's `price` works with: usages, the stack it is priced in, and small pricer builders.

A pricer turns one resource's inputs into usages (what is billed, which price in offline/prices.yaml, how many units a
month, and in which region when it is not the stack's); offline.estimate.cost adds the usages of each price up over
the stack before free allowances and tiers apply.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

if TYPE_CHECKING:
    from offline.engine import Recording, Resource
    from stack_config import EstimatesArgs

HOURS = 730  # hours in a billing month, as Google's calculator counts them
SECONDS = HOURS * 3600
DAYS = HOURS / 24  # days in a billing month
CLOUD_RUN_SERVICE = "gcp:cloudrunv2/service:Service"
REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")  # a single region (europe-west1), not a multi- or dual-region (EU, EUR4)


class Usage(NamedTuple):
    item: str  # what is billed, for the breakdown
    price: str  # key in the price table
    quantity: float  # units of that price in a month
    region: str | None = None  # the region whose price applies, when it is not the stack's


class UnpricedError(Exception):
    """A priced type whose inputs the estimator cannot read: the resource is listed as not priced, with the reason."""


@dataclass(frozen=True)
class Context:
    recording: Recording
    profile: EstimatesArgs
    region: str
    database_hours: float = HOURS  # hours a month Cloud SQL primaries run (fewer when stopped out of hours)
    edge_plan: str | None = None  # the Cloudflare plan of the stack's zone (`edge.plan`), when it has an edge

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

    def dependencies(self, resource: Resource) -> list[Resource]:
        known = {r.urn: r for r in self.recording.resources}
        return [known[urn] for urn in resource.dependencies if urn in known]

    @functools.cached_property
    def services(self) -> tuple[str, ...]:
        """The components that serve requests (one per Cloud Run service), by name."""
        return tuple(sorted({self.component_of(r) for r in self.recording.of(CLOUD_RUN_SERVICE)}))

    def requests_of(self, service: str) -> float:
        """Requests a month that reach `service`: the edge's requests times its route share (`route_share`, or an
        even split between the services when the profile gives none)."""
        shares = self.profile.route_share
        share = shares.get(service, 0.0) if shares else 1 / max(len(self.services), 1)
        return self.profile.requests_per_month * share

    @functools.cached_property
    def _copies(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.recording.of(CLOUD_RUN_SERVICE):
            counts[self.component_of(r)] = counts.get(self.component_of(r), 0) + 1
        return counts

    def copies_of(self, service: str) -> int:
        """How many regions `service` runs in (a Cloud Run service per region, in one component): the load balancer
        sends each request to one of them, and the estimate splits them evenly."""
        return max(self._copies.get(service, 1), 1)

    def of_type(self, token: str) -> int:
        """How many resources of type `token` the stack registers (one per region, for regional gateways)."""
        return len(self.recording.of(token))

    def elsewhere(self, region: object) -> str | None:
        """`region` when it is a single region other than the stack's (whose prices then apply), else None (a
        multi-region location is priced at the stack's region)."""
        text = str(region or "").lower()
        return text if REGION.match(text) and text != self.region else None


Pricer: TypeAlias = "Callable[[Resource, Context], list[Usage]]"


def fixed(item: str, price: str, quantity: Callable[[Context], float] = lambda ctx: 1) -> Pricer:
    """A pricer of one usage whose quantity does not depend on the resource's inputs."""
    return lambda r, ctx: [Usage(item, price, quantity(ctx))]


def continent(region: str) -> str:
    """The continent a region (or multi-region) is on, for the price of data moving between regions."""
    return "europe" if region.lower().startswith(("europe", "eu")) else region.lower().split("-")[0]


def transfer(item: str, gib: float, source: str, destination: str) -> list[Usage]:
    """Data moved from region `source` to `destination` a month: free within a region, else the inter-region rate
    of the continent, or the intercontinental one (billed by the source region). Multi- and dual-region destinations
    are not priced (see docs/estimates.md, Limits)."""
    if not gib or source.lower() == destination.lower() or not REGION.match(destination.lower()):
        return []
    key = "network.inter_region" if continent(source) == continent(destination) else "network.inter_continent"
    return [Usage(item, key, gib, source.lower())]
