"""`make diff`: what a change does to each stack, against a base revision, with no cloud and no credentials.

Usage: python -m offline.diff BASE_REF [STACK ...] [--format text|markdown]   (default: every stack, text)

Plans each stack twice: at the merge base of BASE_REF and HEAD, in a temporary `git worktree` (its own `python -m
offline.plan STACK` writes its build/plan-STACK.json; it runs with this checkout's virtual environment, or in one made
from the base's own uv.lock when the two lock different packages), and in the working tree. Prints per stack the
resources created, deleted and changed (each changed input path with its old and new value, secrets masked), the
monthly cost delta in total and per resource, the change of the deploy time and its critical path, and the security
findings and policy violations that appear or go. Stateful resources deleted or changed in a stack that asks for
`protect` come first, under a warning.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from offline import plan
from offline.catalog import facts_of
from offline.engine import ROOT
from offline.security import DISKS, UNPROTECTED
from offline.text import WIDTH, details, shorten, usd_delta, wrap_all
from policy.rules import STATEFUL as POLICY_STATEFUL

STACK_ORDER = ("dev", "staging", "prod")
ABSENT = object()  # a path one side does not have
MAX_VALUE = 100  # characters of one old or new value shown
MAX_PATHS = 25  # changed paths shown per resource
# Resources whose loss loses data: the policy pack's stateful types, disks, and what lives inside them.
STATEFUL = (
    frozenset(POLICY_STATEFUL)
    | DISKS
    | {
        "gcp:sql/database:Database",
        "gcp:bigquery/table:Table",
        "gcp:secretmanager/secretVersion:SecretVersion",
        "gcp:kms/keyRing:KeyRing",
        "gcp:filestore/instance:Instance",
        "gcp:spanner/instance:Instance",
        "gcp:spanner/database:Database",
        "gcp:alloydb/cluster:Cluster",
        "gcp:firestore/database:Database",
        "gcp:memorystore/instance:Instance",
    }
)
REPLACEMENT_NOTE = (
    "Whether a change replaces a resource is decided at `pulumi preview`: marked here are only the changes to a"
    " property whose SDK documentation says that changing it forces a new resource, and the paths the program's own"
    " `replace_on_changes` covers."
)
# The provider SDKs' property docstrings say this of the inputs whose change replaces the resource.
FORCES_NEW = "forces a new resource"


class DiffError(Exception):
    """A diff that cannot be made, in one line."""


# Plans at both revisions ---------------------------------------------------------------------------------------------


def _git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DiffError(f"git {' '.join(args)}: {_last_line(done.stderr) or f'exit {done.returncode}'}")
    return done.stdout.strip()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def resolve(base_ref: str) -> str:
    """The commit to compare with: where the working tree's history meets BASE_REF (its merge base), so that a branch
    behind BASE_REF shows its own changes only, as a pull request does; or one line saying how to get BASE_REF."""
    try:
        _git("rev-parse", "--verify", "--quiet", f"{base_ref}^{{commit}}")
    except DiffError:
        raise DiffError(
            f"{base_ref} is not a commit of this repository; fetch it first (e.g. `git fetch origin main`)"
        ) from None
    try:
        return _git("merge-base", base_ref, "HEAD")
    except DiffError:
        raise DiffError(f"{base_ref} shares no history with HEAD; fetch the whole history (fetch-depth: 0)") from None


def stacks_at(tree: Path) -> list[str]:
    return _ordered({p.name.split(".")[1] for p in tree.glob("Pulumi.*.yaml")})


def stacks_at_commit(commit: str) -> list[str]:
    """The stacks whose file exists at a commit: a stack the change removes is diffed too (every resource deleted)."""
    names = _git("ls-tree", "--name-only", commit).split()
    return _ordered({n.split(".")[1] for n in names if re.fullmatch(r"Pulumi\.[^.]+\.yaml", n)})


def _ordered(names: set[str]) -> list[str]:
    return sorted(names, key=lambda s: (STACK_ORDER.index(s) if s in STACK_ORDER else len(STACK_ORDER), s))


def plan_base(python: str, tree: Path, stack: str, label: str) -> dict[str, Any] | None:
    """The base revision's plan of a stack, made by its own `offline.plan`; None when the stack does not exist there."""
    if not (tree / f"Pulumi.{stack}.yaml").exists():
        return None
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    done = subprocess.run(
        [python, "-m", "offline.plan", stack], cwd=tree, env=env, capture_output=True, text=True, check=False
    )
    out = tree / "build" / f"plan-{stack}.json"
    if done.returncode != 0 or not out.exists():
        reason = _last_line(done.stderr).removeprefix("error: ") or f"exit {done.returncode}"
        raise DiffError(f"cannot plan stack '{stack}' at {label}: {reason}")
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def plan_head(stack: str) -> dict[str, Any] | None:
    if not (ROOT / f"Pulumi.{stack}.yaml").exists():
        return None
    current = plan.make(stack)
    return json.loads(plan.dumps(plan.to_json(stack, current.recording, current.estimates, current.review)))  # type: ignore[no-any-return]


