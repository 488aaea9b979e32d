"""Reporting more pain or distress: every step, bad input, abandoning, and what staff see."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import OutboxMessage
from dialogs import settings as settings_dialog
from tests.escalation_support import STAFF_GROUP, Team, audit_actions, escalations
from tests.helpers import Chat, enrol_patient


async def report_pain(
    patient: Chat, severity: str = "6", words: str | None = "Worse since Monday"
) -> None:
    """Walk through a pain report without red flags."""
    await patient.press("More pain or distress")
    await patient.press("More pain than usual")
    await patient.press(severity)
    await patient.press("No, none of these")
    if words is None:
        await patient.press("Skip")
    else:
        await patient.say(words)
    await patient.press("Yes, please contact me")


async def test_a_pain_report_reaches_staff_with_triage_facts_and_no_free_text(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("menu")
    await report_pain(patient, words="It's <b>*much*</b> worse since the walk 😣")
    assert "I have sent this to the pain clinic team" in patient.text
    assert "will see it today and will contact you" in patient.text
    assert "set-back plan" in patient.text  # pacing and set-back ideas for more pain
    (escalation,) = await escalations(runtime)
    assert (escalation.category, escalation.severity, escalation.contact_wanted) == (
        "pain",
        6,
        True,
    )
    assert escalation.details == "It's <b>*much*</b> worse since the walk 😣"
    assert escalation.complete and not escalation.urgent
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert alert.text.startswith("New report")
    for fact in (
        "Reference: P",
        "Category: More pain than usual",
        "Severity: 6 out of 10",
        "Contact wanted: yes",
        "Own words and name: press Show details",
    ):
        assert fact in alert.text
    assert "walk" not in alert.text  # the patient's words never go to the group
    assert "Robin" not in alert.text  # nor their name: the reference only
    labels = [b.label for row in alert.buttons for b in row]
    assert labels == ["Acknowledge", "Resolve", "Show details"]
    assert await audit_actions(runtime, escalation.id) == ["reported", "alerted"]


async def test_the_patient_is_told_what_the_team_will_see_before_it_is_sent(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("Feeling distressed")
    await patient.press("7")
    await patient.say("Worried about the hospital appointment on Friday")
    assert "the team will see your reference, your first name" in patient.text
    assert "what you wrote" in patient.text
    assert await escalations(runtime) == []  # nothing sent yet
    await patient.press("No, thank you")
    (escalation,) = await escalations(runtime)
    assert escalation.contact_wanted is False


async def test_plain_words_start_a_report_even_in_the_middle_of_another_dialog(
    patient: Chat, runtime: Runtime
) -> None:
    await patient.command("settings")
    assert patient.labels  # the settings menu is showing
    await patient.say("I'm in a lot of pain today")
    assert "What is happening?" in patient.text
    assert "More pain than usual" in patient.labels
    async with runtime.sessions() as session:
        from bot.db.models import Conversation

        state = await session.scalar(select(Conversation))
    assert state is not None and state.dialog == "report"
    assert settings_dialog.SETTINGS_FORM.name != state.dialog


async def test_distress_skips_the_red_flag_questions(patient: Chat) -> None:
    await patient.command("report")
    await patient.press("Feeling distressed")
    assert "How strong is the distress" in patient.text
    await patient.press("5")
    assert "In your own words" in patient.text
    assert "Skip" in patient.labels


async def test_a_red_flag_gets_advice_now_and_an_urgent_alert(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("9")
    assert "weakness, numbness" in patient.text
    await patient.press("Yes, one or more of these")
    assert "call 999 or go to A&E" in patient.text
    assert "NHS 111" in patient.text
    assert "urgent message to the pain clinic team" in patient.text
    (escalation,) = await escalations(runtime)
    assert escalation.red_flag and escalation.urgent and escalation.complete
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert alert.text.startswith("URGENT: red flag reported")
    assert "Red flag: yes" in alert.text
    # The advice reply jumped the queue.
    async with runtime.sessions() as session:
        priorities = set(
            await session.scalars(
                select(OutboxMessage.priority)
                .where(OutboxMessage.chat_id == patient.user_id)
                .where(OutboxMessage.kind == "reply")
                .order_by(OutboxMessage.id.desc())
                .limit(1)
            )
        )
    assert priorities == {0}


@pytest.mark.parametrize("typed", ["eleven", "11", "-1", "7.5", "", "🙂"])
async def test_a_severity_that_is_not_0_to_10_is_asked_again_kindly(
    patient: Chat, typed: str, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.say(typed)
    assert "Please choose a number from 0 to 10" in patient.text
    assert "How bad is it right now" in patient.text
    await patient.say("4")
    assert "safety questions" in patient.text


async def test_too_long_a_description_is_asked_again_and_the_answers_so_far_are_kept(
    patient: Chat, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("Feeling distressed")
    await patient.press("6")
    await patient.say("x" * 2001)
    assert "2000 characters or fewer" in patient.text
    await patient.say("skip")  # typed, not tapped
    assert "Last question" in patient.text
    await patient.press("No, thank you")
    (escalation,) = await escalations(runtime)
    assert (escalation.category, escalation.severity, escalation.details) == ("distress", 6, None)


async def test_a_sticker_in_the_middle_of_a_report_gets_the_question_again(patient: Chat) -> None:
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.sticker()
    assert "How bad is it right now" in patient.text


async def test_a_severe_report_abandoned_with_cancel_still_reaches_staff(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("9")
    await patient.command("cancel")
    assert "Because of what you told me, the team has still been told." in patient.text
    (escalation,) = await escalations(runtime)
    assert escalation.status == "alerted" and not escalation.complete
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert alert.text.startswith("Report left unfinished")
    assert "Severity: 9 out of 10" in alert.text
    assert "Report: not finished by the patient" in alert.text


async def test_a_mild_report_abandoned_sends_nothing(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("5")
    await patient.command("menu")
    assert await escalations(runtime) == []
    await team.deliver()
    assert team.desk.alerts() == []


async def test_a_severe_report_left_in_silence_reaches_staff_after_the_wait_then_updates(
    patient: Chat, team: Team, runtime: Runtime, clock: ManualClock
) -> None:
    await patient.command("report")
    await patient.press("Both")
    await patient.press("8")
    clock.advance(timedelta(minutes=9))
    await team.deliver()
    assert team.desk.alerts() == []  # still time to finish
    clock.advance(timedelta(minutes=2))
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert alert.text.startswith("Report left unfinished")
    assert "Safety question: not answered" in alert.text  # 8 of distress: they were asked
    # They come back, answer and finish: staff get the whole report as an update.
    await patient.press("No")
    await patient.press("No, none of these")
    await patient.press("Skip")
    await patient.press("No, thank you")
    await team.deliver()
    _first, answered, update = team.desk.alerts()
    assert answered.text.startswith("Report updated: Report left unfinished")
    assert "Safety question: said no" in answered.text  # staff hear the answer at once
    assert update.text.startswith("Report updated: New report")
    assert "Contact wanted: no" in update.text
    assert "Safety question: said no" in update.text
    assert len(await escalations(runtime)) == 1


async def test_out_of_hours_the_patient_hears_when_the_team_will_see_it_and_what_to_do_now(
    patient: Chat, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 11, 28, 22, 30, tzinfo=UTC))  # Saturday night
    await report_pain(patient, severity="5")
    assert "The team is not at work just now" in patient.text
    assert "Monday 30 November from 09:00" in patient.text
    for number in ("999", "NHS 111 and choose option 2", "116 123", "85258"):
        assert number in patient.text


async def test_acknowledging_edits_the_alert_and_tells_the_patient(
    patient: Chat, team: Team, runtime: Runtime, clock: ManualClock
) -> None:
    await report_pain(patient)
    await team.deliver()
    clock.advance(timedelta(minutes=3))
    await team.press(1, "Acknowledge")
    assert team.staff.last_outcome is not None
    assert team.staff.last_outcome.alert == "Acknowledged by Sam at 10:03"
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert "Acknowledged by Sam at 10:03" in alert.text
    assert [b.label for row in alert.buttons for b in row] == ["Resolve", "Show details"]
    assert any("has seen your message" in text for text in team.desk.texts(patient.user_id))
    # Pressing again (or a second member of staff at once) changes nothing.
    await team.press(1, "Resolve")  # still there on the edited message
    await team.staff.event(
        kind="button", payload="e:ack:1", chat_id=STAFF_GROUP, private_chat=False, message_id="1"
    )
    assert team.staff.last_outcome is not None
    assert team.staff.last_outcome.alert == "Already done: Acknowledged by Sam at 10:03."
    assert (await audit_actions(runtime, 1)).count("acknowledged") == 1


async def test_resolve_asks_privately_for_an_outcome_note(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await report_pain(patient)
    await team.deliver()
    await team.press(1, "Resolve")
    await team.deliver()
    (prompt,) = team.desk.texts("staff-1")
    assert "short outcome note for P" in prompt
    await team.staff.say("x" * 501)
    assert "up to 500 characters" in team.staff.text
    await team.staff.say("Rang Robin; plan to pace the walks. Wants to kill the pain, not herself.")
    assert "is marked resolved" in team.staff.text
    (escalation,) = await escalations(runtime)
    assert escalation.status == "resolved" and escalation.resolved_by == "Sam"
    assert escalation.outcome is not None and escalation.outcome.startswith("Rang Robin")
    await team.deliver()
    resolved = team.desk.chats[STAFF_GROUP][0]
    assert "Resolved by Sam" in resolved.text
    assert [b.label for row in resolved.buttons for b in row] == ["Show details"]
    assert len(await escalations(runtime)) == 1  # the staff note was not screened as risk


async def test_show_details_sends_the_words_privately_and_never_to_the_group(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await report_pain(patient, words="My knee gave way on the stairs")
    await team.deliver()
    await team.press(1, "Show details")
    await team.deliver()
    (details,) = team.desk.texts("staff-1")
    assert "My knee gave way on the stairs" in details
    assert not any("knee" in text for text in team.desk.texts(STAFF_GROUP))
    assert "details_shown" in await audit_actions(runtime, 1)
    async with runtime.sessions() as session:
        kept = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "details"))
    assert kept is None  # the words are kept once, in the escalation


async def test_someone_not_on_the_staff_list_cannot_press_staff_buttons(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await report_pain(patient)
    await team.deliver()
    await team.press(1, "Acknowledge", who=patient)
    assert patient.last_outcome is not None
    assert patient.last_outcome.alert == "Only members of the clinical team can use this button."
    (escalation,) = await escalations(runtime)
    assert escalation.status == "alerted"
    assert "refused" in await audit_actions(runtime, escalation.id)


async def test_a_forged_button_naming_another_escalation_changes_nothing(
    patient: Chat, team: Team, runtime: Runtime, clock: ManualClock
) -> None:
    other = await enrol_patient(runtime, user_id="patient-2", name="Kit")
    await report_pain(patient)
    await report_pain(other)
    await team.deliver()
    # Message 1 is Robin's alert; the forged payload names Kit's escalation.
    await team.staff.event(
        kind="button", payload="e:ack:2", chat_id=STAFF_GROUP, private_chat=False, message_id="1"
    )
    assert team.staff.last_outcome is not None
    assert (
        team.staff.last_outcome.alert
        == "That button does not belong to this alert, so nothing was changed."
    )
    assert [e.status for e in await escalations(runtime)] == ["alerted", "alerted"]
    for payload in ("e:ack:999", "e:ack:x", "e:zap:1", "e::"):
        await team.staff.event(
            kind="button", payload=payload, chat_id=STAFF_GROUP, private_chat=False, message_id="1"
        )
        assert team.staff.last_outcome is not None and team.staff.last_outcome.alert
    assert [e.status for e in await escalations(runtime)] == ["alerted", "alerted"]


async def test_two_members_of_staff_acknowledging_at_once_make_one_acknowledgement(
    patient: Chat, team: Team, runtime: Runtime, clock: ManualClock
) -> None:
    from bot.services import people

    async with runtime.sessions() as session, session.begin():
        await people.enrol(
            session,
            role="staff",
            cohort_id=None,
            display_name="Kim",
            channel="console",
            user_id="staff-2",
            chat_id="staff-2",
            now=clock.now(),
        )
    kim = Chat(runtime, user_id="staff-2")
    await report_pain(patient)
    await team.deliver()
    press = {
        "kind": "button",
        "payload": "e:ack:1",
        "chat_id": STAFF_GROUP,
        "private_chat": False,
        "message_id": "1",
    }
    await asyncio.gather(team.staff.event(**press), kim.event(**press))
    answers = [team.staff.last_outcome.alert, kim.last_outcome.alert]  # type: ignore[union-attr]
    assert sum(a is not None and a.startswith("Acknowledged by") for a in answers) == 1
    assert sum(a is not None and a.startswith("Already done") for a in answers) == 1
    assert (await audit_actions(runtime, 1)).count("acknowledged") == 1
    await team.deliver()
    told = [t for t in team.desk.texts(patient.user_id) if "has seen your message" in t]
    assert len(told) == 1


@pytest.mark.parametrize("label", ["Acknowledge", "Resolve", "Show details"])
async def test_every_staff_button_is_refused_to_someone_not_on_the_staff_list(
    patient: Chat, team: Team, runtime: Runtime, label: str
) -> None:
    await report_pain(patient)
    await team.deliver()
    stranger = Chat(runtime, user_id="someone-else")
    await team.press(1, label, who=stranger)
    assert stranger.last_outcome is not None
    assert stranger.last_outcome.alert == "Only members of the clinical team can use this button."
    await team.deliver()
    (escalation,) = await escalations(runtime)
    assert escalation.status == "alerted"
    assert team.desk.texts("someone-else") == []  # no details, no outcome prompt
    assert "refused" in await audit_actions(runtime, escalation.id)


@pytest.mark.parametrize(
    "typed",
    [
        "yes my legs have gone numb and I can't pee",
        "yes",
        "not sure, my foot is numb",
        "no, but I can't feel my legs",
        "no fever, chest feels tight",
    ],
)
async def test_red_flags_typed_in_words_are_a_yes_and_reach_staff(
    patient: Chat, team: Team, runtime: Runtime, typed: str
) -> None:
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("7")
    await patient.say(typed)
    assert "Please choose one of the buttons" not in patient.text
    assert "999" in patient.text  # the advice for now
    assert "ending your life" not in patient.text
    (escalation,) = await escalations(runtime)
    assert (escalation.red_flag, escalation.urgent) == (True, True)
    assert escalation.details == typed
    await team.deliver()
    assert team.desk.alerts()[0].text.startswith("URGENT: red flag reported")


async def test_a_typed_no_to_red_flags_goes_on_to_their_own_words(
    patient: Chat, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("7")
    await patient.say("no none of those")
    assert "Please choose one of the buttons" not in patient.text
    await patient.say("Since the gardening on Tuesday")
    await patient.press("No, thank you")
    (escalation,) = await escalations(runtime)
    assert (escalation.red_flag, escalation.details) == (False, "Since the gardening on Tuesday")


async def test_a_mild_report_cancelled_says_nothing_was_sent(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("4")
    await patient.command("cancel")
    assert "Nothing has been sent to the team." in patient.text
    assert "still kept" not in patient.text
    assert await escalations(runtime) == []
