"""`make plan`: evaluate a stack's whole program against the mock engine and print what it would create.

Usage: python -m offline.plan [STACK]   (default: dev)

Prints the component tree with the settings a reviewer checks, a count per resource type and the stack outputs
(secret ones masked), then what the stack costs a month (with its breakdown) and how long its first deploy takes.
Writes the same as JSON to build/plan-STACK.json for tools, and the architecture picture to
build/architecture-STACK.mmd (Mermaid) and .dot (Graphviz).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any

import pulumi

from offline.catalog import facts_of
from offline.engine import ROOT, Recording, Resource, run_program
from offline.estimate import report

MASK = "[secret]"


def short_type(token: str) -> str:
    """`gcp:compute/firewall:Firewall` -> `gcp.compute.Firewall`; components keep their last segment."""
    package, module, name = ([*token.split(":"), "", ""])[:3]
    if package == "platform":
        return name
    return f"{package}.{module.split('/')[0]}.{name}" if module else token


def describe(resource: Resource) -> str:
    facts = facts_of(resource.type) if resource.custom else None
    text = facts.summary(resource.inputs) if facts else ""
    flags = ["protected"] if resource.protect else []
    if resource.ignore_changes:
        flags.append(f"ignores {', '.join(resource.ignore_changes)}")
    return " ".join(part for part in (text, f"[{'; '.join(flags)}]" if flags else "") if part)


def render(stack: str, recording: Recording) -> str:
    lines = [f"Offline plan of stack '{stack}' (Pulumi mock engine: nothing is created, no cloud is called)", ""]
    for depth, resource in recording.walk():
        label = f"{'  ' * depth}{short_type(resource.type)} {resource.name}"
        detail = describe(resource)
        lines.append(f"{label:<64} {detail}".rstrip() if detail else label)
    custom = [r for r in recording.resources if r.custom and not r.type.startswith("pulumi:providers:")]
    lines += ["", f"Resources: {len(custom)}"]
    for token, count in sorted(Counter(r.type for r in custom).items()):
        lines.append(f"  {count:>3}  {token}")
    lines += ["", "Outputs:"]
    for key, value in sorted(masked_outputs(recording).items()):
        lines.append(f"  {key} = {json.dumps(value)}")
    return "\n".join(lines)


def masked_outputs(recording: Recording) -> dict[str, Any]:
    return {k: MASK if k in recording.secret_outputs else v for k, v in recording.outputs.items()}


def to_json(stack: str, recording: Recording, estimates: report.Estimates) -> dict[str, Any]:
    return {
        "stack": stack,
        "resources": [r.to_json() for r in recording.resources],
        "outputs": masked_outputs(recording),
        "secretOutputs": sorted(recording.secret_outputs),
        "estimates": estimates.to_json(),
    }


def main(argv: list[str]) -> int:
    stack = argv[1] if len(argv) > 1 else "dev"
    started = time.monotonic()
    try:
        recording = run_program(stack)
        estimates = report.estimate(stack, recording, report.config_of(stack))
    except pulumi.RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(render(stack, recording))
    print(f"\n{report.render(estimates)}")
    out = ROOT / "build" / f"plan-{stack}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(to_json(stack, recording, estimates), indent=2, sort_keys=True) + "\n")
    written = [out, *report.write_diagrams(estimates)]
    print(f"\nWrote {', '.join(str(p.relative_to(ROOT)) for p in written)} in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
