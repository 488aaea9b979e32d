"""A patient's own events, their answers to reminders, and moving to another group's review."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Attendance, Cohort, CohortEvent, Person, ReviewBooking
from bot.services.events import DAY, REVIEW, events_of

# How far past a patient's own review date another group's review is still offered.
ALTERNATIVES_WINDOW = timedelta(weeks=8)
MAX_ALTERNATIVES = 4


# session.info keys: the people whose turns share this session, and their events once loaded.
_SHARED_BY = "attendance.shared_by"
_LOADED = "attendance.loaded"


@dataclass(frozen=True)
class _Loaded:
    """Everyone's events in a batch of turns: each group's own, and the other groups' reviews
    each person moved to."""

    own: dict[int, list[CohortEvent]]
    booked: dict[int, list[CohortEvent]]


def share_events(session: AsyncSession, people: Iterable[Person]) -> None:
    """These people's turns run in this session together: the first of them to need its events
    loads everyone's in one query, for the others to share (/today asks on every turn)."""
    session.info[_SHARED_BY] = {person.id: person for person in people}
    session.info.pop(_LOADED, None)


async def patient_events(session: AsyncSession, person: Person) -> list[CohortEvent]:
    """The patient's programme days and reviews (another group's, where they moved), by date."""
    if person.cohort_id is None:
        return []
    loaded = await _shared(session, person)
    own = loaded.own.get(person.cohort_id, []) if loaded is not None else []
    if loaded is not None and own:
        moved_to = loaded.booked.get(person.id, [])
    else:
        # One query for the group's events and any other group's review they moved to.
        booked = select(ReviewBooking.event_id).where(ReviewBooking.person_id == person.id)
        found = list(
            await session.scalars(
                select(CohortEvent).where(
                    or_(CohortEvent.cohort_id == person.cohort_id, CohortEvent.id.in_(booked))
                )
            )
        )
        own = [e for e in found if e.cohort_id == person.cohort_id]
        moved_to = [e for e in found if e.cohort_id != person.cohort_id]
        if not own:  # a group made before calendars existed
            cohort = await session.get(Cohort, person.cohort_id)
            if cohort is None:
                return []
            own = await events_of(session, cohort)
    moved = {e.number: e for e in moved_to if e.cohort_id != person.cohort_id}
    # Moving back to their own group's review deletes the booking, so `moved` is current.
    chosen = [moved.get(e.number, e) if e.kind == REVIEW else e for e in own]
    return sorted(chosen, key=lambda e: (e.on_date, e.kind != DAY, e.number))


async def _shared(session: AsyncSession, person: Person) -> _Loaded | None:
    """The events of everyone sharing this session, loaded once; None if `person` is not one
    of them (or nobody shares it)."""
    sharing: dict[int, Person] | None = session.info.get(_SHARED_BY)
    if sharing is None or person.id not in sharing:
        return None
    loaded: _Loaded | None = session.info.get(_LOADED)
    if loaded is not None:
        return loaded
    people = sharing.values()
    cohorts = {found.cohort_id for found in people if found.cohort_id is not None}
    rows = await session.execute(
        select(CohortEvent, ReviewBooking.person_id)
        .outerjoin(
            ReviewBooking,
            and_(
                ReviewBooking.event_id == CohortEvent.id,
                ReviewBooking.person_id.in_(list(sharing)),
            ),
        )
        .where(or_(CohortEvent.cohort_id.in_(cohorts), ReviewBooking.person_id.is_not(None)))
    )
    own: dict[int, dict[int, CohortEvent]] = {cohort: {} for cohort in cohorts}
    booked: dict[int, list[CohortEvent]] = {}
    for event, booker in rows:
        if event.cohort_id in own:
            own[event.cohort_id][event.id] = event
        if booker is not None:
            booked.setdefault(booker, []).append(event)
    # Held here, so the session's weak identity map keeps them for the later turns.
    loaded = _Loaded({cohort: list(events.values()) for cohort, events in own.items()}, booked)
    session.info[_LOADED] = loaded
    return loaded


@dataclass(frozen=True)
class Answered:
    """An answer recorded, and whether staff need to hear about it."""

    event: CohortEvent
    answer: str
    tell_staff: bool


