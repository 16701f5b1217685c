"""The pipeline's scripts run against stand-ins for pulumi, gcloud, curl and uv that answer as the real CLIs do,
failures included (tests/fake_cli.py): smoke tests, drift detection, deploys, rollbacks, the app deploy example, the
restore rehearsal and the uv setup step."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import fake_cli
from tests.conftest import ALL_STACKS, program_of

ROOT = Path(__file__).resolve().parent.parent
WHERE = "--project acme-platform-prod --region europe-west1"
CONFIG = {"platform:gcp.project": "acme-platform-prod", "platform:gcp.region": "europe-west1"}


def service(
    name: str,
    *,
    ingress: str,
    latest: str | None = None,
    ready_revision: str | None = None,
    ready: str = "True",
    spec_traffic: list[dict[str, Any]] | None = None,
    traffic: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A service as `gcloud run services describe --format json` prints it (Cloud Run Admin API v1)."""
    latest = latest or f"{name}-00002-abc"
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": "123456789",
            "annotations": {"run.googleapis.com/ingress": ingress, "run.googleapis.com/ingress-status": ingress},
        },
        "spec": {"traffic": spec_traffic or [{"latestRevision": True, "percent": 100}]},
        "status": {
            "conditions": [
                {"type": "Ready", "status": ready, "lastTransitionTime": "2026-11-22T10:00:00Z"},
                {"type": "ConfigurationsReady", "status": "True"},
                {"type": "RoutesReady", "status": ready},
            ],
            "latestCreatedRevisionName": latest,
            "latestReadyRevisionName": ready_revision or latest,
            "traffic": traffic or [{"latestRevision": True, "percent": 100, "revisionName": latest}],
            "url": f"https://{name}-abc123-ew.a.run.app",
            "address": {"url": f"https://{name}-abc123-ew.a.run.app"},
        },
    }


def revision(name: str, created: str, *, ready: str) -> dict[str, Any]:
    """A revision as `gcloud run revisions list/describe --format json` prints it, with its own conditions."""
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "status": {
            "conditions": [
                {"type": "Ready", "status": ready},
                {"type": "Active", "status": "True"},
                {"type": "ContainerHealthy", "status": "True"},
            ]
        },
    }


def in_region(world: dict[str, Any], region: str, code: str) -> dict[str, Any]:
    """The copy in `region` of a world's services and revisions (its `regions` entry): the same service names, its own
    run.app hosts (`-CODE.a.run.app`), and revision names of its own where Cloud Run picks them (`NAME-CODE-00001`;
    a name set by config, `revision:`, is the same in every region)."""
    copied = json.dumps({"services": world["services"], "revisions": world.get("revisions", {})})
    return {region: json.loads(copied.replace("-ew.a.run.app", f"-{code}.a.run.app").replace("-0000", f"-{code}-0000"))}


def two_regions(world: dict[str, Any]) -> dict[str, Any]:
    """A world serving from europe-west1 (the stack's region) and europe-west4, as staging and prod do."""
    world["outputs"]["serving_regions"] = ["europe-west1", "europe-west4"]
    world["regions"] = in_region(world, "europe-west4", "ez4")
    return world


def run(
    tmp_path: Path,
    script: str,
    *args: str,
    world: dict[str, Any],
    tools: tuple[str, ...] = fake_cli.TOOLS,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    command: tuple[str, ...] = ("bash",),
) -> tuple[subprocess.CompletedProcess[str], list[str], dict[str, Any]]:
    bin_dir = tmp_path / "bin"
    fake_cli.install(bin_dir, tools)
    world_file, calls = tmp_path / "world.json", tmp_path / "calls"
    world_file.write_text(json.dumps(world))
    calls.write_text("")
    system = ":".join(p for p in ("/usr/bin", "/bin") if Path(p).exists())  # bash, jq, sed: never a real uv
    environment = {
        "PATH": f"{bin_dir}:{system}",
        "FAKE_WORLD": str(world_file),
        "FAKE_CALLS": str(calls),
        "SMOKE_DELAY": "0",
        "SMOKE_TRIES": "2",
        "HOME": str(tmp_path),
        **(env or {}),
    }
    result = subprocess.run(
        [*command, script, *args], cwd=cwd, env=environment, capture_output=True, text=True, check=False, timeout=60
    )
    return result, calls.read_text().splitlines(), json.loads(world_file.read_text())


SMOKE = str(ROOT / ".github" / "scripts" / "smoke-test.sh")


def prod_like() -> dict[str, Any]:
    """prod's shape: services behind the load balancer (internal-and-lb) and internal backends; one LB domain."""
    return {
        "config": CONFIG,
        "outputs": {
            "service_names": {"web": "acme-prod-web", "api": "acme-prod-api", "orders": "acme-prod-orders"},
            "service_urls": {"web": "https://acme-prod-web-abc123-ew.a.run.app"},
            "load_balancer_domains": ["origin.example.com"],
        },
        "services": {
            "acme-prod-web": service("acme-prod-web", ingress="internal-and-cloud-load-balancing"),
            "acme-prod-api": service(
                "acme-prod-api",
                ingress="internal-and-cloud-load-balancing",
                latest="acme-prod-api-v1",
                spec_traffic=[{"revisionName": "acme-prod-api-v1", "percent": 100, "tag": "blue"}],
                traffic=[{"revisionName": "acme-prod-api-v1", "percent": 100, "tag": "blue"}],
            ),
            "acme-prod-orders": service("acme-prod-orders", ingress="internal"),
        },
    }


def test_smoke_test_passes_for_a_stack_with_internal_services(tmp_path: Path) -> None:
    result, calls, _ = run(tmp_path, SMOKE, "prod", world=prod_like())
    assert result.returncode == 0, result.stdout + result.stderr
    described = [c.split()[4] for c in calls if c.startswith("gcloud run services describe")]
    assert described == ["acme-prod-web", "acme-prod-api", "acme-prod-orders"]
    # Only the load balancer's domain is called from the runner: internal services refuse internet requests.
    assert [c.split()[-1] for c in calls if c.startswith("curl")] == ["https://origin.example.com/health"]


def _retries(call: str) -> tuple[int, int, int | None]:
    """(retries, delay, maximum time) of a curl call, as curl would use them."""
    words = call.split()

    def option(name: str) -> int | None:
        return int(words[words.index(name) + 1]) if name in words else None

    return option("--retry") or 0, option("--retry-delay") or 0, option("--retry-max-time")


