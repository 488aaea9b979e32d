"""Create and read programme groups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Content
from bot.db.models import Cohort, CohortEvent
from bot.services.events import DAY, default_events, events_of, nice
from bot.services.planner import sessions_of, usual_sessions
from bot.time.calendar import (
    DEFAULT_FAMILY_DAY,
    DEFAULT_QA_DAY,
    PROGRAMME_DAYS,
    PROGRAMME_WEEKDAYS,
    WEEK_TWO,
    bank_holiday,
    programme_week,
)
from bot.time.times import hhmm, parse_clock
from bot.time.timetable import TimetableClash, place_qa, qa_times

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


async def create_cohort(
    session: AsyncSession,
    request: CohortRequest,
    now: datetime,
    *,
    earliest: date | None = None,
) -> Cohort:
    """Validate and store a new group; a start before `earliest` (staff's today) is refused."""
    checked = validate(request)
    if earliest is not None and checked.start_date < earliest:
        raise CohortError(
            f"The start date, {nice(checked.start_date)}, is in the past. Check it; to record a"
            " group that has already started, add --allow-past."
        )
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


_ORDINALS = {4: "fourth", 5: "fifth"}


def calendar_notes(cohort: Cohort, days: list[date], today: date) -> list[str]:
    """What staff should know about a new group's dates (each to follow "Note: "): a start in
    the past, or bank holidays that carry the last day beyond the usual three weeks."""
    notes = []
    if cohort.start_date < today:
        notes.append(
            f"the start date, {nice(cohort.start_date)}, is in the past; reminders are"
            " only sent for what is still to come."
        )
    last_week = programme_week(cohort.start_date, days[-1])
    if last_week > 3:
        span = (days[-1] - cohort.start_date).days + 1
        missed = [
            day
            for day in (cohort.start_date + timedelta(days=n) for n in range(span))
            if day.weekday() in PROGRAMME_WEEKDAYS and bank_holiday(day)
        ]
        cause = "bank holidays move" if len(missed) > 1 else "a bank holiday moves"
        week = f"a {_ORDINALS[last_week]} week" if last_week in _ORDINALS else f"week {last_week}"
        notes.append(f"{cause} day {PROGRAMME_DAYS} into {week} ({days[-1]:%a %d %b %Y}).")
    return notes


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
    session: AsyncSession,
    content: Content,
    cohort: Cohort,
    qa_day: int | None,
    family_day: int | None,
    qa_time: str | None = None,
) -> Cohort:
    """Choose the question-and-answer day (and its time) and the friends-and-family day after
    creation; a doctor's session that would not fit its day is refused with the reason."""
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
    if qa_time is not None:
        chosen = parse_clock(qa_time)
        if chosen is None:
            raise CohortError(f"'{qa_time}' is not a time: use HH:MM, like 14:00.")
        qa_time = hhmm(chosen)
    before = (cohort.qa_day, cohort.family_day, cohort.qa_time)
    cohort.qa_day, cohort.family_day = checked.qa_day, checked.family_day
    if qa_time is not None:
        cohort.qa_time = qa_time
    try:
        # A time chosen earlier is checked too: the day it is on may have changed.
        await _check_qa_time(session, content, cohort)
    except CohortError:
        cohort.qa_day, cohort.family_day, cohort.qa_time = before
        raise
    await session.flush()
    return cohort


@dataclass(frozen=True)
class QaDay:
    """The day of the doctor's session: its date, its timetable and the timetable's own."""

    on_date: date
    sessions: list[dict[str, str]]
    usual: list[dict[str, str]]

    def moved(self) -> dict[str, str]:
        """Sessions (by title) now at another time than the timetable's, with that time."""
        usual = {s["title"]: s["time"] for s in self.usual}
        return {
            s["title"]: usual[s["title"]]
            for s in self.sessions
            if s["title"] in usual and usual[s["title"]] != s["time"]
        }


async def qa_day(session: AsyncSession, content: Content, cohort: Cohort) -> QaDay | None:
    """The day with the doctor's session, if the group's calendar has it."""
    for event in await events_of(session, cohort):
        if event.kind == DAY and event.number == cohort.qa_day:
            return QaDay(
                event.on_date,
                sessions_of(content, event, cohort),
                usual_sessions(content, event, cohort),
            )
    return None


def qa_time_clash(
    content: Content, event: CohortEvent, cohort: Cohort
) -> tuple[str, list[str]] | None:
    """Why the doctor's session does not fit this day at the time staff chose, and the times
    that would; None when it fits, no time was chosen or the session is on another day."""
    chosen = parse_clock(cohort.qa_time) if cohort.qa_time else None
    if chosen is None or event.kind != DAY or event.number != cohort.qa_day:
        return None
    usual = usual_sessions(content, event, cohort)
    try:
        place_qa(usual, chosen)
    except TimetableClash as clash:
        return str(clash), qa_times(usual)
    return None


async def _check_qa_time(session: AsyncSession, content: Content, cohort: Cohort) -> None:
    """CohortError, with the times that would work, if the doctor's session does not fit."""
    for event in await events_of(session, cohort):
        clash = qa_time_clash(content, event, cohort)
        if clash is not None:
            reason, fits = clash
            raise CohortError(
                f"The doctor's session can't start at {cohort.qa_time} on day {cohort.qa_day}:"
                f" {reason} Times that fit on day {cohort.qa_day}: {' or '.join(fits)}"
                " (give one with --qa-time)."
            )
