"""A group's dated events (programme days and reviews): create, read and move them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Cohort, CohortEvent
from bot.numbers import whole_number
from bot.time.calendar import REVIEW_MONTHS, bank_holiday, programme_days, review_dates

DAY = "day"
REVIEW = "review"


class EventError(ValueError):
    """A change to the calendar that cannot be made, with a plain reason for staff."""


def default_events(cohort: Cohort) -> list[CohortEvent]:
    """Twelve programme days (bank holidays moved on) and the three reviews."""
    days = programme_days(cohort.start_date)
    events = [
        CohortEvent(cohort_id=cohort.id, kind=DAY, number=number, on_date=day)
        for number, day in enumerate(days, start=1)
    ]
    events += [
        CohortEvent(cohort_id=cohort.id, kind=REVIEW, number=months, on_date=on)
        for months, on in review_dates(days[-1]).items()
    ]
    return events


async def events_of(session: AsyncSession, cohort: Cohort) -> list[CohortEvent]:
    """A group's events, days then reviews; a group made before calendars existed gets one."""
    found = list(
        await session.scalars(
            select(CohortEvent)
            .where(CohortEvent.cohort_id == cohort.id)
            .order_by(CohortEvent.kind, CohortEvent.number)
        )
    )
    if not found:
        found = default_events(cohort)
        session.add_all(found)
        await session.flush()
    return sorted(found, key=_order)


async def events_for_cohorts(
    session: AsyncSession, cohort_ids: Iterable[int]
) -> dict[int, list[CohortEvent]]:
    """The events of several groups in one query."""
    ids = set(cohort_ids)
    by_cohort: dict[int, list[CohortEvent]] = {cohort_id: [] for cohort_id in ids}
    if not ids:
        return by_cohort
    for event in await session.scalars(select(CohortEvent).where(CohortEvent.cohort_id.in_(ids))):
        by_cohort[event.cohort_id].append(event)
    for events in by_cohort.values():
        events.sort(key=_order)
    return by_cohort


def _order(event: CohortEvent) -> tuple[int, int]:
    return (0 if event.kind == DAY else 1, event.number)


def day_dates(events: Iterable[CohortEvent]) -> list[date]:
    """The programme dates, day 1 first."""
    return [e.on_date for e in sorted(events, key=_order) if e.kind == DAY]


def describe(event: CohortEvent) -> str:
    """'Day 3' or '6-month review', for staff."""
    return f"Day {event.number}" if event.kind == DAY else f"{event.number}-month review"


def nice(day: date) -> str:
    """'Friday 1 May 2026'."""
    return f"{day:%A} {day.day} {day:%B %Y}"


@dataclass(frozen=True)
class Move:
    """A calendar change that was made, and anything staff should double-check."""

    event: CohortEvent
    old_date: date
    old_start: str | None
    warnings: tuple[str, ...]

    @property
    def changed(self) -> bool:
        """Whether the date or the start time is different now."""
        return (self.old_date, self.old_start) != (self.event.on_date, self.event.start_time)


def parse_event_name(name: str) -> tuple[str, int]:
    """'day3', 'day-3', 'review6', 'review-12' → (kind, number); EventError otherwise."""
    text = name.strip().lower().replace("-", "").replace(" ", "")
    for kind in (DAY, REVIEW):
        number = whole_number(text[len(kind) :]) if text.startswith(kind) else None
        if number is not None:
            if kind == DAY and 1 <= number <= 12:
                return kind, number
            if kind == REVIEW and number in REVIEW_MONTHS:
                return kind, number
    raise EventError(f"'{name}' is not an event: use day1 to day12, or review1, review6, review12.")


async def move_event(
    session: AsyncSession,
    cohort: Cohort,
    kind: str,
    number: int,
    new_date: date,
    today: date,
    start_time: str | None = None,
) -> Move:
    """Move one event; the order of days and reviews must still hold, and not into the past."""
    events = await events_of(session, cohort)
    event = next((e for e in events if e.kind == kind and e.number == number), None)
    if event is None:
        raise EventError(f"Group {cohort.id} has no {kind} {number}.")
    if new_date < today:
        raise EventError(f"{nice(new_date)} is in the past; choose today or later.")
    if event.on_date < today:
        raise EventError(f"{describe(event)} has already happened ({nice(event.on_date)}).")
    ordered = sorted(events, key=_order)
    index = ordered.index(event)
    before = ordered[index - 1] if index > 0 else None
    after = ordered[index + 1] if index + 1 < len(ordered) else None
    if before is not None and new_date <= before.on_date:
        raise EventError(
            f"{describe(event)} must come after {describe(before)} ({nice(before.on_date)})."
        )
    if after is not None and new_date >= after.on_date:
        raise EventError(
            f"{describe(event)} must come before {describe(after)} ({nice(after.on_date)})."
        )
    warnings: list[str] = []
    if new_date.weekday() >= 4:
        warnings.append(f"{nice(new_date)} is not a Monday to Thursday.")
    if bank_holiday(new_date):
        warnings.append(f"{nice(new_date)} is a bank holiday in England.")
    old, old_start = event.on_date, event.start_time
    event.on_date = new_date
    if start_time is not None:
        event.start_time = start_time
    await session.flush()
    return Move(event, old, old_start, tuple(warnings))
