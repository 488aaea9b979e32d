"""Programme dates: twelve days, Monday to Thursday, over three weeks."""

from __future__ import annotations

from datetime import date

import pytest

from bot.time.calendar import programme_days, status_on

START = date(2026, 12, 7)


def test_twelve_days_monday_to_thursday() -> None:
    days = programme_days(START)
    assert len(days) == 12
    assert {d.weekday() for d in days} == {0, 1, 2, 3}
    assert days[0] == START and days[-1] == date(2026, 12, 24)


def test_start_must_be_a_monday() -> None:
    with pytest.raises(ValueError, match="Monday"):
        programme_days(date(2026, 12, 8))


@pytest.mark.parametrize(
    ("today", "phase", "day_number", "next_number"),
    [
        (date(2026, 12, 1), "before", None, 1),
        (date(2026, 12, 7), "programme_day", 1, None),
        (date(2026, 12, 10), "programme_day", 4, None),
        (date(2026, 12, 11), "between_days", None, 5),
        (date(2026, 12, 13), "between_days", None, 5),
        (date(2026, 12, 24), "programme_day", 12, None),
        (date(2026, 12, 25), "finished", None, None),
    ],
)
def test_status_on(
    today: date, phase: str, day_number: int | None, next_number: int | None
) -> None:
    status = status_on(programme_days(START), today)
    assert (status.phase, status.day_number, status.next_day_number) == (
        phase,
        day_number,
        next_number,
    )
