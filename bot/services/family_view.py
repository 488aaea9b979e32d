"""The friends-and-family day as the console shows it: each group's day and who is coming."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Content
from bot.db.models import Cohort, FamilyGuest
from bot.services.cohorts import list_cohorts
from bot.services.events import DAY, events_for_cohorts
from bot.services.family import COMING, FamilyDay, cohort_guests, day_of, family_day, status
from bot.services.people import staff_reference


@dataclass(frozen=True)
class GroupSummary:
    """A group's family day (None if its calendar has no such day) and its invitations."""

    cohort: Cohort
    day: FamilyDay | None
    invited: int
    coming: int


async def summaries(session: AsyncSession, content: Content, tz: ZoneInfo) -> list[GroupSummary]:
    """Every group, newest start first, with how many guests are invited and coming."""
    counts: dict[int, tuple[int, int]] = {}
    rows = await session.execute(
        select(
            FamilyGuest.cohort_id,
            func.count(FamilyGuest.id),
            func.count(FamilyGuest.id).filter(FamilyGuest.reply == COMING),
        ).group_by(FamilyGuest.cohort_id)
    )
    for cohort_id, invited, coming in rows:
        counts[cohort_id] = (int(invited), int(coming))
    found = []
    cohorts = await list_cohorts(session)
    # Every group's calendar in one query, not one query a group.
    calendars = await events_for_cohorts(session, [cohort.id for cohort in cohorts])
    for cohort in cohorts:
        invited, coming = counts.get(cohort.id, (0, 0))
        event = next(
            (e for e in calendars[cohort.id] if e.kind == DAY and e.number == cohort.family_day),
            None,
        )
        if event is None:  # a group made before calendars were stored: made now
            day = await family_day(session, content, tz, cohort.id)
        else:
            day = day_of(content, tz, cohort, event)
        found.append(GroupSummary(cohort, day, invited, coming))
    return found


@dataclass(frozen=True)
class Guest:
    """One invitation: the guest's first name once they give it, their reply and words."""

    first_name: str | None
    status: str  # not_opened | no_answer | coming | not_coming
    access_needs: str | None
    question: str | None


@dataclass(frozen=True)
class PatientGuests:
    """A patient of the group and the people they invited (none for some)."""

    reference: str
    first_name: str
    guests: list[Guest]


async def guests_by_patient(session: AsyncSession, cohort_id: int) -> list[PatientGuests]:
    """Each patient of the group with their invitations, oldest first."""
    return [
        PatientGuests(
            staff_reference(person),
            person.display_name,
            [
                Guest(guest.first_name, status(guest), guest.access_needs, guest.question)
                for guest in guests
            ],
        )
        for person, guests in await cohort_guests(session, cohort_id)
    ]
