"""Faults while reminders go out: downtime, quiet hours, pauses, blocked patients, a channel
that says "slow down" or fails for a while, a process killed mid-round, two dispatchers.
None loses a reminder or sends one twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select

from bot.app.runtime import Runtime, open_runtime
from bot.clock import ManualClock
from bot.db.models import OutboxMessage, Person
from bot.messages import DeliveryError, RecipientBlocked, Reply
from scheduler.dispatcher import CLAIM_LEASE, MAX_ATTEMPTS
from scheduler.failures import FailureReporter
from tests.helpers import Chat, make_cohort
from tests.scheduler.support import (
    STAFF,
    Recorder,
    dispatcher,
    enrol,
    on,
    person,
    run_until,
    scheduled,
)

START = date(2026, 12, 7)  # a Monday


@dataclass
class Faulty(Recorder):
    """A channel that fails as told: for some chats, the next N sends, or until a moment."""

    blocked: set[str] = field(default_factory=set)
    failures: list[Exception] = field(default_factory=list)
    # Like Telegram after a flood: every request is refused until then, "retry after" the rest.
    slow_until: datetime | None = None

    async def send(self, chat_id: str, reply: Reply) -> None:
        await asyncio.sleep(0)
        if chat_id in self.blocked:
            raise RecipientBlocked("forbidden")
        if self.slow_until is not None and self.clock.now() < self.slow_until:
            wait = (self.slow_until - self.clock.now()).total_seconds()
            raise DeliveryError("429", retry_after=wait)
        if self.failures:
            raise self.failures.pop(0)
        await super().send(chat_id, reply)


class Killed(BaseException):
    """The process dies (BaseException: nothing in our code may catch it)."""


@dataclass
class DiesAfter(Recorder):
    """Sends `count` messages, then the process dies while sending the next."""

    count: int = 3

    async def send(self, chat_id: str, reply: Reply) -> None:
        if len(self.sent) >= self.count:
            raise Killed
        await super().send(chat_id, reply)


def morning_of(day: date, runtime: Runtime, hour: int = 7, minute: int = 45) -> datetime:
    return on(day, hour, minute, runtime)


async def group_of(runtime: Runtime, size: int, **prefs: str | None) -> list[int]:
    cohort = await make_cohort(runtime, start=START)
    return [await enrol(runtime, cohort, f"p{n}", **prefs) for n in range(size)]


async def test_after_downtime_a_reminder_still_useful_is_sent_and_a_stale_one_skipped(
    runtime: Runtime, clock: ManualClock
) -> None:
    (person_id,) = await group_of(runtime, 1)
    recorder = Recorder(clock)
    # Down from before Sunday's 18:00 evening reminder until 08:10 on Monday, day 1.
    clock.set(morning_of(START, runtime, 8, 10))
    await dispatcher(runtime, recorder).drain()
    (message,) = recorder.to("p0")
    assert message[0].text.startswith("Good morning Robin. Today is day 1")
    rows = {r.slot: r for r in await scheduled(runtime, person_id) if r.event_date == START}
    assert (rows["evening"].status, rows["evening"].reason) == ("skipped", "too_late")
    assert rows["morning"].status == "queued"
    # Down again from before day 2's reminders until after its first session began.
    clock.set(on(START + timedelta(days=1), 9, 31, runtime))
    await dispatcher(runtime, recorder).drain()
    assert len(recorder.to("p0")) == 1
    day_2 = [
        r for r in await scheduled(runtime, person_id) if r.event_date == START + timedelta(days=1)
    ]
    assert {(r.status, r.reason) for r in day_2} == {("skipped", "too_late")}


async def test_a_late_reminder_waits_for_the_end_of_quiet_hours(
    runtime: Runtime, clock: ManualClock
) -> None:
    (person_id,) = await group_of(runtime, 1)
    recorder = Recorder(clock)
    rows = await scheduled(runtime, person_id)
    week_before = next(r for r in rows if r.slot == "week_before")
    # The bot comes back at 22:00 that evening: quiet hours (21:00-07:30).
    clock.set(week_before.due_at + timedelta(hours=4))
    worker = dispatcher(runtime, recorder)
    await worker.drain()
    assert recorder.to("p0") == []
    await run_until(runtime, clock, worker, clock.now() + timedelta(hours=12))
    ((reply, sent_at),) = recorder.to("p0")
    assert "group review is coming up on" in reply.text
    assert sent_at.astimezone(runtime.settings.tz).strftime("%H:%M") == "07:30"


async def test_paused_reminders_are_skipped_and_resume_at_the_end_of_the_pause(
    runtime: Runtime, clock: ManualClock
) -> None:
    (person_id,) = await group_of(runtime, 1)
    async with runtime.sessions() as session, session.begin():
        stored = await session.get(Person, person_id)
        assert stored is not None
        stored.paused_at = clock.now()
        stored.paused_until = on(START + timedelta(days=2), 12, 0, runtime)  # Wednesday noon
    recorder = Recorder(clock)
    await run_until(
        runtime, clock, dispatcher(runtime, recorder), on(START + timedelta(days=3), 9, 0, runtime)
    )
    # Days 1-3 fell in the pause (Wednesday's evening reminder for Thursday did not).
    received = [
        reply.text.split(".")[1].strip()
        for reply, _at in recorder.to("p0")
        if "of 12" in reply.text
    ]
    # After the pause, day 3's invitation to plan home practice came as well.
    assert [at for r, at in recorder.to("p0") if "home practice" in r.text] == [
        on(START + timedelta(days=2), 15, 30, runtime)
    ]
    assert received == [
        "Tomorrow, Thursday 10 December, is day 4 of 12 of your programme",
        "Today is day 4 of 12",
    ]
    reasons = Counter(
        r.reason for r in await scheduled(runtime, person_id) if r.status == "skipped"
    )
    assert reasons == {"paused": 6}  # three evenings, three mornings


async def test_a_patient_who_blocked_the_bot_is_marked_and_staff_are_told_once(
    runtime: Runtime, clock: ManualClock
) -> None:
    blocker, other = await group_of(runtime, 2)
    sender = Faulty(clock, blocked={"p0"})
    worker = dispatcher(runtime, sender)
    await run_until(runtime, clock, worker, on(START + timedelta(days=2), 12, 0, runtime))
    reminders = [r for r, _at in sender.to("p1") if "of 12" in r.text]
    nudges = [r for r, _at in sender.to("p1") if "home practice" in r.text]
    # Days 1 to 3's evening and morning reminders, and days 1 and 2's home-practice invitations.
    assert sender.to("p0") == [] and (len(reminders), len(nudges)) == (6, 2)
    assert (await person(runtime, blocker)).unreachable_at is not None
    staff = [reply.text for reply, _at in sender.to(STAFF)]
    assert len(staff) == 1 and f"P{blocker}" in staff[0] and "can't be reached" in staff[0]
    later = [r for r in await scheduled(runtime, blocker) if r.status == "blocked"]
    assert len(later) == 5  # not sent to, after the first refusal
    # They unblock and write to us: reachable again, and the next reminders go.
    sender.blocked.clear()
    chat = Chat(runtime, user_id="p0")
    await chat.command("menu")
    assert (await person(runtime, blocker)).unreachable_at is None
    await run_until(runtime, clock, worker, on(START + timedelta(days=3), 9, 0, runtime))
    assert [r.text.split(".")[1].strip() for r, _at in sender.to("p0")][
        -1
    ] == "Today is day 4 of 12"
    assert len(sender.to(STAFF)) == 1
    del other


async def test_slow_down_halts_the_round_and_nothing_is_lost_or_doubled(
    runtime: Runtime, clock: ManualClock
) -> None:
    await group_of(runtime, 20)
    clock.set(morning_of(START, runtime, 7, 46))
    sender = Faulty(clock, slow_until=clock.now() + timedelta(seconds=30))
    worker = dispatcher(runtime, sender)
    await worker.drain()
    assert sender.sent == []  # refused: the whole round waits, no new sends are started
    assert worker.resume_at["console"] == clock.now() + timedelta(seconds=30)
    async with runtime.sessions() as session:
        tried = sum(await session.scalars(select(OutboxMessage.attempts)))
    assert tried <= 8  # only the sends already under way when the first 429 came back
    clock.advance(timedelta(seconds=29))
    await worker.drain()
    assert sender.sent == []
    clock.advance(timedelta(seconds=2))
    await worker.drain()
    assert sorted(chat for chat, _r, _at in sender.sent) == sorted(f"p{n}" for n in range(20))


async def test_an_outage_for_a_while_delays_reminders_but_delivers_each_once(
    runtime: Runtime, clock: ManualClock
) -> None:
    await group_of(runtime, 10)
    outage = [DeliveryError("500 Internal Server Error") for _ in range(12)]
    sender = Faulty(clock, failures=outage)
    worker = dispatcher(runtime, sender)
    clock.set(morning_of(START, runtime, 7, 45))
    rounds = 0
    while len(sender.sent) < 10 and rounds < 200:
        await worker.drain()
        clock.advance(timedelta(seconds=5))  # the APScheduler tick
        rounds += 1
    assert Counter(chat for chat, _r, _at in sender.sent) == {f"p{n}": 1 for n in range(10)}
    assert sender.sent[-1][2] < on(START, 9, 30, runtime)  # still before the day began
    async with runtime.sessions() as session:
        attempts = list(await session.scalars(select(OutboxMessage.attempts)))
    # Only the messages that probed the channel used up tries; none came near giving up.
    assert max(attempts) < MAX_ATTEMPTS
    assert sum(attempts) - 10 <= 12


async def test_reminders_that_fail_for_good_reach_staff_in_one_summary(
    runtime: Runtime, clock: ManualClock
) -> None:
    await group_of(runtime, 3)
    # Telegram is down all morning: the reminders give up after their tries run out.
    sender = Faulty(clock, failures=[DeliveryError("502") for _ in range(10_000)])
    worker = dispatcher(runtime, sender)
    clock.set(morning_of(START, runtime, 7, 45))
    while clock.now() < on(START, 9, 35, runtime):
        await worker.drain()
        clock.advance(timedelta(minutes=1))
    sender.failures.clear()  # back up: the staff summary, which never gives up, goes now
    await run_until(runtime, clock, worker, clock.now() + timedelta(minutes=10))
    assert [chat for chat, _r, _at in sender.sent if chat != STAFF] == []
    summaries = [reply.text for reply, _at in sender.to(STAFF)]
    # They gave up at different moments: at most one summary per quarter of an hour.
    assert 1 <= len(summaries) <= 2
    assert "".join(summaries).count("Day 1 morning reminder") == 3
    async with runtime.sessions() as session:
        attempts = set(
            await session.scalars(
                select(OutboxMessage.attempts).where(OutboxMessage.kind == "reminder")
            )
        )
    assert attempts == {MAX_ATTEMPTS}


async def test_a_reminder_too_late_to_be_useful_expires_and_staff_are_told(
    runtime: Runtime, clock: ManualClock
) -> None:
    await group_of(runtime, 2)
    clock.set(morning_of(START, runtime, 7, 45))
    # "Slow down" for two hours: by then the day has begun.
    sender = Faulty(clock, slow_until=clock.now() + timedelta(hours=2))
    worker = dispatcher(runtime, sender)
    await run_until(runtime, clock, worker, on(START, 10, 0, runtime))
    assert [chat for chat, _r, _at in sender.sent if chat != STAFF] == []
    (summary,) = [reply.text for reply, _at in sender.to(STAFF)]
    assert summary.count("Day 1 morning reminder") == 2 and "too late to be useful" in summary
    async with runtime.sessions() as session:
        statuses = set(
            await session.scalars(
                select(OutboxMessage.status).where(OutboxMessage.kind == "reminder")
            )
        )
    assert statuses == {"expired"}


async def test_a_process_killed_mid_round_loses_and_repeats_nothing(
    runtime: Runtime, clock: ManualClock
) -> None:
    await group_of(runtime, 8)
    clock.set(morning_of(START, runtime, 7, 45))
    dying = DiesAfter(clock, count=3)
    try:
        await dispatcher(runtime, dying).drain()
    except Killed:
        pass
    else:  # pragma: no cover - the test's own premise
        raise AssertionError("the process should have died")
    assert len(dying.sent) == 3
    # A new process starts; the dead one's claim runs out, and it sends the rest.
    restarted = await open_runtime(runtime.settings, clock, migrate=False)
    try:
        survivor = Recorder(clock)
        worker = dispatcher(restarted, survivor)
        await worker.drain()
        assert survivor.sent == []  # the dead process's claim still holds
        clock.advance(CLAIM_LEASE + timedelta(seconds=1))
        await worker.drain()
    finally:
        await restarted.close()
    chats = [chat for chat, _r, _at in dying.sent + survivor.sent]
    assert Counter(chats) == {f"p{n}": 1 for n in range(8)}


async def test_two_dispatchers_deliver_a_thousand_reminders_each_exactly_once(
    runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime, start=START)
    from bot.services import people
    from bot.services.planner import Planner

    async with runtime.sessions() as session, session.begin():
        for n in range(1000):
            await people.enrol(
                session,
                role="patient",
                cohort_id=cohort.id,
                display_name="Robin",
                channel="console",
                user_id=f"p{n}",
                chat_id=f"p{n}",
                now=clock.now(),
            )
        await Planner(runtime.content, runtime.settings.tz).plan(session, clock.now())
    clock.set(morning_of(START, runtime, 7, 50))
    other = await open_runtime(runtime.settings, clock, migrate=False)  # a second process
    first, second = Recorder(clock), Recorder(clock)
    try:
        # Sunday's evening reminders are stale by now: released as skipped, not sent.
        await asyncio.gather(
            dispatcher(runtime, first).drain(limit=50), dispatcher(other, second).drain(limit=50)
        )
    finally:
        await other.close()
    chats = Counter(chat for chat, _r, _at in first.sent + second.sent)
    assert chats == {f"p{n}": 1 for n in range(1000)}
    if runtime.engine.dialect.name == "postgresql":
        assert first.sent and second.sent  # SKIP LOCKED: both really worked


async def test_urgent_mail_does_not_wait_behind_a_round_of_reminders(
    runtime: Runtime, clock: ManualClock
) -> None:
    await group_of(runtime, 40)
    clock.set(morning_of(START, runtime, 7, 46))
    order: list[str] = []
    marks: list[int] = []  # how many had been sent when the dispatcher was asked to make way
    worker = None
    # Other lanes wait while the alert is written: on a slow disk the write once took longer
    # than the whole round, and the test then measured the disk, not the dispatcher.
    written = asyncio.Event()

    @dataclass
    class Interrupting(Recorder):
        async def send(self, chat_id: str, reply: Reply) -> None:
            await asyncio.sleep(0)
            if len(order) >= 3 and not written.is_set():
                await written.wait()
            order.append(chat_id)
            if len(order) == 3:  # a staff alert is written while reminders go out
                now = clock.now()
                async with runtime.sessions() as session, session.begin():
                    session.add(
                        OutboxMessage(
                            channel="console",
                            chat_id=STAFF,
                            kind="alert",
                            priority=0,
                            text="urgent",
                            status="pending",
                            attempts=0,
                            not_before=now,
                            created_at=now,
                        )
                    )
                assert worker is not None
                worker.make_way()
                marks.append(len(order))
                written.set()

    worker = dispatcher(runtime, Interrupting(clock))
    await worker.drain()
    assert sorted(order) == sorted([STAFF] + [f"p{n}" for n in range(40)])  # all, once each
    # After being asked, only the sends already under way (one per lane, 8 lanes) went first,
    # not the rest of the round's 40.
    (mark,) = marks
    assert order.index(STAFF) <= mark + 8 < 40


async def test_a_summary_of_hundreds_of_failures_still_fits_in_one_message(
    runtime: Runtime, clock: ManualClock
) -> None:
    await group_of(runtime, 80)
    clock.set(morning_of(START, runtime, 7, 45))
    sender = Faulty(clock, slow_until=clock.now() + timedelta(hours=2))
    worker = dispatcher(runtime, sender)
    await run_until(runtime, clock, worker, on(START, 10, 0, runtime))
    (summary,) = [reply.text for reply, _at in sender.to(STAFF)]
    assert len(summary) <= 4096
    assert summary.count("Day 1 morning reminder") == 25
    assert "and 55 more (see pmp reminders)" in summary


async def test_review_reminders_still_come_while_reminders_are_paused(
    runtime: Runtime, clock: ManualClock
) -> None:
    (person_id,) = await group_of(runtime, 1)
    rows = await scheduled(runtime, person_id)
    week_before = next(r for r in rows if r.slot == "week_before")
    async with runtime.sessions() as session, session.begin():
        stored = await session.get(Person, person_id)
        assert stored is not None
        stored.paused_at = clock.now()  # until they turn them back on
    clock.set(week_before.due_at - timedelta(days=1))
    recorder = Recorder(clock)
    await run_until(
        runtime, clock, dispatcher(runtime, recorder), week_before.due_at + timedelta(days=8)
    )
    texts = [reply.text for reply, _at in recorder.to("p0")]
    assert any("group review is coming up on" in text for text in texts)  # the week before
    assert any("group review is tomorrow" in text for text in texts)  # and the day before
    assert not any("home practice" in text for text in texts)


async def test_a_discharged_patient_who_cannot_be_reached_is_marked_in_the_notice(
    runtime: Runtime, clock: ManualClock
) -> None:
    (person_id,) = await group_of(runtime, 1)
    async with runtime.sessions() as session, session.begin():
        stored = await session.get(Person, person_id)
        assert stored is not None
        stored.discharged_at = clock.now()
        stored.unreachable_at = clock.now()
        stored.unreachable_reported = False
    reporter = FailureReporter(runtime.sessions, runtime.content, {"console": STAFF})
    assert await reporter.report(clock.now()) == 1
    async with runtime.sessions() as session:
        notice = await session.scalar(select(OutboxMessage).where(OutboxMessage.chat_id == STAFF))
    assert notice is not None and f"P{person_id} (discharged)" in notice.text
