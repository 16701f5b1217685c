"""Backups: a bucket that survives the region and cannot be made public or emptied, daily exports run by an identity
that may export and nothing else, and recovery objectives computed from how the data is protected."""

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
    schedule_at,
)
from offline.engine import Recording, run
from offline.plan import render
from tests.conftest import STACKS, config_of, context_of, program_of, raw_config
from tests.docs import yaml_blocks

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = ROOT / "docs" / "operations" / "backup-recovery.md"
SCRIPT = ROOT / "scripts" / "verify-recovery.sh"
BUCKET = "gcp:storage/bucket:Bucket"
JOB = "gcp:cloudscheduler/job:Job"
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
    raw["backup"] = {**raw["backup"], **change}  # type: ignore[dict-item]
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
    assert bucket["versioning"] == {"enabled": True}
    assert bucket["softDeletePolicy"]["retentionDurationSeconds"] == config.backup.soft_delete_days * 86400
    assert bucket["forceDestroy"] is False
    assert bucket["deletionPolicy"] == "PREVENT"
    assert bucket["labels"]["component"] == "backup"


def test_prod_backups_are_protected_and_soft_deleted_for_90_days() -> None:
    bucket = program_of("prod").named("backup-bucket")
    assert bucket.protect is True
    assert bucket.inputs["softDeletePolicy"]["retentionDurationSeconds"] == 90 * 86400
    assert program_of("dev").named("backup-bucket").protect is False


@pytest.mark.parametrize("stack", STACKS)
def test_backups_move_to_nearline_coldline_then_archive_and_old_days_expire(stack: str) -> None:
    lifecycle = config_of(stack).backup.lifecycle
    rules = program_of(stack).named("backup-bucket").inputs["lifecycleRules"]
    moves = [(r["action"]["storageClass"], r["condition"]["age"]) for r in rules if r["action"]["type"] != "Delete"]
    assert moves == [
        ("NEARLINE", lifecycle.nearline_after_days),
        ("COLDLINE", lifecycle.coldline_after_days),
        ("ARCHIVE", lifecycle.archive_after_days),
    ]
    (delete,) = [r["condition"] for r in rules if r["action"]["type"] == "Delete"]
    assert delete["withState"] == "ARCHIVED"  # noncurrent versions: the earlier days' exports
    assert delete["daysSinceNoncurrentTime"] == lifecycle.delete_noncurrent_after_days


def retention_args(locked: bool) -> BackupArgs:
    base = config_of("dev").backup.model_dump()
    return BackupArgs.model_validate({**base, "versioning": False, "retention_policy": {"days": 30, "locked": locked}})


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
    assert "retentionPolicy" not in program_of("prod").named("backup-bucket").inputs


def test_a_retention_policy_with_daily_exports_is_refused() -> None:
    bad(
        "dev",
        {"versioning": False, "retention_policy": {"days": 30}},
        r"backup\.retention_policy: the daily exports replace their objects",
    )


def test_the_backup_bucket_in_the_stack_region_names_the_key() -> None:
    bad("dev", {"location": "europe-west1"}, r"backup\.location: 'europe-west1' is the stack's region")


def test_a_dual_region_is_a_valid_backup_location() -> None:
    raw = raw_config("dev")
    raw["backup"] = {**raw["backup"], "location": "EUR4", "turbo_replication": True}  # type: ignore[dict-item]
    assert stack_config.parse(raw, stack_file="Pulumi.dev.yaml").backup.location == "EUR4"


def test_an_unknown_backup_location_names_the_key() -> None:
    bad("dev", {"location": "europe-wst4"}, r"backup\.location: 'europe-wst4' is neither a Google Cloud region")


def test_turbo_replication_needs_a_dual_region() -> None:
    bad("dev", {"turbo_replication": True}, r"backup\.turbo_replication: turbo replication needs a dual-region")


def test_a_retention_policy_on_a_versioned_bucket_names_the_key() -> None:
    bad("dev", {"retention_policy": {"days": 7}}, r"backup\.retention_policy: Cloud Storage refuses a retention")


