"""What a facts record's `price` works with: usages, the stack it is priced in, and small pricer builders.

A pricer turns one resource's inputs into usages (what is billed, which price in offline/prices.yaml, how many units a
month); offline.estimate.cost adds the usages of each price up over the stack before free allowances and tiers apply.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

if TYPE_CHECKING:
    from offline.engine import Recording, Resource
    from stack_config import EstimatesArgs

HOURS = 730  # hours in a billing month, as Google's calculator counts them
SECONDS = HOURS * 3600


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

    def dependencies(self, resource: Resource) -> list[Resource]:
        known = {r.urn: r for r in self.recording.resources}
        return [known[urn] for urn in resource.dependencies if urn in known]


Pricer: TypeAlias = "Callable[[Resource, Context], list[Usage]]"


def fixed(item: str, price: str, quantity: Callable[[Context], float] = lambda ctx: 1) -> Pricer:
    """A pricer of one usage whose quantity does not depend on the resource's inputs."""
    return lambda r, ctx: [Usage(item, price, quantity(ctx))]
