"""A programme day as staff prepare for it: the home-practice check-ins for the 09:30 review and
the thought-challenge cards patients chose to share for the 09:45 feedback."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Content
from bot.db.models import Cohort, CohortEvent, Person, PracticePlan, ThoughtChallenge
from bot.services.events import DAY, events_of
from bot.services.people import staff_reference
from bot.services.planner import first_session
from bot.services.practice import Item, items_of
from bot.time.times import at

DAYS = 12


@dataclass(frozen=True)
class CheckIn:
    """One patient's plan from the day before and how each piece went (None: no plan set)."""

    reference: str
    first_name: str
    plan: PracticePlan | None
    items: list[Item]


@dataclass(frozen=True)
class SharedCard:
    """A thought-challenge card its patient chose to share with the team."""

    reference: str
    first_name: str
    challenge: ThoughtChallenge


@dataclass(frozen=True)
class Day:
    """One programme day of a group, what came before it, and what patients shared for it."""

    cohort: Cohort
    event: CohortEvent
    starts_at: datetime  # the day's first session, UTC
    previous: CohortEvent | None  # the programme day whose home practice is reviewed
    check_ins: list[CheckIn]
    cards: list[SharedCard]
    cards_since: datetime | None  # cards shared from here (None: since the group began)
    cards_until: datetime


async def programme_days(session: AsyncSession, cohort: Cohort) -> list[CohortEvent]:
    """The group's twelve programme days, day 1 first."""
    return [event for event in await events_of(session, cohort) if event.kind == DAY]


async def day_of(
    session: AsyncSession, content: Content, tz: ZoneInfo, cohort: Cohort, number: int
) -> Day | None:
    """Programme day `number` of the group with its check-ins and shared cards; None if the
    group has no such day."""
    days = await programme_days(session, cohort)
    event = next((e for e in days if e.number == number), None)
    if event is None:
        return None
    earlier = [e for e in days if e.on_date < event.on_date]
    previous = earlier[-1] if earlier else None
    patients = list(
        await session.scalars(
            select(Person)
            .where(Person.cohort_id == cohort.id, Person.role == "patient")
            .order_by(Person.id)
        )
    )
    plans: dict[int, PracticePlan] = {}
    if previous is not None and patients:
        found = await session.scalars(
            select(PracticePlan).where(
                PracticePlan.event_id == previous.id,
                PracticePlan.person_id.in_([p.id for p in patients]),
            )
        )
        plans = {plan.person_id: plan for plan in found}
    check_ins = [
        CheckIn(
            staff_reference(person),
            person.display_name,
            plans.get(person.id),
            items_of(plans[person.id]) if person.id in plans else [],
        )
        for person in patients
    ]
    # A card is for the feedback after the practice it tested: anything shared since the day
    # before began, up to the end of this day. A card shared during the day before, after its
    # feedback session, is shown on both days, so none is missed.
    since = at(previous.on_date, first_session(content, previous, cohort), tz) if previous else None
    until = at(event.on_date + timedelta(days=1), time(0), tz)
    cards = await shared_cards(session, cohort.id, since, until)
    starts = at(event.on_date, first_session(content, event, cohort), tz)
    return Day(cohort, event, starts, previous, check_ins, cards, since, until)


async def shared_cards(
    session: AsyncSession, cohort_id: int, since: datetime | None, until: datetime
) -> list[SharedCard]:
    """Cards the group's patients shared in [since, until), oldest share first; a card never
    shared is never returned."""
    query = (
        select(ThoughtChallenge, Person)
        .join(Person, Person.id == ThoughtChallenge.person_id)
        .where(
            Person.cohort_id == cohort_id,
            ThoughtChallenge.shared_at.is_not(None),
            ThoughtChallenge.shared_at < until,
        )
        .order_by(ThoughtChallenge.shared_at, ThoughtChallenge.id)
    )
    if since is not None:
        query = query.where(ThoughtChallenge.shared_at >= since)
    return [
        SharedCard(staff_reference(person), person.display_name, challenge)
        for challenge, person in await session.execute(query)
    ]


@dataclass(frozen=True)
class Meeting:
    """A group with a programme day on a date."""

    cohort: Cohort
    event: CohortEvent


async def meeting_on(session: AsyncSession, day: date) -> list[Meeting]:
    """Every group with a programme day on this date."""
    rows = await session.execute(
        select(Cohort, CohortEvent)
        .join(CohortEvent, CohortEvent.cohort_id == Cohort.id)
        .where(CohortEvent.on_date == day, CohortEvent.kind == DAY)
        .order_by(Cohort.name, Cohort.id)
    )
    return [Meeting(cohort, event) for cohort, event in rows]