def test_lifecycle_classes_must_get_colder_over_time() -> None:
    bad(
        "dev",
        {"lifecycle": {"nearline_after_days": 90, "coldline_after_days": 30}},
        r"backup\.lifecycle\.coldline_after_days: coldline_after_days \(30\) must be after nearline_after_days",
    )


# Scheduled exports -----------------------------------------------------------------------------------------------


def _body(job: Any) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(job.inputs["httpTarget"]["body"])))


@pytest.mark.parametrize("stack", STACKS)
def test_each_database_and_redis_is_exported_daily_one_at_a_time(stack: str) -> None:
    recording = wired(stack)
    exports = config_of(stack).backup.exports
    jobs = {j.name: j.inputs for j in recording.of(JOB)}
    assert sorted(jobs) == ["backup-export-database-app", "backup-export-database-orders", "backup-export-redis"]
    assert [jobs[n]["schedule"] for n in sorted(jobs)] == [
        schedule_at(exports.hour, 0),
        schedule_at(exports.hour, exports.stagger_minutes),
        schedule_at(exports.hour, 2 * exports.stagger_minutes),
    ]
    assert {j["timeZone"] for j in jobs.values()} == {exports.time_zone}


@pytest.mark.parametrize("stack", STACKS)
def test_cloud_sql_exports_call_the_admin_api_with_a_decodable_body(stack: str) -> None:
    recording = wired(stack)
    project = config_of(stack).gcp.project
    bucket = recording.one(BUCKET).inputs["name"]
    job = recording.named("backup-export-database-orders")
    target = job.inputs["httpTarget"]
    assert target["uri"] == f"https://sqladmin.googleapis.com/v1/projects/{project}/instances/acme-db/export"
    assert target["httpMethod"] == "POST"
    assert _body(job) == {
        "exportContext": {
            "fileType": "SQL",
            "uri": f"gs://{bucket}/cloudsql/acme-db/orders.sql.gz",
            "databases": ["orders"],
            "offload": True,
        }
    }


@pytest.mark.parametrize("stack", STACKS)
def test_the_redis_export_calls_memorystore_with_a_decodable_body(stack: str) -> None:
    recording = wired(stack)
    config = config_of(stack)
    bucket = recording.one(BUCKET).inputs["name"]
    job = recording.named("backup-export-redis")
    assert job.inputs["httpTarget"]["uri"] == (
        f"https://redis.googleapis.com/v1/projects/{config.gcp.project}/locations/{config.gcp.region}"
        "/instances/acme-cache:export"
    )
    assert _body(job) == {"outputConfig": {"gcsDestination": {"uri": f"gs://{bucket}/redis/acme-cache.rdb"}}}


