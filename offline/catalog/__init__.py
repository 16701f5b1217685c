"""Per-resource-type knowledge for the offline tools: one `Facts` record per provider class, one module per area.

Each area module (network, data, compute, ...) lists its records in `RECORDS`. A record holds everything the mock
engine, the plan, the cost and deploy-time estimates and the architecture picture need about its type, so adding a
type is adding one record (docs/estimates.md, "Adding a resource type"). A test fails when a program registers a type
without one.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable

from offline.catalog import (
    common,
    compute,
    data,
    edge,
    kubernetes,
    messaging,
    network,
    operations,
    security,
    traffic,
)
from offline.catalog.facts import Facts

# The areas of the stacks' types, in the order the architecture picture lists a component's parts (its load balancer
# before the bucket it serves). A new module must be listed here or in LATER.
AREAS = (network, data, compute, kubernetes, traffic, edge, common, messaging, operations, security)
# Areas of types only the bootstrap program registers (never drawn). Their SDK modules (IAM federation, billing) take
# time to import, which every stack's plan would pay for nothing: they load when a type is first missing.
LATER = ("offline.catalog.delivery",)


def index(records: Iterable[Facts]) -> dict[str, Facts]:
    """Records by type token, in order; a second record for one class is an error (the later would silently win)."""
    by_token: dict[str, Facts] = {}
    for record in records:
        if record.token in by_token:
            raise ValueError(f"two facts records for {record.resource.__name__} ({record.token}); keep one")
        by_token[record.token] = record
    return by_token


FACTS = index(record for area in AREAS for record in area.RECORDS)
_pending = list(LATER)
_loading = threading.Lock()  # the mock engine registers resources from several threads


def facts_of(token: str) -> Facts | None:
    """The record of a custom resource's type token as the engine records it; None for a type without one."""
    if token.startswith("pulumi:providers:"):  # providers need none
        return None
    if token not in FACTS and _pending:
        _load_later()
    return FACTS.get(token)


def _load_later() -> None:
    with _loading:
        later = [record for name in _pending for record in importlib.import_module(name).RECORDS]
        FACTS.update(index([*FACTS.values(), *later]))
        _pending.clear()
