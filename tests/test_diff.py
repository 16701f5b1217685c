"""`make diff`: created, deleted and changed resources with their input paths, the cost delta, the deploy time, and
stateful resources in protected stacks first; end to end on two commits of a copy of this repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from offline import diff
from offline.engine import ROOT, SECRET_MASK
from offline.text import usd_delta

SQL = "gcp:sql/databaseInstance:DatabaseInstance"
TOPIC = "gcp:pubsub/topic:Topic"
BUCKET = "gcp:storage/bucket:Bucket"


def resource(name: str, type_: str, inputs: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:prod::platform::{type_}::{name}",
        "type": type_,
        "name": name,
        "custom": True,
        "inputs": inputs,
        "options": {"protect": False, "ignoreChanges": [], "aliases": [], **options},
    }


def document(
    *resources: dict[str, Any], usd: dict[str, float], minutes: int = 10, protect: bool = True
) -> dict[str, Any]:
    lines = [{"resource": name, "item": "x", "usd": value} for name, value in usd.items()]
    return {
        "resources": list(resources),
        "protection": {"deletionProtection": True, "protect": protect},
        "estimates": {
            "monthlyCost": {"monthlyUsd": sum(usd.values()), "lines": lines},
            "deployTime": {"minutes": minutes, "criticalPath": [r["name"] for r in resources][:2]},
        },
        "security": {},
        "policy": {},
    }


DB = {"settings": {"tier": "db-custom-1-3840", "userLabels": {"cost-center": "a"}}, "rootPassword": SECRET_MASK}
BASE = document(
    resource("db", SQL, DB),
    resource("events", TOPIC, {"name": "events"}),
    resource("old-bucket", BUCKET, {"location": "EU"}),
    usd={"db": 100.0, "old-bucket": 5.0},
)


def head(**changes: Any) -> dict[str, Any]:
    db = {**DB, "settings": {"tier": "db-custom-2-7680", "userLabels": {"cost-center": "b"}}}
    after = document(
        resource("db", SQL, db, **changes),
        resource("events", TOPIC, {"name": "events"}),
        resource("new-topic", TOPIC, {"name": "new"}),
        usd={"db": 180.0, "new-topic": 0.4},
        minutes=12,
    )
    after["estimates"]["deployTime"]["criticalPath"] = ["db", "new-topic"]
    return after


def test_created_deleted_and_changed_resources_with_their_paths_and_values() -> None:
    found = diff.compare("prod", BASE, head())
    assert [c.name for c in found.of("created")] == ["new-topic"]
    assert [c.name for c in found.of("deleted")] == ["old-bucket"]
    (db,) = found.of("changed")
    assert db.paths == (
        ("settings.tier", "db-custom-1-3840", "db-custom-2-7680"),
        ('settings.userLabels["cost-center"]', "a", "b"),
    )
    text = diff.text(found, "main")
    assert '      settings.tier: "db-custom-1-3840" -> "db-custom-2-7680"' in text
    assert "events" not in text  # unchanged
    assert "rootPassword" not in text  # masked on both sides: equal, so not listed


def test_a_masked_secret_stays_masked_in_the_diff() -> None:
    changed = document(resource("db", SQL, {**DB, "rootPassword": {"nested": SECRET_MASK}}), usd={})
    text = diff.text(diff.compare("prod", document(resource("db", SQL, DB), usd={}), changed), "main")
    assert f'rootPassword.nested: (none) -> "{SECRET_MASK}"' in text


def test_the_cost_delta_is_signed_in_total_and_per_resource() -> None:
    found = diff.compare("prod", BASE, head())
    assert diff.cost_line(found) == "Monthly cost: $105 -> $180 (+$75 a month)"
    assert diff._cost_rows(found) == [("db", 80.0), ("old-bucket", -5.0), ("new-topic", 0.4)]
    text = diff.text(found, "main")
    assert "  db: +$80" in text
    assert "  old-bucket: -$5" in text
    assert "  new-topic: +$0.40" in text
    back = diff.compare("prod", head(), BASE)
    assert diff.cost_line(back) == "Monthly cost: $180 -> $105 (-$75 a month)"


def test_the_deploy_time_change_and_its_new_critical_path_are_shown() -> None:
    assert diff.deploy_line(diff.compare("prod", BASE, head())) == (
        "Deploy time: 10 min -> 12 min (+2 min); critical path now db -> new-topic"
    )
    assert diff.deploy_line(diff.compare("prod", BASE, BASE)).endswith("critical path unchanged")


def test_stateful_resources_deleted_or_changed_in_a_protected_stack_come_first_under_a_warning() -> None:
    found = diff.compare("prod", BASE, head())
    assert [c.name for c in found.warnings] == ["db", "old-bucket"]
    text = diff.text(found, "main").splitlines()
    assert text[1] == "WARNING: stateful resources deleted or changed in a stack that asks for protect:"
    assert text[2].startswith("  ~ db (gcp.sql.DatabaseInstance)")
    assert text[3].startswith("  - old-bucket (gcp.storage.Bucket)")
    markdown = diff.markdown([found], "main", [])
    assert markdown.index("> [!WARNING]") < markdown.index("**Created (1)**")
    assert "| `prod` ⚠️ | 1 | 1 | 1 |" in markdown
    unprotected = diff.compare("dev", {**BASE, "protection": {"protect": False}}, {**head(), "protection": {}})
    assert unprotected.warnings == []
    assert "WARNING" not in diff.text(unprotected, "main")


def test_the_programs_replace_on_changes_marks_a_replacement() -> None:
    forced = diff.compare("prod", BASE, head(replaceOnChanges=["settings.tier"]))
    (db,) = forced.of("changed")
    assert db.forced == ("settings.tier",)
    assert "REPLACED: changing settings.tier forces a new resource" in diff.text(forced, "main")
    (plain,) = diff.compare("prod", BASE, head()).of("changed")
    assert plain.forced == ()
    assert "decided at `pulumi preview`" in diff.markdown([forced], "main", [])


DATASET = "gcp:bigquery/dataset:Dataset"
SQL_USER = "gcp:sql/user:User"


@pytest.mark.parametrize(
    ("type_", "old", "new", "forced"),
    [
        (DATASET, {"location": "EU", "friendlyName": "a"}, {"location": "US", "friendlyName": "a"}, ("location",)),
        (DATASET, {"location": "EU", "friendlyName": "a"}, {"location": "EU", "friendlyName": "b"}, ()),
        (SQL_USER, {"name": "app", "instance": "pg"}, {"name": "app2", "instance": "pg"}, ("name",)),
    ],
)
def test_a_change_the_sdk_documents_as_forcing_a_new_resource_is_marked_replaced(
    type_: str, old: dict[str, Any], new: dict[str, Any], forced: tuple[str, ...]
) -> None:
    """pulumi_gcp's property docstrings say "Changing this forces a new resource to be created" of, e.g., a dataset's
    location (its tables are deleted with it) and a SQL user's name; a label change replaces nothing."""
    found = diff.compare(
        "prod", document(resource("x", type_, old), usd={}), document(resource("x", type_, new), usd={})
    )
    (change,) = found.of("changed")
    assert change.forced == forced


