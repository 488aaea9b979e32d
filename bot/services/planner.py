"""The reminder planner: each patient's calendar and preferences become scheduled messages.

Every reminder has a key (person, event, slot, event date), so planning again changes
nothing that is already right. A change to the calendar or to someone's preferences updates
or removes the reminders that have not gone out yet; ones already sent stay as they were.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.content import Content
from bot.db.models import Cohort, CohortEvent, Person, ReviewBooking, ScheduledMessage
from bot.services.events import DAY, events_for_cohorts, events_of
from bot.time.times import QuietHours, at, hhmm, parse_clock
from bot.time.timetable import TimetableClash, place_qa

EVENING = "evening"
MORNING = "morning"
WEEK_BEFORE = "week_before"
DAY_BEFORE = "day_before"
DISCHARGE = "discharge"
# The programme's own flows (see dialogs/flows.py for who words them).
PRACTICE_PLAN = "practice_plan"  # after a programme day: set tonight's and tomorrow's practice
PRACTICE_CHECK = "practice_check"  # before the next day's 09:30 review: how did it go?
PRACTICE_WEEKEND = "practice_weekend"  # the lighter, optional check-in after a Thursday
QA_INVITE = "qa_invite"  # questions for the doctor are open
QA_REMINDER = "qa_reminder"  # two days before they close, to those who sent none
CHALLENGE_NUDGE = "challenge_nudge"  # the time the patient chose to do their challenge
CHALLENGE_REFLECT = "reflection"  # a thought challenge's: ready for the feedback session
# The calendar's own reminders, as against the flows' nudges.
REMINDER_SLOTS = (EVENING, MORNING, WEEK_BEFORE, DAY_BEFORE, DISCHARGE)
EVENT_SLOTS = (
    EVENING,
    MORNING,
    WEEK_BEFORE,
    DAY_BEFORE,
    DISCHARGE,
    PRACTICE_PLAN,
    PRACTICE_CHECK,
    PRACTICE_WEEKEND,
    QA_INVITE,
    QA_REMINDER,
)

# The discharge message goes mid-morning the day after the 12-month review.
DISCHARGE_TIME = time(10, 0)
DISCHARGE_USEFUL_FOR = timedelta(days=7)
# Home practice: the plan is asked for half an hour after the day finishes; the check-in comes
# a quarter of an hour after the morning reminder; the weekend one on Saturday morning.
PRACTICE_PLAN_AFTER_FINISH = timedelta(minutes=30)
PRACTICE_CHECK_AFTER_MORNING = timedelta(minutes=15)
WEEKEND_CHECK_TIME = time(10, 0)
QA_INVITE_TIME = time(10, 0)
QA_REMINDER_BEFORE_DEADLINE = timedelta(days=2)
LAST_DAY = 12
CHUNK = 500  # people planned per query batch

Key = tuple[int, str, date]  # (event id, slot, event date)


@dataclass(frozen=True)
class Preferences:
    """When someone wants reminders, and when they want quiet."""

    evening: time
    morning: time
    quiet: QuietHours | None

    @classmethod
    def of(cls, person: Person) -> Preferences:
        """A person's stored preferences (the defaults if anything stored is unreadable)."""
        return cls(
            evening=parse_clock(person.evening_time) or time(18, 0),
            morning=parse_clock(person.morning_time) or time(7, 45),
            quiet=QuietHours.of(person.quiet_start, person.quiet_end),
        )


@dataclass(frozen=True)
class FlowTimes:
    """When questions for the doctor open and close, relative to the session."""

    open_days: int = 5
    deadline_hours: int = 24


@dataclass(frozen=True)
class Occasion:
    """An event a patient is expected at, with the local time it begins."""

    event_id: int
    kind: str  # "day" | "review"
    number: int
    on_date: date
    start: time
    finish: time | None = None  # a programme day's last session ("Finish")
    qa_at: time | None = None  # the doctor's session, on the day that holds it


