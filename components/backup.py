"""Backups outside the data's region: a hardened bucket in the DR location, daily exports of every database and of
Redis on top of Cloud SQL's own backups and point-in-time recovery, an optional Backup and DR vault, and the recovery
objectives those choices give.

Cloud Scheduler cannot put a timestamp into a request body, so each export writes one object per database (and one
for Redis) that the next day's export overwrites; the bucket's Object Versioning keeps the earlier days as noncurrent
versions, which lifecycle rules move to colder classes and finally delete.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import pulumi
import pulumi_gcp as gcp
from pydantic import Field, model_validator

from components.config_types import REGIONS, Model, Region, TimeZone, invalid
from components.context import StackContext
from components.observability.signals import Alert, Runbook, Watched, log_match

# Predefined dual-regions (cloud.google.com/storage/docs/locations): data survives the loss of either region.
DUAL_REGIONS = frozenset(("ASIA1", "EUR4", "EUR5", "EUR7", "EUR8", "NAM4"))
DAY_SECONDS = 86_400
EXPORT_INTERVAL_HOURS = 24  # the jobs run daily
PITR_RPO_MINUTES = 5  # write-ahead log is archived continuously; budget for the last few minutes in flight
REPLICA_RPO_MINUTES = 1  # asynchronous cross-region replication lags seconds; budget a minute
SCHEDULER_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
EXPORT_PERMISSIONS = {"database": "cloudsql.instances.export", "redis": "redis.instances.export"}

FAILURE_RUNBOOK = Runbook(
    "A scheduled export or a Cloud SQL backup failed; the recovery point is older than promised.",
    "Read the failing log entry; run the export job again; follow the backup runbook's checks.",
    "backup-or-export-failed",
    page="operations/backup-recovery.md",
)
FAILURE_FILTER = (
    '(resource.type="cloud_scheduler_job" AND severity>=ERROR)'
    ' OR (protoPayload.serviceName="cloudsql.googleapis.com"'
    ' AND protoPayload.methodName=("cloudsql.instances.export" OR "cloudsql.backupRuns.create") AND severity>=ERROR)'
    ' OR (protoPayload.serviceName="redis.googleapis.com"'
    ' AND protoPayload.methodName:"ExportInstance" AND severity>=ERROR)'
)


class RetentionPolicyArgs(Model):
    days: Annotated[int, Field(ge=1, le=3650)]
    locked: bool = False  # locking is permanent: the policy can never be shortened or removed, nor the bucket deleted


class LifecycleArgs(Model):
    nearline_after_days: Annotated[int, Field(ge=1)] = 30
    coldline_after_days: Annotated[int, Field(ge=1)] = 90
    archive_after_days: Annotated[int, Field(ge=1)] = 365
    delete_noncurrent_after_days: Annotated[int, Field(ge=1)] = 400  # earlier days' exports (noncurrent versions)

    @model_validator(mode="after")
    def _colder_later(self) -> LifecycleArgs:
        order = ("nearline_after_days", "coldline_after_days", "archive_after_days")
        for warmer, colder in itertools.pairwise(order):
            if getattr(self, warmer) >= getattr(self, colder):
                invalid(colder, f"{colder} ({getattr(self, colder)}) must be after {warmer} ({getattr(self, warmer)})")
        return self


class ExportsArgs(Model):
    hour: Annotated[int, Field(ge=0, le=23)] = 2
    time_zone: TimeZone = "Etc/UTC"
    stagger_minutes: Annotated[int, Field(ge=5, le=120)] = 20  # Cloud SQL runs one export per instance at a time


class VaultArgs(Model):
    region: Region
    minimum_retention_days: Annotated[int, Field(ge=1, le=36500)]


class BackupArgs(Model):
    location: str  # a region other than the stack's (the DR region) or a predefined dual-region such as EUR4
    turbo_replication: bool = False  # dual-regions only: 15-minute replication RPO
    versioning: bool = True
    soft_delete_days: Annotated[int, Field(ge=7, le=90)] = 7
    retention_policy: RetentionPolicyArgs | None = None
    lifecycle: LifecycleArgs = LifecycleArgs()
    exports: ExportsArgs = ExportsArgs()
    rto_minutes: Annotated[int, Field(ge=1)]
    vault: VaultArgs | None = None

    @model_validator(mode="after")
    def _consistent(self) -> BackupArgs:
        if self.location not in DUAL_REGIONS:
            if self.location not in REGIONS:
                invalid(
                    "location",
                    f"'{self.location}' is neither a Google Cloud region nor a dual-region "
                    f"({', '.join(sorted(DUAL_REGIONS))})",
                )
            if self.turbo_replication:
                invalid("turbo_replication", "turbo replication needs a dual-region location")
        if self.retention_policy is not None and self.versioning:
            invalid(
                "retention_policy",
                "Cloud Storage refuses a retention policy on a versioned bucket, and the daily exports need versioning "
                "to keep earlier days; set versioning: false only if exports go elsewhere",
            )
        return self


@dataclass(frozen=True)
class DatabaseExportTarget:
    """The Cloud SQL instance (name) with the databases to export, as the data tier creates them."""

    instance: pulumi.Input[str]
    databases: Sequence[str]
    service_account_email: pulumi.Input[str]  # DatabaseInstance.service_account_email_address: it writes the export
    point_in_time_recovery: bool
    cross_region_replica: bool


@dataclass(frozen=True)
class RedisExportTarget:
    instance: pulumi.Input[str]  # Memorystore instance name
    region: str
    persistence_identity: pulumi.Input[str]  # Instance.persistence_iam_identity ("serviceAccount:..."): it writes


class Backup(pulumi.ComponentResource):
    """A backup bucket in the DR location that nobody can make public or quietly empty, with scheduled exports of the
    databases and Redis into it, run by a service account that may export and nothing else."""

    bucket_name: pulumi.Output[str]
    recovery_objectives: dict[str, Any]

    def __init__(
        self,
        name: str,
        args: BackupArgs,
        *,
        ctx: StackContext,
        database: DatabaseExportTarget | None = None,
        redis: RedisExportTarget | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:Backup", name, None, ctx.component(opts))
        self._name = name
        self._ctx = ctx
        self._naming = ctx.naming
        self._project = ctx.project
        self._region = ctx.region
        self._labels = ctx.labels("backup")
        self.bucket = self._bucket(args)
        self.bucket_name = self.bucket.name
        self.jobs: dict[str, gcp.cloudscheduler.Job] = {}
        self.exporter_roles: dict[str, gcp.projects.IAMCustomRole] = {}
        if database is not None or redis is not None:
            self._exports(args.exports, database, redis)
        self.vault = self._vault(args.vault) if args.vault else None
        self.recovery_objectives = recovery_objectives(
            pitr=database.point_in_time_recovery if database else False,
            dr_replica=database.cross_region_replica if database else False,
            export_interval_hours=EXPORT_INTERVAL_HOURS if database else None,
            rto_minutes=args.rto_minutes,
        )
        self.register_outputs({"bucket": self.bucket_name, "recovery_objectives": self.recovery_objectives})

    def watch(self) -> Watched:
        """A failed backup or export, from the logs: each one is an incident for the recovery point."""
        condition = log_match("a backup, export job or export operation logged an error", FAILURE_FILTER)
        alert = Alert(
            "backup-failure", "Backup or export failed", [condition], FAILURE_RUNBOOK, "CRITICAL", log_based=True
        )
        return Watched(key="backup", alerts=(alert,))

    def _bucket(self, args: BackupArgs) -> gcp.storage.Bucket:
        return gcp.storage.Bucket(
            f"{self._name}-bucket",
            name=self._naming.physical("backups", self._project),
            location=args.location,
            rpo="ASYNC_TURBO" if args.turbo_replication else None,
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=args.versioning),
            soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(
                retention_duration_seconds=args.soft_delete_days * DAY_SECONDS
            ),
            retention_policy=gcp.storage.BucketRetentionPolicyArgs(
                retention_period=str(args.retention_policy.days * DAY_SECONDS), is_locked=args.retention_policy.locked
            )
            if args.retention_policy
            else None,
            lifecycle_rules=_lifecycle(args.lifecycle),
            force_destroy=False,
            deletion_policy="PREVENT" if self._ctx.deletion_protection else "DELETE",
            labels=self._labels,
            opts=self._ctx.stateful(self, "storage.googleapis.com"),
        )

    def _exports(
        self,
        args: ExportsArgs,
        database: DatabaseExportTarget | None,
        redis: RedisExportTarget | None,
    ) -> None:
        self.scheduler_account = gcp.serviceaccount.Account(
            f"{self._name}-exporter",
            account_id=self._naming.physical("exporter", max_length=30),
            display_name="Scheduled backup exports (Cloud SQL and Memorystore export only)",
            opts=self._ctx.after(self, "iam.googleapis.com"),
        )
        scheduler = self._ctx.after(self, "cloudscheduler.googleapis.com")
        self._iam = self._ctx.after(self, "iam.googleapis.com")
        slot = 0
        if database is not None:
            # Cloud SQL honours IAM conditions on the instance's resource name: export this instance only.
            self._grant_exporter(
                "database",
                pulumi.Output.from_input(database.instance).apply(
                    lambda i: (
                        f"resource.name == 'projects/{self._project}/instances/{i}'"
                        " && resource.type == 'sqladmin.googleapis.com/Instance'"
                    )
                ),
            )
            self._grant_writer("database", pulumi.Output.concat("serviceAccount:", database.service_account_email))
            for db in sorted(database.databases):
                self._job(
                    f"database-{db}",
                    schedule_at(args.hour, slot * args.stagger_minutes),
                    args.time_zone,
                    uri=pulumi.Output.from_input(database.instance).apply(
                        lambda i: f"https://sqladmin.googleapis.com/v1/projects/{self._project}/instances/{i}/export"
                    ),
                    body=pulumi.Output.all(self.bucket.name, database.instance).apply(
                        lambda v, db=db: encode(cloudsql_export_body(v[0], v[1], db))  # type: ignore[misc]
                    ),
                    description=f"Daily export of database {db} to the backup bucket",
                    opts=scheduler,
                )
                slot += 1
        if redis is not None:
            self._grant_exporter("redis", None)
            self._grant_writer("redis", redis.persistence_identity)
            self._job(
                "redis",
                schedule_at(args.hour, slot * args.stagger_minutes),
                args.time_zone,
                uri=pulumi.Output.from_input(redis.instance).apply(
                    lambda i: (
                        f"https://redis.googleapis.com/v1/projects/{self._project}/locations/{redis.region}"
                        f"/instances/{i}:export"
                    )
                ),
                body=pulumi.Output.all(self.bucket.name, redis.instance).apply(
                    lambda v: encode(redis_export_body(v[0], v[1]))
                ),
                description="Daily export of the Redis instance to the backup bucket",
                opts=scheduler,
            )

    def _grant_exporter(self, kind: str, condition: pulumi.Input[str] | None) -> None:
        """A custom role with exactly the export permission, for the scheduler's account: roles/cloudsql.viewer
        cannot export, and roles/cloudsql.editor or roles/redis.admin would also let it change or delete instances."""
        role = gcp.projects.IAMCustomRole(
            f"{self._name}-{kind}-exporter-role",
            role_id=self._naming.physical("export", kind).replace("-", "_"),
            title=f"Backup exporter ({kind})",
            description=f"{EXPORT_PERMISSIONS[kind]} only, for scheduled backup exports",
            permissions=[EXPORT_PERMISSIONS[kind]],
            project=self._project,
            opts=self._iam,
        )
        self.exporter_roles[kind] = role
        gcp.projects.IAMMember(
            f"{self._name}-{kind}-exporter",
            project=self._project,
            role=role.name,
            member=self.scheduler_account.member,
            condition=gcp.projects.IAMMemberConditionArgs(
                title=f"only the platform's {kind} instance", expression=condition
            )
            if condition is not None
            else None,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _grant_writer(self, key: str, member: pulumi.Input[str]) -> None:
        """The instance's own service identity writes the export; objectAdmin because each export overwrites."""
        gcp.storage.BucketIAMMember(
            f"{self._name}-{key}-writer",
            bucket=self.bucket.name,
            role="roles/storage.objectAdmin",
            member=member,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _job(
        self,
        key: str,
        schedule: str,
        time_zone: str,
        *,
        uri: pulumi.Input[str],
        body: pulumi.Input[str],
        description: str,
        opts: pulumi.ResourceOptions,
    ) -> None:
        self.jobs[key] = gcp.cloudscheduler.Job(
            f"{self._name}-export-{key}",
            name=self._naming.physical("export", key),
            region=self._region,
            description=description,
            schedule=schedule,
            time_zone=time_zone,
            attempt_deadline="180s",
            retry_config=gcp.cloudscheduler.JobRetryConfigArgs(
                retry_count=3, min_backoff_duration="300s", max_backoff_duration="1800s"
            ),
            http_target=gcp.cloudscheduler.JobHttpTargetArgs(
                uri=uri,
                http_method="POST",
                body=body,
                headers={"Content-Type": "application/json"},
                oauth_token=gcp.cloudscheduler.JobHttpTargetOauthTokenArgs(
                    service_account_email=self.scheduler_account.email, scope=SCHEDULER_SCOPE
                ),
            ),
            opts=opts,
        )

    def _vault(self, args: VaultArgs) -> gcp.backupdisasterrecovery.BackupVault:
        return gcp.backupdisasterrecovery.BackupVault(
            f"{self._name}-vault",
            location=args.region,
            backup_vault_id=self._naming.physical("vault"),
            description="Backup and DR vault: backups in it cannot be deleted before the enforced minimum retention",
            backup_minimum_enforced_retention_duration=f"{args.minimum_retention_days * DAY_SECONDS}s",
            force_delete=False,
            deletion_policy="PREVENT" if self._ctx.deletion_protection else "DELETE",
            labels=self._labels,
            opts=self._ctx.stateful(self, "backupdr.googleapis.com"),
        )


def _lifecycle(args: LifecycleArgs) -> list[gcp.storage.BucketLifecycleRuleArgs]:
    steps = (
        ("NEARLINE", "STANDARD", args.nearline_after_days),
        ("COLDLINE", "NEARLINE", args.coldline_after_days),
        ("ARCHIVE", "COLDLINE", args.archive_after_days),
    )
    rules = [
        gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="SetStorageClass", storage_class=to),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=age, matches_storage_classes=[current]),
        )
        for to, current, age in steps
    ]
    rules.append(
        gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                days_since_noncurrent_time=args.delete_noncurrent_after_days, with_state="ARCHIVED"
            ),
        )
    )
    return rules


