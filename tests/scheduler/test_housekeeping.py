"""Old inbox ids, delivered replies and unfinished joins are deleted; everything else stays."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.clock import ManualClock
from bot.db.models import Conversation, InboxUpdate, OutboxMessage
from bot.runtime import Runtime
from scheduler.housekeeping import purge
from tests.helpers import Chat, enrol_patient, make_cohort, make_invites


async def test_purge_keeps_recent_and_undelivered_rows(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.advance(timedelta(days=8))
    await chat.command("today")
    async with runtime.sessions() as session:
        staff_rows_before = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.kind != "reply"))
        )
    inbox, replies, unfinished, guests = await purge(runtime.sessions, clock.now())
    assert (inbox, replies, unfinished, guests) == (3, 0, 0, 0)  # the three enrolment updates
    clock.advance(timedelta(days=31))
    inbox, replies, unfinished, guests = await purge(runtime.sessions, clock.now())
    assert inbox == 1 and replies > 0 and unfinished == 0 and guests == 0
    async with runtime.sessions() as session:
        assert list(await session.scalars(select(InboxUpdate))) == []
        remaining = list(await session.scalars(select(OutboxMessage)))
        # The enrolled patient's conversation row stays: it is their dialog state.
        assert len(list(await session.scalars(select(Conversation)))) == 1
    # The staff notice was never delivered in this test (no dispatcher ran): it must stay.
    assert [r.id for r in remaining] == [r.id for r in staff_rows_before]


async def test_someone_who_never_finished_joining_is_forgotten(
    runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime)
    (invite,) = await make_invites(runtime, cohort)
    chat = Chat(runtime, user_id="went-quiet")
    await chat.command("start", invite.code)
    clock.advance(timedelta(days=1))
    assert (await purge(runtime.sessions, clock.now()))[2] == 0
    clock.advance(timedelta(days=1, minutes=1))
    assert (await purge(runtime.sessions, clock.now()))[2] == 1
    async with runtime.sessions() as session:
        assert list(await session.scalars(select(Conversation))) == []