def base_plans(label: str, commit: str, stacks: list[str]) -> tuple[dict[str, dict[str, Any] | None], list[str]]:
    """Each stack's plan at the base commit, from a temporary worktree removed afterwards; and notes on how it was
    made. The base runs with this checkout's environment when both lock the same packages, else in its own, made
    from its lock file by uv (which downloads only what its cache lacks)."""
    notes = []
    tree = Path(tempfile.mkdtemp(prefix="offline-diff-"))
    try:
        _git("worktree", "add", "--detach", "--quiet", str(tree), commit)
        python = sys.executable
        if any(_differs(tree, name) for name in ("uv.lock", "pyproject.toml")):
            python, note = _base_environment(tree, label)
            notes.append(note)
        with ThreadPoolExecutor(max_workers=max(1, min(len(stacks), os.cpu_count() or 1))) as pool:
            found = dict(zip(stacks, pool.map(lambda s: plan_base(python, tree, s, label), stacks), strict=True))
    finally:
        # A failed clean-up must not hide the error that brought us here; git forgets a vanished worktree on prune.
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True, check=False)
        shutil.rmtree(tree, ignore_errors=True)
    return found, notes


def _base_environment(tree: Path, label: str) -> tuple[str, str]:
    """The base's own locked environment in the temporary worktree (`uv sync --frozen --no-dev`), or this checkout's
    when uv cannot make it."""
    uv = ROOT / ".tools" / "bin" / "uv"
    command = [str(uv) if uv.exists() else "uv", "sync", "--frozen", "--no-dev", "--quiet", "--python", sys.executable]
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(tree / ".venv"), "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    try:
        done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        done = None
    if done is not None and done.returncode == 0:
        return str(tree / ".venv" / "bin" / "python"), f"{label} locks other packages: planned in its own environment"
    why = _last_line(done.stderr) if done is not None else "uv is not installed (make setup)"
    return sys.executable, f"{label} locks other packages and uv could not install them ({why}); planned with this one"


def _differs(tree: Path, name: str) -> bool:
    mine, theirs = ROOT / name, tree / name
    return mine.exists() != theirs.exists() or (mine.exists() and mine.read_bytes() != theirs.read_bytes())


# Comparing two plans -------------------------------------------------------------------------------------------------


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{json.dumps(key)}]"


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf of an input value with its property path (`settings.ipConfiguration.sslMode`, `rules[0].action`,
    `labels["cost-center"]`), as `pulumi preview --diff` names them; an empty list or object is a leaf."""
    if isinstance(value, dict) and value:
        for key in sorted(value):
            yield from leaves(value[key], _path(path, key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from leaves(item, _path(path, index))
    else:
        yield path, value


def changed_paths(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    before, after = dict(leaves(old)), dict(leaves(new))
    return [
        (path, before.get(path, ABSENT), after.get(path, ABSENT))
        for path in sorted(before.keys() | after.keys())
        if before.get(path, ABSENT) != after.get(path, ABSENT)
    ]


def _forced(path: str, replace_on_changes: list[str]) -> bool:
    """Whether a changed path falls under one of the resource's `replace_on_changes` paths (`*` matches any)."""
    for pattern in replace_on_changes:
        if pattern == "*":
            return True
        regex = re.escape(pattern).replace(r"\*", r"[^.\[\]]+")
        if re.match(rf"^{regex}(?:$|[.\[])", path):
            return True
    return False


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _documented_replacement(type_token: str, path: str) -> bool:
    """Whether the SDK documents that changing the top-level property a path starts with forces a new resource (e.g.
    `gcp.bigquery.Dataset.location`, `gcp.sql.User.name`): the docstrings come from the provider's schema."""
    record = facts_of(type_token)
    if record is None:
        return False
    prop = getattr(record.resource, _snake(re.split(r"[.\[]", path, maxsplit=1)[0]), None)
    return isinstance(prop, property) and FORCES_NEW in " ".join((prop.__doc__ or "").split())


