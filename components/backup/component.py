"""Backups outside the data's region: a hardened bucket in the DR location, daily exports of every database and of
Redis on top of Cloud SQL's own backups and point-in-time recovery, and the recovery objectives those choices give.

Each export is a Cloud Workflows execution that a Cloud Scheduler job starts (components/backup/workflows.py): it
writes a new object named after its start time, waits for the export to finish, and fails when it fails.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.backup.config import BackupArgs, ExportsArgs, LifecycleArgs
from components.backup.watch import FAILURE_RUNBOOK, failure_filter
from components.backup.workflows import database_workflow, redis_workflow, to_yaml
from components.context import StackContext
from components.observability.signals import Alert, Watched, log_match
from components.refs import NO_CMEK, Encryption

DAY_SECONDS = 86_400
PITR_RPO_MINUTES = 5  # write-ahead log is archived continuously; budget for the last few minutes in flight
REPLICA_RPO_MINUTES = 1  # asynchronous cross-region replication lags seconds; budget a minute
SCHEDULER_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
EXECUTIONS_API = "https://workflowexecutions.googleapis.com/v1"
# What each export workflow calls. Cloud SQL: `instances.export`, then the connector polls `operations.get`, which
# takes cloudsql.instances.get. Memorystore: `instances:export`, then the workflow polls the operation
# (redis.operations.get); the export itself also needs redis.instances.get.
EXPORT_PERMISSIONS = {
    "database": ("cloudsql.instances.export", "cloudsql.instances.get"),
    "redis": ("redis.instances.export", "redis.instances.get", "redis.operations.get"),
}
# An operation is read by project and operation id (`projects/P/operations/OP`), not under the instance, and no page
# says the `resource.name` condition on the instance covers that read; so the Cloud SQL exporter also holds
# cloudsql.instances.get on the project, unconditionally, through roles/cloudsql.client (cloudsql.instances.get and
# cloudsql.instances.connect: a predefined role the deployer may already grant, where a custom role would need its
# grant allowed in the bootstrap). It reads the metadata of the project's instances, never their data; connect is a
# Cloud SQL connector handshake, useless without a database user, and the account has none. It exports nothing else.
POLL_ROLES = {"database": "roles/cloudsql.client"}
# What Memorystore's service identity needs on the bucket to write an export (a custom role: no predefined role has
# exactly these). Cloud SQL's needs only storage.objects.create, which roles/storage.objectCreator holds.
REDIS_WRITER_PERMISSIONS = ("storage.buckets.get", "storage.objects.create")
CLOUDSQL_WRITER_ROLE = "roles/storage.objectCreator"
# Workflows grants its roles on the project only (its lowest-level resource), so the invoker may start any workflow
# of the stack's project, and nothing else.
INVOKER_ROLE = "roles/workflows.invoker"


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
    databases and Redis into it: a workflow per instance that may export and nothing else, started by a scheduler
    job whose account may start workflows and nothing else."""

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
        encryption: Encryption = NO_CMEK,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """With `encryption` (CMEK) the bucket encrypts new exports with the `storage` key of its location."""
        super().__init__("platform:components:Backup", name, None, ctx.component(opts))
        self._name = name
        self._ctx = ctx
        self._naming = ctx.naming
        self._project = ctx.project
        self._region = ctx.region
        self._labels = ctx.labels("backup")
        self.bucket = self._bucket(args, encryption.key("storage", args.location))
        self.bucket_name = self.bucket.name
        self.workflows: dict[str, gcp.workflows.Workflow] = {}
        self.jobs: dict[str, gcp.cloudscheduler.Job] = {}
        self.exporters: dict[str, gcp.serviceaccount.Account] = {}
        self.exporter_roles: dict[str, gcp.projects.IAMCustomRole] = {}
        # Physical names, known before anything exists, for the alert's filter.
        self.export_names: dict[str, str] = {}
        if database is not None or redis is not None:
            self._exports(args.exports, database, redis)
        self.recovery_objectives = recovery_objectives(
            pitr=database.point_in_time_recovery if database else False,
            dr_replica=database.cross_region_replica if database else False,
            export_interval_hours=args.exports.interval_hours if database else None,
            rto_minutes=args.rto_minutes,
            rpo_target_minutes=args.rpo_target_minutes,
        )
        self.register_outputs({"bucket": self.bucket_name, "recovery_objectives": self.recovery_objectives})

    def watch(self) -> Watched:
        """A failed export (its workflow execution, or the scheduler's call that starts it) or backup: each one is an
        incident for the recovery point."""
        names = sorted(self.export_names.values())
        condition = log_match(
            "an export workflow, its schedule or a Cloud SQL backup failed",
            failure_filter(self._project, workflows=names, jobs=names),
        )
        alert = Alert(
            "backup-failure", "Backup or export failed", [condition], FAILURE_RUNBOOK, "CRITICAL", log_based=True
        )
        return Watched(key="backup", alerts=(alert,))

    def _bucket(self, args: BackupArgs, key: pulumi.Input[str] | None) -> gcp.storage.Bucket:
        """Exports never replace an object, so the bucket keeps no versions: a retention policy, where set, stops
        anyone deleting or replacing them early; soft delete keeps deleted ones restorable."""
        return gcp.storage.Bucket(
            f"{self._name}-bucket",
            name=self._naming.physical("backups", self._project),
            location=args.location,
            rpo="ASYNC_TURBO" if args.turbo_replication else None,
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=False),
            soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(
                retention_duration_seconds=args.soft_delete_days * DAY_SECONDS
            ),
            retention_policy=gcp.storage.BucketRetentionPolicyArgs(
                retention_period=str(args.retention_policy.days * DAY_SECONDS), is_locked=args.retention_policy.locked
            )
            if args.retention_policy
            else None,
            lifecycle_rules=_lifecycle(args.lifecycle),
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=key) if key else None,
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
        self._invoker()
        timeout = args.timeout_minutes * 60
        if database is not None:
            self._database_export(args, database, timeout)
        if redis is not None:
            self._redis_export(args, redis, timeout)

    def _invoker(self) -> None:
        """The account the scheduler jobs start the workflows with."""
        self.invoker = gcp.serviceaccount.Account(
            f"{self._name}-export-invoker",
            account_id=self._naming.physical("export-invoker", max_length=30),
            display_name="Starts the scheduled backup export workflows (Workflows invoker only)",
            opts=self._ctx.after(self, "iam.googleapis.com"),
        )
        self.invoker_grant = gcp.projects.IAMMember(
            f"{self._name}-export-invoker-grant",
            project=self._project,
            role=INVOKER_ROLE,
            member=self.invoker.member,
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Cloud Scheduler checks actAs on the account its jobs call with; Workflows on the one a workflow runs as.
        self.invoker_act_as = self._ctx.act_as(self, f"{self._name}-export-invoker", self.invoker.name)

    def _database_export(self, args: ExportsArgs, database: DatabaseExportTarget, timeout: int) -> None:
        """The Cloud SQL instance's export, and the instance's right to write it into the bucket."""
        bucket = self.bucket.name
        databases = sorted(database.databases)
        self._export(
            "database",
            args,
            source=pulumi.Output.all(bucket, database.instance).apply(
                lambda v: to_yaml(database_workflow(self._project, v[0], v[1], databases, timeout))
            ),
            # Cloud SQL honours IAM conditions on the instance's resource name: export this instance only.
            condition=pulumi.Output.from_input(database.instance).apply(
                lambda i: (
                    f"resource.name == 'projects/{self._project}/instances/{i}'"
                    " && resource.type == 'sqladmin.googleapis.com/Instance'"
                )
            ),
            description=f"Export databases {', '.join(databases)} of the Cloud SQL instance to the backup bucket",
        )
        gcp.storage.BucketIAMMember(
            f"{self._name}-database-writer",
            bucket=bucket,
            role=CLOUDSQL_WRITER_ROLE,
            member=pulumi.Output.concat("serviceAccount:", database.service_account_email),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _redis_export(self, args: ExportsArgs, redis: RedisExportTarget, timeout: int) -> None:
        """The Memorystore instance's export, and its service identity's right to write it into the bucket."""
        bucket = self.bucket.name
        self._export(
            "redis",
            args,
            source=pulumi.Output.all(bucket, redis.instance).apply(
                lambda v: to_yaml(redis_workflow(self._project, redis.region, v[0], v[1], timeout))
            ),
            condition=None,
            description="Export the Memorystore instance to the backup bucket",
        )
        writer = gcp.projects.IAMCustomRole(
            f"{self._name}-redis-writer-role",
            role_id=self._naming.physical("export", "redis", "writer").replace("-", "_"),
            title="Backup writer (Memorystore export)",
            description="What Memorystore's service identity needs on the backup bucket to write an export",
            permissions=list(REDIS_WRITER_PERMISSIONS),
            project=self._project,
            opts=self._ctx.after(self, "iam.googleapis.com"),
        )
        gcp.storage.BucketIAMMember(
            f"{self._name}-redis-writer",
            bucket=bucket,
            role=writer.name,
            member=redis.persistence_identity,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _export(
        self,
        kind: str,
        args: ExportsArgs,
        *,
        source: pulumi.Input[str],
        condition: pulumi.Input[str] | None,
        description: str,
    ) -> None:
        """A workflow that runs as its own account, holding exactly the export permission, and the scheduler job that
        starts it."""
        physical = self._naming.physical("export", kind)
        self.export_names[kind] = physical
        account = gcp.serviceaccount.Account(
            f"{self._name}-{kind}-exporter",
            account_id=self._naming.physical("export", kind, max_length=30),
            display_name=f"The {kind} export workflow (export and read its operation only)",
            opts=self._ctx.after(self, "iam.googleapis.com"),
        )
        self.exporters[kind] = account
        grants = self._grant_exporter(kind, account, condition)
        act_as = self._ctx.act_as(self, f"{self._name}-{kind}-exporter", account.name)
        self.workflows[kind] = self._workflow(
            kind, physical, account, source=source, description=description, depends_on=[*grants, *act_as]
        )
        self.jobs[kind] = self._schedule(kind, physical, args, self.workflows[kind])

    def _workflow(
        self,
        kind: str,
        physical: str,
        account: gcp.serviceaccount.Account,
        *,
        source: pulumi.Input[str],
        description: str,
        depends_on: list[pulumi.Resource],
    ) -> gcp.workflows.Workflow:
        """Created once its account may export and the deployer may act as it."""
        return gcp.workflows.Workflow(
            f"{self._name}-{kind}-workflow",
            name=physical,
            region=self._region,
            description=description,
            service_account=account.email,
            source_contents=source,
            deletion_protection=False,  # it holds no data; the definition is in this program
            labels=self._labels,
            opts=pulumi.ResourceOptions.merge(
                self._ctx.after(self, "workflows.googleapis.com"), pulumi.ResourceOptions(depends_on=depends_on)
            ),
        )

    def _schedule(
        self, kind: str, physical: str, args: ExportsArgs, workflow: gcp.workflows.Workflow
    ) -> gcp.cloudscheduler.Job:
        """The job that starts the workflow as the invoker, on the export schedule."""
        # The job calls the Workflow Executions API, a service of its own.
        scheduler = self._ctx.after(self, "cloudscheduler.googleapis.com", "workflowexecutions.googleapis.com")
        return gcp.cloudscheduler.Job(
            f"{self._name}-export-{kind}",
            name=physical,
            region=self._region,
            description=f"Start the {kind} export workflow ({args.time} {args.time_zone})",
            schedule=args.cron(),
            time_zone=args.time_zone,
            attempt_deadline="180s",
            retry_config=gcp.cloudscheduler.JobRetryConfigArgs(
                retry_count=2, min_backoff_duration="60s", max_backoff_duration="300s"
            ),
            http_target=gcp.cloudscheduler.JobHttpTargetArgs(
                uri=pulumi.Output.concat(
                    f"{EXECUTIONS_API}/projects/{self._project}/locations/{self._region}/workflows/",
                    workflow.name,
                    "/executions",
                ),
                http_method="POST",
                body=encode({}),
                headers={"Content-Type": "application/json"},
                # Google APIs take an OAuth access token; an OIDC token is refused.
                oauth_token=gcp.cloudscheduler.JobHttpTargetOauthTokenArgs(
                    service_account_email=self.invoker.email, scope=SCHEDULER_SCOPE
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                scheduler, pulumi.ResourceOptions(depends_on=[self.invoker_grant, *self.invoker_act_as])
            ),
        )

    def _grant_exporter(
        self, kind: str, account: gcp.serviceaccount.Account, condition: pulumi.Input[str] | None
    ) -> list[gcp.projects.IAMMember]:
        """A custom role with exactly what the export takes: roles/cloudsql.viewer cannot export, and
        roles/cloudsql.editor or roles/redis.admin would also let the workflow change or delete instances."""
        role = gcp.projects.IAMCustomRole(
            f"{self._name}-{kind}-exporter-role",
            role_id=self._naming.physical("export", kind).replace("-", "_"),
            title=f"Backup exporter ({kind})",
            description=f"{', '.join(EXPORT_PERMISSIONS[kind])} only, for scheduled backup exports",
            permissions=list(EXPORT_PERMISSIONS[kind]),
            project=self._project,
            opts=self._ctx.after(self, "iam.googleapis.com"),
        )
        self.exporter_roles[kind] = role
        poll = POLL_ROLES.get(kind)
        polls = [self._grant_poller(kind, account, poll)] if condition is not None and poll else []
        grant = gcp.projects.IAMMember(
            f"{self._name}-{kind}-exporter-grant",
            project=self._project,
            role=role.name,
            member=account.member,
            condition=gcp.projects.IAMMemberConditionArgs(
                title=f"only the platform's {kind} instance", expression=condition
            )
            if condition is not None
            else None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return [*polls, grant]

    def _grant_poller(self, kind: str, account: gcp.serviceaccount.Account, role: str) -> gcp.projects.IAMMember:
        """What reading the export's operation takes, on the project without a condition (POLL_ROLES)."""
        return gcp.projects.IAMMember(
            f"{self._name}-{kind}-poller-grant",
            project=self._project,
            role=role,
            member=account.member,
            opts=pulumi.ResourceOptions(parent=self),
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
        # Where a move and the deletion fall due together, Cloud Storage deletes: a move at or after it never happens.
        if args.delete_after_days is None or age < args.delete_after_days
    ]
    if args.delete_after_days is not None:
        # Every object, and any version left from when the bucket kept them, once it is that old.
        rules.append(
            gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=args.delete_after_days, with_state="ANY"),
            )
        )
    return rules


def encode(body: dict[str, Any]) -> str:
    """Cloud Scheduler takes an HTTP body as base64."""
    return base64.b64encode(json.dumps(body, sort_keys=True).encode()).decode()


def recovery_objectives(
    *,
    pitr: bool,
    dr_replica: bool,
    export_interval_hours: int | None,
    rto_minutes: int,
    rpo_target_minutes: int | None = None,
) -> dict[str, Any]:
    """Recovery point and time objectives from how the data is protected.

    - rpo_minutes: data lost when restoring in place. PITR replays the archived write-ahead log to any second;
      without it, the last daily automated backup (24 h).
    - region_loss_rpo_minutes: data lost if the region is gone. A cross-region replica lags seconds; without one,
      the last export in the DR location, as far apart as exports can be (a weekend where they run on weekdays);
      None when nothing leaves the region.
    - rto_minutes: the target from config, which the restore rehearsal (scripts/verify-recovery.sh) must meet.
    - rpo_target_minutes: the recovery point promised (config), which the worse of the two RPOs above keeps (the
      stack config is refused otherwise); None when nothing was promised.
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
        region_basis = f"exports at most {export_interval_hours} h apart in the DR bucket"
    else:
        region_rpo, region_basis = None, "nothing exported outside the region"
    return {
        "rpo_minutes": rpo,
        "rpo_basis": basis,
        "region_loss_rpo_minutes": region_rpo,
        "region_loss_basis": region_basis,
        "rto_minutes": rto_minutes,
        "rpo_target_minutes": rpo_target_minutes,
    }


def worst_rpo(objectives: dict[str, Any]) -> tuple[int, str] | None:
    """The most data a recovery can lose, in minutes, and why: the worse of restoring in place and losing the region
    (None when the stack keeps no data it could recover)."""
    found = [
        (objectives[minutes], objectives[basis])
        for minutes, basis in (("rpo_minutes", "rpo_basis"), ("region_loss_rpo_minutes", "region_loss_basis"))
        if objectives[minutes] is not None
    ]
    return max(found) if found else None
