"""When the data tier's operations run: backups and exports only while the instance runs, exports clear of the backup
window and of maintenance (Cloud SQL runs one operation at a time), checked on every day of a year, in each window's
own time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pulumi
import pytest

import stack_config
from components.backup import ExportsArgs
from components.backup.workflows import busy_retry_seconds
from components.database.config import DatabaseBackupsArgs, MaintenanceArgs
from components.windows import Recurring, first_outside, first_overlap, first_without
from tests.conftest import STACKS, config_of, raw_config


def parse(stack: str, **sections: dict[str, Any]) -> stack_config.StackConfig:
    raw = raw_config(stack)
    for section, changes in sections.items():
        current = raw.get(section, {})
        assert isinstance(current, dict)
        raw[section] = {**current, **changes}
    return stack_config.parse(raw, stack_file=f"Pulumi.{stack}.yaml")


def dev_backups(start_time: str) -> dict[str, Any]:
    backups = raw_config("dev")["database"]["backups"]
    return {"backups": {**backups, "start_time": start_time}}


# Office hours (dev) -----------------------------------------------------------------------------------------------


def test_a_backup_window_while_dev_is_stopped_names_both_keys() -> None:
    # dev stops 20:00-08:00 Brussels: a 02:00 UTC window never sees the instance running, so no backup is taken.
    with pytest.raises(pulumi.RunError) as err:
        parse("dev", database=dev_backups("02:00"))
    message = str(err.value)
    assert "database.backups.start_time: the backup window 02:00-06:00 UTC" in message
    assert "schedule.database_office_hours" in message
    assert len(message.splitlines()) == 1


def test_a_backup_window_that_fits_in_winter_but_not_in_summer_is_rejected() -> None:
    # 15:00-19:00 UTC is 16:00-20:00 in Brussels in winter (inside 08:00-20:00) but 17:00-21:00 in summer.
    with pytest.raises(pulumi.RunError, match=r"database\.backups\.start_time: .* on \w{3} 2026-0[3-9]-\d\d"):
        parse("dev", database=dev_backups("15:00"))


def test_dev_exports_every_day_at_night_are_rejected_naming_both_keys() -> None:
    raw_exports = {"time": "00:30", "time_zone": "Etc/UTC"}
    with pytest.raises(pulumi.RunError) as err:
        parse("dev", backup={"exports": raw_exports})
    assert "backup.exports.time: exports 00:30-02:25 Etc/UTC" in str(err.value)
    assert "schedule.database_office_hours" in str(err.value)


def test_dev_exports_on_a_weekend_day_are_rejected() -> None:
    exports = {"time": "10:00", "time_zone": "Europe/Brussels", "days": ["MON", "SAT"]}
    with pytest.raises(pulumi.RunError, match=r"backup\.exports\.time: .* on Sat 2026-01-03, when the instance is"):
        parse("dev", backup={"exports": exports})


def test_an_export_in_the_instances_first_minutes_is_rejected() -> None:
    # 07:00 UTC is 08:00 Brussels in winter: the start job has only just asked the instance to start.
    with pytest.raises(pulumi.RunError, match=r"backup\.exports\.time: .* on \w{3} 2026-01-\d\d"):
        parse("dev", backup={"exports": {"time": "07:00", "days": ["MON", "TUE", "WED", "THU", "FRI"]}})


def test_dev_backs_up_and_exports_on_every_day_it_runs() -> None:
    config = config_of("dev")
    hours = config.schedule.database_office_hours
    assert hours is not None
    backups = config.database.backups.window()
    assert backups is not None
    assert first_without(hours.running(), backups) is None
    assert first_outside(config.backup.exports.window(len(config.database.databases)), hours.running()) is None


# One operation at a time ------------------------------------------------------------------------------------------


def test_exports_in_the_backup_window_name_both_keys() -> None:
    with pytest.raises(pulumi.RunError) as err:
        parse("prod", backup={"exports": {"time": "02:00"}})
    message = str(err.value)
    assert message.startswith("invalid stack config in Pulumi.prod.yaml: backup.exports.time: exports 02:00-03:55")
    assert "overlap database.backups.start_time (01:00-05:00 UTC)" in message


def test_exports_in_the_maintenance_window_name_both_keys() -> None:
    maintenance = {**raw_config("prod")["database"]["maintenance"], "hour": 23}
    with pytest.raises(pulumi.RunError, match=r"backup\.exports\.time: .* overlap database\.maintenance \(SUN 23:00"):
        parse("prod", database={"maintenance": maintenance}, backup={"exports": {"time": "22:30"}})


def test_a_long_export_runs_into_the_backup_window() -> None:
    # Each database's export may take up to timeout_minutes: 23:00 + 55 min + 3 h reaches the 01:00 window.
    with pytest.raises(pulumi.RunError, match=r"backup\.exports\.time: exports 23:00-02:55 Etc/UTC"):
        parse("prod", backup={"exports": {"time": "23:00", "timeout_minutes": 180}})


def test_an_export_that_waits_out_a_busy_instance_runs_into_the_backup_window() -> None:
    # 22:10 + 120 min ends at 00:10, clear of the 01:00 window; but a busy instance is retried for 55 minutes before
    # the export starts (RETRY_BUSY), so the export may still run at 01:05.
    assert busy_retry_seconds() == 60 + 120 + 240 + 480 + 600 * 4
    with pytest.raises(pulumi.RunError) as err:
        parse("prod", backup={"exports": {"time": "22:10", "timeout_minutes": 120}})
    message = str(err.value)
    assert "backup.exports.time: exports 22:10-01:05 Etc/UTC (per database: up to 55 minutes of retries" in message
    assert "overlap database.backups.start_time (01:00-05:00 UTC)" in message


def test_exports_in_local_time_are_compared_in_utc() -> None:
    # 03:30 Brussels is 02:30 UTC in winter and 01:30 UTC in summer: inside the 01:00-05:00 UTC window either way.
    with pytest.raises(pulumi.RunError, match=r"overlap database\.backups\.start_time"):
        parse("prod", backup={"exports": {"time": "03:30", "time_zone": "Europe/Brussels"}})


def test_the_default_export_time_is_clear_of_the_default_backup_and_maintenance_windows() -> None:
    exports = ExportsArgs().window(1)
    backups = DatabaseBackupsArgs().window()
    assert backups is not None
    assert first_overlap(exports, backups) is None
    assert first_overlap(exports, MaintenanceArgs().window()) is None
    # The former default, 02:00 UTC, fell in both.
    old = ExportsArgs(time="02:00").window(1)
    assert first_overlap(old, backups) is not None
    assert first_overlap(old, MaintenanceArgs(hour=2).window()) is not None


@pytest.mark.parametrize("stack", STACKS)
def test_each_stacks_exports_are_clear_of_its_backup_and_maintenance_windows(stack: str) -> None:
    config = config_of(stack)
    exports = config.backup.exports.window(len(config.database.databases))
    backups = config.database.backups.window()
    assert backups is not None
    assert first_overlap(exports, backups) is None
    assert first_overlap(exports, config.database.maintenance.window()) is None


# Windows ----------------------------------------------------------------------------------------------------------


def test_a_local_window_moves_in_utc_with_daylight_saving_time() -> None:
    window = Recurring(8 * 60, 60, "Europe/Brussels")
    opens = {o.date().isoformat(): o for o, _ in window.occurrences()}
    assert opens["2026-01-15"] == datetime(2026, 1, 15, 7, 0, tzinfo=UTC)
    assert opens["2026-07-15"] == datetime(2026, 7, 15, 6, 0, tzinfo=UTC)


def test_weekly_windows_open_on_their_day_only() -> None:
    sunday = MaintenanceArgs(day="SUNDAY", hour=2).window()
    assert {o.strftime("%a") for o, _ in sunday.occurrences()} == {"Sun"}
    assert len(sunday.checked()) == 52