@pytest.mark.parametrize("stack", STACKS)
def test_exports_run_as_a_dedicated_account_that_may_only_export(stack: str) -> None:
    recording = wired(stack)
    account = recording.one("gcp:serviceaccount/account:Account")
    for job in recording.of(JOB):
        token = job.inputs["httpTarget"]["oauthToken"]
        assert token == {
            "serviceAccountEmail": account.outputs["email"],
            "scope": "https://www.googleapis.com/auth/cloud-platform",
        }
    roles = {r.name: r for r in recording.of("gcp:projects/iAMCustomRole:IAMCustomRole")}
    assert {n: r.inputs["permissions"] for n, r in roles.items()} == {
        "backup-database-exporter-role": ["cloudsql.instances.export"],
        "backup-redis-exporter-role": ["redis.instances.export"],
    }
    bindings = {b.name: b.inputs for b in recording.of("gcp:projects/iAMMember:IAMMember")}
    assert set(bindings) == {"backup-database-exporter", "backup-redis-exporter"}
    for kind in ("database", "redis"):
        binding = bindings[f"backup-{kind}-exporter"]
        assert binding["role"] == roles[f"backup-{kind}-exporter-role"].outputs["name"]
        assert binding["member"] == account.outputs["member"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_scheduler_may_export_only_the_platform_database_instance(stack: str) -> None:
    project = config_of(stack).gcp.project
    condition = wired(stack).named("backup-database-exporter").inputs["condition"]
    assert condition["expression"] == (
        f"resource.name == 'projects/{project}/instances/acme-db'"
        " && resource.type == 'sqladmin.googleapis.com/Instance'"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_the_instances_own_identities_write_the_exports_to_the_bucket_only(stack: str) -> None:
    recording = wired(stack)
    bucket = recording.one(BUCKET).inputs["name"]
    grants = {g.inputs["member"]: g.inputs for g in recording.of("gcp:storage/bucketIAMMember:BucketIAMMember")}
    assert set(grants) == {f"serviceAccount:{SQL_SA}", REDIS_IDENTITY}
    assert {(g["bucket"], g["role"]) for g in grants.values()} == {(bucket, "roles/storage.objectAdmin")}


@pytest.mark.parametrize("stack", STACKS)
def test_every_database_and_the_redis_instance_of_the_stack_are_exported_daily(stack: str) -> None:
    program, config = program_of(stack), config_of(stack)
    instance = program.named("database-primary").inputs["name"]
    redis = program.named("redis-instance").inputs["name"]
    jobs = {j.name: j.inputs["httpTarget"]["uri"] for j in program.of(JOB) if j.name.startswith("backup-export-")}
    assert set(jobs) == {f"backup-export-database-{db}" for db in config.database.databases} | {"backup-export-redis"}
    for db in config.database.databases:
        assert jobs[f"backup-export-database-{db}"].endswith(f"/instances/{instance}/export")
    assert jobs["backup-export-redis"].endswith(f"/instances/{redis}:export")


# Backup and DR vault ---------------------------------------------------------------------------------------------


def test_prod_has_a_backup_vault_with_enforced_minimum_retention() -> None:
    vault = program_of("prod").one("gcp:backupdisasterrecovery/backupVault:BackupVault")
    assert vault.inputs["backupMinimumEnforcedRetentionDuration"] == f"{30 * 86400}s"
    assert vault.inputs["location"] == "europe-west4"
    assert vault.protect is True
    assert not program_of("dev").of("gcp:backupdisasterrecovery/backupVault:BackupVault")


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


def test_with_nothing_to_protect_the_objectives_say_so() -> None:
    objectives = recovery_objectives(pitr=False, dr_replica=False, export_interval_hours=None, rto_minutes=60)
    assert (objectives["rpo_minutes"], objectives["region_loss_rpo_minutes"]) == (None, None)


@pytest.mark.parametrize("stack", STACKS)
def test_the_program_exports_the_bucket_and_recovery_objectives(stack: str) -> None:
    outputs = program_of(stack).outputs
    assert outputs["backup_bucket"] == program_of(stack).named("backup-bucket").inputs["name"]
    assert outputs["recovery_objectives"]["rto_minutes"] == config_of(stack).backup.rto_minutes


# Runbook and verification script -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_the_runbook_names_each_stack_bucket_and_export_job_as_the_program_creates_them(stack: str) -> None:
    text = RUNBOOK.read_text()
    assert f"`{program_of(stack).outputs['backup_bucket']}`" in text
    naming = config_of(stack).naming(stack)
    assert f"`{naming.physical('export', 'database')}-<database>`" in text
    assert f"`{naming.physical('export', 'redis')}`" in text


def test_the_runbook_restores_the_newest_export_from_the_paths_the_exports_write() -> None:
    # One object per run, named by its UTC time: the runbook lists the prefix and takes the last name.
    text = RUNBOOK.read_text()
    assert 'gcloud storage ls "gs://${BUCKET}/cloudsql/${INSTANCE}/${DATABASE}/"' in text
    assert 'gcloud storage ls "gs://${BUCKET}/redis/${REDIS_INSTANCE}/"' in text
    assert "gs://${BUCKET}/cloudsql/${INSTANCE}/${DATABASE}/YYYYMMDDTHHMMSSZ.sql.gz" in text
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
    assert BackupArgs.model_validate(example).vault is not None


def test_the_plan_lists_backup_schedules_with_their_targets() -> None:
    text = render("prod", wired("prod"))
    assert "'20 2 * * *' Etc/UTC: POST https://sqladmin.googleapis.com/" in text
    assert "-> gs://acme-prod-backups-acme-platform-prod/cloudsql/acme-db/orders.sql.gz" in text
    assert (
        "europe-west4 STANDARD, uniform access, public access prevention enforced, versioning on, soft delete 90d,"
        " retention none" in text
    )
