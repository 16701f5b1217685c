"""The export workflows, parsed from the YAML the program deploys and run offline (tests/workflows_engine.py) against
fake Cloud SQL and Memorystore APIs that behave as documented: an export to an object that exists fails, a busy
instance answers 409, a long-running operation ends done, with or without an error."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.backup.workflows import SQLADMIN_EXPORT, database_workflow, redis_workflow, to_yaml
from tests.workflows_engine import Engine, WorkflowError, google_api_error, http_error, operation_error

ROOT = Path(__file__).resolve().parent.parent
PROJECT, REGION, BUCKET = "acme-platform-prod", "europe-west1", "acme-prod-backups"
DAY_ONE = datetime(2026, 3, 2, 22, 0, 0, tzinfo=UTC).timestamp()
DAY_TWO = datetime(2026, 3, 3, 22, 0, 0, 250_000, tzinfo=UTC).timestamp()
TIMEOUT = 3600
# The name the restore rehearsal looks for (scripts/verify-recovery.sh): the newest export sorts last.
SCRIPT_PATTERN = re.search(
    r"grep -E '(.+?)'", (ROOT / "scripts" / "verify-recovery.sh").read_text().split("newest_export()", 1)[1]
)


def parsed(definition: dict[str, Any]) -> dict[str, Any]:
    """What Cloud Workflows reads: the YAML the program deploys."""
    source = yaml.safe_load(to_yaml(definition))
    assert isinstance(source, dict)
    return source


class Bucket:
    """Cloud Storage as an export sees it: Cloud SQL refuses to export to an object that exists."""

    def __init__(self) -> None:
        self.objects: list[str] = []

    def write(self, uri: str) -> None:
        if uri in self.objects:
            raise operation_error(f"The file {uri} already exists")
        self.objects.append(uri)


class CloudSql:
    """The Cloud SQL Admin connector: it waits for the export and raises OperationError if the export failed."""

    def __init__(self, bucket: Bucket, *, busy: int = 0, failing: tuple[str, ...] = (), denied: bool = False) -> None:
        self.bucket, self.busy, self.failing, self.denied = bucket, busy, failing, denied
        self.calls: list[dict[str, Any]] = []

    def export(self, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(args)
        if self.denied:
            raise http_error(403, "The client is not authorized to make this request.")
        if self.busy:
            self.busy -= 1
            raise http_error(409, "Operation failed because another operation was already in progress.")
        context = args["body"]["exportContext"]
        if context["databases"][0] in self.failing:
            raise operation_error("pg_dump: error: connection failed")
        self.bucket.write(context["uri"])
        return {"status": "DONE", "operationType": "EXPORT"}


def run_database(bucket: Bucket, api: CloudSql, now: float, databases: tuple[str, ...] = ("app", "orders")) -> Any:
    definition = parsed(database_workflow(PROJECT, BUCKET, "acme-prod-pg", list(databases), TIMEOUT))
    return Engine(definition, {SQLADMIN_EXPORT: api.export}, now=now).run()


def stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y%m%dT%H%M%SZ")


# Cloud SQL ---------------------------------------------------------------------------------------------------------


def test_the_workflow_source_is_yaml_that_reads_back_as_the_definition() -> None:
    definition = database_workflow(PROJECT, BUCKET, "acme-prod-pg", ["app"], TIMEOUT)
    assert parsed(definition) == definition
    steps = [next(iter(step)) for step in definition["main"]["steps"]]
    assert steps == ["init", "export_app", "check", "done", "fail"]


def test_each_database_is_exported_in_turn_to_a_new_object_named_by_the_time_of_its_export() -> None:
    bucket = Bucket()
    api = CloudSql(bucket)
    exported = run_database(bucket, api, DAY_ONE)
    prefix = f"gs://{BUCKET}/cloudsql/acme-prod-pg"
    assert exported == [f"{prefix}/app/{stamp(DAY_ONE)}.sql.gz", f"{prefix}/orders/{stamp(DAY_ONE)}.sql.gz"]
    assert [c["body"]["exportContext"]["databases"] for c in api.calls] == [["app"], ["orders"]]
    for call in api.calls:
        assert (call["project"], call["instance"]) == (PROJECT, "acme-prod-pg")
        assert call["body"]["exportContext"]["fileType"] == "SQL"
        assert call["body"]["exportContext"]["offload"] is True
        assert call["connector_params"] == {"timeout": TIMEOUT}


def test_the_export_of_the_second_day_writes_beside_the_first_instead_of_failing() -> None:
    bucket = Bucket()
    run_database(bucket, CloudSql(bucket), DAY_ONE)
    run_database(bucket, CloudSql(bucket), DAY_TWO)  # a fixed name would fail here: the object exists
    run_database(bucket, CloudSql(bucket), DAY_TWO + 3600)  # and so would a date-only name, on a re-run
    assert len(bucket.objects) == 6 == len(set(bucket.objects))
    assert sorted(bucket.objects) == sorted(bucket.objects, key=lambda uri: uri.rsplit("/", 2)[1:])


def test_export_names_are_the_ones_the_restore_rehearsal_takes_for_the_newest() -> None:
    assert SCRIPT_PATTERN is not None
    bucket = Bucket()
    for moment in (DAY_ONE, DAY_TWO):
        run_database(bucket, CloudSql(bucket), moment, databases=("app",))
    assert all(re.search(SCRIPT_PATTERN[1], uri) for uri in bucket.objects)
    assert sorted(bucket.objects)[-1].endswith(f"/{stamp(DAY_TWO)}.sql.gz")


def test_an_export_refused_while_the_instance_is_busy_is_retried_with_backoff() -> None:
    bucket = Bucket()
    api = CloudSql(bucket, busy=3)
    definition = parsed(database_workflow(PROJECT, BUCKET, "acme-prod-pg", ["app"], TIMEOUT))
    engine = Engine(definition, {SQLADMIN_EXPORT: api.export}, now=DAY_ONE)
    assert len(engine.run()) == 1
    assert len(api.calls) == 4
    assert engine.now - DAY_ONE == 60 + 120 + 240  # waits between attempts, growing
    # The object is named when the export that succeeds starts.
    assert bucket.objects == [f"gs://{BUCKET}/cloudsql/acme-prod-pg/app/{stamp(DAY_ONE + 420)}.sql.gz"]


def test_a_failed_export_fails_the_execution_after_the_other_databases_are_exported() -> None:
    bucket = Bucket()
    with pytest.raises(WorkflowError) as failed:
        run_database(bucket, CloudSql(bucket, failing=("app",)), DAY_ONE)
    assert failed.value.payload["message"] == "Cloud SQL export failed"
    (failure,) = failed.value.payload["failures"]
    assert failure["database"] == "app"
    assert failure["error"]["tags"] == ["OperationError"]
    assert [uri.split("/")[-2] for uri in bucket.objects] == ["orders"]


def test_a_refused_export_is_not_retried_and_fails_the_execution() -> None:
    bucket = Bucket()
    api = CloudSql(bucket, denied=True)
    with pytest.raises(WorkflowError) as failed:
        run_database(bucket, api, DAY_ONE, databases=("app",))
    assert failed.value.payload["failures"][0]["error"]["code"] == 403
    assert len(api.calls) == 1


def test_an_instance_busy_for_an_hour_fails_the_execution() -> None:
    bucket = Bucket()
    with pytest.raises(WorkflowError):
        run_database(bucket, CloudSql(bucket, busy=100), DAY_ONE, databases=("app",))
    assert bucket.objects == []


# Memorystore -------------------------------------------------------------------------------------------------------


class Memorystore:
    """The Memorystore REST API: `instances:export` starts an operation that `operations.get` reports on."""

    def __init__(
        self,
        bucket: Bucket,
        *,
        polls: int = 2,
        error: dict[str, Any] | None = None,
        busy: int = 0,
        refusal: WorkflowError | None = None,
    ) -> None:
        self.bucket, self.polls, self.error, self.busy = bucket, polls, error, busy
        self.refusal = refusal or http_error(409, "Conflict for resource: an operation is in progress")
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(("POST", args))
        assert args["auth"] == {"type": "OAuth2"}
        if self.busy:
            self.busy -= 1
            raise self.refusal
        self.uri = args["body"]["outputConfig"]["gcsDestination"]["uri"]
        return {"code": 200, "body": {"name": f"projects/{PROJECT}/locations/{REGION}/operations/op-1", "done": False}}

    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(("GET", args))
        assert args["url"] == f"https://redis.googleapis.com/v1/projects/{PROJECT}/locations/{REGION}/operations/op-1"
        self.polls -= 1
        if self.polls > 0:
            return {"code": 200, "body": {"name": "op-1"}}  # `done` is absent until it is true
        if self.error is not None:
            return {"code": 200, "body": {"name": "op-1", "done": True, "error": self.error}}
        self.bucket.write(self.uri)
        return {"code": 200, "body": {"name": "op-1", "done": True, "response": {}}}


def run_redis(api: Memorystore, now: float = DAY_ONE) -> tuple[Any, Engine]:
    definition = parsed(redis_workflow(PROJECT, REGION, BUCKET, "acme-prod-redis", TIMEOUT))
    engine = Engine(definition, {"http.post": api.post, "http.get": api.get}, now=now)
    return engine.run(), engine


def test_redis_is_exported_to_a_new_object_once_its_operation_is_done() -> None:
    bucket = Bucket()
    api = Memorystore(bucket, polls=3)
    result, _ = run_redis(api)
    expected = f"gs://{BUCKET}/redis/acme-prod-redis/{stamp(DAY_ONE)}.rdb"
    assert result == expected
    assert bucket.objects == [expected]
    method, start = api.requests[0]
    assert method == "POST"
    assert start["url"] == (
        f"https://redis.googleapis.com/v1/projects/{PROJECT}/locations/{REGION}/instances/acme-prod-redis:export"
    )
    assert [m for m, _ in api.requests[1:]] == ["GET"] * 3


def test_a_failed_redis_export_fails_the_execution() -> None:
    error = {"code": 9, "message": "Permission denied on bucket"}
    with pytest.raises(WorkflowError) as failed:
        run_redis(Memorystore(Bucket(), error=error))
    assert failed.value.payload == {"message": "Memorystore export failed", "error": error}


def test_a_redis_export_that_never_finishes_fails_the_execution_at_the_timeout() -> None:
    with pytest.raises(WorkflowError) as failed:
        run_redis(Memorystore(Bucket(), polls=10_000))
    assert failed.value.payload["message"] == "Memorystore export timed out"


def test_a_busy_memorystore_instance_is_retried() -> None:
    bucket = Bucket()
    result, _ = run_redis(Memorystore(bucket, busy=1))
    assert result == bucket.objects[0]


# How Memorystore refuses an operation while another runs (maintenance, a failover, a scale, an import): a Google API
# error FAILED_PRECONDITION, HTTP 400 (the message as Memorystore words it for a failover).
ONGOING = google_api_error(
    400,
    "FAILED_PRECONDITION",
    "Unable to export due to ongoing operations. Please wait until instance is in READY state.",
)


def test_a_memorystore_instance_busy_with_another_operation_is_retried_with_backoff() -> None:
    bucket = Bucket()
    api = Memorystore(bucket, busy=3, refusal=ONGOING)
    result, engine = run_redis(api)
    assert result == bucket.objects[0]
    assert [m for m, _ in api.requests].count("POST") == 4
    assert result.endswith(f"/{stamp(DAY_ONE)}.rdb")  # named once, before the first attempt
    assert engine.now - DAY_ONE >= 60 + 120 + 240  # the waits between attempts, before the polls


def test_a_memorystore_request_refused_as_invalid_is_not_retried() -> None:
    api = Memorystore(Bucket(), busy=1, refusal=google_api_error(400, "INVALID_ARGUMENT", "Invalid output URI"))
    with pytest.raises(WorkflowError) as failed:
        run_redis(api)
    assert failed.value.payload["code"] == 400
    assert [m for m, _ in api.requests] == ["POST"]


def test_a_cloud_sql_failed_precondition_is_not_taken_for_busy() -> None:
    """Cloud SQL says busy with 409; its 400s (a bad request, a database that does not exist) are final."""
    bucket = Bucket()
    api = CloudSql(bucket)
    refusal = google_api_error(400, "FAILED_PRECONDITION", "Invalid request: database does not exist.")

    def export(args: dict[str, Any]) -> dict[str, Any]:
        api.calls.append(args)
        raise refusal

    definition = parsed(database_workflow(PROJECT, BUCKET, "acme-prod-pg", ["app"], TIMEOUT))
    with pytest.raises(WorkflowError):
        Engine(definition, {SQLADMIN_EXPORT: export}, now=DAY_ONE).run()
    assert len(api.calls) == 1
