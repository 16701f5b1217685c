"""The database office-hours schedule: two Cloud Scheduler jobs that flip the activation policy, as a service account
that may update only that instance."""

from __future__ import annotations

import base64
import json

import pulumi
import pytest

import stack_config
from components.database_schedule import DatabaseSchedule, OfficeHoursArgs
from offline.engine import Recording, Resource, run
from tests.conftest import context_of, program_of, raw_config

JOB = "gcp:cloudscheduler/job:Job"


def _schedule(args: OfficeHoursArgs) -> Recording:
    def program() -> None:
        DatabaseSchedule("db-hours", args, ctx=context_of("dev"), instance_name="fake-db")

    return run(program)


@pytest.fixture(scope="module")
def recording() -> Recording:
    return _schedule(OfficeHoursArgs(start="07:30", stop="19:00", days=["MON", "TUE", "WED", "THU", "FRI"]))


def _body(job: Resource) -> dict[str, object]:
    body: dict[str, object] = json.loads(base64.b64decode(job.inputs["httpTarget"]["body"]))
    return body


def test_a_job_starts_the_instance_in_the_morning_and_another_stops_it_at_night(recording: Recording) -> None:
    start, stop = recording.named("db-hours-start"), recording.named("db-hours-stop")
    assert start.inputs["schedule"] == "30 7 * * 1,2,3,4,5"
    assert stop.inputs["schedule"] == "0 19 * * 1,2,3,4,5"
    assert start.inputs["timeZone"] == stop.inputs["timeZone"] == "Europe/Brussels"
    assert _body(start) == {"settings": {"activationPolicy": "ALWAYS"}}
    assert _body(stop) == {"settings": {"activationPolicy": "NEVER"}}


def test_the_jobs_patch_the_named_instance_through_the_cloud_sql_admin_api(recording: Recording) -> None:
    for job in recording.of(JOB):
        target = job.inputs["httpTarget"]
        assert target["httpMethod"] == "PATCH"
        assert target["uri"] == "https://sqladmin.googleapis.com/v1/projects/acme-platform-dev/instances/fake-db"
        assert target["oauthToken"]["serviceAccountEmail"].startswith("acme-dev-db-hours@")
        assert "oidcToken" not in target  # Google APIs take OAuth access tokens


def test_the_schedule_account_may_only_update_that_one_instance(recording: Recording) -> None:
    role = recording.one("gcp:projects/iAMCustomRole:IAMCustomRole")
    assert role.inputs["permissions"] == ["cloudsql.instances.update"]
    grant = recording.one("gcp:projects/iAMMember:IAMMember")
    assert grant.inputs["role"] == "projects/acme-platform-dev/roles/acme_dev_db_hours"
    assert grant.inputs["member"].startswith("serviceAccount:acme-dev-db-hours@")
    assert grant.inputs["condition"]["expression"] == 'resource.name == "projects/acme-platform-dev/instances/fake-db"'


def test_the_jobs_wait_for_their_api_and_their_permission(recording: Recording) -> None:
    api = recording.named("apis-cloudscheduler")
    grant = recording.one("gcp:projects/iAMMember:IAMMember")
    for job in recording.of(JOB):
        assert recording.depends_on(job, api)
        assert recording.depends_on(job, grant)


def test_office_hours_give_the_share_of_the_week_the_database_runs() -> None:
    assert OfficeHoursArgs().hours_per_week == 60
    assert OfficeHoursArgs().running_fraction == pytest.approx(60 / 168)
    assert OfficeHoursArgs(start="09:30", stop="17:00", days=["SAT"]).hours_per_week == 7.5


@pytest.mark.parametrize(
    ("office_hours", "message"),
    [
        ({"start": "20:00", "stop": "08:00"}, r"schedule\.database_office_hours\.stop: stop \(08:00\) must be later"),
        ({"start": "8am"}, r"schedule\.database_office_hours\.start"),
        ({"days": ["MON", "MON"]}, r"schedule\.database_office_hours\.days: each day may appear once"),
        ({"days": ["MONDAY"]}, r"schedule\.database_office_hours\.days\.0"),
        ({"time_zone": "Europe/Brusels"}, r"'Europe/Brusels' is not an IANA time zone"),
    ],
)
def test_bad_office_hours_name_the_key(office_hours: dict[str, object], message: str) -> None:
    raw = raw_config("dev")
    raw["schedule"] = {"database_office_hours": office_hours}
    with pytest.raises(pulumi.RunError, match=message):
        stack_config.parse(raw, stack_file="Pulumi.dev.yaml")


def test_dev_stops_its_own_database_out_of_hours_and_prod_never_does() -> None:
    dev = program_of("dev")
    instance = dev.one("gcp:sql/databaseInstance:DatabaseInstance").inputs["name"]
    jobs = dev.of("gcp:cloudscheduler/job:Job")
    assert {j.name for j in jobs} >= {"database-schedule-start", "database-schedule-stop"}
    for job in jobs:
        if job.name.startswith("database-schedule-"):
            assert job.inputs["httpTarget"]["uri"].endswith(f"/instances/{instance}")
    assert not [j for j in program_of("prod").of("gcp:cloudscheduler/job:Job") if j.name.startswith("database-sch")]
