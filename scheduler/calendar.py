"""Pure date logic for a group's programme: twelve days, Monday to Thursday, three weeks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

PROGRAMME_DAYS = 12
PROGRAMME_WEEKDAYS = (0, 1, 2, 3)  # Monday to Thursday


def programme_days(start: date) -> list[date]:
    """The twelve programme dates from a Monday start."""
    if start.weekday() != 0:
        raise ValueError("a programme starts on a Monday")
    return [
        start + timedelta(weeks=week, days=weekday)
        for week in range(3)
        for weekday in PROGRAMME_WEEKDAYS
    ]


@dataclass(frozen=True)
class DayStatus:
    """Where a date falls in a programme."""

    phase: str  # "before" | "programme_day" | "between_days" | "finished"
    day_number: int | None = None  # on a programme day, 1 to 12
    next_day: date | None = None
    next_day_number: int | None = None


def status_on(days: list[date], today: date) -> DayStatus:
    """Say what `today` is for a group with these programme days."""
    if today < days[0]:
        return DayStatus("before", next_day=days[0], next_day_number=1)
    if today in days:
        return DayStatus("programme_day", day_number=days.index(today) + 1)
    upcoming = [(number, day) for number, day in enumerate(days, start=1) if day > today]
    if upcoming:
        number, day = upcoming[0]
        return DayStatus("between_days", next_day=day, next_day_number=number)
    return DayStatus("finished")
