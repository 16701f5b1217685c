"""Office hours for a Cloud SQL instance: Cloud Scheduler starts it in the morning and stops it at night, so a dev
database is billed for its vCPUs and memory only while people work (storage is billed all the time)."""

from __future__ import annotations

import base64
import json

import pulumi
import pulumi_gcp as gcp
from pydantic import Field, model_validator

from components.config_types import Model, invalid
from components.context import StackContext
from components.windows import DAYS, Clock, Day, Recurring, TimeZone, minutes_of

CRON_DAYS: dict[str, int] = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
HOURS_PER_WEEK = 7 * 24
SQLADMIN = "https://sqladmin.googleapis.com/v1"
# Patching an instance needs this one permission; the grant is further limited to the one instance by a condition.
PERMISSIONS = ("cloudsql.instances.update",)
# The start job's PATCH returns before the instance serves; nothing is scheduled in the first minutes of the day.
STARTUP_MINUTES = 15


class OfficeHoursArgs(Model):
    start: Clock = "08:00"
    stop: Clock = "20:00"
    days: list[Day] = Field(["MON", "TUE", "WED", "THU", "FRI"], min_length=1)
    time_zone: TimeZone = "Europe/Brussels"

    @model_validator(mode="after")
    def _start_before_stop(self) -> OfficeHoursArgs:
        if minutes_of(self.start) + STARTUP_MINUTES >= minutes_of(self.stop):
            invalid(
                "stop",
                f"stop ({self.stop}) must be later than start ({self.start}) on the same day, by more than the "
                f"{STARTUP_MINUTES} minutes the instance takes to start",
            )
        if len(set(self.days)) != len(self.days):
            invalid("days", "each day may appear once")
        return self

    @property
    def hours_per_week(self) -> float:
        return (minutes_of(self.stop) - minutes_of(self.start)) / 60 * len(self.days)

    def running(self) -> Recurring:
        """When the instance serves: from a few minutes after the start job until the stop job, on office days."""
        begin = minutes_of(self.start) + STARTUP_MINUTES
        days = tuple(d for d in DAYS if d in self.days)
        return Recurring(begin, minutes_of(self.stop) - begin, self.time_zone, days)

    @property
    def running_fraction(self) -> float:
        """The share of the week the instance runs: what its vCPU and memory charges are multiplied by."""
        return self.hours_per_week / HOURS_PER_WEEK

    def describe(self) -> str:
        return f"{','.join(self.days)} {self.start}-{self.stop} {self.time_zone}"

    def cron(self, clock: str) -> str:
        hours, minutes = clock.split(":")
        days = ",".join(str(CRON_DAYS[d]) for d in self.days)
        return f"{int(minutes)} {int(hours)} * * {days}"


class ScheduleArgs(Model):
    """`platform:schedule`: when cost-saving schedules switch things off. Absent: everything runs all the time."""

    database_office_hours: OfficeHoursArgs | None = None


class DatabaseSchedule(pulumi.ComponentResource):
    """Two Cloud Scheduler jobs that set the instance's activation policy to ALWAYS at `start` and NEVER at `stop`,
    calling the Cloud SQL Admin API as a service account that may update only this instance.

    The Database component should ignore changes to `settings.activationPolicy`, or `pulumi up` at night would start
    the instance again."""

    service_account_email: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: OfficeHoursArgs,
        *,
        ctx: StackContext,
        instance_name: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:components:DatabaseSchedule", name, None, ctx.component(opts))
        self._name = name
        self._ctx = ctx
        instance_path = pulumi.Output.concat("projects/", ctx.project, "/instances/", instance_name)
        account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=ctx.naming.physical("db-hours", max_length=30),
            display_name="Starts and stops the Cloud SQL instance on its office-hours schedule",
            project=ctx.project,
            opts=ctx.after(self, "iam.googleapis.com"),
        )
        self.grant = self._grant(account, instance_path)
        # Cloud Scheduler checks actAs on the account its jobs call with.
        self.act_as = ctx.act_as(self, name, account.name)
        scheduler = pulumi.ResourceOptions(
            parent=self, depends_on=[*ctx.apis.require("cloudscheduler.googleapis.com"), self.grant, *self.act_as]
        )
        self.jobs = {
            action: self._job(action, args, clock, policy, account, instance_path, scheduler)
            for action, clock, policy in (("start", args.start, "ALWAYS"), ("stop", args.stop, "NEVER"))
        }
        self.service_account_email = account.email
        self.register_outputs({"service_account_email": self.service_account_email})

    def _grant(self, account: gcp.serviceaccount.Account, instance_path: pulumi.Output[str]) -> gcp.projects.IAMMember:
        """A custom role with the one permission patching needs, granted on this instance alone (an IAM condition)."""
        ctx = self._ctx
        role = gcp.projects.IAMCustomRole(
            f"{self._name}-role",
            role_id=ctx.naming.physical("db-hours").replace("-", "_"),  # role ids allow letters, digits, _ and .
            title="Cloud SQL activation policy (office hours)",
            permissions=list(PERMISSIONS),
            project=ctx.project,
            opts=ctx.after(self, "iam.googleapis.com"),
        )
        return gcp.projects.IAMMember(
            f"{self._name}-grant",
            project=ctx.project,
            role=role.name,
            member=account.member,
            condition=gcp.projects.IAMMemberConditionArgs(
                title="only-this-instance",
                description="The schedule may patch only the instance it starts and stops",
                expression=instance_path.apply(lambda path: f'resource.name == "{path}"'),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _job(
        self,
        action: str,
        args: OfficeHoursArgs,
        clock: str,
        policy: str,
        account: gcp.serviceaccount.Account,
        instance_path: pulumi.Output[str],
        opts: pulumi.ResourceOptions,
    ) -> gcp.cloudscheduler.Job:
        return gcp.cloudscheduler.Job(
            f"{self._name}-{action}",
            name=self._ctx.naming.physical("db", action),
            description=f"{action.capitalize()} the Cloud SQL instance ({args.describe()})",
            region=self._ctx.region,
            project=self._ctx.project,
            schedule=args.cron(clock),
            time_zone=args.time_zone,
            attempt_deadline="60s",
            retry_config=gcp.cloudscheduler.JobRetryConfigArgs(retry_count=3, min_backoff_duration="60s"),
            http_target=gcp.cloudscheduler.JobHttpTargetArgs(
                uri=pulumi.Output.concat(f"{SQLADMIN}/", instance_path),
                http_method="PATCH",
                headers={"Content-Type": "application/json"},
                body=_activation_body(policy),
                oauth_token=gcp.cloudscheduler.JobHttpTargetOauthTokenArgs(
                    service_account_email=account.email,
                    scope="https://www.googleapis.com/auth/sqlservice.admin",
                ),
            ),
            opts=opts,
        )


def _activation_body(policy: str) -> str:
    """The PATCH body Cloud Scheduler sends, base64-encoded as its API requires."""
    body = json.dumps({"settings": {"activationPolicy": policy}})
    return base64.b64encode(body.encode()).decode()
