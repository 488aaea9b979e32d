"""Guest reminders (the day before, the morning) and deleting guests 30 days after their day."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Conversation, FamilyGuest, OutboxMessage, Person
from scheduler.guests import KIND, remind_guests
from scheduler.housekeeping import purge
from tests.dialogs.test_family import answer_all, guest_opens, invite
from tests.helpers import Chat, count, enrol_patient
from tests.scheduler.support import Recorder, dispatcher


def london(runtime: Runtime, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=runtime.settings.tz)


async def remind(runtime: Runtime) -> int:
    return await remind_guests(
        runtime.sessions, runtime.content, runtime.settings.tz, runtime.clock.now()
    )


async def coming_guest(runtime: Runtime, patient: Chat, user_id: str = "guest-1") -> Chat:
    """A guest who opened the link and said they will come."""
    guest = await guest_opens(runtime, await invite(patient), user_id)
    await answer_all(guest)
    return guest


async def reminders_to(runtime: Runtime, chat_id: str) -> list[OutboxMessage]:
    async with runtime.sessions() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == KIND, OutboxMessage.chat_id == chat_id)
                .order_by(OutboxMessage.id)
            )
        )


async def test_a_guest_who_is_coming_is_reminded_the_day_before_and_on_the_morning(
    runtime: Runtime, clock: ManualClock
) -> None:
    patient = await enrol_patient(runtime)
    await coming_guest(runtime, patient)
    clock.set(london(runtime, 2026, 12, 15, 17, 59))
    assert await remind(runtime) == 0
    clock.set(london(runtime, 2026, 12, 15, 18, 0))
    assert await remind(runtime) == 1
    assert await remind(runtime) == 0  # once only
    (evening,) = await reminders_to(runtime, "guest-1")
    assert evening.text.startswith("Hello Sam. A reminder: the friends and family day with Robin")
    assert "13:30  Friends and family session" in evening.text
    assert (evening.person_id, evening.priority, evening.buttons) == (None, 2, None)
    assert evening.expires_at == london(runtime, 2026, 12, 15, 21, 0)
    clock.set(london(runtime, 2026, 12, 16, 7, 59))
    assert await remind(runtime) == 0
    clock.set(london(runtime, 2026, 12, 16, 8, 0))
    assert await remind(runtime) == 1
    assert await remind(runtime) == 0
    morning = (await reminders_to(runtime, "guest-1"))[-1]
    assert morning.text.startswith("Good morning, Sam. The friends and family day with Robin")
    assert morning.expires_at == london(runtime, 2026, 12, 16, 13, 30)


async def test_guests_who_are_not_coming_or_have_not_answered_get_no_reminder(
    runtime: Runtime, clock: ManualClock
) -> None:
    patient = await enrol_patient(runtime)
    declined = await guest_opens(runtime, await invite(patient), "guest-no")
    await declined.press("No, I can't come")
    await guest_opens(runtime, await invite(patient), "guest-silent")
    await invite(patient)  # never opened
    for moment in (london(runtime, 2026, 12, 15, 18, 0), london(runtime, 2026, 12, 16, 8, 0)):
        clock.set(moment)
        assert await remind(runtime) == 0


async def test_reminders_are_not_sent_late(runtime: Runtime, clock: ManualClock) -> None:
    patient = await enrol_patient(runtime)
    await coming_guest(runtime, patient)
    # Down all evening: not at 21:00 or later; the morning one is not sent once it began.
    clock.set(london(runtime, 2026, 12, 15, 21, 0))
    assert await remind(runtime) == 0
    clock.set(london(runtime, 2026, 12, 16, 13, 30))
    assert await remind(runtime) == 0


async def test_a_guest_who_answers_after_a_reminder_was_due_is_not_sent_it(
    runtime: Runtime, clock: ManualClock
) -> None:
    patient = await enrol_patient(runtime)
    payload = await invite(patient)
    clock.set(london(runtime, 2026, 12, 15, 19, 0))
    guest = await guest_opens(runtime, payload)
    await answer_all(guest)
    assert await remind(runtime) == 0  # they have just read the details
    clock.set(london(runtime, 2026, 12, 16, 8, 0))
    assert await remind(runtime) == 1


async def test_two_dispatchers_remind_each_guest_once(runtime: Runtime, clock: ManualClock) -> None:
    patient = await enrol_patient(runtime)
    await coming_guest(runtime, patient, "guest-1")
    await coming_guest(runtime, patient, "guest-2")
    clock.set(london(runtime, 2026, 12, 15, 18, 0))
    results = await asyncio.gather(remind(runtime), remind(runtime), remind(runtime))
    assert sum(results) == 2
    assert len(await reminders_to(runtime, "guest-1")) == 1
    assert len(await reminders_to(runtime, "guest-2")) == 1


async def test_the_dispatcher_sends_guest_reminders_each_round(
    runtime: Runtime, clock: ManualClock
) -> None:
    patient = await enrol_patient(runtime)
    await coming_guest(runtime, patient)
    recorder = Recorder(clock)
    sending = dispatcher(runtime, recorder)
    clock.set(london(runtime, 2026, 12, 15, 18, 0))
    await sending.run_once()
    await sending.run_once()
    texts = [reply.text for reply, _at in recorder.to("guest-1")]
    assert len([t for t in texts if "A reminder: the friends and family day" in t]) == 1
    (row,) = await reminders_to(runtime, "guest-1")
    assert row.status == "sent"


async def test_guests_are_deleted_30_days_after_their_day(
    runtime: Runtime, clock: ManualClock
) -> None:
    patient = await enrol_patient(runtime)
    await coming_guest(runtime, patient)
    clock.set(london(runtime, 2027, 1, 15, 3, 30))  # 30 days after 16 December
    assert (await purge(runtime.sessions, clock.now(), timedelta(days=30)))[3] == 0
    assert await count(runtime, FamilyGuest) == 1
    clock.set(london(runtime, 2027, 1, 16, 3, 30))
    assert (await purge(runtime.sessions, clock.now(), timedelta(days=30)))[3] == 1
    assert await count(runtime, FamilyGuest) == 0
    async with runtime.sessions() as session:
        states = list(await session.scalars(select(Conversation.channel_user_id)))
        assert states == ["patient-1"]  # the guest's dialog state went with them
        assert await session.scalar(select(Person.display_name)) == "Robin"


async def test_a_shorter_keeping_time_is_honoured(runtime: Runtime, clock: ManualClock) -> None:
    patient = await enrol_patient(runtime)
    await coming_guest(runtime, patient)
    clock.set(london(runtime, 2026, 12, 18, 3, 30))
    assert (await purge(runtime.sessions, clock.now(), timedelta(days=1)))[3] == 1