def schedule_at(hour: int, offset_minutes: int) -> str:
    """A daily cron `offset_minutes` after `hour`:00, wrapping past midnight."""
    total = (hour * 60 + offset_minutes) % (24 * 60)
    return f"{total % 60} {total // 60} * * *"


def cloudsql_export_uri(bucket: str, instance: str, database: str) -> str:
    return f"gs://{bucket}/cloudsql/{instance}/{database}.sql.gz"


def redis_export_uri(bucket: str, instance: str) -> str:
    return f"gs://{bucket}/redis/{instance}.rdb"


def cloudsql_export_body(bucket: str, instance: str, database: str) -> dict[str, Any]:
    """The Cloud SQL Admin API export request; `offload` runs it on a temporary instance so the primary is spared."""
    return {
        "exportContext": {
            "fileType": "SQL",
            "uri": cloudsql_export_uri(bucket, instance, database),
            "databases": [database],
            "offload": True,
        }
    }


def redis_export_body(bucket: str, instance: str) -> dict[str, Any]:
    return {"outputConfig": {"gcsDestination": {"uri": redis_export_uri(bucket, instance)}}}


def encode(body: dict[str, Any]) -> str:
    """Cloud Scheduler takes an HTTP body as base64."""
    return base64.b64encode(json.dumps(body, sort_keys=True).encode()).decode()


