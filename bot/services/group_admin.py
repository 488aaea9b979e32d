"""Staff changes to a group and its patients that the command line has no verb for: a new
group's calendar worked out before it is saved, what moving an event would send, moving a
patient to another group, and booking a patient onto another group's review."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
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
from bot.services import attendance, challenges
from bot.services.calendar_changes import affected_patients, move_and_tell, withdraw_reminders
from bot.services.cohorts import CohortError, calendar_notes
from bot.services.events import DAY, REVIEW, day_dates, default_events, describe, events_of, nice
from bot.services.outbox import after_quiet_hours, patient_message
from bot.services.planner import FlowTimes, Planner, first_session
from bot.time.calendar import PROGRAMME_WEEKDAYS, bank_holiday, programme_days


@dataclass(frozen=True)
class PlannedEvent:
    """One line of a calendar: what, when, from what time, and what to know about it."""

    name: str  # "day3", "review6": how the command line names it
    title: str
    on_date: date
    start: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class CalendarPreview:
    """A new group's calendar before it is saved."""

    days: list[PlannedEvent]
    reviews: list[PlannedEvent]
    bank_holidays: list[date]  # programme weekdays skipped because they are bank holidays
    warnings: list[str]


def event_line(content: Content, event: CohortEvent, cohort: Cohort) -> PlannedEvent:
    """An event as staff read it (the same notes as `pmp cohort show`)."""
    notes = []
    if event.kind == DAY and event.number == cohort.family_day:
        notes.append("Friends and family day")
    if event.kind == DAY and event.number == cohort.qa_day:
        notes.append("Doctor's question-and-answer session")
    if bank_holiday(event.on_date):
        notes.append("Bank holiday")
    if event.kind == REVIEW and event.number == 12:
        notes.append("Discharge after this review")
    return PlannedEvent(
        f"{event.kind}{event.number}",
        describe(event),
        event.on_date,
        f"{first_session(content, event, cohort):%H:%M}",
        tuple(notes),
    )


def preview_calendar(
    content: Content, start: date, qa_day: int, family_day: int, today: date
) -> CalendarPreview:
    """The twelve days and the reviews a group starting on `start` (a Monday) would have."""
    # A group that is never added to a session: default_events and calendar_notes read it only.
    cohort = Cohort(name="", start_date=start, mode="", qa_day=qa_day, family_day=family_day)
    made = default_events(cohort)
    days = programme_days(start)
    skipped = [
        day
        for day in _each_day(start, days[-1])
        if day.weekday() in PROGRAMME_WEEKDAYS and bank_holiday(day)
    ]
    return CalendarPreview(
        [event_line(content, e, cohort) for e in made if e.kind == DAY],
        [event_line(content, e, cohort) for e in made if e.kind == REVIEW],
        skipped,
        calendar_notes(cohort, days, today),
    )


def _each_day(first: date, last: date) -> list[date]:
    return [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]


@dataclass(frozen=True)
class PatientMessage:
    """A message a change would send to one patient, and when it would go."""

    person_id: int
    first_name: str
    text: str
    send_at: datetime


@dataclass(frozen=True)
class MovePreview:
    """What moving an event would do, worked out and then undone."""

    title: str
    old_date: date
    new_date: date
    start: str
    changed: bool
    warnings: tuple[str, ...]
    messages: list[PatientMessage]
    not_told: list[int]  # ids of patients it concerns who have blocked the bot


async def preview_move(
    session: AsyncSession,
    content: Content,
    tz: ZoneInfo,
    cohort: Cohort,
    kind: str,
    number: int,
    new_date: date,
    now: datetime,
    start_time: str | None,
    times: FlowTimes | None,
) -> MovePreview:
    """Move the event in a savepoint, read what it wrote, and roll it back: the preview is
    exactly what the move will do. EventError / CohortError as the move itself raises them."""
    last_id = await session.scalar(select(func.max(OutboxMessage.id))) or 0
    savepoint = await session.begin_nested()
    try:
        move, _ = await move_and_tell(
            session, content, tz, cohort, kind, number, new_date, now, start_time, times
        )
        concerned = await affected_patients(session, cohort, move.event)
        # Only this move's rows: newer than any before it, and to the people it concerns.
        rows = list(
            await session.execute(
                select(OutboxMessage.text, OutboxMessage.not_before, Person.id, Person.display_name)
                .join(Person, Person.id == OutboxMessage.person_id)
                .where(
                    OutboxMessage.id > last_id,
                    OutboxMessage.kind == "event_moved",
                    OutboxMessage.person_id.in_([p.id for p in concerned]),
                )
                .order_by(Person.id)
            )
        )
        preview = MovePreview(
            describe(move.event),
            move.old_date,
            move.event.on_date,
            f"{first_session(content, move.event, cohort):%H:%M}",
            move.changed,
            move.warnings,
            [PatientMessage(pid, name, text, at) for text, at, pid, name in rows],
            [p.id for p in concerned if p.unreachable_at is not None],
        )
    finally:
        await savepoint.rollback()
    return preview


async def transfer_targets(session: AsyncSession, person: Person, today: date) -> list[Cohort]:
    """Groups a patient may move to: any other group whose programme has not finished."""
    found = await session.execute(
        select(Cohort, func.max(CohortEvent.on_date))
        .join(CohortEvent, CohortEvent.cohort_id == Cohort.id)
        .where(CohortEvent.kind == DAY, Cohort.id != (person.cohort_id or 0))
        .group_by(Cohort.id)
        .order_by(Cohort.start_date, Cohort.id)
    )
    return [cohort for cohort, last_day in found if last_day >= today]


