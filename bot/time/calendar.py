"""Pure date logic for a group's programme: twelve days, Monday to Thursday, then reviews."""

from __future__ import annotations

import calendar as month_calendar
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import holidays

PROGRAMME_DAYS = 12
PROGRAMME_WEEKDAYS = (0, 1, 2, 3)  # Monday to Thursday
REVIEW_MONTHS = (1, 6, 12)
# Week two holds the friends-and-family day; these are its day numbers.
WEEK_TWO = range(5, 9)
DEFAULT_FAMILY_DAY = 7  # Wednesday of week two
DEFAULT_QA_DAY = 10  # Tuesday of week three: patients have had time to gather questions


@cache
def _bank_holidays(year: int) -> frozenset[date]:
    """England's bank holidays in a year (the `holidays` package keeps the list)."""
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def bank_holiday(day: date) -> bool:
    """Whether `day` is a bank holiday in England."""
    return day in _bank_holidays(day.year)


def free_day(day: date) -> bool:
    """A Monday to Thursday that is not a bank holiday: a day the programme can meet."""
    return day.weekday() in PROGRAMME_WEEKDAYS and not bank_holiday(day)


def next_free_day(day: date) -> date:
    """`day` itself if the programme can meet then, else the next day it can."""
    while not free_day(day):
        day += timedelta(days=1)
    return day


def programme_days(start: date) -> list[date]:
    """Twelve programme dates from a Monday; a bank holiday moves to the next free day."""
    if start.weekday() != 0:
        raise ValueError("a programme starts on a Monday")
    days: list[date] = []
    day = start
    while len(days) < PROGRAMME_DAYS:
        day = next_free_day(day)
        days.append(day)
        day += timedelta(days=1)
    return days


def programme_week(start: date, day: date) -> int:
    """Which week of a programme `day` falls in: 1 for the week that begins on `start`."""
    return (day - start).days // 7 + 1


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later (the 31st becomes the month's last day)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = month_calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def review_dates(last_day: date) -> dict[int, date]:
    """Default review dates: 1, 6 and 12 months after the last day, on a free day."""
    return {months: next_free_day(add_months(last_day, months)) for months in REVIEW_MONTHS}


@dataclass(frozen=True)
class DayStatus:
    """Where a date falls in a programme."""

    phase: str  # "before" | "programme_day" | "between_days" | "finished"
    day_number: int | None = None  # on a programme day, 1 to 12
    next_day: date | None = None
    next_day_number: int | None = None


def status_on(days: list[date], today: date) -> DayStatus:
    """Say what `today` is for a group with these programme days (in any order)."""
    ordered = sorted(days)
    if today < ordered[0]:
        return DayStatus("before", next_day=ordered[0], next_day_number=days.index(ordered[0]) + 1)
    if today in days:
        return DayStatus("programme_day", day_number=days.index(today) + 1)
    upcoming = [day for day in ordered if day > today]
    if upcoming:
        return DayStatus(
            "between_days", next_day=upcoming[0], next_day_number=days.index(upcoming[0]) + 1
        )
    return DayStatus("finished")
