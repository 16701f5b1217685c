"""`platform:backup`: where the backup bucket lives, how long exports are kept, and when they run."""

from __future__ import annotations

import itertools
import math
from typing import Annotated

from pydantic import Field, model_validator

from components.backup.workflows import busy_retry_seconds
from components.config_types import REGIONS, Model, invalid
from components.windows import DAYS, Clock, Day, Recurring, TimeZone, longest_gap_hours, minutes_of

# Predefined dual-regions (cloud.google.com/storage/docs/locations): data survives the loss of either region.
DUAL_REGIONS = frozenset(("ASIA1", "EUR4", "EUR5", "EUR7", "EUR8", "NAM4"))
CRON_DAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
# What ExportsArgs.window counts, as a config error says it.
EXPORT_WINDOW = (
    f"per database: up to {busy_retry_seconds() // 60} minutes of retries while the instance is busy, "
    "then up to timeout_minutes"
)


class RetentionPolicyArgs(Model):
    """Bucket Lock: no object can be deleted or replaced before it is `days` old, whoever asks."""

    days: Annotated[int, Field(ge=1, le=3650)]
    locked: bool = False  # locking is permanent: the policy can never be shortened or removed, nor the bucket deleted


class LifecycleArgs(Model):
    nearline_after_days: Annotated[int, Field(ge=1)] = 30
    coldline_after_days: Annotated[int, Field(ge=1)] = 90
    archive_after_days: Annotated[int, Field(ge=1)] = 365
    delete_after_days: Annotated[int, Field(ge=1)] | None = 400  # exports older than this are deleted; None keeps all

    @model_validator(mode="after")
    def _colder_later(self) -> LifecycleArgs:
        order = ("nearline_after_days", "coldline_after_days", "archive_after_days")
        for warmer, colder in itertools.pairwise(order):
            if getattr(self, warmer) >= getattr(self, colder):
                invalid(colder, f"{colder} ({getattr(self, colder)}) must be after {warmer} ({getattr(self, warmer)})")
        return self


class ExportsArgs(Model):
    """When the export workflows run. Each database is exported in turn, then each waits for its operation."""

    time: Clock = "22:00"  # clear of the default backup window (02:00-06:00 UTC) and maintenance hour (03:00 UTC)
    time_zone: TimeZone = "Etc/UTC"
    days: list[Day] = Field(list(DAYS), min_length=1)  # only the days the database runs, where it has office hours
    timeout_minutes: Annotated[int, Field(ge=5, le=24 * 60)] = 60  # one export that takes longer fails, and alerts

    @model_validator(mode="after")
    def _each_day_once(self) -> ExportsArgs:
        if len(set(self.days)) != len(self.days):
            invalid("days", "each day may appear once")
        return self

    def cron(self) -> str:
        hours, minutes = self.time.split(":")
        days = "*" if set(self.days) == set(DAYS) else ",".join(str(CRON_DAYS[d]) for d in self.days)
        return f"{int(minutes)} {int(hours)} * * {days}"

    def window(self, exports: int) -> Recurring:
        """The time `exports` exports in a row may take: each may wait out the busy-instance retries before it starts
        (busy_retry_seconds), then run up to its timeout."""
        days = tuple(d for d in DAYS if d in self.days)
        each = self.timeout_minutes + math.ceil(busy_retry_seconds() / 60)
        return Recurring(minutes_of(self.time), each * max(exports, 1), self.time_zone, days)

    @property
    def interval_hours(self) -> int:
        """The longest time between two exports: a day, or a weekend's more when they skip days."""
        return longest_gap_hours(tuple(self.days))


class BackupArgs(Model):
    location: str  # a region other than the stack's (the DR region) or a predefined dual-region such as EUR4
    turbo_replication: bool = False  # dual-regions only: 15-minute replication RPO
    soft_delete_days: Annotated[int, Field(ge=7, le=90)] = 7
    retention_policy: RetentionPolicyArgs | None = None
    lifecycle: LifecycleArgs = LifecycleArgs()
    exports: ExportsArgs = ExportsArgs()
    rto_minutes: Annotated[int, Field(ge=1)]
    # The recovery point the system's owners were promised (the worst of restoring in place and losing the region):
    # the stack config is refused when its data protection cannot keep it. None: no promise to check.
    rpo_target_minutes: Annotated[int, Field(ge=1)] | None = None

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
        kept, expires = self.retention_policy, self.lifecycle.delete_after_days
        if kept is not None and expires is not None and expires < kept.days:
            invalid(
                "lifecycle.delete_after_days",
                f"{expires} days is less than retention_policy.days ({kept.days}); exports cannot be deleted before "
                "the retention period, so delete them later (or shorten the retention period)",
            )
        return self