@dataclass(frozen=True)
class Wanted:
    """One reminder the plan calls for."""

    event_id: int
    slot: str
    event_date: date
    due_at: datetime
    send_until: datetime

    @property
    def key(self) -> Key:
        """What makes it the same reminder when planned again."""
        return (self.event_id, self.slot, self.event_date)


def outside_quiet(
    due: datetime,
    until: datetime,
    quiet: QuietHours | None,
    tz: ZoneInfo,
    earlier: bool = True,
) -> datetime | None:
    """Move a reminder out of quiet hours: to their end if still useful then, else (where
    `earlier` allows) to just before they begin; None when it cannot be sent at all."""
    if quiet is None or not quiet.is_quiet(due, tz):
        return due
    end = quiet.end_after(due, tz)
    if end < until:
        return end
    if not earlier:
        return None
    return quiet.start_before(due, tz) - timedelta(minutes=1)


def qa_deadline(qa_at: datetime, times: FlowTimes) -> datetime:
    """When questions for the doctor close."""
    return qa_at - timedelta(hours=times.deadline_hours)


def _flow_slots(
    prefs: Preferences, occasion: Occasion, tz: ZoneInfo, times: FlowTimes
) -> list[tuple[str, datetime, datetime]]:
    """A programme day's home-practice and question nudges: (slot, due, useful until)."""
    day = occasion.on_date
    slots = []
    if occasion.number > 1:
        # How last night's and this morning's practice went, before the 09:30 review.
        checked = at(day, prefs.morning, tz) + PRACTICE_CHECK_AFTER_MORNING
        slots.append((PRACTICE_CHECK, checked, at(day, occasion.start, tz)))
    if occasion.number < LAST_DAY and occasion.finish is not None:
        finished = at(day, occasion.finish, tz)
        slots.append((PRACTICE_PLAN, finished + PRACTICE_PLAN_AFTER_FINISH, at(day, time(23), tz)))
    if occasion.number < LAST_DAY and day.weekday() == 3:  # a Thursday: the weekend follows
        saturday = day + timedelta(days=2)
        weekend = at(saturday, WEEKEND_CHECK_TIME, tz)
        slots.append((PRACTICE_WEEKEND, weekend, at(saturday + timedelta(days=1), time(20), tz)))
    if occasion.qa_at is not None:
        deadline = qa_deadline(at(day, occasion.qa_at, tz), times)
        opens = at(day - timedelta(days=times.open_days), QA_INVITE_TIME, tz)
        slots.append((QA_INVITE, opens, deadline))
        reminder = deadline - QA_REMINDER_BEFORE_DEADLINE
        if reminder > opens:  # with a short window, the invitation is reminder enough
            slots.append((QA_REMINDER, reminder, deadline))
    return slots


def wanted(
    prefs: Preferences,
    occasions: Iterable[Occasion],
    tz: ZoneInfo,
    now: datetime,
    times: FlowTimes | None = None,
) -> list[Wanted]:
    """The reminders a patient should get from now on, for these occasions."""
    plan: list[Wanted] = []
    for occasion in occasions:
        day = occasion.on_date
        starts = at(day, occasion.start, tz)
        midnight_before = at(day, time(0), tz)
        if occasion.kind == DAY:
            slots = [
                (EVENING, at(day - timedelta(days=1), prefs.evening, tz), midnight_before),
                (MORNING, at(day, prefs.morning, tz), starts),
                *_flow_slots(prefs, occasion, tz, times or FlowTimes()),
            ]
        else:
            slots = [
                (
                    WEEK_BEFORE,
                    at(day - timedelta(days=7), prefs.evening, tz),
                    at(day - timedelta(days=1), prefs.evening, tz),
                ),
                (DAY_BEFORE, at(day - timedelta(days=1), prefs.evening, tz), midnight_before),
            ]
            if occasion.number == 12:
                after = at(day + timedelta(days=1), DISCHARGE_TIME, tz)
                slots.append((DISCHARGE, after, after + DISCHARGE_USEFUL_FOR))
        for slot, asked, until in slots:
            # A morning message moved to the evening before would say "Good morning" at night.
            earlier = slot not in (MORNING, PRACTICE_CHECK)
            due = outside_quiet(asked, until, prefs.quiet, tz, earlier=earlier)
            if due is not None and until > now and due < until:
                plan.append(Wanted(occasion.event_id, slot, day, due, until))
    return plan


