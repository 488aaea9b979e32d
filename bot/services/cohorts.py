"""Create and read programme groups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Cohort
from bot.services.events import default_events
from scheduler.calendar import DEFAULT_FAMILY_DAY, DEFAULT_QA_DAY, PROGRAMME_DAYS, WEEK_TWO

MODES = ("in-person", "online")


class CohortError(ValueError):
    """A cohort request that cannot be carried out, with a message for staff."""


@dataclass(frozen=True)
class CohortRequest:
    """What staff give to create a group."""

    name: str
    start_date: date
    mode: str
    location: str | None = None
    video_link: str | None = None
    qa_day: int = DEFAULT_QA_DAY
    family_day: int = DEFAULT_FAMILY_DAY


def validate(request: CohortRequest) -> CohortRequest:
    """Check a request and return it tidied; raise CohortError with a plain reason."""
    name = request.name.strip()
    if not name or len(name) > 80:
        raise CohortError("The group name must be 1 to 80 characters.")
    if request.start_date.weekday() != 0:
        raise CohortError(
            f"The start date must be a Monday; {request.start_date:%A %d %B %Y} is not."
        )
    if request.mode not in MODES:
        raise CohortError("The mode must be 'in-person' or 'online'.")
    location = (request.location or "").strip() or None
    video_link = (request.video_link or "").strip() or None
    if request.mode == "in-person" and not location:
        raise CohortError("An in-person group needs a --location.")
    if request.mode == "online":
        if not video_link:
            raise CohortError("An online group needs a --video-link.")
        parsed = urlparse(video_link)
        if parsed.scheme != "https" or not parsed.netloc:
            raise CohortError("The video link must be a full https:// address.")
    if not 1 <= request.qa_day <= PROGRAMME_DAYS:
        raise CohortError("The question-and-answer day must be a day number from 1 to 12.")
    if request.family_day not in WEEK_TWO:
        raise CohortError("The friends-and-family day is in week two: day 5, 6, 7 or 8.")
    return CohortRequest(
        name,
        request.start_date,
        request.mode,
        location,
        video_link,
        request.qa_day,
        request.family_day,
    )


async def create_cohort(session: AsyncSession, request: CohortRequest, now: datetime) -> Cohort:
    """Validate and store a new group."""
    checked = validate(request)
    cohort = Cohort(
        name=checked.name,
        start_date=checked.start_date,
        mode=checked.mode,
        location=checked.location if checked.mode == "in-person" else None,
        video_link=checked.video_link if checked.mode == "online" else None,
        qa_day=checked.qa_day,
        family_day=checked.family_day,
        created_at=now,
    )
    session.add(cohort)
    await session.flush()
    session.add_all(default_events(cohort))
    await session.flush()
    return cohort


async def list_cohorts(session: AsyncSession) -> list[Cohort]:
    """All groups, newest start first."""
    result = await session.scalars(select(Cohort).order_by(Cohort.start_date.desc(), Cohort.id))
    return list(result)


async def get_cohort(session: AsyncSession, cohort_id: int) -> Cohort:
    """One group, or CohortError."""
    cohort = await session.get(Cohort, cohort_id)
    if cohort is None:
        raise CohortError(f"There is no group with id {cohort_id}.")
    return cohort


async def set_days(
    session: AsyncSession, cohort: Cohort, qa_day: int | None, family_day: int | None
) -> Cohort:
    """Choose the question-and-answer day and the friends-and-family day after creation."""
    request = CohortRequest(
        cohort.name,
        cohort.start_date,
        cohort.mode,
        cohort.location,
        cohort.video_link,
        qa_day if qa_day is not None else cohort.qa_day,
        family_day if family_day is not None else cohort.family_day,
    )
    checked = validate(request)
    cohort.qa_day, cohort.family_day = checked.qa_day, checked.family_day
    await session.flush()
    return cohort