@dataclass(frozen=True)
class Change:
    kind: str  # created, deleted, changed
    name: str
    type: str
    paths: tuple[tuple[str, Any, Any], ...] = ()
    forced: tuple[
        str, ...
    ] = ()  # changed paths that force a replacement (SDK docs or the program's replace_on_changes)
    moved_from: str = ""  # the base URN an alias carries it over from
    cost_delta: float = 0.0

    @property
    def stateful(self) -> bool:
        return self.type in STATEFUL


PROTECTION_KEYS = ("protect", "deletionProtection")


@dataclass
class StackDiff:
    stack: str
    base: dict[str, Any] | None
    head: dict[str, Any] | None
    changes: list[Change] = field(default_factory=list)
    cost_only: list[tuple[str, float]] = field(default_factory=list)  # cost moved, resource unchanged

    @property
    def protected(self) -> bool:
        """Whether either side asks for protect: a change that turns it off is reviewed as a protected stack."""
        return any(bool(_protection(side).get("protect")) for side in (self.base, self.head))

    @property
    def protection_dropped(self) -> list[str]:
        """The stack's protection settings (`protection.protect`, `protection.deletionProtection`) that the base has
        and the head turns off: the change that lets every other one delete data."""
        if self.base is None or self.head is None:
            return []
        old, new = _protection(self.base), _protection(self.head)
        return [key for key in PROTECTION_KEYS if old.get(key) and not new.get(key)]

    def of(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def warnings(self) -> list[Change]:
        """Stateful resources deleted or changed in a stack that asks for protect."""
        if not self.protected:
            return []
        return [c for c in self.changes if c.stateful and c.kind in ("deleted", "changed")]


def _protection(document: dict[str, Any] | None) -> dict[str, Any]:
    return dict((document or {}).get("protection") or {})


def _resources(document: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in (document or {}).get("resources", []) if r.get("custom")}


def _costs(document: dict[str, Any] | None) -> dict[str, float]:
    totals: dict[str, float] = {}
    cost = ((document or {}).get("estimates") or {}).get("monthlyCost") or {}
    for line in cost.get("lines") or []:
        key = line.get("resource") or line.get("item") or ""
        totals[key] = totals.get(key, 0.0) + float(line.get("usd") or 0)
    return totals


def _compared(resource: dict[str, Any]) -> dict[str, Any]:
    options = resource.get("options") or {}
    return {
        "inputs": resource.get("inputs") or {},
        "options": {k: options.get(k) for k in ("protect", "ignoreChanges", "deleteBeforeReplace", "retainOnDelete")},
    }


def compare(stack: str, base: dict[str, Any] | None, head: dict[str, Any] | None) -> StackDiff:
    diff = StackDiff(stack, base, head)
    before, after = _resources(base), _resources(head)
    base_costs, head_costs = _costs(base), _costs(head)
    moved = {alias: urn for urn, r in after.items() if urn not in before for alias in r["options"].get("aliases", [])}
    moved = {alias: urn for alias, urn in moved.items() if alias in before and alias not in after}
    touched: set[str] = set()
    for urn, new in sorted(after.items(), key=lambda item: item[1]["name"]):
        old_urn = urn if urn in before else next((a for a, u in moved.items() if u == urn), "")
        delta = head_costs.get(new["name"], 0.0) - (base_costs.get(before[old_urn]["name"], 0.0) if old_urn else 0.0)
        touched.update({new["name"], before[old_urn]["name"] if old_urn else new["name"]})
        if not old_urn:
            diff.changes.append(Change("created", new["name"], new["type"], cost_delta=delta))
            continue
        old = before[old_urn]
        paths = changed_paths(_compared(old), _compared(new))
        if paths or old_urn != urn:
            replace_on = list((new.get("options") or {}).get("replaceOnChanges") or [])
            forced = tuple(
                p
                for p, _, _ in paths
                if p.startswith("inputs.")
                and (
                    _forced(p[len("inputs.") :], replace_on)
                    or _documented_replacement(new["type"], p[len("inputs.") :])
                )
            )
            diff.changes.append(
                Change(
                    "changed",
                    new["name"],
                    new["type"],
                    tuple((p.removeprefix("inputs."), o, n) for p, o, n in paths),
                    tuple(p.removeprefix("inputs.") for p in forced),
                    old["name"] if old_urn != urn else "",
                    delta,
                )
            )
        elif abs(delta) >= 0.005:
            diff.cost_only.append((new["name"], delta))
    gone = [r for urn, r in before.items() if urn not in after and urn not in moved]
    for old in sorted(gone, key=lambda r: r["name"]):
        touched.add(old["name"])
        diff.changes.append(Change("deleted", old["name"], old["type"], cost_delta=-base_costs.get(old["name"], 0.0)))
    # Stack-wide usage (logs, the Cloudflare plan) and resources whose price moved without an input change.
    for key in sorted((base_costs.keys() | head_costs.keys()) - touched - {n for n, _ in diff.cost_only}):
        delta = head_costs.get(key, 0.0) - base_costs.get(key, 0.0)
        if abs(delta) >= 0.005:
            diff.cost_only.append((key, delta))
    return diff


# Rendering -----------------------------------------------------------------------------------------------------------


def _value(value: Any) -> str:
    if value is ABSENT:
        return "(none)"
    text = shorten(json.dumps(value, sort_keys=True, ensure_ascii=False))
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


def _total(document: dict[str, Any] | None) -> float | None:
    cost = ((document or {}).get("estimates") or {}).get("monthlyCost") or {}
    value = cost.get("monthlyUsd")
    return float(value) if value is not None else None


def _deploy(document: dict[str, Any] | None) -> tuple[int, list[str]]:
    deploy = ((document or {}).get("estimates") or {}).get("deployTime") or {}
    return int(deploy.get("minutes") or 0), list(deploy.get("criticalPath") or [])


def cost_line(diff: StackDiff) -> str:
    old, new = _total(diff.base), _total(diff.head)
    if old is None or new is None:
        return "Monthly cost: unavailable on " + ("both sides" if old is None and new is None else "one side")
    return f"Monthly cost: ${old:,.0f} -> ${new:,.0f} ({usd_delta(new - old)} a month)"


def deploy_line(diff: StackDiff) -> str:
    (old, old_path), (new, new_path) = _deploy(diff.base), _deploy(diff.head)
    minutes = f"{old} min -> {new} min ({'+' if new >= old else '-'}{abs(new - old)} min)"
    if old_path == new_path:
        return f"Deploy time: {minutes}; critical path unchanged"
    return f"Deploy time: {minutes}; critical path now {' -> '.join(new_path) or '(none)'}"


def _findings(document: dict[str, Any] | None) -> set[tuple[str, str, str]] | None:
    if document is None:
        return set()
    if "security" not in document:
        return None  # a plan from before the security summary
    return {(c, f["resource"], f["what"]) for c, items in document["security"].items() for f in items}


def _violations(document: dict[str, Any] | None) -> set[tuple[str, str, str]] | None:
    if document is None:
        return set()
    if "policy" not in document:
        return None
    return {
        (rule, v["resource"], result["outcome"])
        for rule, result in document["policy"].items()
        for v in result.get("violations", [])
    }


def review_changes(diff: StackDiff) -> list[tuple[str, str]]:
    """Security findings and policy violations that appear (+) or go (-). Unprotected stateful resources are looked
    for only in a stack that asks for protect, so when one side does not, that category is unknown there, not empty:
    it is left out rather than reported as fixed (the protection change itself is warned about first)."""
    lines: list[tuple[str, str]] = []
    one_sided = bool(_protection(diff.base).get("protect")) != bool(_protection(diff.head).get("protect"))
    unknown = {UNPROTECTED} if one_sided else set()
    for read, what in ((_findings, "security"), (_violations, "policy")):
        old, new = read(diff.base), read(diff.head)
        if old is None or new is None:
            continue
        if what == "security" and diff.base is not None and diff.head is not None:
            old, new = {f for f in old if f[0] not in unknown}, {f for f in new if f[0] not in unknown}
        lines += [
            ("+", f"{what}: {a}: {b} ({c})" if what == "policy" else f"{a}: {b}: {c}") for a, b, c in sorted(new - old)
        ]
        lines += [
            ("-", f"{what}: {a}: {b} ({c})" if what == "policy" else f"{a}: {b}: {c}") for a, b, c in sorted(old - new)
        ]
    return lines


SIGN = {"created": "+", "deleted": "-", "changed": "~"}


def _headline(change: Change) -> str:
    what = f"{SIGN[change.kind]} {change.name} ({plan.short_type(change.type)})"
    if change.moved_from:
        what += f", moved from {change.moved_from} (alias)"
    if change.forced:
        what += f", REPLACED: changing {', '.join(change.forced)} forces a new resource"
    if abs(change.cost_delta) >= 0.005:
        what += f", {usd_delta(change.cost_delta)} a month"
    return what


def _path_lines(change: Change) -> list[str]:
    shown = [f"{p}: {_value(o)} -> {_value(n)}" for p, o, n in change.paths[:MAX_PATHS]]
    if len(change.paths) > MAX_PATHS:
        shown.append(f"... and {len(change.paths) - MAX_PATHS} more paths")
    return shown


def text(diff: StackDiff, label: str) -> str:
    lines = [f"Offline diff of stack '{diff.stack}' against {label}"]
    if diff.base is None:
        lines.append("  new stack: every resource is created")
    if diff.head is None:
        lines.append("  stack removed: every resource is deleted")
    if diff.protection_dropped:
        lines.append(f"WARNING: {_dropped(diff)}")
    if diff.warnings:
        lines.append("WARNING: stateful resources deleted or changed in a stack that asks for protect:")
        lines += [f"  {_headline(c)}" for c in diff.warnings]
    for kind in ("created", "deleted", "changed"):
        found = diff.of(kind)
        if found:
            lines.append(f"{kind.capitalize()} ({len(found)}):")
            for change in found:
                lines.append(f"  {_headline(change)}")
                lines += [f"      {line}" for line in _path_lines(change)]
    if not diff.changes:
        lines.append("No resource changes.")
    lines.append(cost_line(diff))
    lines += [f"  {name}: {usd_delta(delta)}" for name, delta in _cost_rows(diff)]
    lines.append(deploy_line(diff))
    review = review_changes(diff)
    if review:
        lines.append("Review findings:")
        lines += [f"  {sign} {what}" for sign, what in review]
    return "\n".join(wrap_all(lines, WIDTH))


def _dropped(diff: StackDiff, *, code: bool = False) -> str:
    keys = ", ".join(f"`protection.{k}`" if code else f"protection.{k}" for k in diff.protection_dropped)
    return f"this change turns off {keys} for the stack: from then on, any change may delete its data"


def _cost_rows(diff: StackDiff) -> list[tuple[str, float]]:
    rows = [(c.name, c.cost_delta) for c in diff.changes if abs(c.cost_delta) >= 0.005] + diff.cost_only
    return sorted(rows, key=lambda row: (-abs(row[1]), row[0]))


def _md(value: str) -> str:
    return value.replace("`", "'")


def markdown(diffs: list[StackDiff], label: str, notes: list[str]) -> str:
    lines = [f"## Offline diff against `{label}`", ""]
    lines += [
        "| stack | created | deleted | changed | monthly cost | deploy time |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for d in diffs:
        new_total, old_total = _total(d.head), _total(d.base)
        cost = (
            f"${new_total:,.0f} ({usd_delta(new_total - (old_total or 0))})" if new_total is not None else "unavailable"
        )
        (old_min, _), (new_min, _) = _deploy(d.base), _deploy(d.head)
        warn = " ⚠️" if d.warnings or d.protection_dropped else ""
        lines.append(
            f"| `{d.stack}`{warn} | {len(d.of('created'))} | {len(d.of('deleted'))} | {len(d.of('changed'))}"
            f" | {cost} | {new_min} min ({'+' if new_min >= old_min else '-'}{abs(new_min - old_min)}) |"
        )
    lines.append("")
    lines += [line for note in notes for line in (f"_Note: {note}._", "")]
    for d in diffs:
        lines += _stack_markdown(d)
    lines.append(f"_{REPLACEMENT_NOTE} Secrets are masked on both sides, so a changed secret value does not show._")
    return "\n".join(_single_blanks(lines)) + "\n"


def _single_blanks(lines: list[str]) -> list[str]:
    return [line for i, line in enumerate(lines) if line or (i > 0 and lines[i - 1])]


def _stack_markdown(d: StackDiff) -> list[str]:
    lines = [f"### `{d.stack}`", ""]
    if d.base is None:
        lines += ["New stack: every resource is created.", ""]
    if d.head is None:
        lines += ["Stack removed: every resource is deleted.", ""]
    if d.protection_dropped:
        lines += ["> [!WARNING]", f"> {_dropped(d, code=True)}", ""]
    if d.warnings:
        lines += ["> [!WARNING]", "> Stateful resources deleted or changed in a stack that asks for `protect`:"]
        lines += [f"> - `{_md(_headline(c))}`" for c in d.warnings]
        lines.append("")
    if not d.changes:
        lines += ["No resource changes.", ""]
    for kind in ("created", "deleted", "changed"):
        found = d.of(kind)
        if not found:
            continue
        body = []
        for change in found:
            body.append(f"- `{_md(_headline(change))}`")
            body += [f"  - `{_md(line)}`" for line in _path_lines(change)]
        summary = f"{kind.capitalize()} ({len(found)})"
        lines += [*(details(summary, body) if len(body) > 30 else [f"**{summary}**", "", *body]), ""]
    lines.append(cost_line(d).replace("->", "→") + ".")
    rows = _cost_rows(d)
    if rows:
        lines += ["", "| resource | monthly change |", "| --- | ---: |"]
        lines += [f"| `{name}` | {usd_delta(delta)} |" for name, delta in rows]
    lines += ["", deploy_line(d).replace("->", "→") + "."]
    review = review_changes(d)
    if review:
        lines += ["", "Security summary and policy pack:", ""]
        lines += [f"- {'**new**' if sign == '+' else 'gone'}: {what}" for sign, what in review]
    return [*lines, ""]


# The command ---------------------------------------------------------------------------------------------------------


def run(base_ref: str, stacks: list[str]) -> tuple[list[StackDiff], str, list[str]]:
    commit = resolve(base_ref)
    label = f"{base_ref} (merge base {commit[:12]})"
    wanted = stacks or _ordered({*stacks_at(ROOT), *stacks_at_commit(commit)})
    base, notes = base_plans(label, commit, wanted)
    diffs = []
    for stack in wanted:
        try:
            head = plan_head(stack)
        except pulumi.RunError as err:
            raise DiffError(f"cannot plan stack '{stack}' in the working tree: {err}") from None
        if head is None and base[stack] is None:
            raise DiffError(f"no stack '{stack}' at {label} nor in the working tree")
        diffs.append(compare(stack, base[stack], head))
    return diffs, label, notes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.diff", description=__doc__.splitlines()[0])
    parser.add_argument("base_ref", metavar="BASE_REF", help="the revision to compare with, e.g. origin/main")
    parser.add_argument("stacks", metavar="STACK", nargs="*", help="default: every stack file of the working tree")
    parser.add_argument("--format", choices=plan.FORMATS, default="text")
    args = parser.parse_args(argv[1:])
    try:
        diffs, label, notes = run(args.base_ref, args.stacks)
    except DiffError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.format == "markdown":
        print(markdown(diffs, label, notes), end="")
    else:
        print("\n\n".join([*(f"note: {n}" for n in notes), *(text(d, label) for d in diffs)]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