def test_smoke_test_waits_up_to_15_minutes_for_a_new_load_balancer(tmp_path: Path) -> None:
    # A new load balancer (or a new certificate) serves its domain only once the certificate is provisioned, which takes
    # minutes; services are checked with the usual few retries.
    result, calls, _ = run(tmp_path, SMOKE, "prod", world=prod_like())  # the defaults
    assert result.returncode == 0, result.stdout
    (balancer,) = [c for c in calls if c.startswith("curl") and "origin.example.com" in c]
    retries, delay, most = _retries(balancer)
    assert "--retry-all-errors" in balancer.split()
    assert most == 900
    assert retries * delay >= 900
    world = prod_like()
    world["services"]["acme-prod-web"] = service("acme-prod-web", ingress="all")
    world["public"] = ["acme-prod-web"]
    _, calls, _ = run(tmp_path, SMOKE, "prod", world=world)
    (web,) = [c for c in calls if c.startswith("curl") and "acme-prod-web" in c]
    assert _retries(web)[2] is None


def test_smoke_test_calls_public_services_and_fails_on_an_unhealthy_one(tmp_path: Path) -> None:
    world = {
        "config": CONFIG,
        "outputs": {"service_names": {"api": "acme-dev-api", "orders": "acme-dev-orders", "web": "acme-dev-web"}},
        "services": {
            "acme-dev-api": service("acme-dev-api", ingress="all"),
            "acme-dev-orders": service("acme-dev-orders", ingress="internal"),
            "acme-dev-web": service("acme-dev-web", ingress="all"),
        },
        "public": ["acme-dev-api", "acme-dev-web"],
        "unhealthy": ["acme-dev-web"],
    }
    result, calls, _ = run(tmp_path, SMOKE, "dev", world=world)
    assert result.returncode == 1
    assert "web at https://acme-dev-web-abc123-ew.a.run.app/health is not healthy" in result.stdout
    assert [c.split()[-1] for c in calls if c.startswith("curl")] == [
        "https://acme-dev-api-abc123-ew.a.run.app/health",
        "https://acme-dev-web-abc123-ew.a.run.app/health",
    ]


def test_smoke_test_fails_when_an_internal_service_latest_revision_is_not_ready(tmp_path: Path) -> None:
    world = prod_like()
    world["services"]["acme-prod-orders"] = service(
        "acme-prod-orders", ingress="internal", latest="acme-prod-orders-00003-new", ready_revision="acme-prod-orders-2"
    )
    result, _, _ = run(tmp_path, SMOKE, "prod", world=world)
    assert result.returncode == 1
    assert "orders (acme-prod-orders in europe-west1): its latest revision acme-prod-orders-00003-new is not Ready" in (
        result.stdout
    )


def test_smoke_test_fails_when_the_latest_revision_does_not_serve_its_share(tmp_path: Path) -> None:
    world = prod_like()
    world["services"]["acme-prod-orders"] = service(
        "acme-prod-orders",
        ingress="internal",
        latest="acme-prod-orders-00003-new",
        traffic=[{"revisionName": "acme-prod-orders-00002-old", "percent": 100}],
    )
    result, _, _ = run(tmp_path, SMOKE, "prod", world=world)
    assert result.returncode == 1
    assert "serves 0% of traffic, not 100%" in result.stdout


def test_smoke_test_accepts_a_candidate_revision_that_is_meant_to_serve_nothing(tmp_path: Path) -> None:
    world = prod_like()  # an app deploy in progress: the candidate is tagged with 0 %, its percent omitted
    world["services"]["acme-prod-orders"] = service(
        "acme-prod-orders",
        ingress="internal",
        latest="acme-prod-orders-00003-new",
        spec_traffic=[
            {"revisionName": "acme-prod-orders-00002-old", "percent": 100},
            {"revisionName": "acme-prod-orders-00003-new", "tag": "candidate"},
        ],
        traffic=[
            {"revisionName": "acme-prod-orders-00003-new", "tag": "candidate", "url": "https://candidate---x"},
            {"revisionName": "acme-prod-orders-00002-old", "percent": 100},
        ],
    )
    result, _, _ = run(tmp_path, SMOKE, "prod", world=world)
    assert result.returncode == 0, result.stdout


def test_smoke_test_checks_every_service_in_every_serving_region(tmp_path: Path) -> None:
    result, calls, _ = run(tmp_path, SMOKE, "prod", world=two_regions(prod_like()))
    assert result.returncode == 0, result.stdout + result.stderr
    described = [(c.split()[4], c.split()[8]) for c in calls if c.startswith("gcloud run services describe")]
    assert described == [
        (name, region)
        for name in ("acme-prod-web", "acme-prod-api", "acme-prod-orders")
        for region in ("europe-west1", "europe-west4")
    ]
    assert "Smoke test of prod passed (7 checks)." in result.stdout


def test_smoke_test_fails_when_the_second_regions_internal_service_is_unhealthy(tmp_path: Path) -> None:
    # The load balancer's domain answers from the healthy region: only the API check sees europe-west4's copy.
    world = two_regions(prod_like())
    world["regions"]["europe-west4"]["services"]["acme-prod-orders"] = service(
        "acme-prod-orders",
        ingress="internal",
        latest="acme-prod-orders-ez4-00003",
        ready_revision="acme-prod-orders-ez4-2",
    )
    result, _, _ = run(tmp_path, SMOKE, "prod", world=world)
    assert result.returncode == 1
    assert "orders (acme-prod-orders in europe-west4): its latest revision acme-prod-orders-ez4-00003 is not Ready" in (
        result.stdout
    )


def test_smoke_test_fails_when_a_serving_region_has_no_copy_of_a_service(tmp_path: Path) -> None:
    world = two_regions(prod_like())
    del world["regions"]["europe-west4"]["services"]["acme-prod-api"]
    result, _, _ = run(tmp_path, SMOKE, "prod", world=world)
    assert result.returncode == 1
    assert "api: gcloud run services describe acme-prod-api in europe-west4 failed" in result.stdout


def test_smoke_test_calls_each_regions_public_url(tmp_path: Path) -> None:
    world = two_regions(
        {
            "config": CONFIG,
            "outputs": {"service_names": {"web": "acme-dev-web"}},
            "services": {"acme-dev-web": service("acme-dev-web", ingress="all")},
            "public": ["acme-dev-web"],
            "unhealthy": ["acme-dev-web-abc123-ez4"],
        }
    )
    result, calls, _ = run(tmp_path, SMOKE, "dev", world=world)
    assert result.returncode == 1
    assert [c.split()[-1] for c in calls if c.startswith("curl")] == [
        "https://acme-dev-web-abc123-ew.a.run.app/health",
        "https://acme-dev-web-abc123-ez4.a.run.app/health",
    ]
    assert "web at https://acme-dev-web-abc123-ez4.a.run.app/health is not healthy" in result.stdout


