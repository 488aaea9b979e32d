"""Staff changes to a group's calendar: move the event, re-plan reminders, tell the patients."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Content
from bot.db.models import (
    Cohort,
    CohortEvent,
    OutboxMessage,
    Person,
    ReviewBooking,
    ScheduledMessage,
)
from bot.messages import Reply
from bot.services import challenges
from bot.services.cohorts import qa_time_clash
from bot.services.events import DAY, REVIEW, Move, move_event
from bot.services.outbox import Status, after_quiet_hours, cancel_unsent, patient_message
from bot.services.planner import FlowTimes, Planner, first_session


async def affected_patients(
    session: AsyncSession, cohort: Cohort, event: CohortEvent
) -> list[Person]:
    """Patients who expect to be at this event (those moved to another review excepted)."""
    members = list(
        await session.scalars(
            select(Person).where(
                Person.cohort_id == cohort.id,
                Person.role == "patient",
                Person.discharged_at.is_(None),
            )
        )
    )
    if event.kind != REVIEW:
        return members
    bookings = await session.execute(
        select(ReviewBooking.person_id, ReviewBooking.event_id).where(
            ReviewBooking.months == event.number
        )
    )
    booked = {person_id: event_id for person_id, event_id in bookings}
    visitors = [pid for pid, event_id in booked.items() if event_id == event.id]
    stay = [p for p in members if p.id not in booked]
    if visitors:
        stay += list(
            await session.scalars(
                select(Person).where(Person.id.in_(visitors), Person.discharged_at.is_(None))
            )
        )
    return stay


async def move_and_tell(
    session: AsyncSession,
    content: Content,
    tz: ZoneInfo,
    cohort: Cohort,
    kind: str,
    number: int,
    new_date: date,
    now: datetime,
    start_time: str | None = None,
    times: FlowTimes | None = None,
) -> tuple[Move, int]:
    """Move an event, re-plan everyone it concerns, and queue a message to each of them."""
    today = now.astimezone(tz).date()
    await _hold_reminders(session, cohort, kind, number)
    move = await move_event(session, cohort, kind, number, new_date, today, start_time)
    if not move.changed:
        return move, 0
    clash = qa_time_clash(content, move.event, cohort)
    if clash is not None:
        # The doctor's time is fixed by the clock, not by the day's start: say if it now clashes.
        reason, fits = clash
        warning = (
            f"The doctor's session, set for {cohort.qa_time}, no longer fits day {number}: {reason}"
            f" Times that fit: {' or '.join(fits)} (pmp cohort set-days {cohort.id} --qa-time"
            " HH:MM)."
        )
        move = replace(move, warnings=(*move.warnings, warning))
    await _withdraw_unsent(session, move)
    await Planner(content, tz, times).plan_cohort(session, now, cohort.id)
    if move.event.kind == DAY:
        # A thought challenge's reflection is timed for the evening before a programme day.
        members = await session.scalars(select(Person.id).where(Person.cohort_id == cohort.id))
        await challenges.replan_reflections(session, content, tz, list(members), now)
    # Someone who blocked the bot can't be told; staff already know they are unreachable.
    patients = [
        p for p in await affected_patients(session, cohort, move.event) if p.unreachable_at is None
    ]
    start = f"{first_session(content, move.event, cohort):%H:%M}"
    for person in patients:
        text = content.render(
            "reminders/event_moved",
            name=person.display_name,
            event=move.event,
            old_date=move.old_date,
            start=start,
            same_day=move.old_date == move.event.on_date,
        )
        # Bulk priority: not urgent, and waiting for the end of quiet hours it must not hold
        # back replies.
        send_at = after_quiet_hours(person, now, tz)
        session.add(patient_message(person, "event_moved", Reply(text), send_at, now))
    await session.flush()
    return move, len(patients)


async def _hold_reminders(session: AsyncSession, cohort: Cohort, kind: str, number: int) -> None:
    """Lock the event's reminders first (PostgreSQL), so none is released mid-change.

    A dispatcher releasing one of them right now finishes first, and its outbox row is then
    withdrawn below; one that comes after skips them (SKIP LOCKED) until the change commits.
    """
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite has one writer at a time
    event_id = (
        select(CohortEvent.id)
        .where(
            CohortEvent.cohort_id == cohort.id,
            CohortEvent.kind == kind,
            CohortEvent.number == number,
        )
        .scalar_subquery()
    )
    await session.execute(
        select(ScheduledMessage.id)
        .where(ScheduledMessage.event_id == event_id)
        .order_by(ScheduledMessage.id)
        .with_for_update()
    )


async def _withdraw_unsent(session: AsyncSession, move: Move) -> None:
    """Reminders for the old date or time still waiting in the outbox are not sent; they go
    back to being planned, so the planner moves them to the new date or time."""
    await withdraw_reminders(
        session,
        (ScheduledMessage.event_id == move.event.id)
        & (ScheduledMessage.event_date == move.old_date),
    )


async def withdraw_reminders(session: AsyncSession, which: ColumnElement[bool]) -> None:
    """Planned reminders (`which` of them) still waiting in the outbox are not sent; they go
    back to being planned, for the planner to move or remove."""
    waiting = list(
        await session.execute(
            select(OutboxMessage.id, OutboxMessage.scheduled_id)
            .join(ScheduledMessage, ScheduledMessage.id == OutboxMessage.scheduled_id)
            .where(which, OutboxMessage.status == Status.PENDING)
        )
    )
    cancelled = await cancel_unsent(session, [row_id for row_id, _ in waiting])
    if not cancelled:
        return
    await session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(cancelled)).values(scheduled_id=None)
    )
    await session.execute(
        update(ScheduledMessage)
        .where(ScheduledMessage.id.in_([s for row_id, s in waiting if row_id in cancelled]))
        .values(status="planned")
    )