def test_a_resource_moved_with_an_alias_is_changed_not_deleted_and_created() -> None:
    moved = resource("events-v2", TOPIC, {"name": "events"})
    moved["options"]["aliases"] = [BASE["resources"][1]["urn"]]
    found = diff.compare("prod", BASE, document(BASE["resources"][0], moved, BASE["resources"][2], usd={}))
    assert found.of("created") == []
    assert [c.name for c in found.of("deleted")] == []
    (change,) = found.of("changed")
    assert (change.name, change.moved_from, change.paths) == ("events-v2", "events", ())


def test_new_security_findings_and_policy_violations_are_listed() -> None:
    grant = {"resource": "open", "type": "x", "what": "allUsers granted roles/run.invoker on site"}
    after = {
        **head(),
        "security": {"Grants to allUsers / allAuthenticatedUsers": [grant]},
        "policy": {"no-public-invoker": {"outcome": "mandatory violation", "violations": [{"resource": "open"}]}},
    }
    text = diff.text(diff.compare("prod", BASE, after), "main")
    assert "  + Grants to allUsers / allAuthenticatedUsers: open: allUsers granted roles/run.invoker on site" in text
    assert "  + policy: no-public-invoker: open (mandatory violation)" in text
    old_format = {k: v for k, v in BASE.items() if k not in ("security", "policy")}
    assert diff.review_changes(diff.compare("prod", old_format, after)) == []  # a plan from before the review


@pytest.mark.parametrize(
    ("usd", "shown"), [(75, "+$75"), (-5, "-$5"), (0.4, "+$0.40"), (0, "+$0"), (1234.5, "+$1,234")]
)
def test_cost_deltas_read_as_signed_dollars(usd: float, shown: str) -> None:
    assert usd_delta(usd) == shown