def test_smoke_test_of_a_stack_without_serving_regions_checks_its_config_region(tmp_path: Path) -> None:
    # Older state has no serving_regions output: the stack's own region (platform:gcp.region) is the one checked.
    world = prod_like()
    assert "serving_regions" not in world["outputs"]
    result, calls, _ = run(tmp_path, SMOKE, "prod", world=world)
    assert result.returncode == 0, result.stdout
    assert {c.split()[8] for c in calls if c.startswith("gcloud run services describe")} == {"europe-west1"}
    assert "Smoke test of prod passed (4 checks)." in result.stdout


def test_smoke_test_fails_when_pulumi_cannot_read_the_outputs(tmp_path: Path) -> None:
    world = {**prod_like(), "pulumi_error": "could not read the state: googleapi: Error 403: permission denied"}
    result, calls, _ = run(tmp_path, SMOKE, "prod", world=world)
    assert result.returncode == 1
    assert "could not read the outputs of stack prod" in result.stdout
    assert not [c for c in calls if c.startswith(("gcloud", "curl"))]


def test_smoke_test_counts_only_missing_outputs_as_nothing_to_check(tmp_path: Path) -> None:
    result, calls, _ = run(tmp_path, SMOKE, "dev", world={"config": CONFIG, "outputs": {}})
    assert result.returncode == 0
    assert "Nothing to smoke test in dev" in result.stdout
    assert not [c for c in calls if c.startswith(("gcloud", "curl"))]


# --- Drift ---------------------------------------------------------------------------------------------------------

DRIFT = str(ROOT / ".github" / "scripts" / "drift.sh")


def drift(tmp_path: Path, world: dict[str, Any], **kwargs: Any) -> tuple[int, str, str]:
    summary = tmp_path / "summary.md"
    summary.write_text("")
    result, _, _ = run(tmp_path, DRIFT, "prod", world=world, env={"GITHUB_STEP_SUMMARY": str(summary)}, **kwargs)
    return result.returncode, summary.read_text(), result.stdout


def test_drift_passes_only_when_the_preview_succeeds_without_changes(tmp_path: Path) -> None:
    status, summary, _ = drift(tmp_path, {"preview_output": "Resources:\n    120 unchanged"})
    assert (status, summary.strip()) == (0, "No drift in stack prod.")


def test_drift_is_reported_when_the_preview_proposes_changes(tmp_path: Path) -> None:
    status, summary, stdout = drift(tmp_path, {"drifted": True, "preview_output": "~ gcp:sql/databaseInstance"})
    assert status == 1
    assert "## Stack `prod` has drifted" in summary
    assert "~ gcp:sql/databaseInstance" in summary
    assert "::error title=Drift in stack prod::" in stdout


@pytest.mark.parametrize(
    "world",
    [
        {"pulumi_error": "getting secrets manager: googleapi: Error 403: Permission 'cloudkms.cryptoKeys.decrypt'"},
        {"preview_error": "an unhandled error occurred: Program exited with non-zero exit code: 1"},
    ],
)
def test_drift_check_errors_fail_and_say_the_check_did_not_run(tmp_path: Path, world: dict[str, Any]) -> None:
    status, summary, stdout = drift(tmp_path, world)
    assert status == 1
    assert "The drift check of stack `prod` failed (pulumi preview exited 255)" in summary
    assert "::error title=Drift check failed in stack prod::" in stdout


def test_drift_fails_without_uv_on_path(tmp_path: Path) -> None:
    tools = tuple(t for t in fake_cli.TOOLS if t != "uv")
    status, summary, _ = drift(tmp_path, {}, tools=tools)
    assert status == 1
    assert "could not find `uv` on PATH" in summary


def _step_shell(step: dict[str, Any]) -> tuple[str, ...]:
    """The command GitHub's runner uses for a `run` step (unspecified: `bash -e {0}`, no pipefail)."""
    shell = step.get("shell")
    if shell is None:
        return ("bash", "-e")
    assert shell == "bash", shell
    return ("bash", "--noprofile", "--norc", "-eo", "pipefail")


def _run_step(tmp_path: Path, step: dict[str, Any], world: dict[str, Any], cwd: Path = ROOT) -> int:
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    summary = tmp_path / "summary.md"
    env = {"STACK": "prod", "GITHUB_STEP_SUMMARY": str(summary)}
    result, _, _ = run(tmp_path, str(script), world=world, env=env, command=_step_shell(step), cwd=cwd)
    return result.returncode


def test_the_drift_workflow_step_fails_when_pulumi_fails(tmp_path: Path) -> None:
    document = yaml.safe_load((ROOT / ".github" / "workflows" / "drift.yml").read_text())
    (step,) = [s for s in document["jobs"]["drift"]["steps"] if s.get("id") == "drift"]
    assert _run_step(tmp_path, step, {"pulumi_error": "failed to load checkpoint"}) == 1
    assert _run_step(tmp_path, step, {"drifted": True}) == 1
    assert _run_step(tmp_path, step, {}) == 0


def test_a_piped_preview_without_pipefail_hides_failures_from_the_step(tmp_path: Path) -> None:
    # The shape drift.yml had: this harness must be able to tell it passes whatever pulumi does.
    step = {
        "run": 'if pulumi preview --stack "$STACK" --expect-no-changes 2>&1 | tee drift.log; then exit 0; fi\nexit 1'
    }
    assert _run_step(tmp_path, step, {"pulumi_error": "failed to load checkpoint"}, cwd=tmp_path) == 0


# --- Deploy --------------------------------------------------------------------------------------------------------

DEPLOY = str(ROOT / ".github" / "scripts" / "deploy-stack.sh")
POLICY = "--policy-pack policy --policy-pack-config policy/config/dev.json"
JOB_URN = "urn:pulumi:dev::platform::platform:components:CloudRunService$gcp:cloudrunv2/job:Job::orders-migrations"
SERVICE_URN = "urn:pulumi:dev::platform::platform:components:CloudRunService$gcp:cloudrunv2/service:Service::orders"
NEW_JOB_URN = (
    "urn:pulumi:dev::platform::platform:components:CloudRunService$gcp:cloudrunv2/job:Job::analytics-migrations"
)
NEW_SERVICE_URN = (
    "urn:pulumi:dev::platform::platform:components:CloudRunService$gcp:cloudrunv2/service:Service::analytics"
)
DEV_CONFIG = {"platform:gcp.project": "acme-platform-dev", "platform:gcp.region": "europe-west1"}
DEV_WHERE = "--project acme-platform-dev --region europe-west1"
UP = f"pulumi up --refresh --yes --non-interactive {POLICY}"


