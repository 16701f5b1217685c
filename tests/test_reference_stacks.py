"""The reference stacks hold what their seeds ask for (shared/seeds; docs/seeds.md maps every requirement): the
warehouse platform's alerts, budget and cost plan, DreamAngo's HIPAA controls, Bro AI's recovery targets. Each runs
the same program as the main stacks; only its stack file differs. Bro AI's private cluster: tests/test_gke.py."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path
from typing import Any

import pytest
import yaml

import stack_config
from components.internal_tools import OAUTH_SECRET_KEY
from offline.engine import Recording, run
from offline.estimate import cost, report
from tests.conftest import ALL_STACKS, REFERENCE_STACKS, config_of, program_of, raw_config
from tests.test_bootstrap import _roles as bootstrap_roles
from tests.test_bootstrap import roles_missing
from tests.test_encryption import assert_key, keys

ROOT = Path(__file__).resolve().parent.parent
SEEDS = (ROOT / "docs" / "seeds.md").read_text()
DREAMANGO = ("dreamango-staging", "dreamango-prod")
BUDGET = "gcp:billing/budget:Budget"
BUCKET = "gcp:storage/bucket:Bucket"
SECRET = "gcp:secretmanager/secret:Secret"
POOL_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"


def threshold(stack: str, alert: str) -> dict[str, Any]:
    (condition,) = program_of(stack).named(f"observability-{alert}").inputs["conditions"]
    return dict(condition["conditionThreshold"])


def test_every_stack_file_is_a_stack_the_suite_plans() -> None:
    files = {p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml")}
    assert files == set(ALL_STACKS)


# --- the warehouse platform (seed 003) --------------------------------------------------------------------------------


def test_warehouse_alerts_on_cpu_above_80_percent_for_5_minutes_and_on_1_percent_of_5xx() -> None:
    cpu = threshold("warehouse", "web-cpu")
    assert (cpu["thresholdValue"], cpu["duration"], cpu["comparison"]) == (0.8, "300s", "COMPARISON_GT")
    errors = threshold("warehouse", "web-5xx-ratio")
    assert (errors["thresholdValue"], errors["duration"]) == (0.01, "300s")
    assert 'response_code_class="5xx"' in errors["filter"]


def test_warehouse_checks_its_site_every_minute_from_several_regions() -> None:
    check = program_of("warehouse").named("observability-web-uptime").inputs
    assert check["period"] == "60s"
    assert len(set(check["selectedRegions"])) >= 3
    assert check["monitoredResource"]["labels"]["host"].endswith(".run.app")  # the URL the site is served on


def test_warehouse_budget_alerts_at_50_and_90_percent() -> None:
    budget = program_of("warehouse").one(BUDGET)
    assert [(r["thresholdPercent"], r["spendBasis"]) for r in budget.inputs["thresholdRules"]] == [
        (0.5, "CURRENT_SPEND"),
        (0.9, "CURRENT_SPEND"),
    ]
    assert budget.inputs["amount"]["specifiedAmount"] == {"currencyCode": "USD", "units": "150"}  # its cost ceiling


def test_warehouse_runs_one_public_service_on_the_seeds_data_tier() -> None:
    program = program_of("warehouse")
    (service,) = program.of("gcp:cloudrunv2/service:Service")
    assert service.inputs["location"] == "us-central1"
    assert service.inputs["ingress"] == "INGRESS_TRAFFIC_ALL"
    assert program.one("gcp:cloudrunv2/serviceIamMember:ServiceIamMember", member="allUsers")
    assert program.named("database-primary").inputs["settings"]["tier"] == "db-f1-micro"
    assert program.named("redis-instance").inputs["memorySizeGb"] == 1
    assert not program.of("gcp:compute/globalForwardingRule:GlobalForwardingRule")  # served on its run.app URL


def test_warehouse_reads_its_measurement_id_from_secret_manager() -> None:
    program = program_of("warehouse")
    secret = program.named("app-secrets-ga_measurement_id-secret")
    (container,) = program.named("web-service").inputs["template"]["containers"]
    (env,) = [e for e in container["envs"] if e["name"] == "GA_MEASUREMENT_ID"]
    assert env == {
        "name": "GA_MEASUREMENT_ID",
        "valueSource": {"secretKeyRef": {"secret": secret.outputs["id"], "version": "latest"}},
    }


def test_warehouse_stops_its_database_out_of_hours() -> None:
    program = program_of("warehouse")
    start, stop = program.named("database-schedule-start").inputs, program.named("database-schedule-stop").inputs
    assert (start["schedule"], stop["schedule"]) == ("0 7 * * 1,2,3,4,5,6,0", "0 21 * * 1,2,3,4,5,6,0")
    assert start["timeZone"] == stop["timeZone"] == "America/Chicago"
    assert start["httpTarget"]["uri"].endswith(program.named("database-primary").inputs["name"])


def test_warehouse_hands_its_service_to_the_apps_own_deploys() -> None:
    assert config_of("warehouse").services["web"].deploy_mode == "app"
    assert program_of("warehouse").outputs["image_repository"].startswith("us-central1-docker.pkg.dev/")


# --- DreamAngo (seed 002): the controls its HIPAA note implies --------------------------------------------------------


@pytest.mark.parametrize("stack", DREAMANGO)
def test_dreamango_encrypts_every_data_service_with_its_own_keys(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    assert_key(program, program.named("database-primary").inputs["encryptionKeyName"], "sql", config.gcp.region)
    for name, replica in config.database.replicas.items():
        assert_key(
            program, program.named(f"database-replica-{name}").inputs["encryptionKeyName"], "sql", replica.region
        )
    assert_key(program, program.named("redis-instance").inputs["customerManagedKey"], "redis", config.gcp.region)
    assert_key(
        program, program.named("registry-repository").inputs["kmsKeyName"], "artifactregistry", config.gcp.region
    )
    buckets = program.of(BUCKET)
    assert {b.inputs["labels"].get("bucket") for b in buckets} >= {"media", "static"}
    for bucket in buckets:
        assert_key(program, bucket.inputs["encryption"]["defaultKmsKeyName"], "storage", bucket.inputs["location"])
    for secret in program.of(SECRET):
        for replica in secret.inputs["replication"]["userManaged"]["replicas"]:
            assert_key(
                program, replica["customerManagedEncryption"]["kmsKeyName"], "secretmanager", replica["location"]
            )
    assert len(keys(program)) >= 5


@pytest.mark.parametrize("stack", DREAMANGO)
def test_dreamango_logs_every_read_and_write_of_the_services_holding_its_data_or_keys(stack: str) -> None:
    configs = {c.inputs["service"]: c for c in program_of(stack).of("gcp:projects/iAMAuditConfig:IAMAuditConfig")}
    assert set(configs) >= {
        "cloudsql.googleapis.com",
        "redis.googleapis.com",
        "secretmanager.googleapis.com",
        "storage.googleapis.com",
        "cloudkms.googleapis.com",
    }
    for c in configs.values():
        assert {x["logType"] for x in c.inputs["auditLogConfigs"]} == {"ADMIN_READ", "DATA_READ", "DATA_WRITE"}
        assert all(not x.get("exemptedMembers") for x in c.inputs["auditLogConfigs"])


@pytest.mark.parametrize("stack", DREAMANGO)
def test_dreamango_makes_no_data_public(stack: str) -> None:
    program = program_of(stack)
    public = {"allUsers", "allAuthenticatedUsers"}
    # The static bucket (public_through_cdn) holds the frontend's assets, served to anyone through Cloud CDN, which
    # reads a backend bucket unsigned: allUsers may read it. No other bucket (media holds users' uploads) is public.
    static = program.named("static-bucket")
    grants = [g for g in program.of("gcp:storage/bucketIAMMember:BucketIAMMember") if g.inputs["member"] in public]
    assert [(g.inputs["bucket"], g.inputs["role"]) for g in grants] == [
        (static.outputs["name"], "roles/storage.objectViewer")
    ]
    for bucket in program.of(BUCKET):
        expected = "inherited" if bucket.name == static.name else "enforced"
        assert bucket.inputs["publicAccessPrevention"] == expected, bucket.name
        assert bucket.inputs["uniformBucketLevelAccess"] is True
    settings = program.named("database-primary").inputs["settings"]
    assert settings["ipConfiguration"]["ipv4Enabled"] is False
    for service in program.of("gcp:cloudrunv2/service:Service"):  # only through the load balancer and Cloud Armor
        assert service.inputs["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", service.name
    armor = program.named("armor-edge").outputs["selfLink"]
    for backend in (
        *program.of("gcp:compute/backendService:BackendService"),
        *program.of("gcp:compute/backendBucket:BackendBucket"),
    ):
        assert backend.inputs["edgeSecurityPolicy"] == armor, backend.name


def test_dreamango_prod_keeps_its_audit_records_six_years_and_its_exports_undeletable_for_30_days() -> None:
    program = program_of("dreamango-prod")
    assert program.named("observability-default-log-bucket").inputs["retentionDays"] >= 6 * 365
    assert program.named("backup-bucket").inputs["retentionPolicy"]["retentionPeriod"] == str(30 * 86400)
    media = program.named("media-bucket").inputs
    assert media["versioning"] == {"enabled": True}
    assert media["softDeletePolicy"]["retentionDurationSeconds"] == 30 * 86400


def test_dreamango_reads_from_replicas_and_prod_survives_a_region_loss() -> None:
    for stack in DREAMANGO:
        assert "read" in config_of(stack).database.replicas
    replicas = config_of("dreamango-prod").database.replicas
    assert replicas["dr"].region != config_of("dreamango-prod").gcp.region


# --- Bro AI (seed 004) ------------------------------------------------------------------------------------------------


def test_bro_ai_shows_its_recovery_objectives_against_4_hours_and_15_minutes() -> None:
    objectives = program_of("bro-ai").outputs["recovery_objectives"]
    assert (objectives["rto_minutes"], objectives["rpo_target_minutes"]) == (240, 15)
    assert max(objectives["rpo_minutes"], objectives["region_loss_rpo_minutes"]) <= 15


# --- each stack's estimate beside its seed's figure -------------------------------------------------------------------

SEED_FIGURES = {"warehouse": 99}  # USD a month, where a seed gives one (003: "Total: ~$99/month")


def estimate_of(stack: str) -> float:
    estimates = report.estimate(stack, program_of(stack), report.config_of(stack))
    assert estimates.cost is not None, estimates.cost_error
    return float(estimates.cost.total)


def dollars(stack: str) -> str:
    """The estimate as the plan prints it."""
    estimates = report.estimate(stack, program_of(stack), report.config_of(stack))
    assert estimates.cost is not None, estimates.cost_error
    return f"${cost.whole_dollars(estimates.cost.total)}"


@pytest.mark.parametrize("stack", REFERENCE_STACKS)
def test_docs_seeds_sets_each_estimate_beside_the_seeds_figure(stack: str) -> None:
    seed = SEED_FIGURES.get(stack)
    row = f"| `{stack}` | {f'${seed}' if seed else 'none given'} | {dollars(stack)} |"
    assert row in SEEDS.splitlines(), f"update docs/seeds.md's estimates table with: {row}"


def test_the_warehouse_estimate_stays_near_the_seeds_figure_and_under_its_ceiling() -> None:
    """The gap is explained in docs/seeds.md; a change that moves the estimate far from $99 needs a new explanation."""
    estimate = estimate_of("warehouse")
    assert 0.5 * SEED_FIGURES["warehouse"] <= estimate <= 1.25 * SEED_FIGURES["warehouse"]
    assert estimate < config_of("warehouse").budget.amount  # the seed's success criterion: under $150 a month


# --- each system's own bootstrap stack --------------------------------------------------------------------------------

BOOTSTRAPS = {"warehouse": ("warehouse",), "dreamango": DREAMANGO, "bro-ai": ("bro-ai",)}
_bootstraps: dict[str, Recording] = {}


def bootstrap_of(system: str) -> Recording:
    if system not in _bootstraps:
        document = yaml.safe_load((ROOT / "bootstrap" / f"Pulumi.{system}.yaml").read_text())
        config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in document["config"].items()}
        main = str(ROOT / "bootstrap" / "__main__.py")
        _bootstraps[system] = run(
            lambda: runpy.run_path(main, run_name="__main__"),
            stack=system,
            config=config,
            project_id=document["config"]["platform-bootstrap:project"],
        )
    return _bootstraps[system]


def test_every_reference_stack_has_a_bootstrap_stack_that_trusts_its_own_systems_repository_alone() -> None:
    assert sorted(s for stacks in BOOTSTRAPS.values() for s in stacks) == sorted(REFERENCE_STACKS)
    ids = set()
    for system in BOOTSTRAPS:
        document = yaml.safe_load((ROOT / "bootstrap" / f"Pulumi.{system}.yaml").read_text())
        repository_id = document["config"]["platform-bootstrap:github"]["repository_id"]
        ids.add(repository_id)
        for provider in bootstrap_of(system).of(POOL_PROVIDER):
            assert provider.inputs["attributeCondition"].startswith(f"assertion.repository_id == '{repository_id}'")
    assert len(ids) == len(BOOTSTRAPS)
    assert "812345678" not in ids  # Acme's repository (Pulumi.admin.yaml)


@pytest.mark.parametrize("system", BOOTSTRAPS)
def test_each_reference_stack_is_deployed_by_the_deployer_its_bootstrap_creates(system: str) -> None:
    outputs = bootstrap_of(system).outputs
    assert set(outputs["deployers"]) == set(BOOTSTRAPS[system])
    for stack in BOOTSTRAPS[system]:
        assert config_of(stack).deployer == f"serviceAccount:{outputs['deployers'][stack]}"


@pytest.mark.parametrize("system", BOOTSTRAPS)
def test_each_deployer_may_grant_on_the_project_exactly_the_custom_roles_its_stack_grants_there(system: str) -> None:
    document = yaml.safe_load((ROOT / "bootstrap" / f"Pulumi.{system}.yaml").read_text())
    entries = document["config"]["platform-bootstrap:stacks"]
    for stack in BOOTSTRAPS[system]:
        config = config_of(stack)
        assert (entries[stack]["project"], entries[stack]["prefix"]) == (config.gcp.project, config.prefix)
        project_grants = program_of(stack).of("gcp:projects/iAMMember:IAMMember")
        prefix = f"projects/{config.gcp.project}/roles/"
        granted = {g.inputs["role"].removeprefix(prefix) for g in project_grants if g.inputs["role"].startswith(prefix)}
        assert set(entries[stack]["custom_roles"]) == granted  # the project IAM admin condition lists these alone
        budget = program_of(stack).of(BUDGET)
        assert entries[stack].get("budget_billing_account") == (config.budget.billing_account if budget else None)


def test_docs_seeds_says_what_hipaa_needs_that_infrastructure_cannot_give() -> None:
    section = SEEDS.split("### HIPAA: what infrastructure cannot give")[1].split("\n## ")[0]
    for needed in ("Business Associate Agreement", "shared", "application", "breach notification"):
        assert needed in section, needed


@pytest.mark.parametrize("stack", [*DREAMANGO, "warehouse"])
def test_the_deployer_of_each_cloud_run_reference_stack_may_create_every_resource_it_registers(stack: str) -> None:
    """Not bro-ai: its deployer lacks the GKE, Binary Authorization and IAP roles (README, "Reference stacks")."""
    system = next(s for s, stacks in BOOTSTRAPS.items() if stack in stacks)
    granted = bootstrap_roles(bootstrap_of(system), f"{stack}-deployer")[config_of(stack).gcp.project]
    assert roles_missing(granted, stack) == set()


@pytest.mark.parametrize("stack", REFERENCE_STACKS)
def test_each_reference_stack_file_lists_the_secrets_to_set_before_its_first_deploy(stack: str) -> None:
    """The README sends whoever deploys a reference stack to its stack file's comments for the secrets to set."""
    config = config_of(stack)
    needed = {f"platform:{key}" for key in stack_config.app_secret_value_keys(raw_config(stack))}
    if config.gke is not None and config.gke.internal_tools is not None:
        needed.add(f"platform:{OAUTH_SECRET_KEY}")
    comments = "\n".join(line for line in (ROOT / f"Pulumi.{stack}.yaml").read_text().splitlines() if "#" in line)
    assert needed
    for key in needed:
        assert re.search(rf"#\s+{re.escape(key)}\b", comments), f"Pulumi.{stack}.yaml: list {key} in its comments"
