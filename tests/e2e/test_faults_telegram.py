"""Faults a sender or Telegram can cause, over the real PTB Application and the fake Bot API:
an update PTB cannot read, characters no database stores, two messages in one batch, edits."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import make_url
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.app.runtime import Runtime, open_runtime
from bot.app.telegram_service import TelegramService
from bot.clock import ManualClock
from bot.db.models import Escalation, OutboxMessage, Worker
from tests.conftest import LEAD_ID, STAFF_CHAT_ID, STAFF_ID
from tests.e2e.conftest import start_service
from tests.e2e.test_escalations_telegram import alerts, alerts_recorded, enrolled, report
from tests.fakes.fake_user import FakeGroup, FakeUser
from tests.fakes.telegram_api import FakeTelegramAPI

CRISIS_LINE = "Samaritans: call 116 123"
CRISIS_REPLY = "Thank you for telling me"


async def the_escalations(runtime: Runtime) -> list[Escalation]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Escalation).order_by(Escalation.id)))


async def crisis_numbers_reach(api: FakeTelegramAPI, user: FakeUser, mark: int = 0) -> None:
    """Wait until the crisis reply (the numbers, for a message about the writer) is among
    `user`'s messages after the first `mark` (the welcome lists the numbers too)."""
    await api.wait_for(
        lambda: any(
            (m.text or "").startswith(CRISIS_REPLY) and CRISIS_LINE in (m.text or "")
            for m in user.messages[mark:]
        )
    )


async def staff_alerted(api: FakeTelegramAPI, group: FakeGroup) -> None:
    """Wait until the staff group has an urgent alert."""
    await api.wait_for(lambda: any("URGENT RISK" in (m.text or "") for m in alerts(group)))


def message(api: FakeTelegramAPI, user: FakeUser, **fields: Any) -> dict[str, Any]:
    """A Bot API Message from `user` in their private chat."""
    return {
        "message_id": 900 + len(user.messages),
        "from": user.to_api(),
        "chat": user.chat_api(),
        "date": api.now(),
        **fields,
    }


def old_server_poll(api: FakeTelegramAPI, user: FakeUser) -> dict[str, Any]:
    """A poll as an older Bot API server sends it: without fields PTB 22 requires."""
    poll = {
        "id": "5",
        "question": "How is everyone?",
        "options": [{"text": "fine"}, {"text": "not fine"}],  # no voter_count
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": True,
        "type": "regular",
        "allows_multiple_answers": False,
    }
    return {"message": message(api, user, poll=poll)}