def first_session(content: Content, event: CohortEvent, cohort: Cohort | None) -> time:
    """When an event begins: its first session (moved to any start time staff set)."""
    return parse_clock(sessions_of(content, event, cohort)[0]["time"]) or time(9, 30)


def qa_time(content: Content, event: CohortEvent, cohort: Cohort | None) -> time | None:
    """When the doctor's session begins, on the programme day that holds it (else None)."""
    if cohort is None or event.kind != DAY or cohort.qa_day != event.number:
        return None
    if cohort.qa_time and (chosen := parse_clock(cohort.qa_time)) is not None:
        return chosen
    for session in sessions_of(content, event, cohort):
        if session.get("kind") == "qa":
            return parse_clock(session["time"])
    return first_session(content, event, cohort)


def sessions_of(
    content: Content, event: CohortEvent, cohort: Cohort | None
) -> list[dict[str, str]]:
    """An event's timetable; when staff set another start, every session moves with it, and
    the doctor's session is at the time staff chose for it."""
    sessions = usual_sessions(content, event, cohort)
    if cohort is None or not cohort.qa_time or event.kind != DAY or cohort.qa_day != event.number:
        return sessions
    chosen = parse_clock(cohort.qa_time)
    if chosen is None:
        return sessions
    try:
        return place_qa(sessions, chosen)
    except TimetableClash:
        # A time kept from before times were checked, or one a later change of the day's start
        # no longer fits: the doctor comes when staff said, so show that, as it used to be.
        moved = [{**s, "time": hhmm(chosen)} if s.get("kind") == "qa" else s for s in sessions]
        return sorted(moved, key=lambda s: s["time"])


def usual_sessions(
    content: Content, event: CohortEvent, cohort: Cohort | None
) -> list[dict[str, str]]:
    """An event's timetable moved to any start staff set, the doctor's session at its usual
    place."""
    if event.kind == DAY:
        sessions = content.day_sessions(
            event.number,
            qa_day=cohort is not None and cohort.qa_day == event.number,
            family_day=cohort is not None and cohort.family_day == event.number,
        )
    else:
        sessions = content.review_sessions()
    chosen = parse_clock(event.start_time) if event.start_time else None
    planned = parse_clock(sessions[0]["time"]) if sessions else None
    if chosen is None or planned is None or chosen == planned:
        return sessions
    shift = datetime.combine(date.min, chosen) - datetime.combine(date.min, planned)
    moved = []
    for session in sessions:
        clock = parse_clock(session["time"]) or planned
        new = (datetime.combine(date.min, clock) + shift).time()
        moved.append({**session, "time": f"{new:%H:%M}"})
    return moved


@dataclass
class PlanCounts:
    """What a planning run changed."""

    people: int = 0
    added: int = 0
    moved: int = 0
    removed: int = 0

    def __iadd__(self, other: PlanCounts) -> PlanCounts:
        self.people += other.people
        self.added += other.added
        self.moved += other.moved
        self.removed += other.removed
        return self


