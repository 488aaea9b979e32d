"""Risk language anywhere: crisis signposting and an urgent alert, or a gentle check."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Escalation, OutboxMessage
from tests.escalation_support import Team, audit_actions, escalations
from tests.helpers import Chat, at_name_step, count, enrol_patient

CRISIS_LINE = "Samaritans: call 116 123"
CHECK_QUESTION = "having thoughts of ending your life or harming yourself?"
PLAN_QUESTION = "Have you thought about how you might end your life, or started to get ready to?"


async def test_explicit_risk_language_gets_crisis_numbers_and_an_urgent_alert(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("I want to kill myself")
    assert CRISIS_LINE in patient.text and "call 999" in patient.text
    assert "let the pain clinic team know" in patient.text
    (escalation,) = await escalations(runtime)
    assert (escalation.source, escalation.risk, escalation.urgent) == ("risk", "crisis", True)
    assert escalation.risk_entry and escalation.lexicon_version
    assert escalation.details == "I want to kill myself"
    async with runtime.sessions() as session:
        replies = list(
            await session.scalars(
                select(OutboxMessage.priority)
                .where(OutboxMessage.chat_id == patient.user_id)
                .where(OutboxMessage.kind == "reply")
                .order_by(OutboxMessage.id.desc())
                .limit(2)
            )
        )
    assert replies == [0, 0]  # urgent: never behind a reminder
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert alert.text.startswith("URGENT RISK: risk language")
    assert "kill" not in alert.text


async def test_risk_language_in_the_middle_of_another_dialog_wins(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("settings")
    await patient.say("i wanna die")
    assert CRISIS_LINE in patient.text
    assert len(await escalations(runtime)) == 1
    assert PLAN_QUESTION in patient.text
    await patient.press("No")
    # The settings dialog is left: the next message is not taken as a settings answer.
    await patient.say("18:30")
    assert "can't read messages like that" in patient.text


async def test_risk_language_during_a_report_becomes_one_escalation_with_both(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("Feeling distressed")
    await patient.press("9")
    await patient.say("honestly I'd be better off dead")
    assert CRISIS_LINE in patient.text
    (escalation,) = await escalations(runtime)
    assert escalation.severity == 9 and escalation.risk == "crisis"
    assert "better off dead" in (escalation.details or "")
    await team.deliver()
    assert len(team.desk.alerts()) == 1


async def test_the_turn_does_not_repeat_signposting_the_adapter_already_sent(
    patient: Chat, runtime: Runtime
) -> None:
    await patient.event(kind="text", text="I am going to end my life", crisis_sent=True)
    assert CRISIS_LINE not in patient.text
    assert "let the pain clinic team know" in patient.text
    assert len(await escalations(runtime)) == 1


async def test_someone_not_enrolled_gets_signposting_and_nothing_is_kept(runtime: Runtime) -> None:
    stranger = Chat(runtime, user_id="stranger-9")
    await stranger.say("I want to die")
    assert CRISIS_LINE in stranger.text
    assert await count(runtime, Escalation) == 0
    # Part way through joining: signposting, and their place is kept.
    joining, _invite = await at_name_step(runtime, user_id="joining-1")
    await joining.say("kms")
    assert CRISIS_LINE in joining.text
    await joining.say("Jo")
    assert "Jo" in joining.text


async def test_a_pain_idiom_gets_a_gentle_check_and_yes_is_a_crisis(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("this pain is killing me")
    assert CHECK_QUESTION in patient.text
    assert patient.labels[-3:] == ["Yes", "No", "Not sure"]
    (escalation,) = await escalations(runtime)
    assert (escalation.risk, escalation.status) == ("check", "reported")
    await patient.press("Yes")
    assert CRISIS_LINE in patient.text
    assert PLAN_QUESTION in patient.text  # how serious: the follow-up question
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert alert.text.startswith("URGENT RISK")
    assert "Safety question: said yes" in alert.text
    assert "check_yes" in await audit_actions(runtime, escalation.id)


async def test_no_to_the_check_goes_on_but_staff_still_see_a_note(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("I can't go on like this")
    await patient.press("No")
    assert "short note to the team" in patient.text
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert alert.text.startswith("Possible risk: please check in")
    assert "Safety question: said no" in alert.text
    (escalation,) = await escalations(runtime)
    assert escalation.status == "alerted" and not escalation.urgent  # a tap closes nothing
    await patient.event(kind="button", payload=f"k:{escalation.id}:n")  # an older button
    assert "already answered" in patient.text
    assert (await escalations(runtime))[0].check_answer == "no"


async def test_an_unanswered_check_reaches_staff_after_the_wait(
    patient: Chat, team: Team, runtime: Runtime, clock: ManualClock
) -> None:
    await patient.say("what's the point any more")
    clock.advance(timedelta(minutes=11))
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert "Safety question: not answered" in alert.text


async def test_a_check_button_of_someone_else_is_refused(patient: Chat, runtime: Runtime) -> None:
    await patient.say("I can't take it any more")
    (escalation,) = await escalations(runtime)
    other = await enrol_patient(runtime, user_id="patient-2", name="Kit")
    await other.event(kind="button", payload=f"k:{escalation.id}:n")
    assert "old" in other.text.lower() or "button" in other.text.lower()
    assert (await escalations(runtime))[0].check_answer is None


async def test_staff_writing_risk_words_are_not_screened(team: Team, runtime: Runtime) -> None:
    await team.staff.say("Quote from the call: 'I want to kill myself'")
    assert await count(runtime, Escalation) == 0
    assert "you don't have to face it alone" not in team.staff.text


async def test_forwarded_risk_words_are_screened_too(patient: Chat, runtime: Runtime) -> None:
    # Someone else's words, perhaps, but someone may be at risk: recall comes first.
    await patient.say("I want to kill myself", forwarded=True)
    assert CRISIS_LINE in patient.text
    assert await count(runtime, Escalation) == 1


async def test_a_huge_hostile_message_with_risk_at_the_end_is_caught_and_kept_short(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    words = ("*bold* <b>tag</b> [x](http://example.org) 😣 " * 100)[:3980] + " I want to die"
    await patient.say(words)
    assert CRISIS_LINE in patient.text
    (escalation,) = await escalations(runtime)
    assert escalation.details is not None and len(escalation.details) <= 3000
    await team.deliver()
    await team.press(1, "Show details")
    await team.deliver()
    (details,) = team.desk.texts("staff-1")
    assert len(details) <= 4096 and details.endswith("…")


async def test_long_words_in_a_report_and_after_it_stay_within_limits(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("Feeling distressed")
    await patient.press("9")
    await patient.say("kill myself " + "x" * 1900)  # the report becomes the risk alert
    await patient.say("I want to die " + "y" * 4000)  # more words for the same alert
    (report,) = await escalations(runtime)
    assert report.severity == 9
    assert report.details is not None and len(report.details) <= 3000
    assert report.details.startswith("kill myself")
    await team.deliver()
    await team.press(1, "Show details")
    await team.deliver()
    (details,) = team.desk.texts("staff-1")
    assert len(details) <= 4096


async def test_yes_to_a_check_that_staff_already_closed_reopens_it_as_urgent(
    patient: Chat, team: Team, runtime: Runtime, clock: ManualClock
) -> None:
    await patient.say("I can't do this any more")
    check = patient.replies
    clock.advance(timedelta(minutes=11))
    await team.deliver()  # unanswered: staff are told
    await team.press(1, "Resolve")
    await team.staff.say("Rang, no answer; will try again tomorrow.")
    assert (await escalations(runtime))[0].status == "resolved"
    await patient.press("Yes", check)
    (escalation,) = await escalations(runtime)
    assert (escalation.status, escalation.urgent) == ("alerted", True)
    assert escalation.resolved_by is None and escalation.acknowledged_by is None
    await team.deliver()
    latest = team.desk.alerts()[-1]
    assert latest.text.startswith("Report updated: URGENT RISK")
    assert [b.label for row in latest.buttons for b in row][:2] == ["Acknowledge", "Resolve"]
    clock.advance(timedelta(minutes=5))
    await team.deliver()
    assert team.desk.alerts()[-1].text.startswith("UNACKNOWLEDGED: URGENT RISK")
    assert "reopened" in await audit_actions(runtime, escalation.id)


async def test_a_crisis_after_staff_acknowledged_a_report_reopens_it(
    patient: Chat, team: Team, runtime: Runtime, clock: ManualClock
) -> None:
    await patient.command("report")
    await patient.press("Feeling distressed")
    await patient.press("9")
    clock.advance(timedelta(minutes=11))
    await team.deliver()
    await team.press(1, "Acknowledge")
    await patient.say("I am going to kill myself")
    (escalation,) = await escalations(runtime)
    assert (escalation.status, escalation.risk, escalation.severity) == ("alerted", "crisis", 9)
    await team.deliver()
    assert "Acknowledge" in [b.label for row in team.desk.alerts()[-1].buttons for b in row]


async def test_a_photo_caption_with_risk_language_is_screened(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.event(kind="unsupported", text="I want to kill myself")
    assert CRISIS_LINE in patient.text
    assert "only read typed messages" not in patient.text or CRISIS_LINE in patient.text
    assert len(await escalations(runtime)) == 1


async def test_a_crisis_in_the_middle_of_a_report_keeps_every_answer(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("6")  # below 8: nothing opened yet
    await patient.press("No, none of these")
    await patient.say("Back went on Tuesday")
    await patient.say("and honestly I want to die")
    (escalation,) = await escalations(runtime)
    assert (escalation.category, escalation.severity, escalation.risk) == ("pain", 6, "crisis")
    assert escalation.details is not None
    assert "Back went on Tuesday" in escalation.details and "want to die" in escalation.details


async def test_check_words_while_reporting_make_one_escalation_with_the_question(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("5")
    await patient.press("No, none of these")
    await patient.say("this pain is killing me")
    assert CHECK_QUESTION in patient.text
    assert "Last question" not in patient.text  # one question at a time
    await patient.press("No", patient.replies)
    assert "Last question" in patient.text  # then the report goes on
    await patient.press("No, thank you")
    (escalation,) = await escalations(runtime)
    assert (escalation.risk, escalation.check_answer, escalation.complete) == ("check", "no", True)
    await team.deliver()
    alerts = team.desk.alerts()
    assert len(alerts) == 1 and "Safety question: said no" in alerts[0].text


async def test_check_words_in_a_report_staff_already_have_reach_them_at_once(
    patient: Chat, team: Team, runtime: Runtime, clock: ManualClock
) -> None:
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("9")
    clock.advance(timedelta(minutes=11))
    await team.deliver()
    await team.press(1, "Acknowledge")  # staff have the unfinished report
    await team.deliver()  # the patient is told the team has seen it
    await patient.say("this pain is killing me")
    await team.deliver()
    latest = team.desk.alerts()[-1]
    assert latest.text.startswith("Report updated: Possible risk")
    assert "Safety question: not answered" in latest.text
    await patient.press("No", patient.replies)
    await team.deliver()
    assert "Safety question: said no" in team.desk.alerts()[-1].text


async def test_a_pain_idiom_on_its_own_gets_only_the_gentle_question(patient: Chat) -> None:
    await patient.say("honestly this pain is killing me")
    assert "can't read messages like that" not in patient.text
    assert CHECK_QUESTION in patient.text
    assert patient.labels == ["Yes", "No", "Not sure"]


async def test_at_night_the_patient_is_not_led_to_think_someone_is_reading_now(
    patient: Chat, clock: ManualClock
) -> None:
    from datetime import UTC, datetime

    clock.set(datetime(2026, 11, 29, 2, 0, tzinfo=UTC))  # Sunday, 2 a.m.
    await patient.say("I want to kill myself")
    assert "The team is not at work just now" in patient.text
    assert "Monday 30 November from 09:00" in patient.text
    assert CRISIS_LINE in patient.text