async def test_an_update_ptb_cannot_read_stops_nobody_and_logs_no_words(
    service: TelegramService,
    api: FakeTelegramAPI,
    runtime: Runtime,
    staff_group: FakeGroup,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = await enrolled(api, runtime, 7501)
    other = await enrolled(api, runtime, 7502)
    with caplog.at_level(logging.INFO):
        # Unreadable even in part (a chat without its type), then a poll PTB cannot read.
        api.inject_update({"message": {**message(api, sender, text="zebra crossing"), "chat": {}}})
        api.inject_update(old_server_poll(api, sender))
        mark = len(other.messages)
        await api.wait_processed(await other.send("I want to end my life tonight"))
        await crisis_numbers_reach(api, other, mark)
        await staff_alerted(api, staff_group)
        # The sender of the poll was answered from what could be read, and can go on.
        (menu,) = await sender.ask("/menu")
        assert menu.labels
    assert "zebra" not in caplog.text and "How is everyone" not in caplog.text
    assert "an update could not be read and was passed over" in caplog.text
    assert "an update could be read only in part" in caplog.text


async def test_polling_survives_a_round_that_fails_unforeseen(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    patient = await enrolled(api, runtime, 7503)
    bridge = service.bridge
    real = bridge.process_round
    calls = 0

    async def broken_once(*args: Any) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("something nobody foresaw")
        return await real(*args)

    bridge.process_round = broken_once  # type: ignore[method-assign]
    (menu,) = await patient.ask("/menu")
    assert menu.labels
    if service.runtime.settings.telegram_mode == "polling":
        assert calls >= 2  # the round failed, and the poller fetched it again


@pytest.mark.parametrize(
    "odd",
    ["\ud83d", "\x00", "\ud800\x00\u202e"],
    ids=["lone-surrogate", "nul", "all-three"],
)
async def test_odd_characters_in_a_crisis_message_still_make_an_alert(
    service: TelegramService,
    api: FakeTelegramAPI,
    runtime: Runtime,
    staff_group: FakeGroup,
    odd: str,
) -> None:
    patient = await enrolled(api, runtime, 7504)
    await patient.send(f"I want to end my life{odd} tonight")
    await crisis_numbers_reach(api, patient)
    await staff_alerted(api, staff_group)
    (escalation,) = await the_escalations(runtime)
    assert escalation.risk == "crisis"
    assert escalation.details is not None and "\x00" not in escalation.details


async def test_odd_characters_in_a_report_do_not_strand_the_patient(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7505)
    await report(patient, "Much worse\x00 since the walk \ud83d")
    await api.wait_for(lambda: len(alerts(staff_group)) == 1)
    (escalation,) = await the_escalations(runtime)
    assert escalation.details == "Much worse since the walk"
    (menu,) = await patient.ask("/menu")
    assert menu.labels


async def test_a_crisis_message_and_the_next_in_one_batch_keep_their_order(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7506)
    # One getUpdates answer holding both, as the poller hands it on (the fake's own timing
    # rarely puts two messages of one chat in one answer).
    batch = [
        Update.de_json(
            {"update_id": 990_001 + n, "message": message(api, patient, text=text)},
            service.application.bot,
        )
        for n, text in enumerate(["I want to kill myself", "no"])
    ]
    api.latency["sendmessage"] = 0.2  # the crisis reply takes a while to go out
    results = await service.bridge.process_round(service.application, batch)
    assert results == ["done", "done"]
    await staff_alerted(api, staff_group)
    (escalation,) = await the_escalations(runtime)
    # "no" came second, so it answered the question the crisis message made the bot ask.
    assert escalation.plan_answer == "no"


async def test_a_message_edited_to_add_crisis_words_is_treated_as_sent(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7507)
    first = await patient.ask("had a quiet day")
    mark = len(patient.messages)
    edited = message(api, patient, text="had a quiet day", edit_date=api.now())
    await api.wait_processed(api.inject_update({"edited_message": edited}))
    assert len(patient.messages) == mark  # an edit that says nothing new is not answered
    changed = message(
        api, patient, text="had a quiet day. I want to kill myself", edit_date=api.now()
    )
    await api.wait_processed(api.inject_update({"edited_message": changed}))
    await crisis_numbers_reach(api, patient)
    await staff_alerted(api, staff_group)
    (escalation,) = await the_escalations(runtime)
    assert escalation.risk == "crisis"
    assert first


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_staff_group_that_refuses_alerts_is_retried_and_the_leads_get_them_at_once(
    runtime: Runtime,
    api: FakeTelegramAPI,
    staff_group: FakeGroup,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    settings = runtime.settings.model_copy(update={"staff_lead_telegram_ids": [LEAD_ID]})
    service = await start_service(dataclasses.replace(runtime, settings=settings), api, mode)
    try:
        lead = api.user(LEAD_ID, first_name="Lee")
        await lead.ask("/start")
        patient = await enrolled(api, runtime, 7508)
        # The bot was removed from the group, or its id changed: Telegram says so for good.
        api.fail_next(
            "sendMessage", 400, "Bad Request: chat not found", times=100, chat_id=STAFF_CHAT_ID
        )
        with caplog.at_level(logging.WARNING):
            await patient.send("I want to kill myself")
            # The lead has it within seconds: not after the watchdog's next round, nor after
            # five minutes as an unacknowledged re-alert.
            await api.wait_for(lambda: any("URGENT RISK" in (m.text or "") for m in lead.messages))
        assert "a staff route refuses alerts" in caplog.text
        assert "kill" not in caplog.text
        async with runtime.sessions() as session:
            alert = await session.scalar(
                select(OutboxMessage).where(
                    OutboxMessage.kind == "alert", OutboxMessage.chat_id == str(STAFF_CHAT_ID)
                )
            )
        assert alert is not None and alert.status == "pending"  # not given up on
        # The group is mended: the alert reaches it on its next try.
        api._faults.clear()
        clock.advance(timedelta(minutes=5))
        await staff_alerted(api, staff_group)
    finally:
        await service.stop()


def crisis_replies(user: FakeUser) -> int:
    """How many times the crisis reply (not a later question's reminder) reached `user`."""
    return sum((m.text or "").startswith(CRISIS_REPLY) for m in user.messages)


async def test_one_update_posted_three_times_at_once_gets_the_numbers_once(
    runtime: Runtime, api: FakeTelegramAPI, staff_group: FakeGroup
) -> None:
    service = await start_service(runtime, api, "webhook")
    try:
        patient = await enrolled(api, runtime, 7509)
        update = {"update_id": 880_001, "message": message(api, patient, text="I want to die")}
        api.latency["sendmessage"] = 0.2  # the copies arrive while the first reply is going out
        statuses = await asyncio.gather(*(api.post_webhook_raw(update) for _ in range(3)))
        assert statuses == [200, 200, 200]
        await staff_alerted(api, staff_group)
        assert crisis_replies(patient) == 1
        assert len(await the_escalations(runtime)) == 1
    finally:
        await service.stop()


async def test_a_crisis_message_fetched_again_after_a_restart_is_not_answered_twice(
    runtime: Runtime, api: FakeTelegramAPI, staff_group: FakeGroup
) -> None:
    first = await start_service(runtime, api, "polling")
    patient = await enrolled(api, runtime, 7510)
    # Sent a while ago (the bot was down), so its copy after a restart is recognisably old.
    sent = message(api, patient, text="I want to kill myself", date=api.now() - 120)
    update_id = api.inject_update({"message": sent})
    await api.wait_processed(update_id)
    await crisis_numbers_reach(api, patient)
    await first.stop()
    second = await start_service(runtime, api, "polling")
    try:
        # Telegram did not hear the confirmation before the restart, and sends it again.
        await api.wait_processed(api.redeliver(update_id))
        (menu,) = await patient.ask("/menu")
        assert menu.labels
        assert crisis_replies(patient) == 1
        assert len(await the_escalations(runtime)) == 1
    finally:
        await second.stop()


# Run by another Python process: take SQLite's write lock, say so, hold it until a line comes.
_HOLD_SQLITE_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
"""


class Freezer:
    """A TCP proxy in front of PostgreSQL that can stop passing bytes, as a frozen server does."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.thawed = asyncio.Event()
        self.thawed.set()
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on a free loopback port; return it."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        for task in (
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ):
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                await self.thawed.wait()
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        self.thawed.set()
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()


@contextlib.asynccontextmanager
async def freezable_url(database_url: str) -> AsyncIterator[tuple[str, Callable[[], Any]]]:
    """The URL a bot should use for a database that can be frozen, and a function that freezes
    it until thawed (PostgreSQL: a proxy that stops passing bytes; SQLite: another writer
    holding the lock)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":

        @contextlib.asynccontextmanager
        async def frozen_sqlite() -> AsyncIterator[None]:
            # Another process holds the write lock until told to let go: no thread of ours
            # waits on SQLite, so nothing here can hang the test's own event loop.
            holder = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _HOLD_SQLITE_LOCK,
                str(url.database),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert holder.stdin is not None and holder.stdout is not None
            assert await asyncio.wait_for(holder.stdout.readline(), 60) == b"locked\n"
            try:
                yield
            finally:
                holder.stdin.write(b"\n")
                await holder.stdin.drain()
                await asyncio.wait_for(holder.wait(), 60)

        yield database_url, frozen_sqlite
        return
    freezer = Freezer(url.host or "127.0.0.1", url.port or 5432)
    port = await freezer.start()

    @contextlib.asynccontextmanager
    async def frozen_postgres() -> AsyncIterator[None]:
        freezer.thawed.clear()
        try:
            yield
        finally:
            freezer.thawed.set()

    try:
        yield url.set(host="127.0.0.1", port=port).render_as_string(False), frozen_postgres
    finally:
        await freezer.close()


@contextlib.asynccontextmanager
async def freezable(runtime: Runtime) -> AsyncIterator[tuple[Runtime, Callable[[], Any]]]:
    """A runtime whose database can be frozen, and the function that freezes it."""
    async with freezable_url(runtime.settings.database_url) as (url, frozen):
        if url == runtime.settings.database_url:
            yield runtime, frozen
            return
        settings = runtime.settings.model_copy(update={"database_url": url})
        through = await open_runtime(settings, runtime.clock, migrate=False)
        try:
            yield through, frozen
        finally:
            await through.close()


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_frozen_database_holds_back_no_ones_crisis_numbers(
    runtime: Runtime, api: FakeTelegramAPI, staff_group: FakeGroup, mode: str
) -> None:
    async with freezable(runtime) as (through, frozen):
        service = await start_service(through, api, mode)
        try:
            first = await enrolled(api, through, 7511)
            second = await enrolled(api, through, 7512)
            posting: asyncio.Task[int] | None = None
            async with frozen():
                await first.send("hello, quiet day today")  # its turn waits on the database
                await asyncio.sleep(0.2)
                if mode == "polling":
                    await second.send("I want to kill myself")
                else:
                    # Telegram posts other chats' updates on connections of their own (the
                    # fake posts one at a time, so this one is posted here, beside it).
                    crisis = message(api, second, text="I want to kill myself")
                    update = {"update_id": 870_001, "message": crisis}
                    posting = asyncio.create_task(api.post_webhook_raw(update))
                # Within seconds, while the database is still frozen.
                await crisis_numbers_reach(api, second)
            if posting is not None:
                assert await posting == 200
            await staff_alerted(api, staff_group)
            for _ in range(200):
                if len(await the_escalations(through)) == 1:
                    break
                await asyncio.sleep(0.05)
            assert len(await the_escalations(through)) == 1
            assert crisis_replies(second) == 1
        finally:
            await service.stop()


async def test_a_copy_of_an_alert_sent_but_never_recorded_can_be_acknowledged_and_is_updated(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7513)
    await report(patient)
    await api.wait_for(lambda: len(alerts(staff_group)) == 1)
    await alerts_recorded(runtime, 1)
    (recorded,) = alerts(staff_group)
    # What a process killed between sending and recording leaves: the bot sent this copy, with
    # the alert's own buttons, and nothing in the database says so.
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=data) for label, data in row]
            for row in recorded.buttons
        ]
    )
    await service.application.bot.send_message(
        STAFF_CHAT_ID, recorded.text or "", reply_markup=keyboard
    )
    await api.wait_for(lambda: len(alerts(staff_group)) == 2)
    copy = alerts(staff_group)[-1]
    nurse = api.user(STAFF_ID, first_name="Sam")
    await nurse.press("Acknowledge", copy)
    await api.wait_for(lambda: bool(nurse.callback_answers))
    assert "Acknowledged by Sam" in (nurse.callback_answers[-1].text or "")
    # Both copies now say so, and neither offers Acknowledge any more.
    await api.wait_for(lambda: recorded.edited and copy.edited)
    for alert in (recorded, copy):
        assert "Acknowledged by Sam" in (alert.text or "")
        assert "Acknowledge" not in alert.labels


async def test_a_button_copied_onto_another_alert_is_still_refused(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    first, second = await enrolled(api, runtime, 7514), await enrolled(api, runtime, 7515)
    await report(first)
    await report(second)
    await api.wait_for(lambda: len(alerts(staff_group)) == 2)
    await alerts_recorded(runtime, 2)
    one, other = alerts(staff_group)
    nurse = api.user(STAFF_ID, first_name="Sam")
    # The first alert's Acknowledge, pressed as if it were on the second alert's message.
    data = one.data_for("Acknowledge")
    assert data is not None
    await api.wait_processed(await nurse.press_data(data, other))
    await api.wait_for(lambda: bool(nurse.callback_answers))
    assert "does not belong to this alert" in (nurse.callback_answers[-1].text or "")
    assert not one.edited and not other.edited


async def test_a_poller_that_no_longer_hears_from_telegram_stops_saying_it_is_alive(
    runtime: Runtime, api: FakeTelegramAPI, staff_group: FakeGroup
) -> None:
    service = await start_service(runtime, api, "polling")
    try:
        assert service.receiving()
        service.bridge.last_fetch -= 10_000  # getUpdates has failed for hours
        assert not service.receiving()
        async with runtime.sessions() as session, session.begin():
            await session.execute(delete(Worker))
        await service._heartbeat()
        async with runtime.sessions() as session:
            assert list(await session.scalars(select(Worker))) == []
    finally:
        await service.stop()
