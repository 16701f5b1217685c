"""Backups: a bucket that survives the region and cannot be made public or emptied, daily export workflows run by
identities that may export and nothing else, started by one that may start workflows and nothing else, and recovery
objectives computed from how the data is protected."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pulumi
import pytest

import stack_config
from components.backup import (
    Backup,
    BackupArgs,
    DatabaseExportTarget,
    RedisExportTarget,
    recovery_objectives,
    worst_rpo,
)
from components.backup.workflows import cloudsql_prefix, database_workflow, redis_prefix, redis_workflow, to_yaml
from offline.engine import Recording, run
from offline.plan import render
from tests.conftest import ALL_STACKS, STACKS, config_of, context_of, program_of, raw_config
from tests.docs import yaml_blocks

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = ROOT / "docs" / "operations" / "backup-recovery.md"
SCRIPT = ROOT / "scripts" / "verify-recovery.sh"
BUCKET = "gcp:storage/bucket:Bucket"
JOB = "gcp:cloudscheduler/job:Job"
WORKFLOW = "gcp:workflows/workflow:Workflow"
SQL_SA = "p123-abc@gcp-sa-cloud-sql.iam.gserviceaccount.com"
REDIS_IDENTITY = "serviceAccount:service-123@cloud-redis.iam.gserviceaccount.com"

_recordings: dict[str, Recording] = {}


def wired(stack: str, args: BackupArgs | None = None) -> Recording:
    """The component exporting two databases and Redis, as the lead wires it to the data tier."""
    if args is None and stack in _recordings:
        return _recordings[stack]
    config = config_of(stack)

    def build() -> None:
        Backup(
            "backup",
            args or config.backup,
            ctx=context_of(
                stack,
                deletion_protection=config.protection.deletion_protection,
                protect=config.protection.protect,
            ),
            database=DatabaseExportTarget(
                instance=pulumi.Output.from_input("acme-db"),
                databases=["orders", "app"],
                service_account_email=pulumi.Output.from_input(SQL_SA),
                point_in_time_recovery=True,
                cross_region_replica=False,
            ),
            redis=RedisExportTarget(
                instance=pulumi.Output.from_input("acme-cache"),
                region=config.gcp.region,
                persistence_identity=pulumi.Output.from_input(REDIS_IDENTITY),
            ),
        )

    recording = run(build, stack=stack, project_id=config.gcp.project, region=config.gcp.region)
    if args is None:
        _recordings[stack] = recording
    return recording


def bad(stack: str, change: dict[str, Any], match: str) -> None:
    raw = raw_config(stack)
    raw["backup"] = {**raw["backup"], **change}
    with pytest.raises(pulumi.RunError, match=match):
        stack_config.parse(raw, stack_file=f"Pulumi.{stack}.yaml")


# The bucket --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_backup_bucket_is_outside_the_data_region(stack: str) -> None:
    config = config_of(stack)
    bucket = program_of(stack).named("backup-bucket")
    assert bucket.inputs["location"] == config.backup.location
    assert bucket.inputs["location"] != config.gcp.region


@pytest.mark.parametrize("stack", STACKS)
def test_the_backup_bucket_cannot_be_public_or_quietly_emptied(stack: str) -> None:
    config = config_of(stack)
    bucket = program_of(stack).named("backup-bucket").inputs
    assert bucket["uniformBucketLevelAccess"] is True
    assert bucket["publicAccessPrevention"] == "enforced"
    assert bucket["softDeletePolicy"]["retentionDurationSeconds"] == config.backup.soft_delete_days * 86400
    assert bucket["forceDestroy"] is False
    assert bucket["deletionPolicy"] == "PREVENT"
    assert bucket["labels"]["component"] == "backup"


@pytest.mark.parametrize("stack", STACKS)
def test_the_backup_bucket_keeps_no_versions_because_no_export_replaces_another(stack: str) -> None:
    # Every run writes a new object, so versioning would keep nothing; a retention policy protects the exports.
    assert program_of(stack).named("backup-bucket").inputs["versioning"] == {"enabled": False}


def test_prod_backups_are_protected_and_soft_deleted_for_90_days() -> None:
    bucket = program_of("prod").named("backup-bucket")
    assert bucket.protect is True
    assert bucket.inputs["softDeletePolicy"]["retentionDurationSeconds"] == 90 * 86400
    assert program_of("dev").named("backup-bucket").protect is False


def test_staging_and_prod_exports_cannot_be_deleted_or_replaced_before_their_retention_period() -> None:
    for stack, days in (("staging", 14), ("prod", 30)):
        retention = program_of(stack).named("backup-bucket").inputs["retentionPolicy"]
        assert retention == {"retentionPeriod": str(days * 86400), "isLocked": False}
    assert "retentionPolicy" not in program_of("dev").named("backup-bucket").inputs


@pytest.mark.parametrize("stack", STACKS)
def test_backups_move_to_nearline_coldline_then_archive_and_old_exports_expire(stack: str) -> None:
    lifecycle = config_of(stack).backup.lifecycle
    rules = program_of(stack).named("backup-bucket").inputs["lifecycleRules"]
    moves = [(r["action"]["storageClass"], r["condition"]["age"]) for r in rules if r["action"]["type"] != "Delete"]
    planned = [
        ("NEARLINE", lifecycle.nearline_after_days),
        ("COLDLINE", lifecycle.coldline_after_days),
        ("ARCHIVE", lifecycle.archive_after_days),
    ]
    # Only the moves that fall due before the deletion (at the same age, Cloud Storage deletes).
    expires = lifecycle.delete_after_days
    assert moves == [(to, age) for to, age in planned if expires is None or age < expires]
    (delete,) = [r["condition"] for r in rules if r["action"]["type"] == "Delete"]
    # By age, live or not: exports are never replaced, so the old rule on noncurrent versions would delete nothing.
    assert delete == {"age": lifecycle.delete_after_days, "withState": "ANY"}
    retention = config_of(stack).backup.retention_policy
    assert retention is None or delete["age"] >= retention.days


def retention_args(locked: bool) -> BackupArgs:
    base = config_of("dev").backup.model_dump()
    return BackupArgs.model_validate({**base, "retention_policy": {"days": 30, "locked": locked}})


def bucket_only(stack: str, args: BackupArgs) -> Recording:
    """The component with nothing to export (a bucket that holds copies made elsewhere)."""
    config = config_of(stack)
    return run(
        lambda: Backup("backup", args, ctx=context_of(stack)),
        stack=stack,
        project_id=config.gcp.project,
    )


def test_a_retention_policy_is_locked_only_when_config_says_so() -> None:
    for locked in (False, True):
        bucket = bucket_only("dev", retention_args(locked)).one(BUCKET).inputs
        assert bucket["retentionPolicy"] == {"retentionPeriod": str(30 * 86400), "isLocked": locked}


def test_a_retention_policy_with_daily_exports_is_accepted() -> None:
    # Exports write new objects, which a retention policy allows; it only refuses deleting or replacing young ones.
    raw = raw_config("dev")
    raw["backup"] = {**raw["backup"], "retention_policy": {"days": 7}}
    assert stack_config.parse(raw, stack_file="Pulumi.dev.yaml").backup.retention_policy is not None


def test_exports_deleted_before_their_retention_period_name_both_keys() -> None:
    bad(
        "prod",
        {"lifecycle": {"delete_after_days": 10}},
        r"backup\.lifecycle\.delete_after_days: 10 days is less than retention_policy\.days \(30\)",
    )


def test_versioning_is_no_longer_a_backup_setting() -> None:
    bad("dev", {"versioning": True}, r"backup\.versioning is not a known key")


def test_the_backup_bucket_in_the_stack_region_names_the_key() -> None:
    bad("dev", {"location": "europe-west1"}, r"backup\.location: 'europe-west1' is the stack's region")


def test_a_dual_region_is_a_valid_backup_location() -> None:
    raw = raw_config("dev")
    raw["backup"] = {**raw["backup"], "location": "EUR4", "turbo_replication": True}
    assert stack_config.parse(raw, stack_file="Pulumi.dev.yaml").backup.location == "EUR4"


def test_an_unknown_backup_location_names_the_key() -> None:
    bad("dev", {"location": "europe-wst4"}, r"backup\.location: 'europe-wst4' is neither a Google Cloud region")


def test_turbo_replication_needs_a_dual_region() -> None:
    bad("dev", {"turbo_replication": True}, r"backup\.turbo_replication: turbo replication needs a dual-region")


def test_lifecycle_classes_must_get_colder_over_time() -> None:
    bad(
        "dev",
        {"lifecycle": {"nearline_after_days": 90, "coldline_after_days": 30}},
        r"backup\.lifecycle\.coldline_after_days: coldline_after_days \(30\) must be after nearline_after_days",
    )


def test_no_storage_class_move_is_planned_at_or_after_the_deletion_it_would_lose_to() -> None:
    """Where a SetStorageClass and a Delete rule match an object together, Cloud Storage deletes: dev deletes exports
    at 30 days, so its bucket carries no move to Nearline at 30 (which could never happen)."""
    from components.backup.component import _lifecycle

    rules = _lifecycle(BackupArgs.model_validate(raw_config("dev")["backup"]).lifecycle)
    moves = [r.condition.age for r in rules if r.action.type == "SetStorageClass"]  # type: ignore[union-attr]
    (delete,) = [r.condition.age for r in rules if r.action.type == "Delete"]  # type: ignore[union-attr]
    assert delete == 30
    assert moves == []
    prod = _lifecycle(BackupArgs.model_validate(raw_config("prod")["backup"]).lifecycle)
    assert [r.condition.age for r in prod if r.action.type == "SetStorageClass"] == [30, 90, 365]  # type: ignore[union-attr]


# Scheduled export workflows --------------------------------------------------------------------------------------


def _body(job: Any) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(job.inputs["httpTarget"]["body"])))


@pytest.mark.parametrize("stack", STACKS)
def test_a_scheduler_job_starts_each_export_workflow_at_the_configured_time(stack: str) -> None:
    recording = wired(stack)
    jobs = {j.name: j.inputs for j in recording.of(JOB)}
    assert sorted(jobs) == ["backup-export-database", "backup-export-redis"]
    expected = {
        "dev": ("0 10 * * 1,2,3,4,5", "Europe/Brussels"),  # office days, while the database runs
        "staging": ("0 22 * * *", "Etc/UTC"),
        "prod": ("0 22 * * *", "Etc/UTC"),
    }[stack]
    assert {(j["schedule"], j["timeZone"]) for j in jobs.values()} == {expected}


@pytest.mark.parametrize("stack", STACKS)
def test_each_job_calls_the_workflow_executions_api_with_an_oauth_token(stack: str) -> None:
    recording = wired(stack)
    config = config_of(stack)
    invoker = recording.named("backup-export-invoker")
    for kind in ("database", "redis"):
        workflow = recording.named(f"backup-{kind}-workflow").inputs
        target = recording.named(f"backup-export-{kind}").inputs["httpTarget"]
        assert target["uri"] == (
            f"https://workflowexecutions.googleapis.com/v1/projects/{config.gcp.project}/locations/"
            f"{config.gcp.region}/workflows/{workflow['name']}/executions"
        )
        assert workflow["region"] == config.gcp.region
        assert target["httpMethod"] == "POST"
        assert _body(recording.named(f"backup-export-{kind}")) == {}
        # Google APIs take OAuth access tokens; an OIDC token is refused.
        assert target["oauthToken"] == {
            "serviceAccountEmail": invoker.outputs["email"],
            "scope": "https://www.googleapis.com/auth/cloud-platform",
        }
        assert "oidcToken" not in target


@pytest.mark.parametrize("stack", STACKS)
def test_the_scheduler_account_may_start_workflows_and_nothing_else(stack: str) -> None:
    recording = wired(stack)
    invoker = recording.named("backup-export-invoker")
    grants = [
        g.inputs
        for g in recording.of("gcp:projects/iAMMember:IAMMember")
        if g.inputs["member"] == invoker.outputs["member"]
    ]
    assert grants == [
        {
            "project": config_of(stack).gcp.project,
            "role": "roles/workflows.invoker",
            "member": invoker.outputs["member"],
        }
    ]
    assert not [
        b
        for b in recording.of("gcp:storage/bucketIAMMember:BucketIAMMember")
        if b.inputs["member"] == invoker.outputs["member"]
    ]


# The permissions of the predefined roles the exporters hold (https://cloud.google.com/iam/docs/roles-permissions).
PREDEFINED = {"roles/cloudsql.client": ["cloudsql.instances.connect", "cloudsql.instances.get"]}


def grants_of(recording: Recording, member: str) -> dict[str, dict[str, Any]]:
    """The project grants of one member: the permissions of each role granted, and the grant's condition."""
    roles = {
        r.outputs["name"]: r.inputs["permissions"] for r in recording.of("gcp:projects/iAMCustomRole:IAMCustomRole")
    }
    return {
        g.name: {"permissions": {**roles, **PREDEFINED}[g.inputs["role"]], "condition": g.inputs.get("condition")}
        for g in recording.of("gcp:projects/iAMMember:IAMMember")
        if g.inputs["member"] == member
    }


