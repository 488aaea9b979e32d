"""A patient does the programme in a Teams personal chat: joins with their code, gets the menu
and reminders, reports, and gets crisis numbers first; and what Teams may send that is odd."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from bot.clock import ManualClock
from bot.db.models import Escalation, InboxUpdate, Person
from tests.e2e.test_escalations_telegram import CRISIS_LINE, alerts
from tests.fakes.bot_connector import FakeBotConnector, text_of
from tests.fakes.fake_user import FakeGroup
from tests.fakes.teams_activities import personal_message
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.helpers import make_cohort, make_invites
from tests.teams.support import Teams, TeamsPerson, connector, start

__all__ = ["connector"]

PATIENT_USER = "29:1FakePatientTeamsId-0123456789abcdef"
PATIENT_AAD = "55555555-6666-4777-8888-999999999999"
EVENING_BEFORE_DAY_1 = datetime(2026, 12, 6, 18, 0)


@pytest.fixture
async def service(
    runtime: Runtime, api: FakeTelegramAPI, connector: FakeBotConnector, staff_group: FakeGroup
) -> AsyncIterator[TelegramService]:
    running = await start(runtime, api, connector)
    yield running
    await running.stop()


@pytest.fixture
async def teams(service: TelegramService, connector: FakeBotConnector) -> AsyncIterator[Teams]:
    teams = Teams(service, connector)
    await teams.install_in_staff_channel()
    yield teams
    await teams.aclose()


@pytest.fixture
def patient(teams: Teams) -> TeamsPerson:
    return teams.person(PATIENT_USER, PATIENT_AAD, "Robin Example")


async def joined(runtime: Runtime, patient: TeamsPerson) -> None:
    """The patient types their invite code, agrees and gives their name."""
    (invite,) = await make_invites(runtime, await make_cohort(runtime))
    await patient.say(invite.code)
    await patient.press("Yes, I agree")
    await patient.press("Call me Robin")


async def the_person(runtime: Runtime) -> Person:
    async with runtime.sessions() as session:
        (found,) = list(await session.scalars(select(Person)))
        return found


async def test_a_patient_joins_by_typing_their_code_and_gets_the_menu(
    runtime: Runtime, patient: TeamsPerson
) -> None:
    (invite,) = await make_invites(runtime, await make_cohort(runtime))
    await patient.say(invite.code)
    welcome = patient.texts()[-1]
    assert "privacy" in welcome.lower() or "private" in welcome.lower()
    await patient.press("Yes, I agree")
    await patient.press("Call me Robin")
    person = await the_person(runtime)
    assert person.channel == "msteams" and person.channel_user_id == PATIENT_USER
    assert person.chat_id == patient.conversation_id
    await patient.say("/menu")
    from tests.teams.support import buttons

    assert "More pain or distress" in buttons(patient.received()[-1])


async def test_installing_the_app_greets_a_newcomer(teams: Teams, patient: TeamsPerson) -> None:
    from tests.fakes.teams_activities import installation_update

    response = await teams.post(
        installation_update(
            "add",
            "personal",
            user_id=PATIENT_USER,
            aad_object_id=PATIENT_AAD,
            service_url=teams.connector.service_url,
        )
    )
    assert response.status_code == 200
    greeting = await teams.connector.wait_for(lambda: patient.texts() or None)
    assert "code" in greeting[-1].lower()


async def test_a_report_on_teams_reaches_both_staff_chats(
    runtime: Runtime,
    patient: TeamsPerson,
    teams: Teams,
    api: FakeTelegramAPI,
    staff_group: FakeGroup,
) -> None:
    await joined(runtime, patient)
    await patient.say("/menu")
    await patient.press("More pain or distress")
    await patient.press("More pain than usual")
    await patient.press("7")
    await patient.press("No, none of these")
    await patient.say("Much worse since the long walk")
    await patient.press("Yes, please contact me")
    await teams.connector.wait_for(lambda: teams.staff_cards() or None)
    await api.wait_for(lambda: alerts(staff_group) or None)
    async with runtime.sessions() as session:
        (escalation,) = list(await session.scalars(select(Escalation)))
    assert escalation.category == "pain" and escalation.severity == 7


async def test_crisis_numbers_go_first_before_the_turn(
    runtime: Runtime,
    patient: TeamsPerson,
    teams: Teams,
    api: FakeTelegramAPI,
    staff_group: FakeGroup,
) -> None:
    await joined(runtime, patient)
    before = len(patient.received())
    await patient.say("I want to kill myself")
    after = patient.received()[before:]
    assert CRISIS_LINE in text_of(after[0])
    assert sum(CRISIS_LINE in text_of(a) for a in after) == 1  # once, not again by the turn
    await teams.connector.wait_for(lambda: teams.staff_cards() or None)
    await api.wait_for(lambda: alerts(staff_group) or None)


async def test_a_reminder_reaches_a_teams_patient(
    runtime: Runtime, patient: TeamsPerson, service: TelegramService, clock: ManualClock
) -> None:
    await joined(runtime, patient)
    clock.set(EVENING_BEFORE_DAY_1.replace(tzinfo=runtime.settings.tz))
    await service.dispatcher.drain()
    reminder = patient.received()[-1]
    from tests.teams.support import buttons, card_text

    assert card_text(reminder).startswith("Hello Robin. Tomorrow, Monday 7 December, is day 1")
    assert buttons(reminder) == ["I'll be there", "Running late", "Can't make it"]
    await patient.press("Running late")
    assert "running late" in patient.texts()[-1]


async def test_the_same_activity_delivered_twice_is_answered_once(
    runtime: Runtime, patient: TeamsPerson, teams: Teams
) -> None:
    await joined(runtime, patient)
    message = personal_message(
        "/help",
        user_id=PATIENT_USER,
        aad_object_id=PATIENT_AAD,
        service_url=teams.connector.service_url,
    )
    before = len(patient.received())
    assert (await teams.post(message)).status_code == 200
    assert (await teams.post(message)).status_code == 200
    assert len(patient.received()) - before == 1


async def test_a_message_with_only_a_picture_gets_a_kind_reply(
    runtime: Runtime, patient: TeamsPerson
) -> None:
    await joined(runtime, patient)
    picture = {"contentType": "image/png", "contentUrl": "https://example.invalid/p.png"}
    await patient.say("", attachments=[picture])
    assert "read" in patient.texts()[-1].lower() or "type" in patient.texts()[-1].lower()


@pytest.mark.parametrize("kind", ["typing", "messageReaction", "event", "handoff", "made-up"])
async def test_activities_of_other_types_are_accepted_and_not_answered(
    teams: Teams, patient: TeamsPerson, kind: str
) -> None:
    activity = personal_message(
        "hello", user_id=PATIENT_USER, service_url=teams.connector.service_url
    )
    activity["type"] = kind
    response = await teams.post(activity)
    assert response.status_code == 200
    await asyncio.sleep(0.1)
    assert patient.received() == []


async def test_a_100_kb_message_is_read_in_part_and_still_screened(
    runtime: Runtime, patient: TeamsPerson
) -> None:
    await joined(runtime, patient)
    before = len(patient.received())
    response = await patient.say("I want to kill myself. " + "x" * 100_000)
    assert response.status_code == 200
    assert CRISIS_LINE in text_of(patient.received()[before])


async def test_a_forged_service_url_is_refused_and_never_called(
    teams: Teams, connector: FakeBotConnector, runtime: Runtime
) -> None:
    calls = len(connector.calls)
    for url in ("https://attacker.example/", "http://10.0.0.7/", "http://169.254.169.254/"):
        forged = personal_message("hello", user_id=PATIENT_USER, service_url=url)
        response = await teams.post(forged)
        assert response.status_code == 403
    await asyncio.sleep(0.1)
    assert len(connector.calls) == calls
    async with runtime.sessions() as session:
        assert list(await session.scalars(select(InboxUpdate))) == []


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b'{"type": ""}', b'{"type": 5}'], ids=str
)
async def test_junk_bodies_are_refused_kindly(teams: Teams, body: bytes) -> None:
    response = await teams.client.post(
        "/api/messages", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


async def test_a_body_over_the_limit_is_refused_before_it_is_read(teams: Teams) -> None:
    response = await teams.client.post(
        "/api/messages",
        content=b"{" + b" " * 300_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413


async def test_staff_ask_for_open_escalations_in_their_personal_chat(
    runtime: Runtime, patient: TeamsPerson, teams: Teams
) -> None:
    from tests.teams.support import STAFF_AAD, STAFF_USER, add_teams_staff

    await add_teams_staff(runtime)
    await joined(runtime, patient)
    await patient.say("I want to kill myself")
    nurse = teams.person(STAFF_USER, STAFF_AAD, "Kim Nurse")
    await nurse.say("/escalations")
    listing = nurse.texts()[-1]
    assert "Open escalations" in listing and "URGENT RISK" in listing
    assert "kill" not in listing and "Robin" not in listing
    await nurse.say("/questions")
    assert nurse.texts()[-1]
    # A patient asking gets no list.
    await patient.say("/escalations")
    assert "Open escalations" not in patient.texts()[-1]


async def test_a_429_storm_is_waited_out_and_telegram_is_not_held_up(
    runtime: Runtime,
    patient: TeamsPerson,
    teams: Teams,
    connector: FakeBotConnector,
    api: FakeTelegramAPI,
    staff_group: FakeGroup,
    service: TelegramService,
) -> None:
    from tests.fakes.teams_activities import CHANNEL_ID

    await joined(runtime, patient)
    connector.fail_next(429, times=3, retry_after="0", conversation_id=CHANNEL_ID)
    await patient.say("I want to kill myself")
    await api.wait_for(lambda: alerts(staff_group) or None)
    for _ in range(40):
        await service.dispatcher.send_urgent()
        if teams.staff_cards():
            break
        await asyncio.sleep(0.1)
    assert len(teams.staff_cards()) == 1
    assert connector.refused_count >= 3


async def test_a_connector_that_hangs_holds_up_nobody_else(
    runtime: Runtime,
    patient: TeamsPerson,
    teams: Teams,
    connector: FakeBotConnector,
    api: FakeTelegramAPI,
    staff_group: FakeGroup,
) -> None:
    from tests.fakes.teams_activities import CHANNEL_ID

    await joined(runtime, patient)
    connector.hang_next(times=5, conversation_id=CHANNEL_ID)
    await patient.say("I want to kill myself")
    # The Telegram group hears at once, whatever the Teams channel is doing.
    await api.wait_for(lambda: alerts(staff_group) or None, timeout=5)
    assert connector.hanging >= 1
    connector.release()
    await connector.wait_for(lambda: teams.staff_cards() or None, timeout=10)


async def test_without_anonymous_mode_a_missing_or_junk_token_gets_401(
    runtime: Runtime,
    api: FakeTelegramAPI,
    connector: FakeBotConnector,
    staff_group: FakeGroup,
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = await start(
        runtime,
        api,
        connector,
        teams_allow_anonymous=False,
        teams_app_id="00000000-1111-4222-8333-444444444444",
        teams_app_password="invented-secret",
        teams_tenant_id="aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
    )
    teams = Teams(service, connector)
    try:
        message = personal_message("hello", service_url=connector.service_url)
        assert (await teams.post(message)).status_code == 401
        junk = {"Authorization": "Bearer not.a.token"}
        assert (await teams.post(message, **junk)).status_code == 401
        assert (await teams.post(message, Authorization="Basic abc")).status_code == 401
        assert connector.calls == []
        assert "invented-secret" not in caplog.text
    finally:
        await teams.aclose()
        await service.stop()


async def test_removing_the_app_marks_the_patient_unreachable(
    runtime: Runtime, patient: TeamsPerson, teams: Teams
) -> None:
    from tests.fakes.teams_activities import installation_update

    await joined(runtime, patient)
    response = await teams.post(
        installation_update(
            "remove",
            "personal",
            user_id=PATIENT_USER,
            aad_object_id=PATIENT_AAD,
            service_url=teams.connector.service_url,
        )
    )
    assert response.status_code == 200
    assert (await the_person(runtime)).unreachable_at is not None
    await patient.say("/menu")  # back again: reachable
    assert (await the_person(runtime)).unreachable_at is None


async def test_a_message_edited_to_add_crisis_words_is_treated_as_sent(
    runtime: Runtime,
    patient: TeamsPerson,
    teams: Teams,
    api: FakeTelegramAPI,
    staff_group: FakeGroup,
) -> None:
    await joined(runtime, patient)
    first = personal_message(
        "my knee is sore today",
        user_id=PATIENT_USER,
        aad_object_id=PATIENT_AAD,
        service_url=teams.connector.service_url,
    )
    assert (await teams.post(first)).status_code == 200
    before = len(patient.received())
    # Teams sends an edit as messageUpdate with the id of the message it changes.
    edited = dict(first, type="messageUpdate", text="I am going to kill myself tonight")
    assert (await teams.post(edited)).status_code == 200
    assert CRISIS_LINE in text_of(patient.received()[before])
    await api.wait_for(lambda: alerts(staff_group) or None)
    # The same edit delivered again is not a second crisis.
    assert (await teams.post(edited)).status_code == 200
    assert sum(CRISIS_LINE in text_of(a) for a in patient.received()[before:]) == 1


async def test_without_its_token_the_bot_still_records_a_crisis_and_tells_telegram_staff(
    runtime: Runtime,
    patient: TeamsPerson,
    teams: Teams,
    service: TelegramService,
    api: FakeTelegramAPI,
    staff_group: FakeGroup,
) -> None:
    await joined(runtime, patient)

    class Expired:
        async def token(self) -> str:
            raise ValueError("the client secret has expired")

    assert service.teams_bot is not None and service.teams_bridge is not None
    service.teams_bot.tokens = Expired()
    service.teams_bridge.staff._emails.clear()  # the staff check must ask Microsoft again
    response = await patient.say("I want to kill myself")
    assert response.status_code == 200
    async with runtime.sessions() as session:
        (escalation,) = list(await session.scalars(select(Escalation)))
    assert escalation.risk == "crisis"
    await api.wait_for(lambda: alerts(staff_group) or None)
