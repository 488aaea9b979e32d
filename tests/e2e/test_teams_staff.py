"""Staff act on alerts from Teams: the card in the staff channel, Acknowledge, Resolve with a
note and Show details, in step with the Telegram group, the console and the patient."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Escalation, EscalationEvent, StaffAccount, TeamsConversation
from tests.e2e.test_escalations_telegram import alerts, alerts_recorded, enrolled
from tests.fakes.bot_connector import FakeBotConnector, card_of, text_of
from tests.fakes.fake_user import FakeGroup
from tests.fakes.teams_activities import CHANNEL_ID, personal_message
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.teams.support import (
    STAFF_AAD,
    STAFF_USER,
    STRANGER_AAD,
    STRANGER_USER,
    Teams,
    add_teams_staff,
    buttons,
    card_text,
    connector,
    press_on,
    start,
)

__all__ = ["connector"]


@pytest.fixture
async def teams(
    runtime: Runtime, api: FakeTelegramAPI, connector: FakeBotConnector, staff_group: FakeGroup
) -> AsyncIterator[Teams]:
    service = await start(runtime, api, connector)
    teams = Teams(service, connector)
    await teams.install_in_staff_channel()
    yield teams
    await teams.aclose()
    await service.stop()


async def the_escalation(runtime: Runtime) -> Escalation:
    async with runtime.sessions() as session:
        found = list(await session.scalars(select(Escalation)))
    assert len(found) == 1
    return found[0]


async def events(runtime: Runtime) -> list[str]:
    async with runtime.sessions() as session:
        return list(
            await session.scalars(select(EscalationEvent.action).order_by(EscalationEvent.id))
        )


async def crisis_from_telegram(api: FakeTelegramAPI, runtime: Runtime, teams: Teams) -> dict:
    """A Telegram patient writes crisis words; the staff channel's card, once posted."""
    patient = await enrolled(api, runtime, 7301)
    await patient.ask("I want to end my life tonight")
    cards = await teams.connector.wait_for(lambda: teams.staff_cards() or None)
    # Both copies recorded as sent, the group's and the card: nobody presses faster than that.
    await alerts_recorded(runtime, 2)
    return cards[0]