async def record_answer(
    session: AsyncSession, person: Person, event: CohortEvent, answer: str, now: datetime
) -> Answered:
    """Store the latest answer; staff hear of a late or absent patient once per answer."""
    found = await session.scalar(
        select(Attendance).where(Attendance.person_id == person.id, Attendance.event_id == event.id)
    )
    if found is None:
        found = Attendance(person_id=person.id, event_id=event.id, answer=answer, answered_at=now)
        session.add(found)
    found.answer, found.answered_at = answer, now
    # Staff hear of late or absent once per answer, and hear when someone told of as late or
    # absent says they are coming after all; "I'll be there" alone needs no message.
    tell = found.staff_told != answer and (answer in ("late", "no") or found.staff_told is not None)
    if tell:
        found.staff_told = answer
    await session.flush()
    return Answered(event, answer, tell)


async def answers_of(session: AsyncSession, person: Person) -> dict[int, str]:
    """The patient's answers, by event id."""
    found = await session.execute(
        select(Attendance.event_id, Attendance.answer).where(Attendance.person_id == person.id)
    )
    return {event_id: answer for event_id, answer in found}


async def review_alternatives(
    session: AsyncSession, person: Person, event: CohortEvent, today: date
) -> list[tuple[CohortEvent, Cohort]]:
    """Other groups' reviews of the same kind (months, in person or online) coming soon.

    Only after the patient's own programme has ended, and up to eight weeks after the review
    they are missing.
    """
    own = await session.get(Cohort, person.cohort_id) if person.cohort_id else None
    if own is None or event.kind != REVIEW:
        return []
    last_day = max(
        await session.scalars(
            select(CohortEvent.on_date).where(
                CohortEvent.cohort_id == own.id, CohortEvent.kind == DAY
            )
        ),
        default=today,
    )
    found = await session.execute(
        select(CohortEvent, Cohort)
        .join(Cohort, Cohort.id == CohortEvent.cohort_id)
        .where(
            CohortEvent.kind == REVIEW,
            CohortEvent.number == event.number,
            CohortEvent.id != event.id,
            Cohort.mode == own.mode,
            CohortEvent.on_date > max(today, last_day),
            CohortEvent.on_date <= max(event.on_date, today) + ALTERNATIVES_WINDOW,
        )
        .order_by(CohortEvent.on_date, CohortEvent.id)
        .limit(MAX_ALTERNATIVES)
    )
    return [(other, cohort) for other, cohort in found]


async def book_review(
    session: AsyncSession, person: Person, event: CohortEvent, now: datetime
) -> None:
    """Move the patient to this review (or back to their own group's)."""
    booking = await session.scalar(
        select(ReviewBooking).where(
            ReviewBooking.person_id == person.id, ReviewBooking.months == event.number
        )
    )
    if event.cohort_id == person.cohort_id:
        if booking is not None:
            await session.delete(booking)
    elif booking is None:
        booking = ReviewBooking(
            person_id=person.id, months=event.number, event_id=event.id, booked_at=now
        )
        session.add(booking)
    else:
        booking.event_id, booking.booked_at = event.id, now
    session.info.pop(_LOADED, None)  # the events shared in this session are out of date
    # A "can't make it" given earlier for the review they now choose no longer holds.
    await session.execute(
        delete(Attendance).where(Attendance.person_id == person.id, Attendance.event_id == event.id)
    )
    await session.flush()


async def review_they_missed(
    session: AsyncSession, person: Person, event_id: int
) -> CohortEvent | None:
    """A review the patient may rebook from: their group's own, or one they moved to."""
    event = await session.get(CohortEvent, event_id)
    if event is None or event.kind != REVIEW:
        return None
    if event.cohort_id == person.cohort_id:
        return event
    booked = await session.scalar(
        select(ReviewBooking.id).where(
            ReviewBooking.person_id == person.id, ReviewBooking.event_id == event_id
        )
    )
    return event if booked is not None else None


async def ask_for_a_date(
    session: AsyncSession, person: Person, event: CohortEvent, now: datetime
) -> bool:
    """Note that staff are asked to arrange a review; False if they were asked already."""
    found = await session.scalar(
        select(Attendance).where(Attendance.person_id == person.id, Attendance.event_id == event.id)
    )
    if found is None:
        found = Attendance(person_id=person.id, event_id=event.id, answer="no", answered_at=now)
        session.add(found)
    if found.date_requested_at is not None:
        return False
    found.date_requested_at = now
    await session.flush()
    return True
