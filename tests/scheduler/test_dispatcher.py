"""The outbox dispatcher: claims atomically, retries with back-off, gives up only where it may."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app.runtime import Runtime, open_runtime
from bot.clock import ManualClock
from bot.db.models import OutboxMessage, Person, Worker
from bot.messages import ChatBusy, DeliveryError, RecipientBlocked, Reply
from bot.services import people
from scheduler.dispatcher import (
    CLAIM_LEASE,
    CLAIMER_SILENT,
    INSTANCE,
    MAX_ATTEMPTS,
    Dispatcher,
    claim_due,
    heartbeat,
    send_rows,
    signed_off,
)


@dataclass
class FlakySender:
    """A channel that fails in the ways we ask it to, then works."""

    channel: str = "console"
    failures: list[Exception] = field(default_factory=list)
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, chat_id: str, reply: Reply) -> None:
        await asyncio.sleep(0)  # a real channel waits on the network: let others run
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((chat_id, reply.text))


async def add_rows(
    runtime: Runtime,
    count: int,
    priority: int = 1,
    person_id: int | None = None,
    chat: str = "chat",
    label: str = "message",
) -> None:
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        session.add_all(
            OutboxMessage(
                channel="console",
                chat_id=f"{chat}-{n}",
                person_id=person_id,
                kind="test",
                priority=priority,
                text=f"{label} {n}",
                status="pending",
                attempts=0,
                not_before=now,
                created_at=now,
            )
            for n in range(count)
        )


async def rows(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_sends_each_due_row_once(runtime: Runtime) -> None:
    await add_rows(runtime, 5)
    sender = FlakySender()
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, runtime.clock)
    assert await dispatcher.drain() == 5
    assert await dispatcher.drain() == 0
    assert [text for _chat, text in sender.sent] == [f"message {n}" for n in range(5)]
    assert {row.status for row in await rows(runtime)} == {"sent"}


async def test_urgent_rows_go_first(runtime: Runtime) -> None:
    await add_rows(runtime, 2, priority=2)
    await add_rows(runtime, 1, priority=0)
    sender = FlakySender()
    await Dispatcher(runtime.sessions, {"console": sender}, runtime.clock).drain()
    assert sender.sent[0] == ("chat-0", "message 0") and len(sender.sent) == 3
    first = (await rows(runtime))[2]
    assert first.priority == 0 and first.sent_at is not None


async def test_retry_after_is_honoured(runtime: Runtime, clock: ManualClock) -> None:
    await add_rows(runtime, 1)
    sender = FlakySender(failures=[DeliveryError("retry_after", retry_after=30)])
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)
    assert await dispatcher.run_once() == 1
    (row,) = await rows(runtime)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.not_before == clock.now() + timedelta(seconds=30)
    clock.advance(timedelta(seconds=29))
    assert await dispatcher.run_once() == 0
    clock.advance(timedelta(seconds=1))
    assert await dispatcher.run_once() == 1
    assert sender.sent == [("chat-0", "message 0")]


async def test_gives_up_after_bounded_tries_but_never_on_urgent(
    runtime: Runtime, clock: ManualClock
) -> None:
    await add_rows(runtime, 1, priority=1, chat="normal")
    await add_rows(runtime, 1, priority=0, chat="urgent")
    sender = FlakySender(failures=[DeliveryError("500")] * (2 * MAX_ATTEMPTS + 2))
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)
    for _ in range(MAX_ATTEMPTS):
        await dispatcher.run_once()
        clock.advance(timedelta(minutes=10))
    normal, urgent = await rows(runtime)
    assert (normal.status, normal.attempts) == ("failed", MAX_ATTEMPTS)
    assert urgent.status == "pending" and urgent.attempts >= MAX_ATTEMPTS - 1


async def test_blocked_recipient_is_marked_unreachable(runtime: Runtime) -> None:
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        person = await people.enrol(
            session,
            role="patient",
            cohort_id=None,
            display_name="Robin",
            channel="console",
            user_id="p1",
            chat_id="p1",
            now=now,
        )
        person_id = person.id
    await add_rows(runtime, 1, person_id=person_id)
    sender = FlakySender(failures=[RecipientBlocked("forbidden")])
    await Dispatcher(runtime.sessions, {"console": sender}, runtime.clock).drain()
    (row,) = await rows(runtime)
    assert row.status == "blocked"
    async with runtime.sessions() as session:
        stored = await session.get(Person, person_id)
        assert stored is not None and stored.unreachable_at == now


async def test_a_claim_left_by_a_dead_process_is_taken_over(
    runtime: Runtime, clock: ManualClock
) -> None:
    await add_rows(runtime, 2)
    claimed = await claim_due(runtime.sessions, clock.now())
    assert len(claimed) == 2
    # The process that claimed them "dies" here. Within the lease nobody else sends them.
    assert await claim_due(runtime.sessions, clock.now()) == []
    clock.advance(CLAIM_LEASE + timedelta(seconds=1))
    sender = FlakySender()
    assert await Dispatcher(runtime.sessions, {"console": sender}, clock).drain() == 2
    assert len(sender.sent) == 2


async def claimed_by(runtime: Runtime, instance: str, seen_ago: timedelta | None) -> None:
    """Every row claimed by `instance`, which last said it was alive `seen_ago` (None: never)."""
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        for row in await session.scalars(select(OutboxMessage)):
            row.status, row.claimed_at = "sending", now
            row.claim_token = f"{instance}-0123456789abcdef"
        if seen_ago is not None:
            session.add(Worker(instance=instance, seen_at=now - seen_ago))


async def test_a_dead_processs_claims_are_taken_over_in_seconds_not_after_the_lease(
    runtime: Runtime, clock: ManualClock
) -> None:
    await add_rows(runtime, 2)
    await claimed_by(runtime, "deadbeef", seen_ago=timedelta(seconds=5))
    assert await claim_due(runtime.sessions, clock.now()) == []  # alive: its claims stand
    clock.advance(CLAIMER_SILENT)
    clock.advance(timedelta(seconds=1))
    sender = FlakySender()
    assert await Dispatcher(runtime.sessions, {"console": sender}, clock).drain() == 2
    assert len(sender.sent) == 2


async def test_an_alert_taken_over_from_a_dead_process_says_it_may_be_a_repeat(
    runtime: Runtime, clock: ManualClock
) -> None:
    await add_rows(runtime, 2)
    async with runtime.sessions() as session, session.begin():
        first, second = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        first.kind, first.text = "alert", "URGENT RISK: risk language\nReference: P1"
        second.text = "Good morning"
    await claimed_by(runtime, "deadbeef", seen_ago=timedelta(seconds=1))
    clock.advance(CLAIMER_SILENT + timedelta(seconds=1))
    sender = FlakySender()
    note = "Sent again after the bot restarted."
    await Dispatcher(runtime.sessions, {"console": sender}, clock, resent_note=note).drain()
    texts = sorted(text for _chat, text in sender.sent)
    assert texts == [
        "Good morning",  # not an alert: as it was
        f"URGENT RISK: risk language\n{note}\nReference: P1",  # the title stays first
    ]
    async with runtime.sessions() as session:
        stored = await session.get(OutboxMessage, first.id)
    assert stored is not None and note not in stored.text  # in the copy sent, not the record


@pytest.mark.parametrize("instance", ["never-said", "mine"])
async def test_a_claimer_that_never_said_it_lives_or_this_process_keeps_the_lease(
    runtime: Runtime, clock: ManualClock, instance: str
) -> None:
    await add_rows(runtime, 1)
    if instance == "mine":
        await claimed_by(runtime, INSTANCE, seen_ago=timedelta(minutes=1))
    else:
        await claimed_by(runtime, "abcd1234", seen_ago=None)
    clock.advance(CLAIMER_SILENT + timedelta(seconds=30))
    assert await claim_due(runtime.sessions, clock.now()) == []
    clock.advance(CLAIM_LEASE)
    assert len(await claim_due(runtime.sessions, clock.now())) == 1


async def test_a_heartbeat_keeps_claims_and_signing_off_forgets_the_process(
    runtime: Runtime, clock: ManualClock
) -> None:
    await heartbeat(runtime.sessions, clock.now())
    clock.advance(timedelta(seconds=5))
    await heartbeat(runtime.sessions, clock.now())
    async with runtime.sessions() as session:
        (worker,) = await session.scalars(select(Worker))
    assert (worker.instance, worker.seen_at) == (INSTANCE, clock.now())
    await signed_off(runtime.sessions)
    async with runtime.sessions() as session:
        assert list(await session.scalars(select(Worker))) == []


async def test_two_dispatchers_never_send_a_row_twice(runtime: Runtime) -> None:
    await add_rows(runtime, 200)
    first, second = FlakySender(), FlakySender()
    other = await open_runtime(runtime.settings, runtime.clock, migrate=False)  # a 2nd process
    a = Dispatcher(runtime.sessions, {"console": first}, runtime.clock)
    b = Dispatcher(other.sessions, {"console": second}, runtime.clock)
    try:
        await asyncio.gather(a.drain(limit=20), b.drain(limit=20))
    finally:
        await other.close()
    texts = [text for _chat, text in first.sent + second.sent]
    assert sorted(texts) == sorted(f"message {n}" for n in range(200))
    if runtime.engine.dialect.name == "postgresql":
        # SKIP LOCKED lets both really work side by side. (SQLite has one writer at a
        # time: several bot processes on one SQLite file is not a supported set-up.)
        assert first.sent and second.sent


async def test_due_rows_of_one_chat_go_in_one_round_in_order(runtime: Runtime) -> None:
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        session.add_all(
            OutboxMessage(
                channel="console",
                chat_id="one-chat",
                kind="test",
                priority=1,
                text=f"part {n}",
                status="pending",
                attempts=0,
                not_before=now,
                created_at=now,
            )
            for n in range(3)
        )
    sender = FlakySender()
    assert await Dispatcher(runtime.sessions, {"console": sender}, runtime.clock).run_once() == 3
    assert [text for _chat, text in sender.sent] == ["part 0", "part 1", "part 2"]


async def test_a_row_waits_behind_an_older_one_that_is_backing_off(
    runtime: Runtime, clock: ManualClock
) -> None:
    await add_rows(runtime, 1, chat="same", label="older")
    sender = FlakySender(failures=[DeliveryError("NetworkError")])
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)
    await dispatcher.run_once()  # the first row fails and backs off
    await add_rows(runtime, 1, chat="same", label="newer")  # due now, same chat
    assert await dispatcher.run_once() == 0
    assert sender.sent == []
    clock.advance(timedelta(seconds=3))
    assert await dispatcher.drain() == 2
    assert [text for _chat, text in sender.sent] == ["older 0", "newer 0"]


async def test_a_slow_channel_hands_the_rest_back_before_the_lease_ends(runtime: Runtime) -> None:
    await add_rows(runtime, 3)
    rows_ = await claim_due(runtime.sessions, runtime.clock.now())
    outcomes = await send_rows(rows_, {"console": FlakySender()}, budget=timedelta(0))
    # With no time left nothing is attempted: every row goes back to the queue, in order.
    assert [o.status for o in outcomes] == ["held", "held", "held"]


async def test_a_busy_chat_waits_alone_and_its_wait_is_not_a_failed_try(
    runtime: Runtime, clock: ManualClock
) -> None:
    await add_rows(runtime, 3)  # chat-0, chat-1, chat-2 on one channel
    sender = FlakySender(failures=[ChatBusy("teams_paced", retry_after=12)])
    dispatcher = Dispatcher(runtime.sessions, {"console": sender}, clock)
    await dispatcher.run_once()
    # The other chats of the channel were sent in the same round (a 429 would have held them).
    assert [chat for chat, _text in sender.sent] == ["chat-1", "chat-2"]
    busy = (await rows(runtime))[0]
    assert (busy.status, busy.attempts) == ("pending", 0)
    assert busy.not_before == clock.now() + timedelta(seconds=12)
    clock.advance(timedelta(seconds=12))
    await dispatcher.run_once()
    assert sender.sent[-1] == ("chat-0", "message 0")
