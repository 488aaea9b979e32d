"""Escalations over the real PTB Application and the fake Bot API: the staff group sees alerts,
staff acknowledge them for everyone, and crisis text goes out even while the database fails."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from bot.clock import ManualClock
from bot.config import ANONYMOUS_ADMIN_ID
from bot.db.models import Escalation, OutboxMessage
from tests.conftest import STAFF_CHAT_ID, STAFF_ID
from tests.fakes.fake_user import FakeGroup, FakeMessage, FakeUser
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.helpers import inbox_unavailable, make_cohort, make_invites

CRISIS_LINE = "Samaritans: call 116 123"


async def enrolled(api: FakeTelegramAPI, runtime: Runtime, user_id: int) -> FakeUser:
    """A patient who joined through their link."""
    (invite,) = await make_invites(runtime, await make_cohort(runtime))
    user = api.user(user_id, first_name="Robin")
    await user.ask(f"/start {invite.code}")
    await user.tap("Yes, I agree")
    await user.tap("Call me Robin")
    return user


async def the_escalations(runtime: Runtime) -> list[Escalation]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Escalation).order_by(Escalation.id)))


def alerts(group: FakeGroup) -> list[FakeMessage]:
    return [m for m in group.messages if m.text and "\nReference: P" in m.text]


async def alerts_recorded(runtime: Runtime, count: int) -> None:
    """Wait until the bot has recorded `count` alerts as sent (a press is checked against
    them; a real member of staff is never faster than the bot's own bookkeeping)."""
    for _ in range(1000):  # up to ten seconds on a loaded machine
        async with runtime.sessions() as session:
            found = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.kind == "alert", OutboxMessage.sent_message_id.is_not(None))
            )
        if found == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} alerts were not recorded as sent")


async def report(user: FakeUser, words: str = "Much worse since the long walk") -> None:
    """A complete pain report through the menu's button."""
    await user.ask("/menu")
    await user.tap("More pain or distress")
    await user.tap("More pain than usual")
    await user.tap("7")
    await user.tap("No, none of these")
    await user.ask(words)
    await user.tap("Yes, please contact me")


async def test_a_report_reaches_the_group_and_acknowledging_updates_it_for_everyone(
    service: TelegramService,
    api: FakeTelegramAPI,
    runtime: Runtime,
    staff_group: FakeGroup,
    clock: ManualClock,
) -> None:
    patient = await enrolled(api, runtime, 7101)
    await report(patient)
    assert "I have sent this to the pain clinic team" in patient.last.text
    await api.wait_for(lambda: len(alerts(staff_group)) == 1)
    await alerts_recorded(runtime, 1)
    (alert,) = alerts(staff_group)
    assert alert.text is not None and alert.text.startswith("New report")
    assert "Robin" not in alert.text and "Severity: 7 out of 10" in alert.text
    assert "walk" not in alert.text
    assert alert.parse_mode is None
    assert alert.labels == ["Acknowledge", "Resolve", "Show details"]

    nurse = api.user(STAFF_ID, first_name="Sam")
    clock.advance(timedelta(minutes=2))
    await nurse.press("Acknowledge", alert)
    await api.wait_for(lambda: alert.edited)
    assert alert.text is not None and "Acknowledged by Sam at 10:02" in alert.text
    assert alert.labels == ["Resolve", "Show details"]
    await api.wait_for(lambda: "has seen your message" in (patient.last.text or ""))
    await api.wait_for(lambda: bool(nurse.callback_answers))
    assert nurse.callback_answers[-1].text == "Acknowledged by Sam at 10:02"


