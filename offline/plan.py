"""`make plan`: evaluate a stack's whole program against the mock engine and print what it would create.

Usage: python -m offline.plan [STACK] [--format text|markdown] [--out DIR]   (default: dev, text, build/)

Prints the component tree with the settings a reviewer checks, a count per resource type, the stack outputs (secret
ones masked), the policy pack's results and a security summary, then what the stack costs a month (with its breakdown)
and how long its first deploy takes. `--format markdown` prints the same as a pull-request comment. Writes the plan as
JSON to build/plan-STACK.json (byte for byte the same for the same tree: tools and `make diff` read it), and the
architecture picture to build/architecture-STACK.mmd (Mermaid) and .dot (Graphviz).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from offline import security
from offline.catalog import facts_of
from offline.engine import ROOT, SECRET_MASK, Recording, Resource, run_program
from offline.estimate import report
from offline.estimate.cost import whole_dollars
from offline.text import WIDTH, code, details, shorten, table, wrap_all

FORMATS = ("text", "markdown")
LABEL = 64  # the tree's label column: type and logical name, then the settings


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


def tree(recording: Recording) -> list[str]:
    """The component tree, one logical line per resource: type and name, then the settings a reviewer checks."""
    lines = []
    for depth, resource in recording.walk():
        label = f"{'  ' * depth}{short_type(resource.type)} {resource.name}"
        detail = describe(resource)
        lines.append(f"{label:<{LABEL}} {detail}".rstrip() if detail else label)
    return lines


def cloud_resources(recording: Recording) -> list[Resource]:
    return [r for r in recording.resources if r.custom and not r.type.startswith("pulumi:providers:")]


def render(stack: str, recording: Recording, width: int | None = None) -> str:
    """Tree, counts and outputs as text; with a `width`, lines are wrapped to it and image digests shortened."""
    lines = [f"Offline plan of stack '{stack}' (Pulumi mock engine: nothing is created, no cloud is called)", ""]
    lines += tree(recording)
    custom = cloud_resources(recording)
    lines += ["", f"Resources: {len(custom)}"]
    for token, count in sorted(Counter(r.type for r in custom).items()):
        lines.append(f"  {count:>3}  {token}")
    lines += ["", "Outputs:"]
    for key, value in sorted(masked_outputs(recording).items()):
        lines.append(f"  {key} = {json.dumps(value, sort_keys=True)}")
    if width is None:
        return "\n".join(lines)
    return "\n".join(wrap_all((shorten(line) for line in lines), width))


def masked_outputs(recording: Recording) -> dict[str, Any]:
    return {k: SECRET_MASK if k in recording.secret_outputs else v for k, v in recording.outputs.items()}


# The policy pack, run offline over the recording ------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyResult:
    rule: str
    description: str
    level: str  # the pack's enforcement level: mandatory, advisory, remediate or disabled
    violations: tuple[tuple[str, str], ...]  # (resource, message)

    @property
    def outcome(self) -> str:
        if self.level == "disabled":
            return "disabled"
        if not self.violations:
            return "passed"
        return "mandatory violation" if self.level in ("mandatory", "remediate") else "advisory"


def policy_results(recording: Recording, *, deletion_protection: bool, protect: bool) -> tuple[PolicyResult, ...]:
    """Every rule of the policy pack over the recording (as tests/test_policy.py runs them), with its enforcement
    level as the pack serves it."""
    from policy.pack import policies
    from policy.rules import RULES, violations

    levels = {p.name: str(p.enforcement_level.value) if p.enforcement_level else "advisory" for p in policies()}
    found = violations(
        ((r.name, r.type, r.inputs, r.protect) for r in recording.resources),
        deletion_protection=deletion_protection,
        protect=protect,
    )
    return tuple(
        PolicyResult(
            rule.name,
            rule.description,
            levels.get(rule.name, "mandatory"),
            tuple(sorted((name, message) for name_, name, message in found if name_ == rule.name)),
        )
        for rule in RULES
    )


def policy_counts(results: tuple[PolicyResult, ...]) -> str:
    outcomes = Counter(r.outcome for r in results)
    return (
        f"{outcomes['passed']} passed, {outcomes['advisory']} advisory, "
        f"{outcomes['mandatory violation']} mandatory violations"
        + (f", {outcomes['disabled']} disabled" if outcomes["disabled"] else "")
    )


# Everything one plan says ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    """What a reviewer reads beyond the resources: the stack's protection, the policy pack, the security summary."""

    deletion_protection: bool
    protect: bool
    policy: tuple[PolicyResult, ...]
    security: dict[str, list[security.Finding]]

    @classmethod
    def of(cls, recording: Recording, *, deletion_protection: bool, protect: bool) -> Review:
        return cls(
            deletion_protection,
            protect,
            policy_results(recording, deletion_protection=deletion_protection, protect=protect),
            security.findings(recording, protect=protect),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "protection": {"deletionProtection": self.deletion_protection, "protect": self.protect},
            "policy": {
                r.rule: {
                    "level": r.level,
                    "outcome": r.outcome,
                    "violations": [{"resource": n, "message": m} for n, m in r.violations],
                }
                for r in self.policy
            },
            "security": {category: [f.to_json() for f in items] for category, items in self.security.items()},
        }


