"""Recurring time windows of the data tier (backup windows, maintenance, exports, office hours), expanded over a whole
year so that a check holds on every day of it, across daylight-saving changes: office hours are kept in a local time
zone while Cloud SQL's backup and maintenance windows are in UTC, so two windows that are apart in January can
overlap in July."""

from __future__ import annotations

import bisect
import functools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from pydantic import StringConstraints

# The one time zone type of the stack config; the data tier's modules import it from here.
from components.config_types import TimeZone as TimeZone

REFERENCE_YEAR = 2026  # any year with the usual daylight-saving rules; fixed so that checks do not change over time
Day = Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
DAYS: tuple[Day, ...] = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")  # index = date.weekday()
Clock = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Interval = tuple[datetime, datetime]


def minutes_of(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def clock_of(minutes: int) -> str:
    minutes %= 24 * 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Recurring:
    """A window that opens at `start` (minutes after midnight in `time_zone`) on `days` and stays open `minutes`."""

    start: int
    minutes: int
    time_zone: str = "UTC"
    days: tuple[Day, ...] = DAYS

    def describe(self) -> str:
        days = "" if set(self.days) == set(DAYS) else f"{','.join(self.days)} "
        return f"{days}{clock_of(self.start)}-{clock_of(self.start + self.minutes)} {self.time_zone}"

    def occurrences(self) -> tuple[Interval, ...]:
        """Every opening from just before the reference year to just after it, in UTC, in order."""
        return _occurrences(self)

    def checked(self) -> tuple[Interval, ...]:
        """The openings a check looks at: those of the reference year (the others are there to compare with)."""
        return tuple(i for i in _occurrences(self) if i[0].year == REFERENCE_YEAR)


@functools.cache
def _occurrences(window: Recurring) -> tuple[Interval, ...]:
    zone = zoneinfo.ZoneInfo(window.time_zone)
    first = date(REFERENCE_YEAR, 1, 1) - timedelta(days=2)
    found = []
    for offset in range(370):
        day = first + timedelta(days=offset)
        if DAYS[day.weekday()] not in window.days:
            continue
        wall = time(window.start // 60, window.start % 60)
        opens = datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)
        found.append((opens, opens + timedelta(minutes=window.minutes)))
    return tuple(sorted(found))


def first_overlap(window: Recurring, other: Recurring) -> datetime | None:
    """When `window` first overlaps an opening of `other` (both sorted, neither overlapping itself), if ever."""
    others = other.occurrences()
    starts = [s for s, _ in others]
    for opens, closes in window.checked():
        i = bisect.bisect_left(starts, closes)
        if i and others[i - 1][1] > opens:
            return opens
    return None


def first_outside(window: Recurring, within: Recurring) -> datetime | None:
    """When an opening of `window` first does not lie inside one opening of `within`, if ever."""
    container = within.occurrences()
    starts = [s for s, _ in container]
    for opens, closes in window.checked():
        i = bisect.bisect_right(starts, opens) - 1
        if i < 0 or closes > container[i][1]:
            return opens
    return None


def first_without(container: Recurring, inner: Recurring) -> datetime | None:
    """When an opening of `container` first holds no whole opening of `inner`, if ever."""
    inside = inner.occurrences()
    starts = [s for s, _ in inside]
    for opens, closes in container.checked():
        i = bisect.bisect_left(starts, opens)
        if i == len(inside) or inside[i][1] > closes:
            return opens
    return None


def longest_gap_hours(days: tuple[Day, ...]) -> int:
    """The longest time between two consecutive days of a weekly schedule, in hours (24 when it runs daily)."""
    indexes = sorted({DAYS.index(d) for d in days})
    gaps = [b - a for a, b in zip(indexes, [*indexes[1:], indexes[0] + 7], strict=True)]
    return max(gaps) * 24


def describe_day(moment: datetime, time_zone: str) -> str:
    """A moment as the day a reader would look for in the schedule, e.g. 'Sat 2026-01-03'."""
    return moment.astimezone(zoneinfo.ZoneInfo(time_zone)).strftime("%a %Y-%m-%d")
