"""Edges found in review: night-time sends after a delay, calendar changes mid-delivery,
answers that change what is sent, and retry arithmetic that must not overflow."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Attendance, CohortEvent, OutboxMessage
from bot.services import calendar_changes
from scheduler.dispatcher import MAX_BACKOFF, _backoff
from tests.helpers import Chat, make_cohort
from tests.scheduler.support import (
    Recorder,
    dispatcher,
    enrol,
    local,
    on,
    person,
    run_until,
    scheduled,
)
from tests.scheduler.test_reminder_faults import Faulty

START = date(2026, 12, 7)


def test_retry_back_off_never_overflows() -> None:
    assert _backoff(1, None) == timedelta(seconds=2)
    assert _backoff(47, None) == _backoff(10_000, None) == MAX_BACKOFF


async def test_a_reminder_delayed_into_quiet_hours_is_not_sent_at_night(
    runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime, start=START)
    await enrol(runtime, cohort, "p0", evening_time="20:45")
    clock.set(on(START - timedelta(days=1), 20, 45, runtime))
    # Telegram says "slow down" until 21:20, after quiet hours (21:00) have begun.
    sender = Faulty(clock, slow_until=on(START - timedelta(days=1), 21, 20, runtime))
    worker = dispatcher(runtime, sender)
    await run_until(runtime, clock, worker, on(START - timedelta(days=1), 23, 0, runtime))
    assert sender.to("p0") == []
    async with runtime.sessions() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))
        assert row is not None and row.status == "expired"
    # The morning reminder still comes, after quiet hours.
    await run_until(runtime, clock, worker, on(START, 8, 0, runtime))
    ((reply, at),) = sender.to("p0")
    assert reply.text.startswith("Good morning") and local(at, runtime).hour == 7


async def test_quiet_hours_past_the_start_of_the_day_drop_the_morning_reminder(
    runtime: Runtime,
) -> None:
    cohort = await make_cohort(runtime, start=START)
    person_id = await enrol(runtime, cohort, "p0", quiet_start="22:00", quiet_end="10:00")
    rows = await scheduled(runtime, person_id)
    assert not [r for r in rows if r.slot == "morning"]  # never "Good morning" the night before
    assert len([r for r in rows if r.slot == "evening"]) == 12


async def test_after_cant_make_it_that_days_reminders_stop(
    runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime, start=START)
    person_id = await enrol(runtime, cohort, "p0")
    async with runtime.sessions() as session:
        day_2 = await session.scalar(
            select(CohortEvent.id).where(
                CohortEvent.cohort_id == cohort.id,
                CohortEvent.kind == "day",
                CohortEvent.number == 2,
            )
        )
    chat = Chat(runtime, user_id="p0")
    await chat.event(kind="button", payload=f"a:{day_2}:no")
    recorder = Recorder(clock)
    await run_until(
        runtime, clock, dispatcher(runtime, recorder), on(START + timedelta(days=2), 8, 0, runtime)
    )
    texts = [reply.text for reply, _at in recorder.to("p0")]
    assert not any("day 2 of 12" in text for text in texts)
    assert any("day 3 of 12" in text for text in texts)
    skipped = [r.reason for r in await scheduled(runtime, person_id) if r.status == "skipped"]
    assert skipped == ["not_coming", "not_coming"]


async def test_missing_the_one_year_review_holds_the_discharge(
    runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime, start=START, mode="online")  # no other group to offer
    person_id = await enrol(runtime, cohort, "p0")
    async with runtime.sessions() as session:
        review = await session.scalar(
            select(CohortEvent).where(
                CohortEvent.cohort_id == cohort.id,
                CohortEvent.kind == "review",
                CohortEvent.number == 12,
            )
        )
        assert review is not None
    clock.set(on(review.on_date - timedelta(days=1), 19, 0, runtime))
    chat = Chat(runtime, user_id="p0")
    await chat.event(kind="button", payload=f"a:{review.id}:no")
    recorder = Recorder(clock)
    await run_until(runtime, clock, dispatcher(runtime, recorder), clock.now() + timedelta(days=10))
    assert not [r for r, _at in recorder.to("p0") if "discharged" in r.text]
    assert (await person(runtime, person_id)).discharged_at is None
    (discharge,) = [r for r in await scheduled(runtime, person_id) if r.slot == "discharge"]
    assert (discharge.status, discharge.reason) == ("skipped", "review_missed")
    async with runtime.sessions() as session:
        (answer,) = list(await session.scalars(select(Attendance)))
        assert answer.date_requested_at is not None  # and staff were asked to arrange one


async def test_a_start_time_change_replaces_a_reminder_still_waiting_to_go(
    runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime, start=START)
    await enrol(runtime, cohort, "p0")
    clock.set(on(START - timedelta(days=1), 18, 0, runtime))
    sender = Faulty(clock, slow_until=on(START - timedelta(days=1), 18, 30, runtime))
    worker = dispatcher(runtime, sender)
    await worker.drain()  # the evening reminder is queued, held back by "slow down"
    clock.advance(timedelta(minutes=10))
    async with runtime.sessions() as session, session.begin():
        move, told = await calendar_changes.move_and_tell(
            session,
            runtime.content,
            runtime.settings.tz,
            cohort,
            "day",
            1,
            START,
            clock.now(),
            "10:30",
        )
    assert move.changed and told == 1
    await run_until(runtime, clock, worker, on(START - timedelta(days=1), 20, 0, runtime))
    texts = [reply.text for reply, _at in sender.to("p0")]
    reminders = [t for t in texts if t.startswith("Hello Robin. Tomorrow")]
    assert len(reminders) == 1 and "We start at 10:30." in reminders[0]
    assert "10:30  Welcome and getting to know the group" in reminders[0]  # the day moved with it
    assert "10:45  What to expect" in reminders[0]
    assert any("now starts at 10:30" in t for t in texts)


async def test_a_calendar_change_at_night_does_not_hold_back_replies(
    runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime, start=START)
    await enrol(runtime, cohort, "p0")
    clock.set(on(START - timedelta(days=3), 22, 0, runtime))
    async with runtime.sessions() as session, session.begin():
        await calendar_changes.move_and_tell(
            session,
            runtime.content,
            runtime.settings.tz,
            cohort,
            "day",
            1,
            START,
            clock.now(),
            "10:00",
        )
    chat = Chat(runtime, user_id="p0")
    replies = await chat.command("today")
    assert replies and "starts on Monday 7 December" in chat.text  # answered now, not at 07:30
    async with runtime.sessions() as session:
        waiting = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.kind == "event_moved")
        )
        assert waiting is not None and local(waiting.not_before, runtime).hour == 7