@pytest.mark.parametrize("stack", STACKS)
def test_each_workflow_runs_as_its_own_account_that_may_only_export(stack: str) -> None:
    recording = wired(stack)
    for kind in ("database", "redis"):
        account = recording.named(f"backup-{kind}-exporter")
        assert recording.named(f"backup-{kind}-workflow").inputs["serviceAccount"] == account.outputs["email"]
    # Cloud SQL: the export, conditioned on the instance; reading the operation the connector polls takes
    # cloudsql.instances.get, granted on the project since an operation is read by project and id
    # (roles/cloudsql.client: a role the deployer may already grant; its connect is useless without a database user).
    database = grants_of(recording, recording.named("backup-database-exporter").outputs["member"])
    assert database["backup-database-exporter-grant"]["permissions"] == [
        "cloudsql.instances.export",
        "cloudsql.instances.get",
    ]
    assert database["backup-database-exporter-grant"]["condition"] is not None
    poller = database["backup-database-poller-grant"]
    assert poller["condition"] is None
    assert "cloudsql.instances.get" in poller["permissions"]
    assert not [p for p in poller["permissions"] if p.startswith("cloudsql.instances.export")]
    assert set(database) == {"backup-database-exporter-grant", "backup-database-poller-grant"}
    # Memorystore: the export, and the instance and operation reads the export and the workflow's poll take.
    redis = grants_of(recording, recording.named("backup-redis-exporter").outputs["member"])
    assert redis == {
        "backup-redis-exporter-grant": {
            "permissions": ["redis.instances.export", "redis.instances.get", "redis.operations.get"],
            "condition": None,
        }
    }