@dataclass(frozen=True)
class Plan:
    stack: str
    recording: Recording
    estimates: report.Estimates
    review: Review


def make(stack: str) -> Plan:
    """Run the stack's program once; the estimates, policy results and security summary all read that recording."""
    recording = run_program(stack)
    config = report.config_of(stack)
    protection = config.protection
    return Plan(
        stack,
        recording,
        report.estimate(stack, recording, config),
        Review.of(recording, deletion_protection=protection.deletion_protection, protect=protection.protect),
    )


def to_json(
    stack: str, recording: Recording, estimates: report.Estimates, review: Review | None = None
) -> dict[str, Any]:
    """The plan as data, in a stable order: resources by URN, estimate lines sorted, keys sorted when written."""
    document = {
        "stack": stack,
        "resources": [r.to_json() for r in sorted(recording.resources, key=lambda r: r.urn)],
        "outputs": masked_outputs(recording),
        "secretOutputs": sorted(recording.secret_outputs),
        "estimates": _stable(estimates.to_json()),
    }
    if review is not None:
        document |= review.to_json()
    return document


def _stable(estimates: dict[str, Any]) -> dict[str, Any]:
    cost = estimates.get("monthlyCost") or {}
    for key in ("lines", "unpriced"):
        if isinstance(cost.get(key), list):
            cost[key] = sorted(cost[key], key=lambda item: json.dumps(item, sort_keys=True))
    return estimates


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# Text and Markdown ---------------------------------------------------------------------------------------------------


def review_lines(review: Review) -> list[str]:
    """The policy pack's results and the security summary, as text."""
    lines = [f"Policy pack: {policy_counts(review.policy)}"]
    for result in review.policy:
        lines += [
            f"  {result.outcome.upper()} {result.rule} on {name}: {message}" for name, message in result.violations
        ]
    lines += ["", "Security summary:"]
    for category, items in review.security.items():
        if category == security.UNPROTECTED and not review.protect:
            lines.append(f"  {category}: not checked, the stack does not ask for protect")
            continue
        lines.append(f"  {category} ({len(items)}){':' if items else ': none'}")
        lines += [f"    {f.resource}: {f.what}" for f in items]
    return lines


def text(plan: Plan, width: int | None = WIDTH) -> str:
    review = wrap_all(review_lines(plan.review), width)
    return "\n".join([render(plan.stack, plan.recording, width), "", *review, "", report.render(plan.estimates, width)])


