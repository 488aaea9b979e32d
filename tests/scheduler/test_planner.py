"""The planner: idempotent, follows preference and calendar changes, touches only unsent rows."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time

from sqlalchemy import select

from bot.app.runtime import Runtime, open_runtime
from bot.clock import ManualClock
from bot.db.models import Person, ScheduledMessage
from bot.services import calendar_changes
from bot.services.planner import Planner
from tests.helpers import make_cohort
from tests.scheduler.support import Recorder, dispatcher, enrol, local, run_until, scheduled

START = date(2026, 12, 7)


async def plan(runtime: Runtime, ids: list[int] | None = None) -> tuple[int, int, int]:
    async with runtime.sessions() as session, session.begin():
        counts = await Planner(runtime.content, runtime.settings.tz).plan(
            session, runtime.clock.now(), ids
        )
    return counts.added, counts.moved, counts.removed


async def test_enrolment_plans_every_reminder_and_planning_again_changes_nothing(
    runtime: Runtime,
) -> None:
    cohort = await make_cohort(runtime, start=START)
    person_id = await enrol(runtime, cohort, "p1")
    rows = await scheduled(runtime, person_id)
    assert len(rows) == 31
    assert {r.slot for r in rows} == {
        "evening",
        "morning",
        "week_before",
        "day_before",
        "discharge",
    }
    assert await plan(runtime) == (0, 0, 0)
    assert [r.id for r in await scheduled(runtime, person_id)] == [r.id for r in rows]


async def test_joining_late_plans_only_what_is_still_useful(
    runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime, start=START)
    clock.set(datetime(2026, 12, 9, 8, 0, tzinfo=runtime.settings.tz))  # day 3, 08:00
    person_id = await enrol(runtime, cohort, "late-joiner")
    rows = await scheduled(runtime, person_id)
    first = rows[0]
    # Day 3's morning reminder (07:45, useful until 09:30) is the first; days 1 and 2 are gone.
    assert first.slot == "morning" and first.event_date == date(2026, 12, 9)
    assert len(rows) == 31 - 5


async def test_a_new_reminder_time_moves_unsent_reminders_only(
    runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime, start=START)
    person_id = await enrol(runtime, cohort, "p1")
    recorder = Recorder(clock)
    await run_until(
        runtime,
        clock,
        dispatcher(runtime, recorder),
        datetime(2026, 12, 7, 12, 0, tzinfo=runtime.settings.tz),
    )
    assert len(recorder.sent) == 2  # day 1's evening and morning reminders
    async with runtime.sessions() as session, session.begin():
        person = await session.get(Person, person_id)
        assert person is not None
        person.evening_time = "19:15"
    added, moved, removed = await plan(runtime, [person_id])
    assert (added, removed) == (0, 0) and moved == 11 + 6  # 11 evenings; 2 per review
    rows = await scheduled(runtime, person_id)
    sent = [r for r in rows if r.status == "queued"]
    assert {local(r.due_at, runtime).time() for r in sent if r.slot == "evening"} == {time(18, 0)}
    planned_evenings = [r for r in rows if r.status == "planned" and r.slot == "evening"]
    assert {local(r.due_at, runtime).time() for r in planned_evenings} == {time(19, 15)}


async def test_reminder_times_inside_quiet_hours_are_moved_out_of_them(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=START)
    person_id = await enrol(
        runtime,
        cohort,
        "p1",
        evening_time="22:00",
        morning_time="07:00",
        quiet_start="21:00",
        quiet_end="07:30",
    )
    rows = await scheduled(runtime, person_id)
    evenings = {local(r.due_at, runtime).time() for r in rows if r.slot == "evening"}
    mornings = {local(r.due_at, runtime).time() for r in rows if r.slot == "morning"}
    assert evenings == {time(20, 59)}  # just before quiet hours begin
    assert mornings == {time(7, 30)}  # as quiet hours end, still before the day starts


async def test_moving_a_day_moves_its_reminders(runtime: Runtime, clock: ManualClock) -> None:
    cohort = await make_cohort(runtime, start=START)
    person_id = await enrol(runtime, cohort, "p1")
    async with runtime.sessions() as session, session.begin():
        move, told = await calendar_changes.move_and_tell(
            session,
            runtime.content,
            runtime.settings.tz,
            cohort,
            "day",
            12,
            date(2026, 12, 28),
            clock.now(),
        )
    assert told == 1 and move.old_date == date(2026, 12, 24)
    rows = await scheduled(runtime, person_id)
    day_12 = [r for r in rows if r.event_id == move.event.id]
    assert {r.event_date for r in day_12} == {date(2026, 12, 28)}
    assert len(rows) == 31  # the old date's two reminders were replaced, not added to


async def test_two_planners_at_once_plan_each_reminder_once(runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=START)
    ids = [await enrol(runtime, cohort, f"p{n}") for n in range(5)]
    async with runtime.sessions() as session, session.begin():
        await session.execute(ScheduledMessage.__table__.delete())
    other = await open_runtime(runtime.settings, runtime.clock, migrate=False)
    try:
        await asyncio.gather(plan(runtime, ids), plan(other, ids))
    finally:
        await other.close()
    async with runtime.sessions() as session:
        keys = [
            (r.person_id, r.event_id, r.slot, r.event_date)
            for r in await session.scalars(select(ScheduledMessage))
        ]
    # 31 calendar reminders and 26 flow nudges each: 11 home-practice plans, 11 check-ins,
    # 2 weekend check-ins, and the doctor's questions opening and closing.
    assert len(keys) == len(set(keys)) == 5 * (31 + 26)


async def test_discharged_patients_are_not_planned(runtime: Runtime, clock: ManualClock) -> None:
    cohort = await make_cohort(runtime, start=START)
    person_id = await enrol(runtime, cohort, "p1")
    async with runtime.sessions() as session, session.begin():
        person = await session.get(Person, person_id)
        assert person is not None
        person.discharged_at = clock.now()
        await session.execute(ScheduledMessage.__table__.delete())
    assert await plan(runtime) == (0, 0, 0)
    assert await scheduled(runtime, person_id) == []