# End to end: two commits of a copy of this repository ----------------------------------------------------------------


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's files (as the working tree has them) committed once in a fresh repository."""
    copy = tmp_path_factory.mktemp("repo")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    git(copy, "init", "--quiet", "--initial-branch=main")
    git(copy, "add", "--all")
    git(copy, "commit", "--quiet", "--message", "base")
    return copy


def git(cwd: Path, *args: str) -> None:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *identity, *args], cwd=cwd, check=True, capture_output=True)


def offline_diff(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "offline.diff", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_a_commit_that_grows_the_dev_cache_shows_the_change_and_what_it_costs(repo: Path) -> None:
    git(repo, "checkout", "--quiet", "-B", "bigger-cache", "main")
    stack_file = repo / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("    memory_size_gb: 1\n", "    memory_size_gb: 2\n", 1))
    git(repo, "commit", "--quiet", "--all", "--message", "a bigger cache")
    done = offline_diff(repo, "main", "dev")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Offline diff of stack 'dev' against main (merge base ")
    assert "Changed (1):" in lines
    assert "  ~ redis-instance (gcp.redis.Instance), +$" in done.stdout
    assert "      memorySizeGb: 1 -> 2" in lines
    assert any(line.startswith("Monthly cost: $") and "(+$" in line for line in lines)
    # The base's temporary worktree is gone.
    assert (
        "offline-diff-"
        not in subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True).stdout
    )


def test_a_base_that_cannot_be_planned_fails_with_one_line(repo: Path) -> None:
    git(repo, "checkout", "--quiet", "-B", "broken-base", "main")
    stack_file = repo / "Pulumi.dev.yaml"
    good = stack_file.read_text()
    stack_file.write_text(good.replace("region: europe-west1", "region: mars-1", 1))
    git(repo, "commit", "--quiet", "--all", "--message", "broken")
    stack_file.write_text(good)
    git(repo, "commit", "--quiet", "--all", "--message", "fixed")
    done = offline_diff(repo, "HEAD~1", "dev")
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: cannot plan stack 'dev' at HEAD~1 (merge base ")
    assert "gcp.region: 'mars-1' is not a Google Cloud region" in line


def test_an_unknown_base_says_how_to_fetch_it(repo: Path) -> None:
    done = offline_diff(repo, "origin/nowhere", "dev")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: origin/nowhere is not a commit of this repository; fetch it first (e.g. `git fetch origin main`)"
    )


def test_the_sdk_property_documentation_the_replacement_marks_rely_on_is_there() -> None:
    """The marks read each property's docstring; were the SDK to stop saying it, the marks would silently vanish."""
    import pulumi_gcp as gcp

    assert diff.FORCES_NEW in " ".join((gcp.bigquery.Dataset.location.__doc__ or "").split())
    assert diff.FORCES_NEW in " ".join((gcp.sql.User.name.__doc__ or "").split())
    assert diff.FORCES_NEW not in " ".join((gcp.bigquery.Dataset.friendly_name.__doc__ or "").split())


def test_turning_protection_off_is_warned_about_first_and_not_read_as_fixed_findings() -> None:
    """With protect off, unprotected stateful resources are no longer looked for: their findings are unknown, not
    gone, and the change that lets every later one delete data comes first."""
    unprotected = {"resource": "db", "type": SQL, "what": "no deletion protection"}
    base = {**BASE, "security": {"Without deletion protection (protected stack)": [unprotected]}}
    after = {**BASE, "protection": {"deletionProtection": False, "protect": False}, "security": {}}
    found = diff.compare("prod", base, after)
    assert found.protection_dropped == ["protect", "deletionProtection"]
    assert found.protected
    text = diff.text(found, "main").splitlines()
    assert text[1].startswith("WARNING: this change turns off protection.protect, protection.deletionProtection")
    assert diff.review_changes(found) == []
    markdown = diff.markdown([found], "main", [])
    assert "| `prod` ⚠️ |" in markdown
    assert "> this change turns off `protection.protect`, `protection.deletionProtection`" in markdown
    assert diff.compare("prod", BASE, BASE).protection_dropped == []


def test_a_stack_the_change_removes_is_diffed(repo: Path) -> None:
    git(repo, "checkout", "--quiet", "-B", "no-staging", "main")
    git(repo, "rm", "--quiet", "Pulumi.staging.yaml")
    git(repo, "commit", "--quiet", "--message", "staging retired")
    done = subprocess.run(
        [sys.executable, "-c", "from offline import diff; print(diff.stacks_at_commit('main'))"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "'staging'" in done.stdout
    assert "'staging'" not in repr(diff.stacks_at(repo))
