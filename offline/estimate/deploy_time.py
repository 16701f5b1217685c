"""How long the first `pulumi up` of a stack takes: the longest chain of dependencies, weighted by how long each
resource type typically takes to create (its facts record's `create_seconds`). Everything off that chain is created in
parallel with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offline.catalog import facts_of
from offline.engine import Recording, Resource

DEFAULT_SECONDS = 10.0  # a type without a facts record (the tests fail until it has one)


def create_seconds(resource: Resource) -> float:
    """How long creating the resource typically takes, from its type's facts record."""
    if not resource.custom:
        return 0.0
    facts = facts_of(resource.type)
    known = facts.create_seconds if facts else DEFAULT_SECONDS
    return float(known(resource) if callable(known) else known)


@dataclass(frozen=True)
class DeployTime:
    seconds: float
    path: tuple[str, ...]  # logical names along the critical path, first created first

    @property
    def minutes(self) -> int:
        return max(1, round(self.seconds / 60)) if self.seconds else 0

    def line(self) -> str:
        return f"Estimated deploy time: {self.minutes} min (critical path: {' → '.join(self.path)})"

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "minutes": self.minutes, "criticalPath": list(self.path)}


def _graph(recording: Recording) -> dict[str, list[str]]:
    """Dependencies between custom resources; a dependency on a component stands for every resource inside it."""
    by_urn = {r.urn: r for r in recording.resources}
    children: dict[str, list[str]] = {}
    for r in recording.resources:
        if r.parent:
            children.setdefault(r.parent, []).append(r.urn)

    def customs(urn: str) -> list[str]:
        r = by_urn.get(urn)
        if r is None or r.type.startswith("pulumi:providers:"):
            return []
        if r.custom:
            return [urn]
        return [c for child in children.get(urn, []) for c in customs(child)]

    return {
        r.urn: list(dict.fromkeys(c for d in r.dependencies for c in customs(d)))
        for r in recording.resources
        if r.custom and not r.type.startswith("pulumi:providers:")
    }


def estimate(recording: Recording) -> DeployTime:
    """The critical path: the chain of dependencies whose create times add up to the most."""
    graph = _graph(recording)
    by_urn = {r.urn: r for r in recording.resources}
    finish: dict[str, float] = {}
    before: dict[str, str | None] = {}

    def rank(urn: str) -> tuple[float, str]:  # ties go to the name, so the path is the same on every run
        return visit(urn), by_urn[urn].name

    def visit(urn: str) -> float:
        if urn not in finish:
            finish[urn] = 0.0  # a cycle cannot be registered; this only guards the recursion
            deps = graph.get(urn, [])
            slowest = max(deps, key=rank, default=None)
            before[urn] = slowest
            finish[urn] = create_seconds(by_urn[urn]) + (finish[slowest] if slowest else 0.0)
        return finish[urn]

    for urn in graph:
        visit(urn)
    if not finish:
        return DeployTime(0.0, ())
    end = max(finish, key=rank)
    total, last = finish[end], before.get(end)
    path = [by_urn[end].name]
    while last is not None:
        path.append(by_urn[last].name)
        last = before[last]
    return DeployTime(total, tuple(reversed(path)))