def step(op: str, urn: str, name: str | None = None) -> dict[str, Any]:
    """A step of `pulumi preview --json`: its op, its URN and the resource's new state (inputs as the program sets
    them; a delete has none)."""
    found: dict[str, Any] = {"op": op, "urn": urn}
    if op != "delete":
        found["newState"] = {"urn": urn, "type": urn.split("$")[-1].split("::")[0], "inputs": {"name": name}}
    else:
        found["oldState"] = {"urn": urn, "inputs": {"name": name}}
    return found


def deploy_world(**world: Any) -> dict[str, Any]:
    return {
        "config": DEV_CONFIG,
        "outputs": {"migration_jobs": {"orders": "acme-dev-orders-migrate"}},
        "jobs": ["acme-dev-orders-migrate", "acme-dev-analytics-migrate"],  # what exists once the update has run
        **world,
    }


def changes(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith(("pulumi up", "gcloud run jobs execute"))]


def test_migrations_run_after_the_job_update_and_before_services_take_traffic(tmp_path: Path) -> None:
    plan = {
        "steps": [step("update", JOB_URN, "acme-dev-orders-migrate"), step("update", SERVICE_URN, "acme-dev-orders")]
    }
    result, calls, _ = run(tmp_path, DEPLOY, "dev", world=deploy_world(preview_json=plan))
    assert result.returncode == 0, result.stderr
    assert changes(calls) == [
        f"{UP} --exclude {SERVICE_URN} --exclude-dependents",
        f"gcloud run jobs execute acme-dev-orders-migrate {DEV_WHERE} --wait",
        UP,
    ]


def test_every_preview_and_update_refreshes_first(tmp_path: Path) -> None:
    plan = {
        "steps": [step("update", JOB_URN, "acme-dev-orders-migrate"), step("update", SERVICE_URN, "acme-dev-orders")]
    }
    _, calls, _ = run(tmp_path, DEPLOY, "dev", world=deploy_world(preview_json=plan))
    runs = [c for c in calls if c.startswith(("pulumi preview", "pulumi up"))]
    assert len(runs) == 3
    assert all("--refresh" in c.split() for c in runs)


def test_a_deploy_without_job_changes_is_one_update(tmp_path: Path) -> None:
    plan = {"steps": [step("same", JOB_URN, "acme-dev-orders-migrate"), step("update", SERVICE_URN, "acme-dev-orders")]}
    result, calls, _ = run(tmp_path, DEPLOY, "dev", world=deploy_world(preview_json=plan))
    assert result.returncode == 0, result.stderr
    assert changes(calls) == [UP]


def test_the_first_deploy_runs_its_new_jobs_before_its_services_exist(tmp_path: Path) -> None:
    plan = {
        "steps": [step("create", JOB_URN, "acme-dev-orders-migrate"), step("create", SERVICE_URN, "acme-dev-orders")]
    }
    world = deploy_world(outputs={}, preview_json=plan)
    result, calls, _ = run(tmp_path, DEPLOY, "dev", world=world)
    assert result.returncode == 0, result.stderr
    assert changes(calls) == [
        f"{UP} --exclude {SERVICE_URN} --exclude-dependents",
        f"gcloud run jobs execute acme-dev-orders-migrate {DEV_WHERE} --wait",
        UP,
    ]


def test_a_migrations_job_added_to_a_stack_that_has_one_runs_before_traffic(tmp_path: Path) -> None:
    # analytics gains `migrations:`: its new job (and its account and grants) is created and run while the services
    # still serve their old revisions; the unchanged orders job is not run.
    plan = {
        "steps": [
            step("same", JOB_URN, "acme-dev-orders-migrate"),
            step("create", NEW_JOB_URN, "acme-dev-analytics-migrate"),
            step("update", NEW_SERVICE_URN, "acme-dev-analytics"),
        ]
    }
    result, calls, _ = run(tmp_path, DEPLOY, "dev", world=deploy_world(preview_json=plan))
    assert result.returncode == 0, result.stderr
    assert changes(calls) == [
        f"{UP} --exclude {NEW_SERVICE_URN} --exclude-dependents",
        f"gcloud run jobs execute acme-dev-analytics-migrate {DEV_WHERE} --wait",
        UP,
    ]


def test_a_migrations_job_the_update_deletes_is_never_run(tmp_path: Path) -> None:
    plan = {
        "steps": [step("delete", JOB_URN, "acme-dev-orders-migrate"), step("update", SERVICE_URN, "acme-dev-orders")]
    }
    world = deploy_world(preview_json=plan, jobs=[])  # gone once the update has run
    result, calls, _ = run(tmp_path, DEPLOY, "dev", world=world)
    assert result.returncode == 0, result.stderr
    assert changes(calls) == [UP]


def test_jobs_that_change_without_a_service_run_after_the_update(tmp_path: Path) -> None:
    plan = {"steps": [step("update", JOB_URN, "acme-dev-orders-migrate")]}
    result, calls, _ = run(tmp_path, DEPLOY, "dev", world=deploy_world(preview_json=plan))
    assert result.returncode == 0, result.stderr
    assert changes(calls) == [UP, f"gcloud run jobs execute acme-dev-orders-migrate {DEV_WHERE} --wait"]


def test_a_deploy_stops_when_the_stack_config_cannot_be_read(tmp_path: Path) -> None:
    result, calls, _ = run(tmp_path, DEPLOY, "dev", world=deploy_world(pulumi_error="failed to load checkpoint"))
    assert result.returncode != 0
    assert changes(calls) == []


def test_a_policy_violation_in_the_preview_stops_the_deploy_before_any_update(tmp_path: Path) -> None:
    world = deploy_world(preview_error="preview failed: 1 mandatory policy violation")
    result, calls, _ = run(tmp_path, DEPLOY, "dev", world=world)
    assert result.returncode != 0
    assert changes(calls) == []


def test_a_policy_violation_is_named_in_the_deploy_log(tmp_path: Path) -> None:
    # `pulumi preview --json` leaves policy events out: the log must still say which policy stopped the deploy.
    world = deploy_world(policy_violation="buckets-are-private: bucket acme-dev-assets allows public access")
    result, calls, _ = run(tmp_path, DEPLOY, "dev", world=world)
    assert result.returncode == 1
    assert "buckets-are-private: bucket acme-dev-assets allows public access" in result.stdout
    assert changes(calls) == []


