"""The console's landing page: what the team needs to see first today."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Attendance, Cohort, CohortEvent, OutboxMessage, Person
from bot.services.outbox import Status
from bot.services.people import reference

# Delivery problems older than this are no longer news.
PROBLEMS_SINCE = timedelta(days=7)


@dataclass(frozen=True)
class Session:
    """A group meeting today."""

    cohort: Cohort
    event: CohortEvent


@dataclass(frozen=True)
class Answer:
    """Someone who said they will be late or can't come today."""

    reference: str
    first_name: str
    group: str
    answer: str
    answered_at: datetime


@dataclass(frozen=True)
class Problem:
    """A patient messages could not reach: unreachable, or a message that failed."""

    person_id: int
    reference: str
    first_name: str
    what: str  # "unreachable" | "failed" | "blocked"
    since: datetime


async def sessions_on(session: AsyncSession, day: date) -> list[Session]:
    """Every group's programme day or review on this date."""
    rows = await session.execute(
        select(Cohort, CohortEvent)
        .join(CohortEvent, CohortEvent.cohort_id == Cohort.id)
        .where(CohortEvent.on_date == day)
        .order_by(Cohort.name, Cohort.id)
    )
    return [Session(cohort, event) for cohort, event in rows]


async def answers_on(session: AsyncSession, day: date) -> list[Answer]:
    """Late and absent answers for today's sessions."""
    rows = await session.execute(
        select(Attendance, Person, Cohort.name)
        .join(CohortEvent, CohortEvent.id == Attendance.event_id)
        .join(Person, Person.id == Attendance.person_id)
        .join(Cohort, Cohort.id == CohortEvent.cohort_id)
        .where(CohortEvent.on_date == day, Attendance.answer.in_(("late", "absent")))
        .order_by(Attendance.answered_at)
    )
    return [
        Answer(reference(person), person.display_name, group, row.answer, row.answered_at)
        for row, person, group in rows
    ]


async def delivery_problems(session: AsyncSession, now: datetime) -> list[Problem]:
    """Patients marked unreachable, and failed or blocked messages of the last week."""
    found: dict[int, Problem] = {}
    unreachable = await session.scalars(
        select(Person).where(
            Person.role == "patient",
            Person.unreachable_at.is_not(None),
            Person.discharged_at.is_(None),
        )
    )
    for person in unreachable:
        assert person.unreachable_at is not None
        found[person.id] = Problem(
            person.id, reference(person), person.display_name, "unreachable", person.unreachable_at
        )
    failed = await session.execute(
        select(OutboxMessage.status, OutboxMessage.created_at, Person)
        .join(Person, Person.id == OutboxMessage.person_id)
        .where(
            OutboxMessage.status.in_((Status.FAILED, Status.BLOCKED)),
            OutboxMessage.created_at > now - PROBLEMS_SINCE,
            Person.role == "patient",
        )
        .order_by(OutboxMessage.id.desc())
        .limit(200)
    )
    for status, created_at, person in failed:
        found.setdefault(
            person.id,
            Problem(person.id, reference(person), person.display_name, str(status), created_at),
        )
    return sorted(found.values(), key=lambda problem: problem.since, reverse=True)
