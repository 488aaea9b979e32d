"""Old inbox ids and delivered replies are deleted; everything else stays."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.clock import ManualClock
from bot.db.models import InboxUpdate, OutboxMessage
from bot.runtime import Runtime
from scheduler.housekeeping import purge
from tests.helpers import enrol_patient


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
    inbox_deleted, replies_deleted = await purge(runtime.sessions, clock.now())
    assert inbox_deleted == 3 and replies_deleted == 0  # the three enrolment updates
    clock.advance(timedelta(days=31))
    inbox_deleted, replies_deleted = await purge(runtime.sessions, clock.now())
    assert inbox_deleted == 1 and replies_deleted > 0
    async with runtime.sessions() as session:
        assert list(await session.scalars(select(InboxUpdate))) == []
        remaining = list(await session.scalars(select(OutboxMessage)))
    # The staff notice was never delivered in this test (no dispatcher ran): it must stay.
    assert [r.id for r in remaining] == [r.id for r in staff_rows_before]
