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
from dataclasses import dataclass

import pulumi_gcp as gcp

from offline.catalog import facts_of, rank_of
from offline.catalog.facts import token_of
from offline.engine import ROOT, Recording, Resource

MAX_DETAILS = 5
FORWARDING_RULE = token_of(gcp.compute.GlobalForwardingRule)
CLOUD_RUN_SERVICE = token_of(gcp.cloudrunv2.Service)
SERVERLESS_NEG = token_of(gcp.compute.RegionNetworkEndpointGroup)
API = token_of(gcp.projects.Service)
MONITORED = (CLOUD_RUN_SERVICE, token_of(gcp.sql.DatabaseInstance), token_of(gcp.redis.Instance))


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
    return bool(customs) and all(r.type == API for r in customs)


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
    # A component lists its parts in the order of the facts records (offline.catalog.ORDER), not of registration
    # (which varies between runs as outputs resolve).
    labelled = [(r, facts_of(r.type)) for r in customs]
    labels = sorted((rank_of(r.type), f.label(r.inputs)) for r, f in labelled if f is not None and f.label)
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