def test_a_deploy_without_uv_on_path_stops_at_the_preview(tmp_path: Path) -> None:
    tools = tuple(t for t in fake_cli.TOOLS if t != "uv")
    result, calls, _ = run(tmp_path, DEPLOY, "dev", world=deploy_world(), tools=tools)
    assert result.returncode != 0
    assert "could not find `uv` on PATH" in result.stderr + result.stdout
    assert changes(calls) == []


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_no_migrations_job_waits_for_a_cloud_run_service(stack: str) -> None:
    # The deploy updates everything but the changed services and their dependents before it runs the jobs: a job
    # that depended on a service would be left out of that update too.
    program = program_of(stack)
    services = program.of("gcp:cloudrunv2/service:Service")
    for job in program.of("gcp:cloudrunv2/job:Job"):
        assert not [s.name for s in services if program.depends_on(job, s)], job.name


# --- Rollback ------------------------------------------------------------------------------------------------------

ROLLBACK = str(ROOT / ".github" / "scripts" / "rollback.sh")


def rollback_world() -> dict[str, Any]:
    name = "acme-prod-orders"
    return {
        "config": CONFIG,
        "outputs": {"service_names": {"orders": name}},
        "services": {
            name: service(
                name,
                ingress="internal",
                latest=f"{name}-00004",
                # A tagged 0 % candidate comes first; the revision serving 100 % is the second entry.
                traffic=[
                    {"revisionName": f"{name}-00004", "tag": "candidate", "url": "https://candidate---x"},
                    {"revisionName": f"{name}-00003", "percent": 100},
                    {"revisionName": f"{name}-00001", "tag": "blue", "url": "https://blue---x"},
                ],
            )
        },
        "revisions": {
            name: [
                revision(f"{name}-00001", "2026-11-01T10:00:00Z", ready="True"),
                revision(f"{name}-00002", "2026-11-02T10:00:00Z", ready="False"),  # other conditions are True
                revision(f"{name}-00003", "2026-11-03T10:00:00Z", ready="True"),
                revision(f"{name}-00004", "2026-11-04T10:00:00Z", ready="True"),
            ]
        },
    }


def test_rollback_leaves_the_revision_serving_most_traffic_for_the_newest_older_ready_one(tmp_path: Path) -> None:
    result, calls, _ = run(tmp_path, ROLLBACK, "prod", "orders", "", world=rollback_world())
    assert result.returncode == 0, result.stderr
    # Serving: 00003 (100 %), not the tagged 00004 listed first; 00002 is not Ready by its own condition.
    assert [c for c in calls if "update-traffic" in c] == [
        f"gcloud run services update-traffic acme-prod-orders {WHERE} --to-revisions acme-prod-orders-00001=100"
    ]


def test_rollback_goes_back_to_the_revision_the_last_app_deploy_replaced_not_an_abandoned_candidate(
    tmp_path: Path,
) -> None:
    """A deploy whose check failed left 00004 Ready at 0 %; the next deploy moved 00005 in and tagged 00003, which it
    replaced, `previous`. The newest Ready revision older than 00005 is the abandoned 00004, which never served."""
    world = rollback_world()
    name = "acme-prod-orders"
    world["services"][name]["status"]["traffic"] = [
        {"revisionName": f"{name}-00005", "percent": 100},
        {"revisionName": f"{name}-00003", "tag": "previous", "url": "https://previous---x"},
    ]
    world["revisions"][name].append(revision(f"{name}-00005", "2026-11-05T10:00:00Z", ready="True"))
    result, calls, world = run(tmp_path, ROLLBACK, "prod", "orders", "", world=world)
    assert result.returncode == 0, result.stderr
    assert [c for c in calls if "update-traffic" in c] == [
        f"gcloud run services update-traffic {name} {WHERE} --to-tags previous=100"
    ]
    assert serving(world, "europe-west1", name) == [f"{name}-00003"]


def test_rollback_refuses_a_named_revision_that_is_not_ready(tmp_path: Path) -> None:
    result, calls, _ = run(tmp_path, ROLLBACK, "prod", "orders", "acme-prod-orders-00002", world=rollback_world())
    assert result.returncode == 1
    assert "revision acme-prod-orders-00002 is not Ready" in result.stderr
    assert not [c for c in calls if "update-traffic" in c]


def test_rollback_to_a_traffic_tag(tmp_path: Path) -> None:
    result, calls, world = run(tmp_path, ROLLBACK, "prod", "orders", "blue", world=rollback_world())
    assert result.returncode == 0, result.stderr
    assert [c for c in calls if "update-traffic" in c] == [
        f"gcloud run services update-traffic acme-prod-orders {WHERE} --to-tags blue=100"
    ]
    assert serving(world, "europe-west1", "acme-prod-orders") == ["acme-prod-orders-00001"]


def test_rollback_refuses_a_tag_the_service_does_not_have(tmp_path: Path) -> None:
    result, calls, _ = run(tmp_path, ROLLBACK, "prod", "orders", "green", world=rollback_world())
    assert result.returncode == 1
    assert "acme-prod-orders in europe-west1 has no revision or traffic tag 'green'" in result.stderr
    assert not [c for c in calls if "update-traffic" in c]


def serving(world: dict[str, Any], region: str, name: str) -> list[str]:
    """The revisions a service's copy in `region` sends traffic to, as the world holds it after the calls."""
    where = world if region == "europe-west1" else world["regions"][region]
    return [t["revisionName"] for t in where["services"][name]["status"]["traffic"] if t.get("percent")]


def test_rollback_rolls_back_every_serving_region_to_its_own_previous_revision(tmp_path: Path) -> None:
    # Each region's copy names its revisions itself: europe-west4's previous revision is its own 00001.
    result, calls, world = run(tmp_path, ROLLBACK, "prod", "orders", "", world=two_regions(rollback_world()))
    assert result.returncode == 0, result.stderr
    assert [c for c in calls if "update-traffic" in c] == [
        f"gcloud run services update-traffic acme-prod-orders {WHERE} --to-revisions acme-prod-orders-00001=100",
        "gcloud run services update-traffic acme-prod-orders --project acme-platform-prod --region europe-west4"
        " --to-revisions acme-prod-orders-ez4-00001=100",
    ]
    assert serving(world, "europe-west1", "acme-prod-orders") == ["acme-prod-orders-00001"]
    assert serving(world, "europe-west4", "acme-prod-orders") == ["acme-prod-orders-ez4-00001"]


