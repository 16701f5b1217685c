"""The offline plan a reviewer reads: byte-stable JSON, lines that fit, a Markdown summary for pull requests, the policy
pack's results, and secrets masked one by one (a secret Worker binding hides its own text, not the whole list)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pulumi
import pulumi_gcp as gcp
import pytest

from offline import plan, security
from offline.engine import ROOT, SECRET_MASK, SECRET_PLACEHOLDER, Recording, run
from offline.estimate import report
from offline.text import WIDTH, shorten
from policy.rules import RULES
from tests.conftest import config_of, program_of

SCRIPT = "cloudflare:index/workersScript:WorkersScript"


def plan_of(stack: str, recording: Recording | None = None) -> plan.Plan:
    """The plan of a stack from its session-wide recording (or another one), as `make plan` builds it."""
    recording = recording or program_of(stack)
    config = config_of(stack)
    protection = config.protection
    return plan.Plan(
        stack,
        recording,
        report.estimate(stack, recording, config),
        plan.Review.of(recording, deletion_protection=protection.deletion_protection, protect=protection.protect),
    )


def test_two_runs_of_the_plan_write_the_same_json_byte_for_byte(tmp_path: Path) -> None:
    written = []
    for run_dir in ("first", "second"):
        out = tmp_path / run_dir
        done = subprocess.run(
            [sys.executable, "-m", "offline.plan", "dev", "--out", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        written.append((out / "plan-dev.json").read_bytes())
    assert written[0] == written[1]
    document = json.loads(written[0])
    urns = [r["urn"] for r in document["resources"]]
    assert urns == sorted(urns)
    assert all(r["dependencies"] == sorted(r["dependencies"]) for r in document["resources"])
    lines = document["estimates"]["monthlyCost"]["lines"]
    assert lines == sorted(lines, key=lambda line: json.dumps(line, sort_keys=True))
    assert set(document) == {  # nothing that changes between runs (no timestamp, no host, no duration)
        "stack",
        "resources",
        "outputs",
        "secretOutputs",
        "estimates",
        "protection",
        "policy",
        "security",
    }


def test_the_recording_keeps_resources_in_urn_order_whatever_the_registration_order() -> None:
    def program() -> None:
        for name in ("zeta", "alpha", "mid"):
            gcp.pubsub.Topic(name)

    assert [r.name for r in run(program).resources] == ["alpha", "mid", "zeta"]


def test_every_line_of_the_text_plan_fits_the_width_and_says_everything(stack: str) -> None:
    assert max(len(line) for line in plan.text(plan_of(stack)).splitlines()) <= WIDTH
    # Wrapping moves words to the next line (and splits a URL too long for one); it drops no character. Digests are
    # cut to 12 hex digits, as `docker images` shows them.
    wrapped = plan.render(stack, program_of(stack), WIDTH)
    whole = shorten(plan.render(stack, program_of(stack)))
    assert "".join(wrapped.split()) == "".join(whole.split())
    assert len(wrapped.splitlines()) > len(whole.splitlines())


def test_the_markdown_plan_has_every_section_a_reviewer_needs(stack: str) -> None:
    text = plan.markdown(plan_of(stack))
    custom = plan.cloud_resources(program_of(stack))
    assert text.startswith(f"## Offline plan of `{stack}`\n")
    assert f"**{len(custom)} resources**" in text
    assert "| type | count |" in text
    assert "| `gcp.compute.Network` | 1 |" in text
    assert "<details><summary>Component tree (" in text
    assert "network-vpc" in text.split("<details><summary>Component tree", 1)[1].split("</details>", 1)[0]
    assert "### Monthly cost" in text
    assert "**Estimated monthly cost: $" in text
    assert "| component | monthly | share |" in text
    assert "### Deploy time\n\nEstimated deploy time: " in text
    assert "### Policy pack" in text
    assert f"{len(RULES)} passed, 0 advisory, 0 mandatory violations" in text
    assert "### Security summary" in text
    for category in security.CATEGORIES:
        assert f"**{category}**" in text
    assert text.count("<details>") == text.count("</details>")
    assert text.count("```") % 2 == 0


def test_the_markdown_plan_lists_a_mandatory_violation_with_what_to_change() -> None:
    def program() -> None:
        gcp.sql.DatabaseInstance(
            "db",
            database_version="POSTGRES_16",
            settings=gcp.sql.DatabaseInstanceSettingsArgs(tier="db-custom-1-3840"),
        )

    text = plan.markdown(plan_of("dev", run(program)))
    assert "mandatory violations" in text
    assert "0 mandatory violations" not in text
    row = next(line for line in text.splitlines() if "`cloud-sql-private-ip-only`" in line and "`db`" in line)
    assert row.startswith("| **mandatory violation** |")
    assert "ipv4_enabled=False" in row


def test_an_advisory_rule_is_counted_apart_from_mandatory_ones() -> None:
    results = (
        plan.PolicyResult("a", "", "advisory", (("x", "fix x"),)),
        plan.PolicyResult("b", "", "mandatory", (("y", "fix y"),)),
        plan.PolicyResult("c", "", "mandatory", ()),
    )
    assert [r.outcome for r in results] == ["advisory", "mandatory violation", "passed"]
    assert plan.policy_counts(results) == "1 passed, 1 advisory, 1 mandatory violations"


def test_the_policy_results_take_the_enforcement_level_the_pack_serves() -> None:
    results = plan.policy_results(program_of("prod"), deletion_protection=True, protect=True)
    from policy.rules import RULES

    assert [r.rule for r in results] == [r.name for r in RULES]
    assert {r.level for r in results} == {"mandatory"}  # docs/policy.md: every rule is mandatory


# Secrets in the plan --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_worker_bindings_are_shown_one_by_one_and_only_the_secret_text_is_masked(stack: str) -> None:
    (script,) = program_of(stack).of(SCRIPT)
    bindings = {b["name"]: b for b in script.inputs["bindings"]}
    assert {"ORIGINS", "MAINTENANCE", "HSTS", "ORIGIN_TOKEN"} <= set(bindings)
    for name, binding in bindings.items():
        if binding["type"] == "secret_text":
            assert binding["text"] == SECRET_MASK, name
        else:
            assert binding["text"] != SECRET_MASK, name
    assert bindings["ORIGIN_TOKEN"] == {"name": "ORIGIN_TOKEN", "type": "secret_text", "text": SECRET_MASK}
    tree_line = next(line for line in plan.tree(program_of(stack)) if " edge-worker " in line)
    assert "bindings ORIGINS, " in tree_line
    assert "ORIGIN_TOKEN (secret)" in tree_line


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_origin_token_is_masked_in_the_json_the_text_and_the_markdown(stack: str) -> None:
    current = plan_of(stack)
    document = plan.dumps(plan.to_json(stack, current.recording, current.estimates, current.review))
    outputs = [document, plan.text(current), plan.markdown(current)]
    # The stand-in for platform:origin_token reaches the engine (the Worker binding, the edge policy's rule)...
    revealed = json.dumps([r.revealed_inputs for r in current.recording.resources])
    assert SECRET_PLACEHOLDER in revealed
    # ...and none of what the plan prints or writes.
    for output in outputs:
        assert SECRET_PLACEHOLDER not in output
    script = next(r for r in json.loads(document)["resources"] if r["type"] == SCRIPT)
    assert {"name": "ORIGIN_TOKEN", "type": "secret_text", "text": SECRET_MASK} in script["inputs"]["bindings"]


def test_a_secret_inside_a_list_masks_that_element_and_reveals_it_only_in_the_envelope() -> None:
    def program() -> None:
        gcp.compute.Firewall(
            "fw",
            network="vpc",
            source_ranges=["10.0.0.0/8", pulumi.Output.secret("192.0.2.0/24")],
            allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=["443"])],
        )

    (fw,) = run(program).resources
    assert fw.inputs["sourceRanges"] == ["10.0.0.0/8", SECRET_MASK]
    assert fw.revealed_inputs["sourceRanges"][1]["value"] == "192.0.2.0/24"
    assert fw.inputs["allows"] == [{"protocol": "tcp", "ports": ["443"]}]
