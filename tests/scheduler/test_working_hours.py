"""Working hours: when the team will read an alert; working minutes over nights and holidays."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.config import Settings
from bot.time.working_hours import WorkingHours

HOURS = WorkingHours.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]


def utc(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (utc(11, 26, 10), True),  # Thursday morning
        (utc(11, 26, 8, 59), False),
        (utc(11, 26, 17), False),  # 17:00 is closing time
        (utc(11, 28, 11), False),  # Saturday
        (utc(12, 25, 11), False),  # Christmas Day, a Friday
        (utc(12, 28, 11), False),  # Boxing Day substitute, a Monday
        (utc(6, 1, 8, 30), True),  # 09:30 in British Summer Time
    ],
)
def test_is_open(moment: datetime, is_open: bool) -> None:
    assert HOURS.is_open(moment) is is_open


def test_next_opening_skips_nights_weekends_and_bank_holidays() -> None:
    assert HOURS.next_opening(utc(11, 26, 10)) == utc(11, 26, 10)
    assert HOURS.next_opening(utc(11, 26, 18)) == utc(11, 27, 9)
    assert HOURS.next_opening(utc(11, 28, 22)) == utc(11, 30, 9)  # Saturday night → Monday
    assert HOURS.next_opening(utc(12, 24, 17, 30)) == utc(12, 29, 9)  # Christmas → Tuesday


def test_working_minutes_pause_overnight_and_over_holidays() -> None:
    assert HOURS.add(utc(11, 26, 10), 15) == utc(11, 26, 10, 15)
    assert HOURS.add(utc(11, 26, 16, 50), 15) == utc(11, 27, 9, 5)  # 10 today, 5 tomorrow
    assert HOURS.add(utc(12, 24, 16, 55), 15) == utc(12, 29, 9, 10)
    assert HOURS.add(utc(11, 28, 3), 15) == utc(11, 30, 9, 15)


def test_summer_time_is_local_time() -> None:
    # 16:50 BST is 15:50 UTC; the day ends at 17:00 BST.
    assert HOURS.add(utc(6, 4, 15, 50), 15) == utc(6, 5, 8, 5)


def test_end_of_next_working_day() -> None:
    assert HOURS.end_of_next_working_day(utc(11, 26, 10)) == utc(11, 27, 17)
    assert HOURS.end_of_next_working_day(utc(11, 27, 16)) == utc(11, 30, 17)  # Friday → Monday
    assert HOURS.end_of_next_working_day(utc(12, 24, 10)) == utc(12, 29, 17)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="WORKING_DAYS"):
        Settings(_env_file=None, working_days="0,9")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="before"):
        WorkingHours.from_settings(
            Settings(_env_file=None, working_hours_start="17:00", working_hours_end="09:00")  # type: ignore[call-arg]
        )
    weekend_team = WorkingHours.from_settings(
        Settings(_env_file=None, working_days="6,7")  # type: ignore[call-arg]
    )
    assert weekend_team.is_open(utc(11, 28, 11))