def test_rollback_to_a_tag_moves_every_region_to_the_revision_the_tag_names_there(tmp_path: Path) -> None:
    result, _, world = run(tmp_path, ROLLBACK, "prod", "orders", "blue", world=two_regions(rollback_world()))
    assert result.returncode == 0, result.stderr
    assert serving(world, "europe-west1", "acme-prod-orders") == ["acme-prod-orders-00001"]
    assert serving(world, "europe-west4", "acme-prod-orders") == ["acme-prod-orders-ez4-00001"]


def test_rollback_moves_no_traffic_when_a_region_has_no_such_revision(tmp_path: Path) -> None:
    # A Cloud Run-picked revision name exists in one region only: refused before any region changes.
    world = two_regions(rollback_world())
    result, calls, _ = run(tmp_path, ROLLBACK, "prod", "orders", "acme-prod-orders-00001", world=world)
    assert result.returncode == 1
    assert "acme-prod-orders in europe-west4 has no revision or traffic tag 'acme-prod-orders-00001'" in result.stderr
    assert not [c for c in calls if "update-traffic" in c]


def test_rollback_refuses_a_tag_whose_revision_is_not_ready_in_a_region(tmp_path: Path) -> None:
    world = two_regions(rollback_world())
    world["regions"]["europe-west4"]["revisions"]["acme-prod-orders"][0] = revision(
        "acme-prod-orders-ez4-00001", "2026-11-01T10:00:00Z", ready="False"
    )
    result, calls, _ = run(tmp_path, ROLLBACK, "prod", "orders", "blue", world=world)
    assert result.returncode == 1
    assert "revision acme-prod-orders-ez4-00001 (tag blue) is not Ready in europe-west4" in result.stderr
    assert not [c for c in calls if "update-traffic" in c]


def test_rollback_finishes_the_other_regions_when_one_fails_and_says_how_to_finish(tmp_path: Path) -> None:
    world = {**two_regions(rollback_world()), "update_traffic_fails": ["europe-west1"]}
    result, _, world = run(tmp_path, ROLLBACK, "prod", "orders", "", world=world)
    assert result.returncode == 1
    assert serving(world, "europe-west1", "acme-prod-orders") == ["acme-prod-orders-00003"]
    assert serving(world, "europe-west4", "acme-prod-orders") == ["acme-prod-orders-ez4-00001"]
    assert (
        f"  gcloud run services update-traffic acme-prod-orders {WHERE} --to-revisions acme-prod-orders-00001=100\n"
        in result.stderr
    )
    assert "rolled back in 1 of 2 regions" in result.stderr


def test_rollback_fails_when_the_service_is_not_in_the_stack(tmp_path: Path) -> None:
    result, _, _ = run(tmp_path, ROLLBACK, "prod", "billing", "", world=rollback_world())
    assert result.returncode == 1
    assert "no service 'billing' in the service_names of stack prod" in result.stderr


# --- The app deploy example ----------------------------------------------------------------------------------------

APP_DEPLOY = str(ROOT / "examples" / "app-deploy.sh")
STAGING_WHERE = "--project acme-platform-staging --region europe-west1"
STAGING_WEST4 = "--project acme-platform-staging --region europe-west4"
REPOSITORY = "europe-west1-docker.pkg.dev/acme-platform-staging/apps"
DIGEST = "sha256:" + "4f" * 32


def app_world(ingress: str = "internal") -> dict[str, Any]:
    """Staging's app-owned services right after `gcloud run deploy --no-traffic --tag candidate`: the candidate revision
    00002 serves nothing, at its tag URL `https://candidate---HOST` (a run.app host, as Cloud Run names it). The
    registry holds the release `1.2.3` of each image, at DIGEST."""
    names = ("acme-staging-orders", "acme-staging-analytics")
    return {
        "config": {
            "platform:gcp.project": "acme-platform-staging",
            "platform:gcp.region": "europe-west1",
            "platform:services.orders.deploy_mode": "app",
            "platform:services.analytics.deploy_mode": "app",
        },
        "images": {f"{REPOSITORY}/{image}:1.2.3": DIGEST for image in ("orders", "analytics")},
        "outputs": {
            "image_repository": REPOSITORY,
            "service_names": {
                "api": "acme-staging-api",
                "orders": "acme-staging-orders",
                "analytics": "acme-staging-analytics",
            },
            "migration_jobs": {"orders": "acme-staging-orders-migrate"},
            "migration_job_name": "acme-staging-orders-migrate",
        },
        "services": {
            name: service(
                name,
                ingress=ingress,
                latest=f"{name}-00002",
                traffic=[
                    {
                        "revisionName": f"{name}-00002",
                        "tag": "candidate",
                        "url": f"https://candidate---{name}-abc123-ew.a.run.app",
                    },
                    {"revisionName": f"{name}-00001", "percent": 100},
                ],
            )
            for name in names
        },
        "revisions": {
            name: [
                revision(f"{name}-00001", "2026-11-20T10:00:00Z", ready="True"),
                revision(f"{name}-00002", "2026-11-22T10:00:00Z", ready="True"),
            ]
            for name in names
        },
    }


def test_the_app_deploy_migrates_the_owning_service_and_checks_the_candidate(tmp_path: Path) -> None:
    # orders has ingress `internal`: every run.app URL of it, the candidate's tag URL included, refuses the internet,
    # so the candidate is checked through the Cloud Run API (its revision's own Ready condition), never with curl.
    result, calls, _ = run(tmp_path, APP_DEPLOY, "staging", "orders", "1.2.3", world=app_world())
    assert result.returncode == 0, result.stderr
    image = f"{REPOSITORY}/orders@{DIGEST}"  # the release's tag, resolved once
    steps = [c for c in calls if not c.startswith(("pulumi", "gcloud artifacts"))]
    assert steps == [
        f"gcloud run jobs update acme-staging-orders-migrate {STAGING_WHERE} --image {image}",
        f"gcloud run jobs execute acme-staging-orders-migrate {STAGING_WHERE} --wait",
        f"gcloud run deploy acme-staging-orders {STAGING_WHERE} --image {image} --no-traffic --tag candidate",
        f"gcloud run services describe acme-staging-orders {STAGING_WHERE} --format json",
        f"gcloud run revisions describe acme-staging-orders-00002 {STAGING_WHERE} --format json",
        f"gcloud run services describe acme-staging-orders {STAGING_WHERE} --format json",
        f"gcloud run services update-traffic acme-staging-orders {STAGING_WHERE}"
        " --to-latest --update-tags previous=acme-staging-orders-00001",
    ]


