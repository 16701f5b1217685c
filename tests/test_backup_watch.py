"""The backup-failure alert's filter, run (tests/logging_query.py) against log entries shaped as Google writes them:

- Workflows' execution log `workflows.googleapis.com/executions_system`: an ExecutionsSystemLog
  (github.com/googleapis/googleapis google/cloud/workflows/type/executions_system.proto: `message`, `activityTime`,
  `state` ACTIVE/SUCCEEDED/FAILED/CANCELLED, and `start`, `success` or `failure` {exception, source}) on resource
  `workflows.googleapis.com/Workflow` with label `workflow_id`, at INFO or ERROR; one entry when an execution starts
  and one when it ends (cloud.google.com/workflows/docs/log-workflow).
- Cloud Scheduler's `cloudscheduler.googleapis.com/executions`: an AttemptFinished (`jobName`, `targetType`, `url`,
  `status` when it failed, `debugInfo`) with `httpRequest.status`, on resource `cloud_scheduler_job` with label
  `job_id`, at ERROR when the target answered with an error.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.backup.watch import failure_filter
from tests.conftest import STACKS, config_of, program_of
from tests.logging_query import matches

PROJECT, REGION = "acme-platform-prod", "europe-west1"
WORKFLOWS = ["acme-prod-export-database", "acme-prod-export-redis"]
FILTER = failure_filter(PROJECT, WORKFLOWS, WORKFLOWS)


def execution_log(workflow: str, state: str, severity: str, **details: Any) -> dict[str, Any]:
    return {
        "logName": f"projects/{PROJECT}/logs/workflows.googleapis.com%2Fexecutions_system",
        "severity": severity,
        "resource": {
            "type": "workflows.googleapis.com/Workflow",
            "labels": {"workflow_id": workflow, "location": REGION, "project_id": PROJECT},
        },
        "labels": {"workflows.googleapis.com/execution_id": "0c5a-4f1e", "workflows.googleapis.com/revision_id": "r1"},
        "jsonPayload": {
            "@type": "type.googleapis.com/google.cloud.workflows.type.ExecutionsSystemLog",
            "message": f"Execution {state.lower()}",
            "activityTime": "2026-03-02T22:04:11.382014Z",
            "state": state,
            **details,
        },
    }


def attempt_log(job: str, status: int, severity: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "@type": "type.googleapis.com/google.cloud.scheduler.logging.AttemptFinished",
        "jobName": f"projects/{PROJECT}/locations/{REGION}/jobs/{job}",
        "targetType": "HTTP",
        "url": f"https://workflowexecutions.googleapis.com/v1/projects/{PROJECT}/locations/{REGION}/workflows/{job}"
        "/executions",
        "debugInfo": f"URL_ERROR-ERROR_OTHER. Original HTTP response code number = {status}",
    }
    if status >= 400:
        payload["status"] = "PERMISSION_DENIED" if status == 403 else "NOT_FOUND"
    return {
        "logName": f"projects/{PROJECT}/logs/cloudscheduler.googleapis.com%2Fexecutions",
        "severity": severity,
        "httpRequest": {"status": status},
        "resource": {
            "type": "cloud_scheduler_job",
            "labels": {"job_id": job, "location": REGION, "project_id": PROJECT},
        },
        "jsonPayload": payload,
    }


FAILURE = {"failure": {"exception": '{"message":"Cloud SQL export failed"}', "source": "main.fail"}}


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_a_failed_export_execution_alerts(workflow: str) -> None:
    assert matches(FILTER, execution_log(workflow, "FAILED", "ERROR", **FAILURE))
    # The state says it even if the entry were written at another severity.
    assert matches(FILTER, execution_log(workflow, "FAILED", "INFO", **FAILURE))


def test_a_started_or_successful_export_execution_does_not_alert() -> None:
    for workflow in WORKFLOWS:
        assert not matches(FILTER, execution_log(workflow, "ACTIVE", "INFO", start={"argument": "{}"}))
        assert not matches(FILTER, execution_log(workflow, "SUCCEEDED", "INFO", success={"result": "[]"}))


def test_a_failed_execution_of_another_workflow_or_project_does_not_alert() -> None:
    assert not matches(FILTER, execution_log("acme-prod-reports", "FAILED", "ERROR", **FAILURE))
    other = execution_log(WORKFLOWS[0], "FAILED", "ERROR", **FAILURE)
    other["logName"] = "projects/elsewhere/logs/workflows.googleapis.com%2Fexecutions_system"
    assert not matches(FILTER, other)


@pytest.mark.parametrize("status", [401, 403, 404, 500])
def test_the_scheduler_failing_to_start_an_export_alerts(status: int) -> None:
    assert matches(FILTER, attempt_log(WORKFLOWS[1], status, "ERROR"))


def test_a_started_export_and_the_office_hours_jobs_do_not_alert() -> None:
    assert not matches(FILTER, attempt_log(WORKFLOWS[0], 200, "INFO"))
    # Starting or stopping the dev database is not a backup: its failures belong to another alert.
    assert not matches(FILTER, attempt_log("acme-prod-db-stop", 409, "ERROR"))


def test_a_failed_automated_backup_alerts() -> None:
    entry = {
        "logName": f"projects/{PROJECT}/logs/cloudaudit.googleapis.com%2Factivity",
        "severity": "ERROR",
        "resource": {"type": "cloudsql_database", "labels": {"database_id": f"{PROJECT}:acme-prod-pg"}},
        "protoPayload": {"serviceName": "cloudsql.googleapis.com", "methodName": "cloudsql.backupRuns.create"},
    }
    assert matches(FILTER, entry)


@pytest.mark.parametrize("stack", STACKS)
def test_the_alert_watches_the_workflows_and_jobs_the_stack_creates(stack: str) -> None:
    program = program_of(stack)
    log_filter = next(
        p.inputs["conditions"][0]["conditionMatchedLog"]["filter"]
        for p in program.of("gcp:monitoring/alertPolicy:AlertPolicy")
        if p.name.endswith("backup-failure")
    )
    for kind in ("database", "redis"):
        workflow = program.named(f"backup-{kind}-workflow").inputs["name"]
        job = program.named(f"backup-export-{kind}").inputs["name"]
        entry = execution_log(workflow, "FAILED", "ERROR", **FAILURE)
        entry["logName"] = entry["logName"].replace(PROJECT, config_of(stack).gcp.project)
        assert matches(log_filter, entry)
        assert matches(log_filter, attempt_log(job, 403, "ERROR"))
