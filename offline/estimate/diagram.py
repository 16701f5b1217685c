"""The architecture of a stack as a picture: its components, what each one is, and which uses which.

Nodes are the program's top-level components, labelled with the settings that matter (engine, tier, availability).
An edge `A --> B` means A uses B: some resource inside A depends on one inside B. Cloudflare always points at the
load balancer it proxies to, even when the program only passes the address along. Output is Mermaid (for the docs and
GitHub) and Graphviz dot.

Usage: python -m offline.estimate.diagram   (rewrites docs/architecture.md from the stacks' programs)
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offline.engine import ROOT, Recording, Resource

Label = Callable[[dict[str, Any]], str]

FORWARDING_RULE = "gcp:compute/globalForwardingRule:GlobalForwardingRule"


def _sql(i: dict[str, Any]) -> str:
    if i.get("masterInstanceName"):
        return "read replica"
    settings = i.get("settings") or {}
    version = str(i.get("databaseVersion") or "").replace("POSTGRES_", "PostgreSQL ")
    return f"Cloud SQL {version}, {settings.get('availabilityType') or 'ZONAL'}, {settings.get('tier')}"


LABELS: dict[str, Label] = {
    "gcp:sql/databaseInstance:DatabaseInstance": _sql,
    "gcp:redis/instance:Instance": lambda i: f"Memorystore Redis {i.get('tier') or 'BASIC'} {i.get('memorySizeGb')} GB",
    "gcp:cloudrunv2/service:Service": lambda i: f"Cloud Run {i.get('name')}",
    "gcp:cloudrunv2/job:Job": lambda i: f"Cloud Run job {i.get('name')}",
    FORWARDING_RULE: lambda i: "global HTTPS load balancer",
    "gcp:compute/securityPolicy:SecurityPolicy": lambda i: "Cloud Armor",
    "gcp:compute/network:Network": lambda i: "VPC",
    "gcp:compute/routerNat:RouterNat": lambda i: "Cloud NAT",
    "gcp:servicenetworking/connection:Connection": lambda i: "private services access",
    "gcp:storage/bucket:Bucket": lambda i: f"Cloud Storage {i.get('storageClass') or 'STANDARD'} {i.get('location')}",
    "gcp:artifactregistry/repository:Repository": lambda i: "Artifact Registry",
    "gcp:monitoring/alertPolicy:AlertPolicy": lambda i: "alerts",
    "gcp:monitoring/dashboard:Dashboard": lambda i: "dashboard",
    "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": lambda i: "uptime checks",
    "gcp:bigquery/dataset:Dataset": lambda i: "BigQuery logs",
    "gcp:cloudscheduler/job:Job": lambda i: "Cloud Scheduler",
    "cloudflare:index/dnsRecord:DnsRecord": lambda i: "Cloudflare DNS (proxied)" if i.get("proxied") else "DNS",
    "cloudflare:index/workersScript:WorkersScript": lambda i: "Cloudflare Worker",
    "cloudflare:index/ruleset:Ruleset": lambda i: "Cloudflare rules",
}
MAX_DETAILS = 5
CLOUD_RUN_SERVICE = "gcp:cloudrunv2/service:Service"
SERVERLESS_NEG = "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup"
MONITORED = (CLOUD_RUN_SERVICE, "gcp:sql/databaseInstance:DatabaseInstance", "gcp:redis/instance:Instance")


@dataclass(frozen=True)
class Node:
    id: str
    title: str
    details: tuple[str, ...]


@dataclass(frozen=True)
class Diagram:
    stack: str
    nodes: tuple[Node, ...]
    edges: tuple[tuple[str, str], ...]

    def mermaid(self) -> str:
        lines = ["flowchart LR"]
        for node in self.nodes:
            label = "<br/>".join((f"<b>{node.title}</b>", *node.details)).replace('"', "#quot;")
            lines.append(f'  {node.id}["{label}"]')
        lines += [f"  {a} --> {b}" for a, b in self.edges]
        return "\n".join(lines) + "\n"

    def dot(self) -> str:
        lines = [f'digraph "{self.stack}" {{', "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
        for node in self.nodes:
            label = "\\n".join((node.title, *node.details)).replace('"', '\\"')
            lines.append(f'  {node.id} [label="{label}"];')
        lines += [f"  {a} -> {b};" for a, b in self.edges]
        return "\n".join([*lines, "}"]) + "\n"


def _node_id(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _plumbing(customs: list[Resource]) -> bool:
    """Components that only enable APIs: everything depends on them, so they would only add noise."""
    return bool(customs) and all(r.type == "gcp:projects/service:Service" for r in customs)


def build(stack: str, recording: Recording) -> Diagram:
    by_urn = {r.urn: r for r in recording.resources}
    top = [r for r in recording.resources if not r.custom and r.parent not in by_urn]
    owner: dict[str, str] = {}  # urn -> top-level component urn

    def claim(resource: Resource) -> str:
        if resource.urn not in owner:
            parent = by_urn.get(resource.parent or "")
            owner[resource.urn] = claim(parent) if parent is not None else resource.urn
        return owner[resource.urn]

    for r in recording.resources:
        claim(r)
    members: dict[str, list[Resource]] = {c.urn: [] for c in top}
    for r in recording.resources:
        if r.custom and owner[r.urn] in members:
            members[owner[r.urn]].append(r)
    shown = {c.urn: c for c in top if not _plumbing(members[c.urn])}

    nodes = tuple(
        sorted(
            (Node(_node_id(c.name), _title(c), _details(members[c.urn])) for c in shown.values()), key=lambda n: n.id
        )
    )
    edges: dict[tuple[str, str], None] = {}
    for r in recording.resources:
        for dep in r.dependencies:
            a, b = owner.get(r.urn), owner.get(dep)
            if a in shown and b in shown and a != b:
                edges[(_node_id(shown[a].name), _node_id(shown[b].name))] = None
    # A serverless NEG names its Cloud Run service rather than depending on it (it may be created first): link them.
    services = {r.inputs.get("name"): r for r in recording.resources if r.type == CLOUD_RUN_SERVICE}
    for r in recording.resources:
        target = services.get((r.inputs.get("cloudRun") or {}).get("service")) if r.type == SERVERLESS_NEG else None
        a, b = owner.get(r.urn), owner.get(target.urn) if target else None
        if a in shown and b in shown and a != b:
            edges[(_node_id(shown[a].name), _node_id(shown[b].name))] = None
    # Monitoring names what it watches (alerts and SLOs may be created before their targets exist): link them too.
    watched = {r.inputs["name"]: r for r in recording.resources if r.type in MONITORED and r.inputs.get("name")}
    for r in recording.resources:
        if r.type.startswith("gcp:monitoring/"):
            text = json.dumps(r.inputs)
            for name, target in watched.items():
                a, b = owner.get(r.urn), owner.get(target.urn)
                if name in text and a in shown and b in shown and a != b:
                    edges[(_node_id(shown[a].name), _node_id(shown[b].name))] = None
    edge, balancer = _by_type(shown, members, "cloudflare:"), _by_type(shown, members, FORWARDING_RULE)
    if edge and balancer and edge != balancer:
        edges[(edge, balancer)] = None
    return Diagram(stack, nodes, tuple(sorted(edges)))


def _title(component: Resource) -> str:
    """`Database`, or `LoadBalancer lb` when the logical name says more than the type."""
    kind = component.type.rsplit(":", 1)[-1]
    return kind if component.name.replace("-", "") == kind.lower() else f"{kind} {component.name}"


def _details(customs: list[Resource]) -> tuple[str, ...]:
    # In the order of LABELS, not of registration (which varies between runs as outputs resolve).
    order = {token: index for index, token in enumerate(LABELS)}
    labels = sorted((order[r.type], LABELS[r.type](r.inputs)) for r in customs if r.type in LABELS)
    counted: dict[str, int] = {}
    for _, label in labels:
        counted[label] = counted.get(label, 0) + 1
    details = [f"{n} x {label}" if n > 1 else label for label, n in counted.items()]
    if len(details) > MAX_DETAILS:
        details = [*details[: MAX_DETAILS - 1], f"and {len(details) - MAX_DETAILS + 1} more"]
    return tuple(details)


def _by_type(shown: dict[str, Resource], members: dict[str, list[Resource]], prefix: str) -> str | None:
    for urn, component in shown.items():
        if any(r.type.startswith(prefix) for r in members[urn]):
            return _node_id(component.name)
    return None


DOC = ROOT / "docs" / "architecture.md"
DOC_STACK = "prod"


def document(recording: Recording) -> str:
    """docs/architecture.md: the prod stack's diagram, generated so that it cannot drift from the program."""
    diagram = build(DOC_STACK, recording).mermaid()
    return (
        "# Architecture\n\n"
        f'The {DOC_STACK} stack as its program builds it: each box is a component, an arrow means "uses" (a\n'
        "resource in one depends on a resource in the other). `make plan STACK=<stack>` writes the same picture\n"
        "for any stack to `build/architecture-<stack>.mmd` and `.dot`.\n\n"
        "Generated by `make diagrams` (`python -m offline.estimate.diagram`); a test fails when it is stale.\n\n"
        f"```mermaid\n{diagram}```\n"
    )


def main() -> int:
    from offline.engine import run_program

    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(document(run_program(DOC_STACK)))
    print(f"Wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