def test_the_app_deploy_starts_every_regions_copy_on_the_same_digest_before_moving_traffic(tmp_path: Path) -> None:
    # The migrations job lives in the stack's region and runs once; each region's copy gets the digest the tag named
    # when the deploy began, and traffic moves only once every region's candidate is Ready.
    result, calls, world = run(tmp_path, APP_DEPLOY, "staging", "orders", "1.2.3", world=two_regions(app_world()))
    assert result.returncode == 0, result.stderr
    image = f"{REPOSITORY}/orders@{DIGEST}"
    assert [c for c in calls if c.startswith("gcloud artifacts")] == [
        f"gcloud artifacts docker images describe {REPOSITORY}/orders:1.2.3 --format value(image_summary.digest)"
    ]
    steps = [c for c in calls if not c.startswith(("pulumi", "gcloud artifacts"))]
    assert steps == [
        f"gcloud run jobs update acme-staging-orders-migrate {STAGING_WHERE} --image {image}",
        f"gcloud run jobs execute acme-staging-orders-migrate {STAGING_WHERE} --wait",
        f"gcloud run deploy acme-staging-orders {STAGING_WHERE} --image {image} --no-traffic --tag candidate",
        f"gcloud run services describe acme-staging-orders {STAGING_WHERE} --format json",
        f"gcloud run revisions describe acme-staging-orders-00002 {STAGING_WHERE} --format json",
        f"gcloud run deploy acme-staging-orders {STAGING_WEST4} --image {image} --no-traffic --tag candidate",
        f"gcloud run services describe acme-staging-orders {STAGING_WEST4} --format json",
        f"gcloud run revisions describe acme-staging-orders-ez4-00002 {STAGING_WEST4} --format json",
        f"gcloud run services describe acme-staging-orders {STAGING_WHERE} --format json",
        f"gcloud run services update-traffic acme-staging-orders {STAGING_WHERE}"
        " --to-latest --update-tags previous=acme-staging-orders-00001",
        f"gcloud run services describe acme-staging-orders {STAGING_WEST4} --format json",
        f"gcloud run services update-traffic acme-staging-orders {STAGING_WEST4}"
        " --to-latest --update-tags previous=acme-staging-orders-ez4-00001",
    ]
    assert serving(world, "europe-west1", "acme-staging-orders") == ["acme-staging-orders-00002"]
    assert serving(world, "europe-west4", "acme-staging-orders") == ["acme-staging-orders-ez4-00002"]


def test_the_app_deploy_moves_traffic_to_latest_only_while_latest_is_the_checked_candidate(tmp_path: Path) -> None:
    """Traffic follows LATEST (a pinned split would keep every later revision at 0 %), so a revision created after the
    candidate was checked stops the deploy before any traffic moves."""
    world = app_world()
    name = "acme-staging-orders"
    world["services"][name]["status"]["latestCreatedRevisionName"] = f"{name}-00003"
    result, calls, world = run(tmp_path, APP_DEPLOY, "staging", "orders", "1.2.3", world=world)
    assert result.returncode == 1
    assert f"{name}-00003 was created in europe-west1 after the candidate {name}-00002 was checked" in result.stderr
    assert [c for c in calls if "update-traffic" in c] == []
    assert serving(world, "europe-west1", name) == [f"{name}-00001"]


def test_the_app_deploy_moves_no_traffic_when_the_second_regions_candidate_is_not_ready(tmp_path: Path) -> None:
    world = two_regions(app_world())
    world["regions"]["europe-west4"]["revisions"]["acme-staging-orders"][1] = revision(
        "acme-staging-orders-ez4-00002", "2026-11-22T10:00:00Z", ready="False"
    )
    result, calls, world = run(tmp_path, APP_DEPLOY, "staging", "orders", "1.2.3", world=world)
    assert result.returncode == 1
    assert "candidate revision acme-staging-orders-ez4-00002 is not Ready in europe-west4" in result.stderr
    assert "No region's traffic has moved" in result.stderr
    assert "a Ready candidate at 0 % waits in: europe-west1" in result.stderr
    assert not [c for c in calls if "update-traffic" in c]
    assert serving(world, "europe-west1", "acme-staging-orders") == ["acme-staging-orders-00001"]


def test_the_app_deploy_fails_and_says_where_traffic_moved_when_a_region_refuses_it(tmp_path: Path) -> None:
    world = {**two_regions(app_world()), "update_traffic_fails": ["europe-west4"]}
    result, _, world = run(tmp_path, APP_DEPLOY, "staging", "orders", "1.2.3", world=world)
    assert result.returncode == 1
    assert serving(world, "europe-west1", "acme-staging-orders") == ["acme-staging-orders-00002"]
    assert serving(world, "europe-west4", "acme-staging-orders") == ["acme-staging-orders-ez4-00001"]
    assert f"orders serves {REPOSITORY}/orders@{DIGEST} in europe-west1, but traffic did not move in europe-west4" in (
        result.stderr
    )
    assert "run the same deploy again to finish" in result.stderr
    # Undoing it means the regions that moved, each back to what it served (not rollback.yml without a revision, which
    # would take the region that did not move one revision further back).
    assert (
        f"  gcloud run services update-traffic acme-staging-orders {STAGING_WHERE} "
        "--to-revisions acme-staging-orders-00001=100\n"
    ) in result.stderr
    assert "--region europe-west4 --to-revisions" not in result.stderr


def test_the_app_deploy_stops_before_migrating_when_the_tag_is_not_in_the_registry(tmp_path: Path) -> None:
    result, calls, _ = run(tmp_path, APP_DEPLOY, "staging", "orders", "9.9.9", world=two_regions(app_world()))
    assert result.returncode == 1
    assert "Image not found" in result.stderr
    assert not [c for c in calls if c.startswith("gcloud run")]


def test_the_app_deploy_keeps_traffic_when_the_candidate_revision_is_not_ready(tmp_path: Path) -> None:
    world = app_world()
    world["revisions"]["acme-staging-orders"][1] = revision("acme-staging-orders-00002", "2026-11-22", ready="False")
    result, calls, _ = run(tmp_path, APP_DEPLOY, "staging", "orders", "1.2.3", world=world)
    assert result.returncode == 1
    assert "candidate revision acme-staging-orders-00002 is not Ready" in result.stderr
    assert not [c for c in calls if "update-traffic" in c]


def test_the_app_deploy_calls_a_public_candidate_at_its_tag_url(tmp_path: Path) -> None:
    world = {**app_world(ingress="all"), "public": ["acme-staging-orders"]}
    world["config"]["platform:services.orders.public"] = "true"
    result, calls, _ = run(tmp_path, APP_DEPLOY, "staging", "orders", "1.2.3", world=world)
    assert result.returncode == 0, result.stderr
    (get,) = [c for c in calls if c.startswith("curl")]
    assert get.endswith(" https://candidate---acme-staging-orders-abc123-ew.a.run.app/health")
    assert "Authorization" not in get
    assert not [c for c in calls if "print-identity-token" in c]