async def test_show_details_and_resolve_happen_in_the_staff_members_private_chat(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7102)
    words = "*Bold* _it_ <b>x</b> [link](http://example.org) " + "😣" * 10 + " ok"
    await report(patient, words)
    await api.wait_for(lambda: len(alerts(staff_group)) == 1)
    await alerts_recorded(runtime, 1)
    (alert,) = alerts(staff_group)
    nurse = api.user(STAFF_ID, first_name="Sam")
    await nurse.ask("/start")  # a private chat with the bot, as staff are asked to open
    await nurse.press("Show details", alert)
    await api.wait_for(lambda: any(words in (m.text or "") for m in nurse.messages))
    details = next(m for m in nurse.messages if words in (m.text or ""))
    assert details.parse_mode is None and details.entities in (None, [])
    assert not any(words in (m.text or "") for m in staff_group.messages)

    await nurse.press("Resolve", alert)
    await api.wait_for(lambda: "short outcome note" in (nurse.last.text or ""))
    await nurse.ask("Phoned; pacing plan agreed.")
    await api.wait_for(lambda: "Resolved by Sam" in (alert.text or ""))
    assert alert.labels == ["Show details"]
    (escalation,) = await the_escalations(runtime)
    assert escalation.status == "resolved" and escalation.outcome == "Phoned; pacing plan agreed."


