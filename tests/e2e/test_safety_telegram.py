"""The safety net over the real PTB Application and the fake Bot API: typed answers to the
safety questions, replies that fit abuse and worry for someone else, discharged patients,
someone still joining, and one alert for a crisis message delivered twice."""

from __future__ import annotations

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from bot.db.models import Escalation
from bot.services import people
from tests.e2e.test_escalations_telegram import alerts, alerts_recorded, enrolled
from tests.fakes.fake_user import FakeGroup, FakeUser
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.helpers import make_cohort, make_invites

CRISIS_LINE = "Samaritans: call 116 123"
PLAN_QUESTION = "Have you thought about how you might end your life, or started to get ready to?"


async def the_escalations(runtime: Runtime) -> list[Escalation]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Escalation).order_by(Escalation.id)))


async def says(api: FakeTelegramAPI, user: FakeUser, text: str, *expected: str) -> str:
    """Send `text` and wait until the bot's replies to it contain every `expected` piece
    (replies go out after the update is confirmed, so waiting for the update is not enough)."""
    mark = len(user.messages)

    def replies() -> str:
        return "\n".join(m.text or "" for m in user.messages[mark:])

    await api.wait_processed(await user.send(text))
    await api.wait_for(lambda: all(piece in replies() for piece in expected))
    return replies()


async def staff_see(api: FakeTelegramAPI, group: FakeGroup, start: str) -> str:
    """The first alert in the staff group that starts with `start`, once it is there."""
    await api.wait_for(lambda: any((m.text or "").startswith(start) for m in alerts(group)))
    return next(m.text or "" for m in alerts(group) if (m.text or "").startswith(start))


async def test_a_typed_yes_to_the_safety_question_is_urgent_and_asks_how(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7201)
    question = "ending your life or harming yourself?"
    await says(api, patient, "honestly what's the point of anything any more", question)
    assert patient.last.labels == ["Yes", "No", "Not sure"]
    await says(api, patient, "yeah I have", CRISIS_LINE, PLAN_QUESTION)
    (escalation,) = await the_escalations(runtime)
    assert (escalation.check_answer, escalation.urgent) == ("yes", True)
    alert = await staff_see(api, staff_group, "URGENT RISK")
    assert "Safety question: said yes" in alert
    await says(api, patient, "no", "If that changes, tell me at any time")
    assert (await the_escalations(runtime))[0].plan_answer == "no"


async def test_a_typed_no_is_a_short_note_and_nothing_urgent(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7202)
    await says(api, patient, "I can't go on like this", "ending your life")
    reply = await says(api, patient, "nah I'm ok, just fed up", "short note to the team")
    assert PLAN_QUESTION not in reply
    (escalation,) = await the_escalations(runtime)
    assert (escalation.check_answer, escalation.urgent) == ("no", False)
    alert = await staff_see(api, staff_group, "Possible risk")
    assert "Safety question: said no" in alert


async def test_abuse_gets_the_helplines_before_anything_else_and_a_safeguarding_alert(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7204)
    words = "my partner takes my tablets and won't let me leave the house"
    reply = await says(api, patient, words, "0808 2000 247", "press 55", "let the pain clinic")
    assert "ending your life" not in reply  # not the suicide question
    alert = await staff_see(api, staff_group, "URGENT SAFEGUARDING")
    assert "Robin" not in alert and "tablets" not in alert
    (escalation,) = await the_escalations(runtime)
    assert (escalation.concern, escalation.urgent) == ("safeguarding", True)


async def test_worry_for_someone_else_gets_what_to_do_and_a_non_urgent_alert(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7205)
    words = "my son keeps saying he's going to kill himself"
    await says(api, patient, words, "If they are in danger right now, call 999")
    await staff_see(api, staff_group, "Worried about someone else")
    (escalation,) = await the_escalations(runtime)
    assert (escalation.concern, escalation.urgent) == ("someone-else", False)


async def test_a_discharged_patient_is_told_who_can_help_now(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7206)
    async with runtime.sessions() as session, session.begin():
        person = await people.find_account(session, "telegram", "7206")
        assert person is not None
        person.discharged_at = runtime.clock.now()
    await says(api, patient, "I want to end my life", CRISIS_LINE, "please also tell your GP")
    alert = await staff_see(api, staff_group, "URGENT RISK")
    assert "(discharged: finished the programme)" in alert


async def test_someone_who_has_not_joined_yet_gets_numbers_and_staff_are_told(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    (invite,) = await make_invites(runtime, await make_cohort(runtime))
    stranger = api.user(7207, first_name="Jo")
    await stranger.ask(f"/start {invite.code}", expect=2)  # they have not agreed yet
    reply = await says(api, stranger, "i want to die", "116 123")
    await api.wait_for(lambda: any(invite.code in (m.text or "") for m in staff_group.messages))
    assert reply.count("116 123") == 1
    notice = next(m.text or "" for m in staff_group.messages if invite.code in (m.text or ""))
    assert notice.startswith("Possible risk") and "die" not in notice and "Jo" not in notice
    assert await the_escalations(runtime) == []


async def test_a_crisis_message_delivered_twice_makes_one_alert(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7208)
    before = len(patient.messages)
    first = await patient.send("I want to kill myself")
    await api.wait_processed(first)
    api.redeliver(first)
    marker = await patient.send("/privacy")
    await api.wait_processed(marker)
    await api.wait_for(lambda: len(alerts(staff_group)) >= 1)
    await alerts_recorded(runtime, 1)
    assert len(alerts(staff_group)) == 1
    assert len(await the_escalations(runtime)) == 1
    crisis_replies = [m for m in patient.messages[before:] if CRISIS_LINE in (m.text or "")]
    assert len(crisis_replies) == 1


async def test_severe_distress_in_a_report_asks_the_question_and_yes_is_urgent(
    service: TelegramService, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7209)
    await patient.ask("/report")
    await patient.tap("Feeling distressed")
    await patient.tap("10")
    await api.wait_for(lambda: "That is a lot to carry" in (patient.last.text or ""))
    await patient.tap("Yes")
    await staff_see(api, staff_group, "URGENT RISK: severe distress")
    (escalation,) = await the_escalations(runtime)
    assert (escalation.check_reason, escalation.urgent, escalation.severity) == (
        "distress",
        True,
        10,
    )
