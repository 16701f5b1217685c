"""What makes the backup-failure alert fire, as a Cloud Logging filter over the log entries Google writes:

- an export workflow's execution that ends FAILED: Workflows logs every execution's start and end to
  `workflows.googleapis.com/executions_system` on resource `workflows.googleapis.com/Workflow` (label `workflow_id`),
  as an ExecutionsSystemLog whose `state` is FAILED (with `failure.exception`) when it fails;
- the scheduler failing to start one: Cloud Scheduler logs each attempt to `cloudscheduler.googleapis.com/executions`
  on resource `cloud_scheduler_job` (label `job_id`), an AttemptFinished at severity ERROR with the HTTP status when
  the call fails (401/403 when the invoker lost its role, 404 when the workflow is gone);
- a Cloud SQL automated backup that logged an error.

Retried "busy" export requests are not matched: the workflow retries them, and only a failed execution counts.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.observability.signals import Runbook

FAILURE_RUNBOOK = Runbook(
    "A scheduled export or a Cloud SQL backup failed; the recovery point is older than promised.",
    "Read the failing log entry; run the export workflow again; follow the backup runbook's checks.",
    "backup-or-export-failed",
    page="operations/backup-recovery.md",
)
BACKUP_FAILED = (
    '(protoPayload.serviceName="cloudsql.googleapis.com" AND protoPayload.methodName="cloudsql.backupRuns.create"'
    " AND severity>=ERROR)"
)


def _any_of(values: Sequence[str]) -> str:
    return "(" + " OR ".join(f'"{v}"' for v in values) + ")"


def failure_filter(project: str, workflows: Sequence[str], jobs: Sequence[str]) -> str:
    """Failed executions of `workflows`, failed attempts of the scheduler `jobs` (names), and failed backups."""
    clauses = []
    if workflows:
        clauses.append(
            '(resource.type="workflows.googleapis.com/Workflow"'
            f" AND resource.labels.workflow_id={_any_of(workflows)}"
            f' AND logName="projects/{project}/logs/workflows.googleapis.com%2Fexecutions_system"'
            ' AND (jsonPayload.state="FAILED" OR severity>=ERROR))'
        )
    if jobs:
        clauses.append(
            '(resource.type="cloud_scheduler_job"'
            f" AND resource.labels.job_id={_any_of(jobs)}"
            " AND (severity>=ERROR OR httpRequest.status>=400))"
        )
    clauses.append(BACKUP_FAILED)
    return " OR ".join(clauses)