@pytest.mark.parametrize("stack", STACKS)
def test_the_database_workflow_may_export_only_the_platform_database_instance(stack: str) -> None:
    project = config_of(stack).gcp.project
    condition = wired(stack).named("backup-database-exporter-grant").inputs["condition"]
    assert condition["expression"] == (
        f"resource.name == 'projects/{project}/instances/acme-db'"
        " && resource.type == 'sqladmin.googleapis.com/Instance'"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_the_instances_own_identities_may_only_create_objects_in_the_bucket(stack: str) -> None:
    # An export writes a new object; neither identity may delete or replace one (objectCreator has no delete).
    recording = wired(stack)
    bucket = recording.one(BUCKET).inputs["name"]
    grants = {g.inputs["member"]: g.inputs for g in recording.of("gcp:storage/bucketIAMMember:BucketIAMMember")}
    assert set(grants) == {f"serviceAccount:{SQL_SA}", REDIS_IDENTITY}
    assert {g["bucket"] for g in grants.values()} == {bucket}
    assert grants[f"serviceAccount:{SQL_SA}"]["role"] == "roles/storage.objectCreator"
    writer = recording.named("backup-redis-writer-role")
    assert grants[REDIS_IDENTITY]["role"] == writer.outputs["name"]
    assert writer.inputs["permissions"] == ["storage.buckets.get", "storage.objects.create"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_workflows_are_the_export_definitions_for_the_stack_instances(stack: str) -> None:
    recording = wired(stack)
    config = config_of(stack)
    bucket = recording.one(BUCKET).inputs["name"]
    timeout = config.backup.exports.timeout_minutes * 60
    project = config.gcp.project
    assert recording.named("backup-database-workflow").inputs["sourceContents"] == to_yaml(
        database_workflow(project, bucket, "acme-db", ["app", "orders"], timeout)
    )
    assert recording.named("backup-redis-workflow").inputs["sourceContents"] == to_yaml(
        redis_workflow(project, config.gcp.region, bucket, "acme-cache", timeout)
    )


@pytest.mark.parametrize("stack", STACKS)
def test_no_workflow_source_holds_a_yaml_anchor_or_alias(stack: str) -> None:
    """The retry policy and `auth` are one dict used several times; PyYAML would write `&id001` and `*id001`, and no
    Workflows page says its parser resolves them. With two databases both workflows reuse a dict."""
    for recording in (wired(stack), program_of(stack)):
        for workflow in recording.of(WORKFLOW):
            source = workflow.inputs["sourceContents"]
            assert "&id" not in source, workflow.name
            assert "*id" not in source, workflow.name


@pytest.mark.parametrize("stack", STACKS)
def test_every_database_and_the_redis_instance_of_the_stack_are_exported(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    instance = program.named("database-primary").inputs["name"]
    redis = program.named("redis-instance").inputs["name"]
    bucket = program.named("backup-bucket").inputs["name"]
    timeout = config.backup.exports.timeout_minutes * 60
    assert program.named("backup-database-workflow").inputs["sourceContents"] == to_yaml(
        database_workflow(config.gcp.project, bucket, instance, sorted(config.database.databases), timeout)
    )
    assert program.named("backup-redis-workflow").inputs["sourceContents"] == to_yaml(
        redis_workflow(config.gcp.project, config.gcp.region, bucket, redis, timeout)
    )


@pytest.mark.parametrize("stack", STACKS)
def test_the_jobs_wait_for_the_invoker_grant_and_the_workflows_for_their_export_grant(stack: str) -> None:
    recording = wired(stack)
    for kind in ("database", "redis"):
        assert recording.depends_on(
            recording.named(f"backup-export-{kind}"), recording.named("backup-export-invoker-grant")
        )
        assert recording.depends_on(recording.named(f"backup-export-{kind}"), recording.named("apis-cloudscheduler"))
        workflow = recording.named(f"backup-{kind}-workflow")
        assert recording.depends_on(workflow, recording.named(f"backup-{kind}-exporter-grant"))
        if kind == "database":
            assert recording.depends_on(workflow, recording.named("backup-database-poller-grant"))
        assert recording.depends_on(workflow, recording.named("apis-workflows"))


# No Backup and DR vault --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_no_stack_creates_a_backup_and_dr_vault_that_nothing_fills(stack: str) -> None:
    # Cloud SQL enhanced backups (the only way into a vault) support neither CMEK nor cross-region backups, which prod
    # needs; an empty vault would only be a false claim of an immutable copy.
    assert not [r for r in program_of(stack).resources if r.type.startswith("gcp:backupdisasterrecovery/")]


def test_a_vault_in_config_names_the_key() -> None:
    bad(
        "prod", {"vault": {"region": "europe-west4", "minimum_retention_days": 30}}, r"backup\.vault is not a known key"
    )


def test_no_doc_calls_anything_the_immutable_copy() -> None:
    for doc in (RUNBOOK, ROOT / "docs" / "data.md"):
        text = doc.read_text().lower()
        assert "immutable copy" not in text
        assert "vault" not in text or "no backup and dr vault" in text


# Recovery objectives ---------------------------------------------------------------------------------------------


def test_pitr_gives_minutes_of_rpo_and_exports_bound_a_region_loss_to_a_day() -> None:
    objectives = recovery_objectives(pitr=True, dr_replica=False, export_interval_hours=24, rto_minutes=60)
    assert objectives["rpo_minutes"] == 5
    assert (objectives["region_loss_rpo_minutes"], objectives["rto_minutes"]) == (1440, 60)


def test_a_cross_region_replica_shrinks_the_region_loss_rpo() -> None:
    objectives = recovery_objectives(pitr=True, dr_replica=True, export_interval_hours=24, rto_minutes=30)
    assert objectives["region_loss_rpo_minutes"] == 1


def test_without_pitr_the_rpo_is_the_daily_backup() -> None:
    assert recovery_objectives(pitr=False, dr_replica=False, export_interval_hours=24, rto_minutes=60)[
        "rpo_minutes"
    ] == (24 * 60)


def test_exports_on_weekdays_only_leave_a_weekend_of_data_at_risk_in_a_region_loss() -> None:
    objectives = program_of("dev").outputs["recovery_objectives"]
    assert config_of("dev").backup.exports.days == ["MON", "TUE", "WED", "THU", "FRI"]
    assert objectives["region_loss_rpo_minutes"] == 72 * 60  # Friday's export to Monday's
    assert program_of("prod").outputs["recovery_objectives"]["region_loss_rpo_minutes"] == 1  # its DR replica


def test_with_nothing_to_protect_the_objectives_say_so() -> None:
    objectives = recovery_objectives(pitr=False, dr_replica=False, export_interval_hours=None, rto_minutes=60)
    assert (objectives["rpo_minutes"], objectives["region_loss_rpo_minutes"]) == (None, None)


def test_a_promised_recovery_point_is_checked_against_the_worse_of_in_place_and_region_loss() -> None:
    kept = recovery_objectives(
        pitr=True, dr_replica=True, export_interval_hours=24, rto_minutes=240, rpo_target_minutes=15
    )
    assert kept["rpo_target_minutes"] == 15
    assert worst_rpo(kept) == (5, "point-in-time recovery")
    exported = recovery_objectives(pitr=True, dr_replica=False, export_interval_hours=72, rto_minutes=60)
    assert exported["rpo_target_minutes"] is None
    assert worst_rpo(exported) == (72 * 60, "exports at most 72 h apart in the DR bucket")
    nothing = recovery_objectives(pitr=False, dr_replica=False, export_interval_hours=None, rto_minutes=60)
    assert worst_rpo(nothing) is None


def test_a_recovery_point_the_stack_cannot_keep_is_refused_with_what_it_can_keep() -> None:
    raw = raw_config("dev")
    raw["backup"]["rpo_target_minutes"] = 60  # dev exports on weekdays only: a weekend of data at a region loss
    with pytest.raises(pulumi.RunError) as err:
        stack_config.parse(raw, stack_file="Pulumi.dev.yaml")
    assert (
        "backup.rpo_target_minutes: 60 minutes are promised, and this stack can lose 4320 minutes of data "
        "(exports at most 72 h apart in the DR bucket)"
    ) in str(err.value)
    raw["backup"]["rpo_target_minutes"] = 4320
    assert stack_config.parse(raw, stack_file="Pulumi.dev.yaml").backup.rpo_target_minutes == 4320


def test_the_recovery_objectives_output_is_what_the_config_promises() -> None:
    for stack in ALL_STACKS:
        assert program_of(stack).outputs["recovery_objectives"] == config_of(stack).recovery_objectives()


@pytest.mark.parametrize("stack", STACKS)
def test_the_program_exports_the_bucket_and_recovery_objectives(stack: str) -> None:
    outputs = program_of(stack).outputs
    assert outputs["backup_bucket"] == program_of(stack).named("backup-bucket").inputs["name"]
    assert outputs["recovery_objectives"]["rto_minutes"] == config_of(stack).backup.rto_minutes


# Runbook and verification script -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_runbook_names_each_stack_bucket_workflow_and_job_as_the_program_creates_them(stack: str) -> None:
    text = RUNBOOK.read_text()
    program = program_of(stack)
    assert f"`{program.outputs['backup_bucket']}`" in text
    for kind in ("database", "redis"):
        name = program.named(f"backup-{kind}-workflow").inputs["name"]
        assert program.named(f"backup-export-{kind}").inputs["name"] == name
        assert f"`{name}`" in text


def test_the_runbook_restores_the_newest_export_from_the_paths_the_exports_write() -> None:
    # One object per run, named by its UTC time: the runbook lists the prefix and takes the last name.
    text = RUNBOOK.read_text()
    assert 'gcloud storage ls "gs://${BUCKET}/cloudsql/${INSTANCE}/${DATABASE}/"' in text
    assert 'gcloud storage ls "gs://${BUCKET}/redis/${REDIS_INSTANCE}/"' in text
    assert "gs://${BUCKET}/cloudsql/${INSTANCE}/${DATABASE}/YYYYMMDDTHHMMSSZ.sql.gz" in text
    # ... which are the prefixes the workflows write under.
    assert cloudsql_prefix("${BUCKET}", "${INSTANCE}", "${DATABASE}") + "YYYYMMDDTHHMMSSZ.sql.gz" in text
    assert redis_prefix("${BUCKET}", "${REDIS_INSTANCE}") + "YYYYMMDDTHHMMSSZ.rdb" in text
    # The object picked is the object imported (an earlier runbook copied one object and imported another).
    assert 'gcloud sql import sql "${TARGET}" "${EXPORT}"' in text
    assert 'gcloud redis instances import "${RDB}"' in text
    # No output names the Memorystore instance: the runbook finds it from redis_host.
    assert "pulumi stack output redis_host" in text
    for command in ("gcloud sql import sql", "gcloud redis instances import", "gcloud sql instances clone"):
        assert command in text
    assert "--point-in-time" in text
    assert "scripts/verify-recovery.sh" in text


def test_the_verification_script_is_valid_bash_that_stops_on_errors() -> None:
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert re.search(r"pulumi stack output --json", text)
    bash = shutil.which("bash")
    assert bash is not None
    subprocess.run([bash, "-n", str(SCRIPT)], check=True)
    shellcheck = shutil.which("shellcheck")  # stricter where it is installed (CI images, most laptops)
    if shellcheck:
        subprocess.run([shellcheck, str(SCRIPT)], check=True)


def test_the_runbook_config_example_is_valid_config() -> None:
    example = yaml_blocks(RUNBOOK)[0]["platform:backup"]
    assert BackupArgs.model_validate(example).retention_policy is not None


def test_the_plan_lists_backup_schedules_with_their_targets() -> None:
    text = render("prod", wired("prod"))
    assert (
        "'0 22 * * *' Etc/UTC: POST https://workflowexecutions.googleapis.com/v1/projects/acme-platform-prod/"
        "locations/europe-west1/workflows/acme-prod-export-database/executions" in text
    )
    assert (
        "europe-west4 STANDARD, uniform access, public access prevention enforced, versioning off, soft delete 90d,"
        " retention 30d" in text
    )
