"""Reminders over the real PTB Application and the fake Bot API: buttons, 429, 500 and 403."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from bot.clock import ManualClock
from bot.db.models import OutboxMessage, Person
from tests.fakes.fake_user import FakeGroup, FakeUser
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.helpers import make_cohort, make_invites

EVENING_BEFORE_DAY_1 = datetime(2026, 12, 6, 18, 0)  # Europe/London (GMT in December)


async def enrolled(api: FakeTelegramAPI, runtime: Runtime, user_id: int) -> FakeUser:
    """A patient who joined through their link; reminders are planned from here on."""
    (invite,) = await make_invites(runtime, await make_cohort(runtime))
    user = api.user(user_id, first_name="Robin")
    await user.ask(f"/start {invite.code}")
    await user.tap("Yes, I agree")
    await user.tap("Call me Robin")
    return user


def evening(runtime: Runtime) -> datetime:
    return EVENING_BEFORE_DAY_1.replace(tzinfo=runtime.settings.tz)


async def person(runtime: Runtime) -> Person:
    async with runtime.sessions() as session:
        (found,) = list(await session.scalars(select(Person)))
        return found


async def test_a_reminder_arrives_and_running_late_reaches_staff(
    service: TelegramService,
    api: FakeTelegramAPI,
    runtime: Runtime,
    clock: ManualClock,
    staff_group: FakeGroup,
) -> None:
    user = await enrolled(api, runtime, 7001)
    clock.set(evening(runtime))
    await service.dispatcher.drain()
    reminder = user.last
    assert reminder.text.startswith("Hello Robin. Tomorrow, Monday 7 December, is day 1 of 12")
    assert "09:30  Review of your home-practice action plan" not in reminder.text  # day 1 differs
    assert "Welcome and getting to know the group" in reminder.text
    assert reminder.labels == ["I'll be there", "Running late", "Can't make it"]
    assert reminder.parse_mode is None

    (thanks,) = await user.tap("Running late", reminder)
    assert "I have told the team you are running late for day 1" in thanks.text
    await api.wait_for(lambda: "running late" in staff_group.last.text)
    assert staff_group.last.text.startswith("P") and "Robin" not in staff_group.last.text
    staff_messages = len(staff_group.messages)
    await user.tap("Running late", reminder)  # pressed again: staff are not told twice
    await service.dispatcher.drain()
    assert len(staff_group.messages) == staff_messages


async def test_slow_down_from_telegram_is_waited_out(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, clock: ManualClock
) -> None:
    user = await enrolled(api, runtime, 7002)
    api.fail_next("sendMessage", 429, retry_after=30, chat_id=user.user_id)
    clock.set(evening(runtime))
    before = len(user.messages)
    await service.dispatcher.drain()
    assert len(user.messages) == before
    assert service.dispatcher.resume_at["telegram"] == clock.now() + timedelta(seconds=30)
    clock.advance(timedelta(seconds=31))
    await service.dispatcher.drain()
    assert len(user.messages) == before + 1
    assert user.last.text.startswith("Hello Robin. Tomorrow")


async def test_server_errors_for_a_while_delay_the_reminder_but_it_arrives_once(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, clock: ManualClock
) -> None:
    user = await enrolled(api, runtime, 7003)
    api.fail_next("sendMessage", 500, times=4, chat_id=user.user_id)
    clock.set(evening(runtime))
    before = len(user.messages)
    for _tick in range(60):  # five minutes of dispatcher ticks
        await service.dispatcher.drain()
        clock.advance(timedelta(seconds=5))
    reminders = [m for m in user.messages[before:] if m.text.startswith("Hello Robin. Tomorrow")]
    assert len(reminders) == 1
    async with runtime.sessions() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))
        assert row is not None and (row.status, row.attempts) == ("sent", 5)


async def test_a_patient_who_blocks_the_bot_gets_nothing_and_staff_are_told_once(
    service: TelegramService,
    api: FakeTelegramAPI,
    runtime: Runtime,
    clock: ManualClock,
    staff_group: FakeGroup,
) -> None:
    user = await enrolled(api, runtime, 7004)
    # The joining notice first: under load it could otherwise arrive after the urgent summary.
    await api.wait_for(
        lambda: any("new patient joined" in (m.text or "") for m in staff_group.messages)
    )
    await api.wait_processed(api.block(user.user_id))
    assert (await person(runtime)).unreachable_at is not None
    clock.set(evening(runtime))
    before = len(user.messages)
    await service.dispatcher.drain()
    await api.wait_for(lambda: "can't be reached" in staff_group.last.text)
    told = len(staff_group.messages)
    clock.advance(timedelta(hours=14))  # the morning reminder is not sent either
    await service.dispatcher.drain()
    assert len(user.messages) == before
    assert len(staff_group.messages) == told
    # They unblock and come back: reminders resume.
    await api.wait_processed(api.unblock(user.user_id))
    assert (await person(runtime)).unreachable_at is None
    clock.set(evening(runtime) + timedelta(days=1))
    await service.dispatcher.drain()
    assert user.last.text.startswith("Hello Robin. Tomorrow, Tuesday 8 December, is day 2")


async def test_a_block_noticed_only_when_sending_is_handled_the_same_way(
    service: TelegramService,
    api: FakeTelegramAPI,
    runtime: Runtime,
    clock: ManualClock,
    staff_group: FakeGroup,
) -> None:
    user = await enrolled(api, runtime, 7005)
    api.blocked.add(user.user_id)  # blocked, but the membership update never reached us
    clock.set(evening(runtime))
    await service.dispatcher.drain()
    assert (await person(runtime)).unreachable_at is not None
    await api.wait_for(lambda: "can't be reached" in staff_group.last.text)
    async with runtime.sessions() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))
        assert row is not None and row.status == "blocked"