def markdown(plan: Plan) -> str:
    """A pull-request comment: the headline, counts per type, the tree folded away, cost, deploy time, policy pack,
    security summary and outputs."""
    recording, review = plan.recording, plan.review
    custom = cloud_resources(recording)
    cost = plan.estimates.cost
    headline = [
        f"**{len(custom)} resources**",
        f"**${whole_dollars(cost.total)} a month**" if cost else "cost unavailable",
        f"first deploy **~{plan.estimates.deploy.minutes} min**",
        f"policy: {policy_counts(review.policy)}",
        "security: " + ", ".join(f"{len(items)} {c[0].lower()}{c[1:]}" for c, items in _security_shown(review)),
    ]
    counts = sorted(Counter(short_type(r.type) for r in custom).items())
    lines = [
        f"## Offline plan of `{plan.stack}`",
        "",
        " · ".join(headline),
        "",
        "_The program evaluated on Pulumi's mock engine: no cloud account, nothing created. What the cloud accepts is"
        " decided at `pulumi preview`._",
        "",
        "### Resources",
        "",
        *table(("type", "count"), [(f"`{t}`", n) for t, n in counts], right=(1,)),
        "",
        *details(
            f"Component tree ({len(recording.resources)} resources and components)",
            code(wrap_all(shorten(line) for line in tree(recording))),
        ),
        "",
        *report.markdown(plan.estimates),
        "",
        *_policy_markdown(review.policy),
        "",
        *_security_markdown(review),
        "",
        *details(
            "Stack outputs (secrets masked)",
            code(
                wrap_all(
                    shorten(f"{k} = {json.dumps(v, sort_keys=True)}")
                    for k, v in sorted(masked_outputs(recording).items())
                )
            ),
        ),
    ]
    return "\n".join(lines) + "\n"


def _policy_markdown(results: tuple[PolicyResult, ...]) -> list[str]:
    lines = ["### Policy pack", "", f"`platform-guardrails` over every resource: {policy_counts(results)}.", ""]
    violations = [(r, name, message) for r in results for name, message in r.violations]
    if violations:
        lines += [
            *table(
                ("outcome", "rule", "resource", "what to change"),
                [(f"**{r.outcome}**", f"`{r.rule}`", f"`{name}`", message) for r, name, message in violations],
            ),
            "",
        ]
    rows = [(f"`{r.rule}`", r.description, r.level, r.outcome) for r in results]
    return [*lines, *details("Every rule", table(("rule", "checks", "level", "outcome"), rows))]


def _security_shown(review: Review) -> list[tuple[str, list[security.Finding]]]:
    return [(c, items) for c, items in review.security.items() if c != security.UNPROTECTED or review.protect]


def _security_markdown(review: Review) -> list[str]:
    lines = ["### Security summary", ""]
    for category, items in review.security.items():
        if category == security.UNPROTECTED and not review.protect:
            lines += [f"**{category}**: not checked, the stack does not ask for `protect`.", ""]
            continue
        if not items:
            lines += [f"**{category}**: none.", ""]
            continue
        lines += [f"**{category}** ({len(items)})", ""]
        lines += [f"- `{f.resource}` ({short_type(f.type)}): {f.what}" for f in items]
        lines.append("")
    return lines[:-1]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.plan", description=__doc__.splitlines()[0])
    parser.add_argument("stack", nargs="?", default="dev")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="where the JSON and pictures go")
    args = parser.parse_args(argv[1:])
    started = time.monotonic()
    try:
        plan = make(args.stack)
    except pulumi.RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(markdown(plan) if args.format == "markdown" else text(plan), end="" if args.format == "markdown" else "\n")
    out = args.out / f"plan-{plan.stack}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dumps(to_json(plan.stack, plan.recording, plan.estimates, plan.review)))
    written = [out, *report.write_diagrams(plan.estimates, args.out)]
    shown = [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in written]
    note = f"Wrote {', '.join(shown)} in {time.monotonic() - started:.1f}s"
    if args.format == "text":
        print(f"\n{note}")
    else:  # stdout is the comment alone
        print(note, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
