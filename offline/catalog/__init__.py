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
    messaging,
    network,
    operations,
    security,
    traffic,
)
from offline.catalog.facts import Facts

# The areas of the stacks' types. A new module must be listed here or in LATER.
AREAS = (network, data, compute, traffic, edge, common, messaging, operations, security)
# Areas whose SDK modules take time to import, which most plans would pay for nothing: they load when a type is first
# missing. Kubernetes (pulumi_kubernetes, GKE) is registered only by a stack with platform:gke; delivery's types (IAM
# federation, billing) only by the bootstrap program.
LATER = ("offline.catalog.kubernetes", "offline.catalog.delivery")
# The order the architecture picture lists a component's parts in (its load balancer before the bucket it serves),
# whichever areas have loaded.
ORDER = ("network", "data", "compute", "kubernetes", "traffic", "edge", "common", "messaging", "operations", "security")


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
_RANK: dict[str, tuple[int, int]] = {}


def _rank(module: str, records: Iterable[Facts]) -> None:
    area = module.rsplit(".", 1)[-1]
    position = ORDER.index(area) if area in ORDER else len(ORDER)
    _RANK.update({record.token: (position, i) for i, record in enumerate(records)})


for _area in AREAS:
    _rank(_area.__name__, _area.RECORDS)


def rank_of(token: str) -> tuple[int, int]:
    """Where a type's record sits in the catalog's order (its area in ORDER, then its place in the area)."""
    return _RANK.get(token, (len(ORDER) + 1, 0))


def facts_of(token: str) -> Facts | None:
    """The record of a custom resource's type token as the engine records it; None for a type without one."""
    if token.startswith("pulumi:providers:"):  # providers need none
        return None
    if token not in FACTS and _pending:
        _load_later()
    return FACTS.get(token)


def load_all() -> None:
    """Load the LATER areas now (for what reads every record, such as the audit of free reasons)."""
    if _pending:
        _load_later()


def _load_later() -> None:
    with _loading:
        if not _pending:  # another thread loaded them meanwhile
            return
        modules = {name: importlib.import_module(name).RECORDS for name in _pending}
        FACTS.update(index([*FACTS.values(), *(record for records in modules.values() for record in records)]))
        for name, records in modules.items():
            _rank(name, records)
        _pending.clear()