@dataclass(frozen=True)
class Transfer:
    """A patient moved to another group."""

    old_cohort_id: int | None
    told: bool


async def transfer(
    session: AsyncSession,
    content: Content,
    tz: ZoneInfo,
    times: FlowTimes | None,
    person: Person,
    target: Cohort,
    now: datetime,
) -> Transfer:
    """Move a patient to another group: its calendar replaces theirs, their reminders are
    planned again from it, and (if they can be reached) they are told."""
    today = now.astimezone(tz).date()
    if person.role != "patient" or person.discharged_at is not None:
        raise CohortError("Only a patient still on the programme can move to another group.")
    if target.id == person.cohort_id:
        raise CohortError("They are already in that group.")
    target_days = day_dates(await events_of(session, target))
    if target_days[-1] < today:
        raise CohortError(f"{target.name} has finished: its last day was {nice(target_days[-1])}.")
    old = person.cohort_id
    person.cohort_id = target.id
    # Reviews booked with other groups were chosen against the old group's dates.
    await session.execute(delete(ReviewBooking).where(ReviewBooking.person_id == person.id))
    await _withdraw_unsent(session, person)
    await session.flush()
    await Planner(content, tz, times).plan(session, now, [person.id])
    await challenges.replan_reflections(session, content, tz, [person.id], now)
    told = person.unreachable_at is None
    if told:
        next_event, next_date, start = await _next_day(session, content, person, target, today)
        text = content.render(
            "reminders/group_moved",
            name=person.display_name,
            group=target.name,
            where=content.render("menu/where", cohort=target),
            next_event=next_event,
            next_date=next_date,
            start=start,
        )
        send_at = after_quiet_hours(person, now, tz)
        session.add(patient_message(person, "group_moved", Reply(text), send_at, now))
    await session.flush()
    return Transfer(old, told)


async def _next_day(
    session: AsyncSession, content: Content, person: Person, cohort: Cohort, today: date
) -> tuple[str, date | None, str]:
    """Their next day with the new group: what it is, its date and start ("" if none left)."""
    for event in await attendance.patient_events(session, person):
        if event.on_date >= today:
            start = f"{first_session(content, event, cohort):%H:%M}"
            return describe(event), event.on_date, start
    return "", None, ""


async def _withdraw_unsent(session: AsyncSession, person: Person) -> None:
    """Reminders already waiting in the outbox are for the old group's dates: not sent. They
    go back to being planned, so the planner removes them."""
    await withdraw_reminders(
        session,
        (ScheduledMessage.person_id == person.id) & ScheduledMessage.event_id.is_not(None),
    )


@dataclass(frozen=True)
class ReviewChoice:
    """A review a patient could be booked on: its own group's, or another group's."""

    event: CohortEvent
    cohort: Cohort
    current: bool


async def review_choices(
    session: AsyncSession, person: Person, today: date
) -> dict[int, list[ReviewChoice]]:
    """For each review still to come (by months): the one they are booked on, their own
    group's, and other groups' (attendance.review_alternatives)."""
    if person.cohort_id is None or person.discharged_at is not None:
        return {}
    own = await session.get(Cohort, person.cohort_id)
    if own is None:
        return {}
    own_reviews = {e.number: e for e in await events_of(session, own) if e.kind == REVIEW}
    booked = {e.number: e for e in await attendance.patient_events(session, person)}
    result: dict[int, list[ReviewChoice]] = {}
    for months, own_review in sorted(own_reviews.items()):
        current = booked.get(months, own_review)
        options: dict[int, CohortEvent] = {own_review.id: own_review, current.id: current}
        for other, _ in await attendance.review_alternatives(session, person, own_review, today):
            options[other.id] = other
        choices = []
        for event in sorted(options.values(), key=lambda e: (e.on_date, e.id)):
            if event.on_date < today:
                continue
            group = own if event.cohort_id == own.id else await session.get(Cohort, event.cohort_id)
            if group is not None:
                choices.append(ReviewChoice(event, group, event.id == current.id))
        if choices:
            result[months] = choices
    return result


async def book_review_by_staff(
    session: AsyncSession,
    content: Content,
    tz: ZoneInfo,
    times: FlowTimes | None,
    person: Person,
    review: CohortEvent,
    now: datetime,
) -> bool:
    """Book a patient on a review as `pmp patient book-review` does: reminders follow, and
    the patient hears when and where. Whether they could be told."""
    if person.discharged_at is not None:
        raise CohortError(f"P{person.id} has been discharged.")
    if review.kind != REVIEW:
        raise CohortError("That is not a review.")
    if review.on_date < now.astimezone(tz).date():
        raise CohortError(f"That review was on {nice(review.on_date)}.")
    group = await session.get(Cohort, review.cohort_id)
    if group is None:
        raise CohortError("That group no longer exists.")
    await attendance.book_review(session, person, review, now)
    await Planner(content, tz, times).plan(session, now, [person.id])
    told = person.unreachable_at is None
    if told:
        text = content.render(
            "reminders/review_booked_by_staff",
            name=person.display_name,
            months=review.number,
            on_date=review.on_date,
            start=f"{first_session(content, review, group):%H:%M}",
            cohort=group,
            elsewhere=group.id != person.cohort_id,
        )
        send_at = after_quiet_hours(person, now, tz)
        session.add(patient_message(person, "review_booked", Reply(text), send_at, now))
    await session.flush()
    return told