def recovery_objectives(
    *, pitr: bool, dr_replica: bool, export_interval_hours: int | None, rto_minutes: int
) -> dict[str, Any]:
    """Recovery point and time objectives from how the data is protected.

    - rpo_minutes: data lost when restoring in place. PITR replays the archived write-ahead log to any second;
      without it, the last daily automated backup (24 h).
    - region_loss_rpo_minutes: data lost if the region is gone. A cross-region replica lags seconds; without one,
      the last export in the DR location; None when nothing leaves the region.
    - rto_minutes: the target from config, which the restore rehearsal (scripts/verify-recovery.sh) must meet.
    """
    if export_interval_hours is None and not pitr:
        rpo: int | None = None
        basis = "no database"
    else:
        rpo = PITR_RPO_MINUTES if pitr else 24 * 60
        basis = "point-in-time recovery" if pitr else "daily automated backup"
    if dr_replica:
        region_rpo: int | None = REPLICA_RPO_MINUTES
        region_basis = "cross-region replica"
    elif export_interval_hours is not None:
        region_rpo = export_interval_hours * 60
        region_basis = f"export every {export_interval_hours} h to the DR bucket"
    else:
        region_rpo, region_basis = None, "nothing exported outside the region"
    return {
        "rpo_minutes": rpo,
        "rpo_basis": basis,
        "region_loss_rpo_minutes": region_rpo,
        "region_loss_basis": region_basis,
        "rto_minutes": rto_minutes,
    }
