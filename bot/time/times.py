"""Clock times people type, quiet hours that may wrap midnight, and local dates made exact."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_TIME = re.compile(r"^(\d{1,2})(?:\s*[:.]\s*(\d{2})|(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?$")


def parse_clock(text: str) -> time | None:
    """'18:00', '18.00', '1800', '6pm', '6.30 pm', '7:45am' → a time; None if it is not one."""
    match = _TIME.match(text.strip().lower())
    if match is None:
        return None
    hour = int(match.group(1))
    minute = int(match.group(2) or match.group(3) or 0)
    suffix = (match.group(4) or "").replace(".", "")
    if suffix:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def hhmm(value: time) -> str:
    """'07:45'."""
    return f"{value:%H:%M}"


def at(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The UTC moment of a local date and time.

    A time the clocks skip (01:30 on the last Sunday of March) comes out an hour later, as
    02:30 BST; a time that happens twice (01:30 on the last Sunday of October) is the first.
    """
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class QuietHours:
    """Hours in which nothing non-urgent is sent; `start` after `end` wraps midnight."""

    start: time
    end: time

    @classmethod
    def of(cls, start: str | None, end: str | None) -> QuietHours | None:
        """From stored 'HH:MM' strings; None when quiet hours are off."""
        if not start or not end or start == end:
            return None
        begin, finish = parse_clock(start), parse_clock(end)
        if begin is None or finish is None:
            return None
        return cls(begin, finish)

    def contains(self, clock: time) -> bool:
        """Whether a local time of day is quiet."""
        if self.start < self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end

    def length(self) -> timedelta:
        """How long the quiet hours last."""
        today = date(2000, 1, 1)
        start = datetime.combine(today, self.start)
        end = datetime.combine(today, self.end)
        return end - start if end > start else end + timedelta(days=1) - start

    def end_after(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """The first end of quiet hours at or after `moment` (UTC)."""
        local = moment.astimezone(tz)
        for offset in (0, 1):
            candidate = at(local.date() + timedelta(days=offset), self.end, tz)
            if candidate >= moment:
                return candidate
        raise AssertionError("quiet hours end within a day")  # pragma: no cover

    def start_before(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """The last start of quiet hours at or before `moment` (UTC)."""
        local = moment.astimezone(tz)
        for offset in (0, 1):
            candidate = at(local.date() - timedelta(days=offset), self.start, tz)
            if candidate <= moment:
                return candidate
        raise AssertionError("quiet hours start within a day")  # pragma: no cover

    def start_after(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """The first start of quiet hours after `moment` (UTC)."""
        local = moment.astimezone(tz)
        for offset in (0, 1):
            candidate = at(local.date() + timedelta(days=offset), self.start, tz)
            if candidate > moment:
                return candidate
        raise AssertionError("quiet hours start within a day")  # pragma: no cover

    def is_quiet(self, moment: datetime, tz: ZoneInfo) -> bool:
        """Whether a UTC moment falls in quiet hours, in local time."""
        return self.contains(moment.astimezone(tz).time())