async def test_installing_in_the_staff_channel_is_remembered(
    teams: Teams, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    async with runtime.sessions() as session:
        stored = (await session.scalars(select(TeamsConversation))).one()
    assert stored.conversation_id == CHANNEL_ID
    assert stored.service_url == teams.connector.service_url
    assert stored.kind == "channel"


async def test_a_telegram_patients_alert_arrives_as_a_card_with_buttons_and_a_note_box(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    card_activity = await crisis_from_telegram(api, runtime, teams)
    text = card_text(card_activity)
    assert "URGENT RISK" in text and "Reference: P" in text
    # The same minimal content as the Telegram group: never the patient's words or name.
    assert "end my life" not in text and "Robin" not in text
    assert buttons(card_activity) == ["Acknowledge", "Resolve", "Show details"]
    card = card_of(card_activity)
    assert card is not None and card["version"] == "1.5"
    assert any(el["type"] == "Input.Text" and el["id"] == "note" for el in card["body"])
    assert len(alerts(staff_group)) == 1


async def test_acknowledge_from_teams_updates_the_card_for_everyone_telegram_and_the_patient(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    await add_teams_staff(runtime)
    card_activity = await crisis_from_telegram(api, runtime, teams)
    await api.wait_for(lambda: alerts(staff_group) or None)
    response = await teams.post(
        press_on(teams, card_activity, "Acknowledge", STAFF_USER, STAFF_AAD, name="Kim Nurse")
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["statusCode"] == 200 and "Acknowledged by Nurse Kim" in answer["value"]
    escalation = await the_escalation(runtime)
    assert escalation.status == "acknowledged" and escalation.acknowledged_by == "Nurse Kim"
    # The posted card itself is edited (everyone sees it), with Acknowledge gone.
    updated = await teams.connector.wait_for(
        lambda: teams.connector.updates(CHANNEL_ID, card_activity["id"]) or None
    )
    assert "Acknowledged by Nurse Kim" in card_text(updated[-1])
    assert buttons(updated[-1]) == ["Resolve", "Show details"]
    # The Telegram group's copy is edited too, and the patient is told.
    await api.wait_for(
        lambda: (
            any("Acknowledged by Nurse Kim" in (m.text or "") for m in alerts(staff_group)) or None
        )
    )
    patient = api.user(7301)
    await api.wait_for(lambda: any("seen" in (m.text or "") for m in patient.messages) or None)
    assert "acknowledged" in await events(runtime)


async def test_someone_not_on_the_staff_list_is_refused_and_the_card_does_not_change(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    card_activity = await crisis_from_telegram(api, runtime, teams)
    response = await teams.post(
        press_on(teams, card_activity, "Acknowledge", STRANGER_USER, STRANGER_AAD)
    )
    assert response.status_code == 200
    assert "only for the care team" in response.json()["value"].lower() or response.json()["value"]
    await asyncio.sleep(0.3)
    assert teams.connector.updates(CHANNEL_ID) == []
    assert (await the_escalation(runtime)).status == "alerted"
    assert "refused" in await events(runtime)


async def test_resolve_with_the_note_typed_on_the_card(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    await add_teams_staff(runtime)
    card_activity = await crisis_from_telegram(api, runtime, teams)
    response = await teams.post(
        press_on(
            teams, card_activity, "Resolve", STAFF_USER, STAFF_AAD, note="Rang her; safe at home."
        )
    )
    assert "Resolved by Nurse Kim" in response.json()["value"]
    escalation = await the_escalation(runtime)
    assert escalation.status == "resolved" and escalation.outcome == "Rang her; safe at home."
    updated = await teams.connector.wait_for(
        lambda: (
            [
                a
                for a in teams.connector.updates(CHANNEL_ID, card_activity["id"])
                if "Resolved by Nurse Kim" in card_text(a)
            ]
            or None
        )
    )
    assert buttons(updated[-1]) == ["Show details"]
    current = teams.connector.current(CHANNEL_ID, card_activity["id"])
    assert "Resolved by Nurse Kim" in card_text(current)


async def test_resolve_without_a_note_asks_privately(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    await add_teams_staff(runtime)
    card_activity = await crisis_from_telegram(api, runtime, teams)
    response = await teams.post(press_on(teams, card_activity, "Resolve", STAFF_USER, STAFF_AAD))
    assert "asked you privately" in response.json()["value"]
    private = await teams.connector.wait_for(
        lambda: (
            [
                a
                for a in teams.connector.sent()
                if a["conversation"]["id"] != CHANNEL_ID and "outcome" in text_of(a).lower()
            ]
            or None
        )
    )
    nurse_chat = private[0]["conversation"]["id"]
    assert (await the_escalation(runtime)).status == "alerted"
    # Their reply in that chat resolves it.
    response = await teams.post(
        personal_message(
            "Spoke to her GP.",
            user_id=STAFF_USER,
            aad_object_id=STAFF_AAD,
            name="Kim Nurse",
            conversation_id=nurse_chat,
            service_url=teams.connector.service_url,
        )
    )
    assert response.status_code == 200
    escalation = await the_escalation(runtime)
    assert escalation.status == "resolved" and escalation.outcome == "Spoke to her GP."


async def test_show_details_sends_the_words_privately_and_records_the_viewing(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    await add_teams_staff(runtime)
    card_activity = await crisis_from_telegram(api, runtime, teams)
    response = await teams.post(
        press_on(teams, card_activity, "Show details", STAFF_USER, STAFF_AAD)
    )
    assert response.status_code == 200
    private = await teams.connector.wait_for(
        lambda: [a for a in teams.connector.sent() if "end my life" in text_of(a)] or None
    )
    assert private[0]["conversation"]["id"] != CHANNEL_ID  # never in the channel
    assert teams.connector.calls_of("create")  # a 1:1 chat with the presser
    assert "details_shown" in await events(runtime)


async def test_a_staff_member_removed_while_their_card_is_open_is_refused(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    from datetime import UTC, datetime

    from bot.db.models import StaffAccount

    account_id = await add_teams_staff(runtime)
    card_activity = await crisis_from_telegram(api, runtime, teams)
    async with runtime.sessions() as session, session.begin():
        account = await session.get(StaffAccount, account_id)
        assert account is not None
        account.disabled_at = datetime.now(UTC)
    await teams.post(press_on(teams, card_activity, "Acknowledge", STAFF_USER, STAFF_AAD))
    assert (await the_escalation(runtime)).status == "alerted"
    assert teams.connector.updates(CHANNEL_ID) == []


async def test_two_staff_pressing_acknowledge_at_once_make_one_acknowledgement(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    await add_teams_staff(runtime)
    other_aad = "44444444-5555-4666-8777-888888888888"
    await add_teams_staff(runtime, "Dr Lee", other_aad)
    card_activity = await crisis_from_telegram(api, runtime, teams)
    first, second = await asyncio.gather(
        teams.post(press_on(teams, card_activity, "Acknowledge", STAFF_USER, STAFF_AAD)),
        teams.post(press_on(teams, card_activity, "Acknowledge", "29:1other", other_aad)),
    )
    answers = sorted([first.json()["value"], second.json()["value"]])
    assert sum("Already done" in a for a in answers) == 1
    assert (await events(runtime)).count("acknowledged") == 1


async def test_the_same_press_delivered_twice_has_one_effect(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    await add_teams_staff(runtime)
    card_activity = await crisis_from_telegram(api, runtime, teams)
    press = press_on(teams, card_activity, "Show details", STAFF_USER, STAFF_AAD)
    await teams.post(press)
    await teams.post(press)
    await asyncio.sleep(0.3)
    assert (await events(runtime)).count("details_shown") == 1


async def test_a_press_for_an_escalation_that_does_not_exist_changes_nothing(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    await add_teams_staff(runtime)
    card_activity = await crisis_from_telegram(api, runtime, teams)
    forged = press_on(teams, card_activity, "Acknowledge", STAFF_USER, STAFF_AAD)
    forged["value"]["action"]["data"]["p"] = "e:ack:999"
    response = await teams.post(forged)
    assert response.status_code == 200 and response.json()["value"]
    assert (await the_escalation(runtime)).status == "alerted"


@pytest.mark.parametrize(
    "data",
    [{}, {"p": 5}, {"p": "e:ack:"}, {"p": "e:zap:1"}, {"x": "y"}],
    ids=["empty", "number", "no-id", "unknown-action", "other-key"],
)
async def test_cards_submitted_with_missing_or_forged_data_are_answered_kindly(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime, data: dict
) -> None:
    await add_teams_staff(runtime)
    card_activity = await crisis_from_telegram(api, runtime, teams)
    forged = press_on(teams, card_activity, "Acknowledge", STAFF_USER, STAFF_AAD)
    forged["value"]["action"]["data"] = data
    response = await teams.post(forged)
    assert response.status_code == 200
    assert response.json()["statusCode"] == 200 and response.json()["value"]
    assert (await the_escalation(runtime)).status == "alerted"


async def test_a_press_from_outside_the_staff_channel_is_refused(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    await add_teams_staff(runtime)
    card_activity = await crisis_from_telegram(api, runtime, teams)
    # The right escalation's button, but on a card in another channel (copied, or forged).
    press = press_on(teams, card_activity, "Acknowledge", STAFF_USER, STAFF_AAD)
    press["conversation"]["id"] = "19:FakeOtherChannel0123456789abcd@thread.tacv2"
    response = await teams.post(press)
    assert response.status_code == 200 and response.json()["value"]
    assert (await the_escalation(runtime)).status == "alerted"
    assert "refused" in await events(runtime)


async def test_an_unacknowledged_alert_is_sent_again_to_teams(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime, clock: ManualClock
) -> None:
    await crisis_from_telegram(api, runtime, teams)
    clock.advance(timedelta(minutes=6))  # urgent: every 5 minutes at any hour
    await teams.service.watch_escalations()
    cards = await teams.connector.wait_for(lambda: teams.staff_cards()[1:] or None)
    assert card_text(cards[0]).startswith("UNACKNOWLEDGED")
    assert buttons(cards[0]) == ["Acknowledge", "Resolve", "Show details"]


async def test_staff_are_known_by_the_email_microsoft_gives_for_them(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    # A console account never signed in with Microsoft: no object id to match, only its email.
    async with runtime.sessions() as session, session.begin():
        session.add(
            StaffAccount(
                email="kim.nurse@pmp.example",
                name="Nurse Kim",
                role="clinician",
                password_hash=None,
                created_at=datetime.now(UTC),
            )
        )
    teams.connector.add_member(STAFF_USER, "Kim Nurse", STAFF_AAD, email="Kim.Nurse@pmp.example")
    card_activity = await crisis_from_telegram(api, runtime, teams)
    response = await teams.post(
        press_on(teams, card_activity, "Acknowledge", STAFF_USER, STAFF_AAD)
    )
    assert "Acknowledged by Nurse Kim" in response.json()["value"]


async def test_an_email_match_does_not_count_for_an_account_linked_to_someone_else(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    await add_teams_staff(
        runtime, object_id="99999999-0000-4000-8000-000000000000", email="kim.nurse@pmp.example"
    )
    teams.connector.add_member(STAFF_USER, "Kim Nurse", STAFF_AAD, email="kim.nurse@pmp.example")
    card_activity = await crisis_from_telegram(api, runtime, teams)
    await teams.post(press_on(teams, card_activity, "Acknowledge", STAFF_USER, STAFF_AAD))
    assert (await the_escalation(runtime)).status == "alerted"


async def test_staff_teams_ids_lets_staff_without_an_account_act(
    runtime: Runtime, api: FakeTelegramAPI, connector: FakeBotConnector, staff_group: FakeGroup
) -> None:
    service = await start(runtime, api, connector, staff_teams_ids=[STAFF_AAD])
    teams = Teams(service, connector)
    try:
        await teams.install_in_staff_channel()
        card_activity = await crisis_from_telegram(api, runtime, teams)
        response = await teams.post(
            press_on(teams, card_activity, "Acknowledge", STAFF_USER, STAFF_AAD, name="Alex Ward")
        )
        assert "Acknowledged by Alex" in response.json()["value"]
    finally:
        await teams.aclose()
        await service.stop()


async def test_in_a_channel_the_bot_answers_only_id_and_staff_commands_in_the_staff_channel(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    from tests.fakes.teams_activities import channel_message

    other = "19:FakeOtherChannel0123456789abcd@thread.tacv2"
    url = teams.connector.service_url
    await add_teams_staff(runtime)
    # Whoever sets it up learns a channel's id in that channel.
    await teams.post(channel_message("/id", channel_id=other, service_url=url))
    (answer,) = await teams.connector.wait_for(lambda: teams.connector.sent(other) or None)
    assert other in text_of(answer)
    # A staff command elsewhere, or anything else, is not answered.
    for text in ("/escalations", "hello", "I want to end my life"):
        await teams.post(
            channel_message(text, STAFF_USER, STAFF_AAD, channel_id=other, service_url=url)
        )
    await asyncio.sleep(0.2)
    assert len(teams.connector.sent(other)) == 1
    # In the staff channel, a member of staff's command is answered there.
    await teams.post(channel_message("/escalations", STAFF_USER, STAFF_AAD, service_url=url))
    listing = await teams.connector.wait_for(
        lambda: [a for a in teams.connector.sent(CHANNEL_ID) if "escalations" in text_of(a)] or None
    )
    assert "No escalations are open" in text_of(listing[0])


async def test_a_card_pressed_before_its_id_was_recorded_is_still_its_alert(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    from sqlalchemy import update

    from bot.db.models import OutboxMessage

    await add_teams_staff(runtime)
    card_activity = await crisis_from_telegram(api, runtime, teams)
    await asyncio.sleep(0.2)
    async with runtime.sessions() as session, session.begin():
        # As if the press came in the moment between Teams posting it and our record.
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.channel == "msteams", OutboxMessage.kind == "alert")
            .values(sent_message_id=None)
        )
    response = await teams.post(
        press_on(teams, card_activity, "Acknowledge", STAFF_USER, STAFF_AAD)
    )
    assert "Acknowledged by Nurse Kim" in response.json()["value"]
    updated = await teams.connector.wait_for(
        lambda: teams.connector.updates(CHANNEL_ID, card_activity["id"]) or None
    )
    assert "Acknowledged by Nurse Kim" in card_text(updated[-1])


async def test_a_press_on_an_alert_already_resolved_says_so_and_changes_nothing(
    teams: Teams, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    await add_teams_staff(runtime)
    card_activity = await crisis_from_telegram(api, runtime, teams)
    await teams.post(
        press_on(teams, card_activity, "Resolve", STAFF_USER, STAFF_AAD, note="Called her.")
    )
    before = await events(runtime)
    for label, note in (("Acknowledge", None), ("Resolve", "Again.")):
        response = await teams.post(
            press_on(teams, card_activity, label, STAFF_USER, STAFF_AAD, note=note)
        )
        assert "Already done: Resolved by Nurse Kim" in response.json()["value"]
    escalation = await the_escalation(runtime)
    assert escalation.status == "resolved" and escalation.outcome == "Called her."
    assert [e for e in await events(runtime) if e not in before] == []