@pytest.mark.parametrize("presser", [6000, ANONYMOUS_ADMIN_ID])
async def test_someone_not_on_the_staff_list_cannot_use_staff_buttons(
    service: TelegramService,
    api: FakeTelegramAPI,
    runtime: Runtime,
    staff_group: FakeGroup,
    presser: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    patient = await enrolled(api, runtime, 7103)
    await report(patient)
    await api.wait_for(lambda: len(alerts(staff_group)) == 1)
    await alerts_recorded(runtime, 1)
    (alert,) = alerts(staff_group)
    someone = api.user(presser, first_name="Group member")
    with caplog.at_level(logging.WARNING):
        await someone.press("Acknowledge", alert)
        await api.wait_for(lambda: bool(someone.callback_answers))
    assert someone.callback_answers[-1].text == (
        "Only members of the clinical team can use this button."
    )
    assert not alert.edited
    (escalation,) = await the_escalations(runtime)
    assert escalation.status == "alerted"
    assert "staff button refused: not staff" in caplog.text


async def test_a_forged_callback_naming_another_escalation_is_refused(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    first = await enrolled(api, runtime, 7104)
    second = await enrolled(api, runtime, 7105)
    await report(first)
    await report(second)
    await api.wait_for(lambda: len(alerts(staff_group)) == 2)
    await alerts_recorded(runtime, 2)
    nurse = api.user(STAFF_ID, first_name="Sam")
    first_alert, second_alert = alerts(staff_group)
    other_id = (await the_escalations(runtime))[1].id
    await nurse.press_data(f"e:ack:{other_id}", first_alert)
    await api.wait_for(lambda: bool(nurse.callback_answers))
    assert "does not belong to this alert" in (nurse.callback_answers[-1].text or "")
    assert [e.status for e in await the_escalations(runtime)] == ["alerted", "alerted"]
    assert not first_alert.edited and not second_alert.edited


async def test_crisis_text_goes_out_while_the_database_is_failing_and_the_alert_follows(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7106)
    before = len(patient.messages)
    async with inbox_unavailable(runtime):
        await patient.send("I want to kill myself")
        await api.wait_for(lambda: any(CRISIS_LINE in (m.text or "") for m in patient.messages))
        assert await the_escalations(runtime) == []  # the turn itself could not commit
    # The database is back: the update is retried, the crisis recorded, staff alerted.
    await api.wait_for(lambda: len(alerts(staff_group)) == 1, timeout=10)
    assert (alerts(staff_group)[0].text or "").startswith("URGENT RISK")
    await api.wait_for(
        lambda: any("let the pain clinic team know" in (m.text or "") for m in patient.messages)
    )
    new = [m.text or "" for m in patient.messages[before:]]
    assert sum(CRISIS_LINE in text for text in new) == 1  # not repeated when the turn ran
    (escalation,) = await the_escalations(runtime)
    assert escalation.risk == "crisis"


async def test_a_failing_staff_group_is_retried_until_the_alert_gets_through(
    service: TelegramService,
    api: FakeTelegramAPI,
    runtime: Runtime,
    staff_group: FakeGroup,
    clock: ManualClock,
) -> None:
    patient = await enrolled(api, runtime, 7107)
    api.fail_next("sendMessage", 500, chat_id=STAFF_CHAT_ID, times=1000)
    await patient.ask("I want to kill myself")
    for _ in range(20):  # ten minutes of ticks, thirty seconds apart
        clock.advance(timedelta(seconds=30))
        await service.dispatcher.drain()
    assert alerts(staff_group) == []
    api._faults.clear()  # Telegram is back
    clock.advance(timedelta(minutes=5))
    await service.dispatcher.drain()
    # (A background tick may be the one that sends it: wait rather than expect it at once.)
    await api.wait_for(lambda: len(alerts(staff_group)) >= 1)
    await service.dispatcher.drain()
    await service.dispatcher.send_urgent()
    assert len(alerts(staff_group)) == 1  # delivered once, not once per failure


async def test_a_photo_captioned_with_risk_language_gets_crisis_numbers_and_an_alert(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7108)
    await patient.send_photo(caption="I want to kill myself")
    await api.wait_for(lambda: any(CRISIS_LINE in (m.text or "") for m in patient.messages))
    await api.wait_for(lambda: len(alerts(staff_group)) == 1)
    assert (alerts(staff_group)[0].text or "").startswith("URGENT RISK")


async def test_a_crisis_message_given_up_on_is_logged_at_critical(
    runtime: Runtime,
    api: FakeTelegramAPI,
    staff_group: FakeGroup,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.e2e.conftest import start_service

    patient_service = await start_service(runtime, api, "polling")
    patient = await enrolled(api, runtime, 7109)
    await patient_service.stop()
    service = await start_service(runtime, api, "polling", retry_base_seconds=0.005)
    try:
        with caplog.at_level(logging.WARNING):
            async with inbox_unavailable(runtime):  # a fault that is not an outage
                await patient.send("I want to kill myself")
                for _ in range(1000):
                    if "a message with crisis language could not be recorded" in caplog.text:
                        break
                    await asyncio.sleep(0.01)
        assert any(CRISIS_LINE in (m.text or "") for m in patient.messages)  # they were helped
        # Staff were told at the first failure, by a path that needs no turn, and only once.
        await api.wait_for(lambda: len(unrecorded_notices(staff_group)) == 1)
    finally:
        await service.stop()
    assert "a message with crisis language could not be recorded" in caplog.text
    assert "kill" not in caplog.text
    (notice,) = unrecorded_notices(staff_group)
    assert notice.startswith("URGENT RISK: patient P")
    assert patient.first_name not in notice  # no names in the group


def unrecorded_notices(group: FakeGroup) -> list[str]:
    """The staff group's notices of crisis messages the bot could not record."""
    return [
        m.text or "" for m in group.messages if "could not record their message" in (m.text or "")
    ]


async def test_someone_taken_off_the_staff_list_cannot_finish_resolving(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7110)
    await report(patient)
    await api.wait_for(lambda: len(alerts(staff_group)) == 1)
    await alerts_recorded(runtime, 1)
    (alert,) = alerts(staff_group)
    nurse = api.user(STAFF_ID, first_name="Sam")
    await nurse.ask("/start")
    await nurse.press("Resolve", alert)
    await api.wait_for(lambda: "short outcome note" in (nurse.last.text or ""))
    # Access is checked on every step: the list as it is now decides.
    service.runtime.settings.staff_telegram_ids.remove(STAFF_ID)
    # The reply may queue behind the prompt's bookkeeping for a moment: wait for it.
    await nurse.send("Closing this one.")
    refusal = "Only members of the clinical team can resolve alerts, so nothing was changed."
    await api.wait_for(lambda: nurse.last.text == refusal)
    (escalation,) = await the_escalations(runtime)
    assert escalation.status == "alerted" and escalation.outcome is None
    await nurse.press("Acknowledge", alert)
    await api.wait_for(lambda: len(nurse.callback_answers) >= 2)
    assert (
        nurse.callback_answers[-1].text == "Only members of the clinical team can use this button."
    )
