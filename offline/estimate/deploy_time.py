"""How long the first `pulumi up` of a stack takes: the longest chain of dependencies, weighted by how long each
resource type typically takes to create. Everything off that chain is created in parallel with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offline.engine import Recording, Resource

Seconds = Callable[[Resource], float]

# Typical create times, seconds (observed `pulumi up` / API operation times; the slow ones dominate).
CREATE_SECONDS: dict[str, float | Seconds] = {
    "gcp:sql/databaseInstance:DatabaseInstance": lambda r: 600 if r.inputs.get("masterInstanceName") else 720,
    "gcp:redis/instance:Instance": lambda r: 600 if r.inputs.get("tier") == "STANDARD_HA" else 360,
    "gcp:servicenetworking/connection:Connection": 120,
    "gcp:compute/managedSslCertificate:ManagedSslCertificate": 60,  # the resource; provisioning continues after
    "gcp:cloudrunv2/service:Service": 60,
    "gcp:cloudrunv2/job:Job": 20,
    "gcp:projects/service:Service": 30,
    "gcp:compute/network:Network": 30,
    "gcp:compute/subnetwork:Subnetwork": 20,
    "gcp:compute/router:Router": 15,
    "gcp:compute/routerNat:RouterNat": 30,
    "gcp:compute/backendService:BackendService": 30,
    "gcp:compute/globalForwardingRule:GlobalForwardingRule": 20,
    "gcp:compute/securityPolicy:SecurityPolicy": 20,
    "gcp:compute/targetHttpsProxy:TargetHttpsProxy": 15,
    "gcp:compute/urlMap:UrlMap": 15,
    "gcp:compute/firewall:Firewall": 10,
    "gcp:compute/globalAddress:GlobalAddress": 10,
    "gcp:compute/address:Address": 5,
    "gcp:storage/bucket:Bucket": 5,
    "gcp:artifactregistry/repository:Repository": 10,
    "gcp:cloudscheduler/job:Job": 5,
}
DEFAULT_SECONDS = 10.0  # an API call and its operation: IAM bindings, secrets, datasets, DNS records, ...
INSTANT = ("random:",)  # computed locally


def create_seconds(resource: Resource) -> float:
    if not resource.custom or resource.type.startswith(INSTANT):
        return 0.0
    known = CREATE_SECONDS.get(resource.type, DEFAULT_SECONDS)
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
