"""Thought challenges: the plan and its nudges, the reflection, and sharing a card with staff."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Content
from bot.db.models import Cohort, Person, ScheduledMessage, ThoughtChallenge
from bot.services.attendance import patient_events
from bot.services.events import DAY
from bot.services.planner import CHALLENGE_NUDGE, CHALLENGE_REFLECT, first_session, outside_quiet
from bot.time.times import QuietHours, at, parse_clock

PLANNED = "planned"
REFLECTED = "reflected"
# A nudge to do the practical is no use hours after the time they chose.
NUDGE_USEFUL_FOR = timedelta(hours=3)
# The reflection comes at least this long after the practical, so there is something to say.
REFLECT_AFTER = timedelta(hours=3)
# A reflection prompt delayed (downtime, quiet hours) is still worth sending for a day.
REFLECT_USEFUL_FOR = timedelta(days=1)
LIST_LIMIT = 10
REFLECT_SLOT = CHALLENGE_REFLECT


@dataclass(frozen=True)
class Plan:
    """What the patient planned, in their own words."""

    thought: str
    belief: int
    practical: str
    expected: str
    obstacles: str | None


@dataclass(frozen=True)
class Reflection:
    """What the patient found."""

    happened: str
    came_true: str
    learned: str
    balanced: str
    belief_after: int


def nudge_time(person: Person, asked: datetime, tz: ZoneInfo, now: datetime) -> datetime | None:
    """When a nudge asked for at `asked` can come: out of the person's quiet hours; None when
    no moment will do (planned in quiet hours for later in the same quiet night)."""
    # At their end if still useful then (06:00 → 07:30), else just before they begin (22:00
    # → 20:59): a nudge to do something should come before it, not the next morning.
    quiet = QuietHours.of(person.quiet_start, person.quiet_end)
    due = outside_quiet(asked, asked + NUDGE_USEFUL_FOR, quiet, tz) or asked
    if due > now:
        return due
    # Just before quiet hours began is already past: a nudge then would never be sent.
    return None


async def reflect_time(
    session: AsyncSession, content: Content, person: Person, done: datetime, tz: ZoneInfo
) -> datetime:
    """When to ask for the reflection on a practical done around `done`."""
    # The evening before the next programme day (at their evening time), so it is ready for
    # the 09:45 feedback session; never sooner than a few hours after the practical, and out
    # of quiet hours. With no programme day ahead: a few hours after the practical.
    after = done + REFLECT_AFTER
    quiet = QuietHours.of(person.quiet_start, person.quiet_end)
    evening = parse_clock(person.evening_time) or time(18, 0)
    cohort = await session.get(Cohort, person.cohort_id) if person.cohort_id else None
    for event in await patient_events(session, person):
        if event.kind != DAY:
            continue
        starts = at(event.on_date, first_session(content, event, cohort), tz)
        if starts <= after:
            continue
        wanted = max(after, at(event.on_date - timedelta(days=1), evening, tz))
        due = outside_quiet(wanted, starts, quiet, tz)
        if due is not None and after <= due < starts:
            return due
    return outside_quiet(after, after + REFLECT_USEFUL_FOR, quiet, tz, earlier=False) or after


async def replan_reflections(
    session: AsyncSession,
    content: Content,
    tz: ZoneInfo,
    person_ids: Sequence[int],
    now: datetime,
) -> int:
    """After a programme day moved: reflection prompts not yet sent follow the new calendar."""
    found = await session.execute(
        select(ScheduledMessage, ThoughtChallenge, Person)
        .join(ThoughtChallenge, ThoughtChallenge.id == ScheduledMessage.challenge_id)
        .join(Person, Person.id == ScheduledMessage.person_id)
        .where(
            ScheduledMessage.slot == REFLECT_SLOT,
            ScheduledMessage.status == "planned",
            ScheduledMessage.person_id.in_(list(person_ids)),
        )
    )
    moved = 0
    for row, challenge, person in found:
        due = await reflect_time(
            session, content, person, challenge.nudge_at or challenge.created_at, tz
        )
        if due == row.due_at or due <= now:
            continue
        row.due_at, row.send_until = due, due + REFLECT_USEFUL_FOR
        row.event_date, row.updated_at = _local_date(due, tz), now
        challenge.reflect_at = due
        moved += 1
    return moved


def _local_date(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


async def create(
    session: AsyncSession,
    person: Person,
    plan: Plan,
    nudge: tuple[datetime, datetime] | None,
    reflect_at: datetime,
    now: datetime,
    tz: ZoneInfo,
) -> ThoughtChallenge:
    """Save a planned challenge and its nudges; `nudge` is (due, useful until) or None."""
    challenge = ThoughtChallenge(
        person_id=person.id,
        status=PLANNED,
        thought=plan.thought,
        belief_before=plan.belief,
        practical=plan.practical,
        expected=plan.expected,
        obstacles=plan.obstacles,
        nudge_at=nudge[0] if nudge else None,
        reflect_at=reflect_at,
        created_at=now,
    )
    session.add(challenge)
    await session.flush()  # its id, for the nudges
    wanted = [(REFLECT_SLOT, reflect_at, reflect_at + REFLECT_USEFUL_FOR)]
    if nudge is not None:
        wanted.insert(0, (CHALLENGE_NUDGE, nudge[0], nudge[1]))
    session.add_all(
        ScheduledMessage(
            person_id=person.id,
            event_id=None,
            challenge_id=challenge.id,
            slot=slot,
            event_date=_local_date(due, tz),
            due_at=due,
            send_until=until,
            status="planned",
            created_at=now,
            updated_at=now,
        )
        for slot, due, until in wanted
    )
    return challenge


async def owned(
    session: AsyncSession, person: Person, challenge_id: int
) -> ThoughtChallenge | None:
    """The person's own challenge with this id (None for anyone else's)."""
    challenge = await session.get(ThoughtChallenge, challenge_id)
    if challenge is None or challenge.person_id != person.id:
        return None
    return challenge


async def awaiting(session: AsyncSession, person: Person) -> ThoughtChallenge | None:
    """The latest challenge not yet reflected on."""
    found: ThoughtChallenge | None = await session.scalar(
        select(ThoughtChallenge)
        .where(ThoughtChallenge.person_id == person.id, ThoughtChallenge.status == PLANNED)
        .order_by(ThoughtChallenge.created_at.desc(), ThoughtChallenge.id.desc())
        .limit(1)
    )
    return found


async def recent(
    session: AsyncSession, person: Person, limit: int = LIST_LIMIT
) -> list[ThoughtChallenge]:
    """The person's challenges, newest first."""
    return list(
        await session.scalars(
            select(ThoughtChallenge)
            .where(ThoughtChallenge.person_id == person.id)
            .order_by(ThoughtChallenge.created_at.desc(), ThoughtChallenge.id.desc())
            .limit(limit)
        )
    )


def reflect(challenge: ThoughtChallenge, reflection: Reflection, now: datetime) -> bool:
    """Record the reflection; False if it was already reflected on (kept as it was)."""
    if challenge.status != PLANNED:
        return False
    challenge.happened = reflection.happened
    challenge.came_true = reflection.came_true
    challenge.learned = reflection.learned
    challenge.balanced = reflection.balanced
    challenge.belief_after = reflection.belief_after
    challenge.status = REFLECTED
    challenge.reflected_at = now
    return True


def share(challenge: ThoughtChallenge, now: datetime) -> bool:
    """Mark the challenge shared with staff; False if it already was."""
    if challenge.shared_at is not None:
        return False
    challenge.shared_at = now
    return True
