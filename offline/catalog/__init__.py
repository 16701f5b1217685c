"""Per-resource-type knowledge for the offline tools: one `Facts` record per provider class, one module per area.

Each area module (network, data, compute, ...) lists its records in `RECORDS`. A record holds everything the mock
engine, the plan, the cost and deploy-time estimates and the architecture picture need about its type, so adding a
type is adding one record (docs/estimates.md, "Adding a resource type"). A test fails when a program registers a type
without one.
"""

from __future__ import annotations

from collections.abc import Iterable

from offline.catalog import common, compute, data, delivery, edge, messaging, network, operations, traffic
from offline.catalog.facts import Facts

# Every area module, in the order the architecture picture lists a component's parts (its load balancer before the
# bucket it serves); a new module must be listed here.
AREAS = (network, data, compute, traffic, edge, common, messaging, operations, delivery)


def index(records: Iterable[Facts]) -> dict[str, Facts]:
    """Records by type token, in order; a second record for one class is an error (the later would silently win)."""
    by_token: dict[str, Facts] = {}
    for record in records:
        if record.token in by_token:
            raise ValueError(f"two facts records for {record.resource.__name__} ({record.token}); keep one")
        by_token[record.token] = record
    return by_token


FACTS = index(record for area in AREAS for record in area.RECORDS)


def facts_of(token: str) -> Facts | None:
    """The record of a type token as the engine records it; None for components, providers and unknown types."""
    return FACTS.get(token)
