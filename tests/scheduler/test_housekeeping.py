"""Old inbox ids, delivered replies and unfinished joins are deleted; everything else stays."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Conversation, Escalation, InboxUpdate, OutboxMessage
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
    inbox, replies, unfinished, guests, *_ = await purge(runtime.sessions, clock.now())
    assert (inbox, replies, unfinished, guests) == (3, 0, 0, 0)  # the three enrolment updates
    clock.advance(timedelta(days=31))
    inbox, replies, unfinished, guests, *_ = await purge(runtime.sessions, clock.now())
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


async def test_a_form_left_half_done_is_forgotten_after_a_month(
    runtime: Runtime, clock: ManualClock
) -> None:
    patient = await enrol_patient(runtime)
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("8")
    await patient.press("No, none of these")
    clock.advance(timedelta(days=29))
    assert (await purge(runtime.sessions, clock.now())).stale_dialogs == 0
    clock.advance(timedelta(days=2))
    assert (await purge(runtime.sessions, clock.now())).stale_dialogs == 1
    async with runtime.sessions() as session:
        (state,) = await session.scalars(select(Conversation))
    assert (state.dialog, state.step, state.data) == (None, None, {})
    replies = await patient.command("menu")
    assert replies and replies[-1].buttons  # they start afresh, nothing is stuck


async def test_a_resolved_alert_keeps_the_patients_words_90_days(
    runtime: Runtime, clock: ManualClock
) -> None:
    resolved = await enrol_patient(runtime, user_id="resolved")
    open_one = await enrol_patient(runtime, user_id="still-open", name="Kit")
    await resolved.say("I want to kill myself")
    await open_one.say("I want to end my life")
    async with runtime.sessions() as session, session.begin():
        first = await session.scalar(select(Escalation).order_by(Escalation.id))
        assert first is not None
        first.status, first.resolved_at = "resolved", clock.now()
    clock.advance(timedelta(days=89))
    assert (await purge(runtime.sessions, clock.now())).escalation_words == 0
    clock.advance(timedelta(days=2))
    assert (await purge(runtime.sessions, clock.now())).escalation_words == 1
    async with runtime.sessions() as session:
        kept = list(await session.scalars(select(Escalation).order_by(Escalation.id)))
    assert kept[0].details is None and kept[0].status == "resolved"
    assert kept[1].details == "I want to end my life"  # still open: staff still need it