class Planner:
    """Plans reminders inside a caller's transaction: a turn, a staff command or the tick."""

    def __init__(self, content: Content, tz: ZoneInfo, times: FlowTimes | None = None) -> None:
        self.content = content
        self.tz = tz
        self.times = times or FlowTimes()

    @classmethod
    def of(cls, content: Content, settings: Settings) -> Planner:
        """A planner with the configured times for questions to the doctor."""
        times = FlowTimes(settings.questions_open_days, settings.questions_deadline_hours)
        return cls(content, settings.tz, times)

    async def plan(
        self, session: AsyncSession, now: datetime, person_ids: Collection[int] | None = None
    ) -> PlanCounts:
        """Bring the reminders of these patients (all active ones if None) up to date."""
        ids = await self._active(session, person_ids)
        counts = PlanCounts()
        for start in range(0, len(ids), CHUNK):
            counts += await self._plan_chunk(session, now, ids[start : start + CHUNK])
        return counts

    async def plan_everyone(
        self, sessions: async_sessionmaker[AsyncSession], now: datetime
    ) -> PlanCounts:
        """The hourly safety net: every active patient, one short transaction per chunk."""
        async with sessions() as session:
            ids = await self._active(session, None)
        counts = PlanCounts()
        for start in range(0, len(ids), CHUNK):
            async with sessions() as session, session.begin():
                counts += await self._plan_chunk(session, now, ids[start : start + CHUNK])
        return counts

    @staticmethod
    async def _active(session: AsyncSession, person_ids: Collection[int] | None) -> list[int]:
        """Ids of patients still in the programme (of these, if given)."""
        query = select(Person.id).where(
            Person.role == "patient",
            Person.discharged_at.is_(None),
            Person.cohort_id.is_not(None),
        )
        if person_ids is not None:
            query = query.where(Person.id.in_(list(person_ids)))
        return list(await session.scalars(query.order_by(Person.id)))

    async def plan_cohort(self, session: AsyncSession, now: datetime, cohort_id: int) -> PlanCounts:
        """Re-plan everyone whose reminders depend on this group's dates."""
        members = select(Person.id).where(Person.cohort_id == cohort_id)
        visitors = (
            select(ReviewBooking.person_id)
            .join(CohortEvent, CohortEvent.id == ReviewBooking.event_id)
            .where(CohortEvent.cohort_id == cohort_id)
        )
        ids = set(await session.scalars(members)) | set(await session.scalars(visitors))
        return await self.plan(session, now, ids)

    async def _plan_chunk(self, session: AsyncSession, now: datetime, ids: list[int]) -> PlanCounts:
        query = select(Person).where(Person.id.in_(ids)).order_by(Person.id)
        if session.get_bind().dialect.name == "postgresql":
            # A turn changing one of them (settings, another review) waits, and so does this,
            # so neither plans from what the other is about to change. SQLite: one writer.
            query = query.with_for_update()
        people = list(await session.scalars(query))
        occasions = await self._occasions(session, people)
        # Everyone in a group with the same preferences has the same plan: work it out once.
        memo: dict[tuple[Preferences, tuple[Occasion, ...]], list[Wanted]] = {}
        plans: dict[int, list[Wanted]] = {}
        for person in people:
            same = (Preferences.of(person), tuple(occasions[person.id]))
            if same not in memo:
                memo[same] = wanted(same[0], same[1], self.tz, now, self.times)
            plans[person.id] = memo[same]
        today = now.astimezone(self.tz).date()
        existing = await session.execute(
            select(
                ScheduledMessage.id,
                ScheduledMessage.person_id,
                ScheduledMessage.event_id,
                ScheduledMessage.slot,
                ScheduledMessage.event_date,
                ScheduledMessage.status,
                ScheduledMessage.due_at,
                ScheduledMessage.send_until,
            ).where(
                ScheduledMessage.person_id.in_(ids),
                ScheduledMessage.event_date >= today - timedelta(days=2),
                # A thought challenge's nudges are the patient's own, not the calendar's.
                ScheduledMessage.event_id.is_not(None),
            )
        )
        have: dict[tuple[int, Key], tuple[int, str, datetime, datetime]] = {
            (person_id, (cast(int, event_id), slot, event_date)): (row_id, status, due_at, until)
            for row_id, person_id, event_id, slot, event_date, status, due_at, until in existing
        }
        new_rows: list[dict[str, object]] = []
        moves: list[dict[str, object]] = []
        wanted_keys: set[tuple[int, Key]] = set()
        for person_id, plan in plans.items():
            for item in plan:
                key = (person_id, item.key)
                wanted_keys.add(key)
                found = have.get(key)
                if found is None:
                    new_rows.append(
                        {
                            "person_id": person_id,
                            "event_id": item.event_id,
                            "slot": item.slot,
                            "event_date": item.event_date,
                            "due_at": item.due_at,
                            "send_until": item.send_until,
                            "status": "planned",
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                elif found[1] == "planned" and (found[2], found[3]) != (
                    item.due_at,
                    item.send_until,
                ):
                    moves.append(
                        {
                            "row_id": found[0],
                            "due": item.due_at,
                            "until": item.send_until,
                            "now": now,
                        }
                    )
        stale = [
            found[0]
            for key, found in have.items()
            if found[1] == "planned" and key not in wanted_keys
        ]
        await self._write(session, new_rows, moves, stale)
        return PlanCounts(len(people), len(new_rows), len(moves), len(stale))

    async def _write(
        self,
        session: AsyncSession,
        new_rows: list[dict[str, object]],
        moves: list[dict[str, object]],
        stale: list[int],
    ) -> None:
        """Insert, move and remove, each in one statement; only unsent reminders change."""
        table = cast(Table, ScheduledMessage.__table__)
        if new_rows:
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            # Another instance planning the same person at once: the key keeps one copy.
            await session.execute(insert(table).on_conflict_do_nothing(), new_rows)
        if moves:
            await session.execute(
                update(table)
                .where(table.c.id == bindparam("row_id"), table.c.status == "planned")
                .values(
                    due_at=bindparam("due"),
                    send_until=bindparam("until"),
                    updated_at=bindparam("now"),
                ),
                moves,
            )
        if stale:
            await session.execute(
                delete(ScheduledMessage).where(
                    ScheduledMessage.id.in_(stale), ScheduledMessage.status == "planned"
                )
            )

    async def _occasions(
        self, session: AsyncSession, people: list[Person]
    ) -> dict[int, list[Occasion]]:
        """Each patient's programme days and reviews (another group's, where they moved)."""
        cohort_ids = {p.cohort_id for p in people if p.cohort_id is not None}
        by_cohort = await events_for_cohorts(session, cohort_ids)
        cohorts = {
            c.id: c for c in await session.scalars(select(Cohort).where(Cohort.id.in_(cohort_ids)))
        }
        for cohort_id, events in by_cohort.items():
            if not events:  # a group made before calendars existed
                by_cohort[cohort_id] = await events_of(session, cohorts[cohort_id])
        bookings: dict[int, dict[int, CohortEvent]] = {}
        found = await session.execute(
            select(ReviewBooking.person_id, ReviewBooking.months, CohortEvent)
            .join(CohortEvent, CohortEvent.id == ReviewBooking.event_id)
            .where(ReviewBooking.person_id.in_([p.id for p in people]))
        )
        for person_id, months, event in found:
            bookings.setdefault(person_id, {})[months] = event
        missing = {e.cohort_id for b in bookings.values() for e in b.values()} - set(cohorts)
        if missing:
            for cohort in await session.scalars(select(Cohort).where(Cohort.id.in_(missing))):
                cohorts[cohort.id] = cohort
        made: dict[int, Occasion] = {}

        def occasion(event: CohortEvent) -> Occasion:
            if event.id not in made:
                cohort = cohorts.get(event.cohort_id)
                sessions = sessions_of(self.content, event, cohort)
                start = parse_clock(sessions[0]["time"]) or time(9, 30)
                finish = parse_clock(sessions[-1]["time"]) if event.kind == DAY else None
                made[event.id] = Occasion(
                    event.id,
                    event.kind,
                    event.number,
                    event.on_date,
                    start,
                    finish,
                    qa_time(self.content, event, cohort),
                )
            return made[event.id]

        result: dict[int, list[Occasion]] = {}
        for person in people:
            own = by_cohort.get(person.cohort_id or 0, [])
            moved = bookings.get(person.id, {})
            chosen = [moved.get(e.number, e) if e.kind != DAY else e for e in own]
            result[person.id] = [occasion(e) for e in chosen]
        return result
