"""The team's working hours: when an alert will be read, and working minutes for re-alerts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.time.calendar import bank_holiday
from bot.time.times import at, parse_clock

# Far enough to cross any run of holidays and weekends; a loop that found no working day in a
# year means the settings are wrong, not that we should spin for ever.
_SEARCH_DAYS = 366


@dataclass(frozen=True)
class WorkingHours:
    """Working days (ISO weekdays, bank holidays excepted) between a start and an end time."""

    tz: ZoneInfo
    start: time
    end: time
    days: frozenset[int]

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkingHours:
        """The hours in WORKING_HOURS_START/END and WORKING_DAYS."""
        start = parse_clock(settings.working_hours_start)
        end = parse_clock(settings.working_hours_end)
        if start is None or end is None or end <= start:
            raise ValueError("WORKING_HOURS_START must be a time before WORKING_HOURS_END")
        return cls(settings.tz, start, end, frozenset(settings.working_days))

    def working_day(self, day: date) -> bool:
        """A day the team works."""
        return day.isoweekday() in self.days and not bank_holiday(day)

    def _working_days_from(self, day: date) -> Iterable[date]:
        for offset in range(_SEARCH_DAYS):
            candidate = day + timedelta(days=offset)
            if self.working_day(candidate):
                yield candidate
        raise ValueError("no working day within a year: check WORKING_DAYS")

    def is_open(self, moment: datetime) -> bool:
        """Whether the team is at work at this moment."""
        local = moment.astimezone(self.tz)
        return self.working_day(local.date()) and self.start <= local.time() < self.end

    def next_opening(self, moment: datetime) -> datetime:
        """`moment` if the team is at work, else when they next start."""
        if self.is_open(moment):
            return moment
        local = moment.astimezone(self.tz)
        for day in self._working_days_from(local.date()):
            opening = at(day, self.start, self.tz)
            if opening > moment:
                return opening
        raise AssertionError("unreachable")  # _working_days_from raises first

    def closing(self, moment: datetime) -> datetime:
        """The end of the working period that `moment` is in (it must be open)."""
        return at(moment.astimezone(self.tz).date(), self.end, self.tz)

    def add(self, moment: datetime, minutes: int) -> datetime:
        """`minutes` of working time after `moment` (time outside working hours not counted)."""
        left = timedelta(minutes=minutes)
        current = self.next_opening(moment)
        while True:
            available = self.closing(current) - current
            if left <= available:
                return current + left
            left -= available
            current = self.next_opening(self.closing(current))

    def end_of_next_working_day(self, moment: datetime) -> datetime:
        """The close of the first working day after the day of `moment`."""
        tomorrow = moment.astimezone(self.tz).date() + timedelta(days=1)
        day = next(iter(self._working_days_from(tomorrow)))
        return at(day, self.end, self.tz)