def test_the_app_deploy_calls_a_private_candidate_with_an_identity_token_for_the_service(tmp_path: Path) -> None:
    world = {**app_world(ingress="all"), "identity_token": "id-token-for-test"}
    result, calls, _ = run(tmp_path, APP_DEPLOY, "staging", "orders", "1.2.3", world=world)
    assert result.returncode == 0, result.stderr
    assert "gcloud auth print-identity-token --audiences=https://acme-staging-orders-abc123-ew.a.run.app" in calls
    (get,) = [c for c in calls if c.startswith("curl")]
    assert "-H Authorization: Bearer id-token-for-test" in get
    # Without a token Cloud Run's IAM check refuses the call, and the candidate is not promoted.
    result, calls, _ = run(tmp_path, APP_DEPLOY, "staging", "orders", "1.2.3", world=app_world(ingress="all"))
    assert result.returncode != 0
    assert not [c for c in calls if "update-traffic" in c]


def test_the_fake_curl_refuses_every_run_app_host_of_a_service_whose_ingress_is_not_all(tmp_path: Path) -> None:
    world = {**app_world(), "public": ["acme-staging-orders"]}
    urls = {
        "https://acme-staging-orders-abc123-ew.a.run.app/health": 22,
        "https://candidate---acme-staging-orders-abc123-ew.a.run.app/health": 22,
        "https://unknown-abc123-ew.a.run.app/health": 22,
        "https://origin.example.com/health": 0,
    }
    for url, code in urls.items():
        script = tmp_path / "get.sh"
        script.write_text(f"curl --fail --silent {url}\n")
        result, _, _ = run(tmp_path, str(script), world=world)
        assert result.returncode == code, url


def test_the_app_deploy_of_a_service_without_migrations_runs_no_job(tmp_path: Path) -> None:
    result, calls, _ = run(tmp_path, APP_DEPLOY, "staging", "analytics", "1.2.3", world=app_world())
    assert result.returncode == 0, result.stderr
    assert not [c for c in calls if c.startswith("gcloud run jobs")]
    assert "gcloud run services update-traffic acme-staging-analytics" in "\n".join(calls)


def test_the_app_deploy_refuses_a_service_pulumi_deploys(tmp_path: Path) -> None:
    result, calls, _ = run(tmp_path, APP_DEPLOY, "staging", "api", "1.2.3", world=app_world())
    assert result.returncode == 2
    assert "refusing: api in staging is deployed by Pulumi" in result.stderr
    assert not [c for c in calls if c.startswith("gcloud")]


# --- The restore rehearsal -----------------------------------------------------------------------------------------

VERIFY = str(ROOT / "scripts" / "verify-recovery.sh")
EXPORTS = "gs://acme-staging-backups/cloudsql/acme-staging-pg/app/"


def verify_world(**world: Any) -> dict[str, Any]:
    return {
        "outputs": {
            "backup_bucket": "acme-staging-backups",
            "recovery_objectives": {"rto_minutes": 240},
            "database_connection_name": "acme-platform-staging:europe-west1:acme-staging-pg",
            "database_names": ["app"],
            "database_users": {"app": "app"},
            "database_password_secret_ids": {"app": "acme-staging-db-app-password"},
        },
        "instances": {"acme-staging-pg": {"deletion_protection": True}},
        "objects": [
            f"{EXPORTS}20261121T020000Z.sql.gz",
            f"{EXPORTS}20261122T020000Z.sql.gz",
            f"{EXPORTS}20261120T020000Z.sql.gz",
            "gs://acme-staging-backups/cloudsql/acme-staging-pg/app-other/20261123T020000Z.sql.gz",
        ],
        **world,
    }


def verify(tmp_path: Path, world: dict[str, Any]) -> tuple[subprocess.CompletedProcess[str], list[str], Any]:
    return run(tmp_path, VERIFY, "staging", world=world, env={"PROXY_WAIT": "0", "PROXY_PORT": "55999"})


def test_the_rehearsal_imports_the_newest_export_and_deletes_its_protected_clone(tmp_path: Path) -> None:
    result, calls, world = verify(tmp_path, verify_world())
    assert result.returncode == 0, result.stdout + result.stderr
    (imported,) = [c for c in calls if c.startswith("gcloud sql import sql")]
    assert f"{EXPORTS}20261122T020000Z.sql.gz" in imported.split()
    clone = next(c.split()[5] for c in calls if c.startswith("gcloud sql instances clone"))
    patch = calls.index(
        f"gcloud sql instances patch {clone} --no-deletion-protection --project acme-platform-staging --quiet"
    )
    assert calls.index(f"gcloud sql instances delete {clone} --project acme-platform-staging --quiet") > patch
    assert set(world["instances"]) == {"acme-staging-pg"}


def test_the_rehearsal_fails_loudly_when_the_clone_cannot_be_deleted(tmp_path: Path) -> None:
    result, _, world = verify(tmp_path, verify_world(delete_fails=True))
    assert result.returncode == 1
    assert "could not delete the clone" in result.stderr
    assert len(world["instances"]) == 2


def test_the_rehearsal_stops_when_there_is_no_export(tmp_path: Path) -> None:
    result, calls, _ = verify(tmp_path, verify_world(objects=[]))
    assert result.returncode == 1
    assert f"no export under {EXPORTS}" in result.stderr
    assert not [c for c in calls if c.startswith("gcloud sql instances clone")]


# --- uv on PATH ----------------------------------------------------------------------------------------------------


def test_the_setup_step_puts_only_the_pinned_uv_on_path(tmp_path: Path) -> None:
    checkout, runner_temp = tmp_path / "checkout", tmp_path / "runner"
    checkout.mkdir()
    runner_temp.mkdir()
    github_path = tmp_path / "github_path"
    github_path.write_text("")
    script = str(ROOT / ".github" / "scripts" / "uv-on-path.sh")
    env = {"RUNNER_TEMP": str(runner_temp), "GITHUB_PATH": str(github_path)}
    result, calls, _ = run(tmp_path, script, world={}, tools=("make",), cwd=checkout, env=env)
    assert result.returncode == 0, result.stderr
    assert calls[0] == "make setup"
    (added,) = github_path.read_text().splitlines()
    assert sorted(os.listdir(added)) == ["uv"]
    version = subprocess.run(
        [f"{added}/uv", "--version"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "FAKE_WORLD": str(tmp_path / "world.json")},
    )
    assert version.stdout.strip() == "uv 0.13.8"
