"""Typed clock times, quiet hours across midnight, and local times across the clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.time.times import QuietHours, at, parse_clock

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("18:00", time(18, 0)),
        ("18.30", time(18, 30)),
        ("1830", time(18, 30)),
        ("6pm", time(18, 0)),
        ("6.30 pm", time(18, 30)),
        ("7:45am", time(7, 45)),
        ("12am", time(0, 0)),
        ("12pm", time(12, 0)),
        (" 9 ", time(9, 0)),
        ("6 p.m.", time(18, 0)),
    ],
)
def test_times_people_type(typed: str, expected: time) -> None:
    assert parse_clock(typed) == expected


@pytest.mark.parametrize(
    "typed", ["", "banana", "25:00", "18:60", "13pm", "0am", "18:5", "-1", "7:45:00"]
)
def test_things_that_are_not_times(typed: str) -> None:
    assert parse_clock(typed) is None


def test_quiet_hours_that_wrap_midnight() -> None:
    quiet = QuietHours(time(21, 0), time(7, 30))
    assert (
        quiet.contains(time(23, 59)) and quiet.contains(time(0, 0)) and quiet.contains(time(7, 29))
    )
    assert not quiet.contains(time(7, 30)) and not quiet.contains(time(20, 59))
    assert quiet.length() == timedelta(hours=10, minutes=30)


def test_quiet_hours_within_a_day() -> None:
    quiet = QuietHours(time(13, 0), time(15, 0))
    assert quiet.contains(time(14, 0)) and not quiet.contains(time(15, 0))
    assert quiet.length() == timedelta(hours=2)


def test_quiet_hours_off() -> None:
    assert QuietHours.of(None, None) is None
    assert QuietHours.of("21:00", "21:00") is None
    assert QuietHours.of("21:00", "07:30") == QuietHours(time(21, 0), time(7, 30))


def test_end_and_start_of_quiet_hours_across_the_clocks_going_forward() -> None:
    quiet = QuietHours(time(21, 0), time(7, 30))
    # 23:00 GMT on Saturday 28 March 2026; the clocks go forward that night.
    late = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert quiet.end_after(late, LONDON) == datetime(2026, 3, 29, 6, 30, tzinfo=UTC)  # 07:30 BST
    assert quiet.start_before(late, LONDON) == datetime(2026, 3, 28, 21, 0, tzinfo=UTC)


def test_local_times_on_the_days_the_clocks_change() -> None:
    assert at(datetime(2026, 3, 29).date(), time(18, 0), LONDON) == datetime(
        2026, 3, 29, 17, 0, tzinfo=UTC
    )
    assert at(datetime(2026, 10, 25).date(), time(18, 0), LONDON) == datetime(
        2026, 10, 25, 18, 0, tzinfo=UTC
    )
    # A time the clocks skip, and one that happens twice, each give one moment.
    assert at(datetime(2026, 3, 29).date(), time(1, 30), LONDON) == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    assert at(datetime(2026, 10, 25).date(), time(1, 30), LONDON) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
