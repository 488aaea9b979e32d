"""The safety questions, answered every way a person might, and crisis replies that fit what
the words were about: the writer, someone they might hurt, abuse, or someone else at risk."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Escalation, EscalationEvent, Person
from tests.escalation_support import STAFF_GROUP, Team, audit_actions, escalations
from tests.helpers import Chat, at_name_step, count

CRISIS_LINE = "Samaritans: call 116 123"
CHECK_QUESTION = "having thoughts of ending your life or harming yourself?"
PLAN_QUESTION = "Have you thought about how you might end your life, or started to get ready to?"
AMBIGUOUS = "I can't go on like this"


async def audit_details(runtime: Runtime, escalation_id: int) -> list[tuple[str, str | None]]:
    """(action, detail) of every audit event, in order."""
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(EscalationEvent.action, EscalationEvent.detail)
            .where(EscalationEvent.escalation_id == escalation_id)
            .order_by(EscalationEvent.id)
        )
        return [(action, detail) for action, detail in rows]


# --- typed answers to "are you having thoughts of ending your life?" --------------------------


@pytest.mark.parametrize(
    "words", ["no", "No.", "nah I'm fine", "no thanks", "NO", "👎", "I'm ok", "not at all"]
)
async def test_a_clear_typed_no_is_a_no(
    patient: Chat, team: Team, runtime: Runtime, words: str
) -> None:
    await patient.say(AMBIGUOUS)
    await patient.say(words)
    assert "short note to the team" in patient.text
    assert CRISIS_LINE in patient.text  # the numbers are there if it changes
    assert PLAN_QUESTION not in patient.text
    (escalation,) = await escalations(runtime)
    assert (escalation.check_answer, escalation.urgent) == ("no", False)
    assert ("check_no", "typed: no") in await audit_details(runtime, escalation.id)
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert "Safety question: said no" in alert.text
    # What they typed reaches staff with the rest, behind Show details.
    assert words in (escalation.details or "")


@pytest.mark.parametrize("words", ["yes", "yeah", "👍", "yes I have", "oh yes"])
async def test_a_typed_yes_is_urgent_and_asks_how(
    patient: Chat, team: Team, runtime: Runtime, words: str
) -> None:
    await patient.say(AMBIGUOUS)
    await patient.say(words)
    assert CRISIS_LINE in patient.text
    assert "let the pain clinic team know" in patient.text
    assert PLAN_QUESTION in patient.text  # the Columbia screener's next question
    (escalation,) = await escalations(runtime)
    assert (escalation.check_answer, escalation.urgent) == ("yes", True)
    assert ("check_yes", "typed: yes") in await audit_details(runtime, escalation.id)
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert alert.text.startswith("URGENT RISK")
    assert "Safety question: said yes" in alert.text


@pytest.mark.parametrize(
    ("words", "leans_yes"),
    [
        ("kind of", True),
        ("sometimes", True),
        ("a bit, lately", True),
        ("not really", False),
        ("I don't know", False),
        ("why do you ask?", False),
        ("hello", False),
        ("I'm not okay", False),
        ("no idea", False),
        ("no one cares", False),
        ("never felt worse", False),
    ],
)
async def test_anything_but_a_clear_typed_no_is_taken_as_yes(
    patient: Chat, team: Team, runtime: Runtime, words: str, leans_yes: bool
) -> None:
    await patient.say(AMBIGUOUS)
    await patient.say(words)
    assert "When it isn't a clear no, I always let the team know" in patient.text
    assert CRISIS_LINE in patient.text
    assert "let the pain clinic team know" in patient.text
    # Asked how only when the answer leans to yes; not pressed further on a plain hedge.
    assert (PLAN_QUESTION in patient.text) == leans_yes
    (escalation,) = await escalations(runtime)
    assert (escalation.check_answer, escalation.urgent) == ("unsure", True)
    assert ("check_yes", "typed: not sure, taken as yes") in await audit_details(
        runtime, escalation.id
    )
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert alert.text.startswith("URGENT RISK")
    assert "Safety question: not a clear no (treated as yes)" in alert.text


async def test_not_sure_tapped_is_taken_as_yes(patient: Chat, team: Team, runtime: Runtime) -> None:
    await patient.say(AMBIGUOUS)
    await patient.press("Not sure")
    assert CRISIS_LINE in patient.text and PLAN_QUESTION not in patient.text
    (escalation,) = await escalations(runtime)
    assert (escalation.check_answer, escalation.urgent) == ("unsure", True)
    assert ("check_yes", "tapped: not sure, taken as yes") in await audit_details(
        runtime, escalation.id
    )


async def test_a_number_is_not_an_answer_so_the_question_is_asked_once_more(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say(AMBIGUOUS)
    await patient.say("75")
    assert "Sorry, I wasn't sure what you meant" in patient.text
    assert patient.labels == ["Yes", "No", "Not sure"]
    (escalation,) = await escalations(runtime)
    assert escalation.check_answer is None
    await patient.say("4")  # still not an answer: now taken as yes, as anything unclear is
    (escalation,) = await escalations(runtime)
    assert (escalation.check_answer, escalation.urgent) == ("unsure", True)
    assert "check_asked_again" in await audit_actions(runtime, escalation.id)


@pytest.mark.parametrize("words", ["god no", "hell no!", "no way", "nope, not at all"])
async def test_a_no_with_an_exclamation_is_still_a_no(
    patient: Chat, runtime: Runtime, words: str
) -> None:
    await patient.say(AMBIGUOUS)
    await patient.say(words)
    assert "short note to the team" in patient.text
    assert (await escalations(runtime))[0].check_answer == "no"


async def test_crisis_words_in_answer_to_the_question_are_a_yes(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say(AMBIGUOUS)
    await patient.say("honestly I just want to die")
    (escalation,) = await escalations(runtime)
    assert (escalation.risk, escalation.check_answer, escalation.urgent) == ("crisis", "yes", True)
    assert PLAN_QUESTION in patient.text
    await team.deliver()
    assert len(team.desk.alerts()) == 1


async def test_typed_words_long_after_the_question_are_not_its_answer(
    patient: Chat, team: Team, runtime: Runtime, clock: ManualClock
) -> None:
    await patient.say(AMBIGUOUS)
    clock.advance(timedelta(minutes=61))
    await patient.say("no")
    assert "short note to the team" not in patient.text
    (escalation,) = await escalations(runtime)
    assert escalation.check_answer is None
    # The buttons still answer it.
    await patient.event(kind="button", payload=f"k:{escalation.id}:c:n")
    assert (await escalations(runtime))[0].check_answer == "no"


async def test_a_command_after_the_question_moves_on_and_its_buttons_still_work(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say(AMBIGUOUS)
    question = patient.replies
    await patient.command("report")
    assert "More pain than usual" in patient.labels  # the report starts, not held back
    await patient.press("More pain than usual")
    assert (await escalations(runtime))[0].check_answer is None
    await patient.press("Yes", question)
    first = (await escalations(runtime))[0]
    assert (first.check_answer, first.urgent) == ("yes", True)


async def test_a_yes_after_a_no_counts_and_makes_it_urgent(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say(AMBIGUOUS)
    question = patient.replies
    await patient.say("no")
    await team.deliver()
    await patient.press("Yes", question)  # they thought again
    assert CRISIS_LINE in patient.text and PLAN_QUESTION in patient.text
    (escalation,) = await escalations(runtime)
    assert (escalation.check_answer, escalation.urgent) == ("yes", True)
    await team.deliver()
    assert team.desk.alerts()[-1].text.startswith("Report updated: URGENT RISK")


async def test_a_no_after_a_yes_changes_nothing(patient: Chat, runtime: Runtime) -> None:
    await patient.say(AMBIGUOUS)
    question = patient.replies
    await patient.say("yes")
    await patient.press("No", question)
    assert "already answered" in patient.text
    (escalation,) = await escalations(runtime)
    assert (escalation.check_answer, escalation.urgent) == ("yes", True)


@pytest.mark.parametrize("words", ["no, I have a plan", "no, ive got them saved up"])
async def test_a_no_with_risk_words_after_it_is_not_a_no(
    patient: Chat, runtime: Runtime, words: str
) -> None:
    await patient.say(AMBIGUOUS)
    await patient.say(words)
    (escalation,) = await escalations(runtime)
    assert escalation.check_answer in ("yes", "unsure") and escalation.urgent


# --- the follow-up question: thought how, or started to get ready ----------------------------


@pytest.mark.parametrize(
    ("words", "answer", "reply"),
    [
        ("no", "no", "If that changes, tell me at any time"),
        ("nope", "no", "If that changes, tell me at any time"),
        ("yes", "yes", "Thank you for being honest with me"),
        ("I have the tablets saved up", "yes", CRISIS_LINE),  # crisis words: a yes
        ("not sure", "unsure", "talk it through with you"),
    ],
)
async def test_the_plan_question_after_a_crisis_typed(
    patient: Chat, team: Team, runtime: Runtime, words: str, answer: str, reply: str
) -> None:
    await patient.say("I want to kill myself")
    assert PLAN_QUESTION in patient.text
    assert patient.labels == ["Yes", "No", "Not sure"]
    await patient.say(words)
    assert reply in patient.text
    (escalation,) = await escalations(runtime)
    assert escalation.plan_answer == answer
    await team.deliver()
    latest = team.desk.alerts()[-1]
    said = {"no": "said no", "yes": "said yes"}.get(answer, "not a clear no (treated as yes)")
    assert f"Thought how, or started to get ready: {said}" in latest.text
    assert escalation.urgent  # a no to this never makes a crisis less urgent


async def test_the_plan_question_is_asked_once(patient: Chat, runtime: Runtime) -> None:
    await patient.say("I want to kill myself")
    await patient.press("No")
    await patient.say("I still want to die")
    assert PLAN_QUESTION not in patient.text
    assert CRISIS_LINE in patient.text
    (escalation,) = await escalations(runtime)
    actions = await audit_actions(runtime, escalation.id)
    assert actions.count("plan_asked") == 1


# --- what the words were about -----------------------------------------------------------------


async def test_abuse_gets_helplines_a_safe_contact_and_a_safeguarding_alert(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("my husband hits me when he's been drinking")
    for words in ("0808 2000 247", "press 55", "delete this chat", "check it is safe to talk"):
        assert words in patient.text
    assert PLAN_QUESTION not in patient.text  # not a question about ending their life
    (escalation,) = await escalations(runtime)
    assert (escalation.concern, escalation.risk, escalation.urgent) == (
        "safeguarding",
        "crisis",
        True,
    )
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert alert.text.startswith("URGENT SAFEGUARDING")
    assert "Check it is safe to contact them before you call" in alert.text
    assert "husband" not in alert.text


async def test_sexual_violence_adds_rape_crisis(patient: Chat, runtime: Runtime) -> None:
    await patient.say("he makes me have sex when I don't want to")
    assert "Rape Crisis: call 0808 500 2222" in patient.text
    assert "NSPCC" not in patient.text


async def test_thoughts_of_harming_someone_else(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("I keep thinking about hurting my son")
    assert "move away from them now" in patient.text
    assert PLAN_QUESTION not in patient.text
    (escalation,) = await escalations(runtime)
    assert (escalation.concern, escalation.urgent) == ("others", True)
    await team.deliver()
    assert team.desk.alerts()[0].text.startswith("URGENT RISK TO OTHERS")


async def test_exasperation_about_someone_gets_the_question_about_others(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("I could kill my neighbour, he's drilling at 7am again")
    assert "Are you having thoughts of hurting someone?" in patient.text
    assert "ending your life" not in patient.text
    (escalation,) = await escalations(runtime)
    assert (escalation.risk, escalation.concern, escalation.urgent) == ("check", "others", False)
    await patient.press("No")
    assert "short note to the team" in patient.text


async def test_yes_to_the_question_about_others_gets_the_answer_for_others(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("I could kill my neighbour")
    await patient.say("yes")
    assert "move away from them now" in patient.text
    assert PLAN_QUESTION not in patient.text
    (escalation,) = await escalations(runtime)
    assert (escalation.check_answer, escalation.urgent) == ("yes", True)


async def test_words_that_may_be_abuse_get_the_question_about_abuse(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("my ex has been sending me threatening texts")
    assert "Is someone hurting you, frightening you or controlling you?" in patient.text
    assert "ending your life" not in patient.text
    await team.deliver()
    await patient.say("yes")
    assert "0808 2000 247" in patient.text and "check it is safe to talk" in patient.text
    assert PLAN_QUESTION not in patient.text
    (escalation,) = await escalations(runtime)
    assert (escalation.concern, escalation.check_answer, escalation.urgent) == (
        "safeguarding",
        "yes",
        True,
    )
    await team.deliver()
    assert "possible abuse or someone unsafe" in team.desk.alerts()[-1].text


async def test_worry_for_someone_else_is_told_what_to_do_and_staff_check_in(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("my friend says she wants to kill herself")
    assert "If they are in danger right now, call 999" in patient.text
    assert "They can't contact the person you are worried about" in patient.text
    assert PLAN_QUESTION not in patient.text
    (escalation,) = await escalations(runtime)
    assert (escalation.concern, escalation.urgent) == ("someone-else", False)
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert alert.text.startswith("Worried about someone else")
    assert "someone the patient knows is at risk" in alert.text


async def test_their_own_crisis_after_worry_for_someone_else_is_urgent_about_them(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("my friend says she wants to kill herself")
    await patient.say("and to be honest I want to die too")
    (escalation,) = await escalations(runtime)
    assert (escalation.concern, escalation.urgent) == ("self", True)
    assert PLAN_QUESTION in patient.text


# --- one alert per crisis, kept together -------------------------------------------------------


async def test_more_crisis_words_soon_after_update_the_same_alert(
    patient: Chat, team: Team, runtime: Runtime, clock: ManualClock
) -> None:
    await patient.say("I want to kill myself")
    await team.deliver()
    clock.advance(timedelta(hours=2))
    await patient.say("I want to kill myself")
    await team.deliver()
    (escalation,) = await escalations(runtime)
    assert (escalation.details or "").count("I want to kill myself") == 1
    alerts = team.desk.alerts()
    assert len(alerts) == 2  # the first, and the update to it
    assert alerts[-1].text.startswith("Report updated: URGENT RISK")


async def test_a_crisis_the_next_day_is_a_new_alert(
    patient: Chat, team: Team, runtime: Runtime, clock: ManualClock
) -> None:
    await patient.say("I want to kill myself")
    clock.advance(timedelta(hours=13))
    await patient.say("I want to end my life")
    assert len(await escalations(runtime)) == 2


async def test_a_crisis_after_staff_resolved_the_last_is_a_new_alert(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("I want to kill myself")
    await team.deliver()
    await team.press(1, "Resolve")
    await team.staff.say("Spoke to them, safe for now.")
    await patient.say("I want to kill myself")
    assert len(await escalations(runtime)) == 2


async def test_no_name_in_the_staff_group_only_the_reference(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("I want to kill myself")
    await team.deliver()
    for text in team.desk.texts(STAFF_GROUP):
        assert "Robin" not in text and "kill" not in text
    assert "Reference: P2" in team.desk.alerts()[0].text
    await team.press(1, "Show details")
    await team.deliver()
    (details,) = team.desk.texts("staff-1")  # in private, to the member of staff who asked
    assert "Robin" in details and "kill myself" in details


# --- people the programme has finished with, or not yet met ------------------------------------


async def test_a_discharged_patient_is_pointed_to_their_gp_and_staff_know(
    patient: Chat, team: Team, runtime: Runtime, clock: ManualClock
) -> None:
    async with runtime.sessions() as session, session.begin():
        person = await session.scalar(select(Person).where(Person.display_name == "Robin"))
        assert person is not None
        person.discharged_at = clock.now()
    await patient.say("I want to kill myself")
    assert CRISIS_LINE in patient.text
    assert "You have finished the programme, so they may not be able to follow this up" in (
        patient.text
    )
    assert "please also tell your GP" in patient.text
    await team.deliver()
    assert "(discharged: finished the programme)" in team.desk.alerts()[0].text


async def test_someone_joining_in_crisis_gets_numbers_and_staff_an_urgent_notice(
    team: Team, runtime: Runtime
) -> None:
    joining, invite = await at_name_step(runtime, user_id="joining-1")
    await joining.say("I want to end my life")
    assert CRISIS_LINE in joining.text
    assert await count(runtime, Escalation) == 0  # no record of someone who has not joined
    await team.deliver()
    (notice,) = [t for t in team.desk.texts(STAFF_GROUP) if t.startswith("Possible risk")]
    assert invite.code in notice and "check on the person you gave this invite to" in notice
    assert "end my life" not in notice


async def test_a_stranger_with_ambiguous_words_gets_the_numbers_once(runtime: Runtime) -> None:
    stranger = Chat(runtime, user_id="stranger-3")
    await stranger.say("this pain is killing me")
    assert stranger.text.count("116 123") == 1
    assert await count(runtime, Escalation) == 0


# --- a report that says distress is severe -----------------------------------------------------


async def test_severe_distress_in_a_report_asks_the_question_first(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("Feeling distressed")
    await patient.press("8")
    assert "That is a lot to carry" in patient.text
    assert CHECK_QUESTION in patient.text
    await patient.say("yes")
    (escalation,) = await escalations(runtime)
    assert (escalation.check_reason, escalation.check_answer, escalation.urgent) == (
        "distress",
        "yes",
        True,
    )
    await team.deliver()
    assert "Risk: severe distress" in team.desk.alerts()[0].text


async def test_severe_distress_answered_no_goes_on_with_the_report(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("Feeling distressed")
    await patient.press("9")
    await patient.press("No")
    assert "short note to the team" in patient.text
    assert patient.labels  # the report's next question, with its buttons
    (escalation,) = await escalations(runtime)
    assert (escalation.check_answer, escalation.urgent) == ("no", False)


async def test_moderate_distress_is_not_asked(patient: Chat, runtime: Runtime) -> None:
    await patient.command("report")
    await patient.press("Feeling distressed")
    await patient.press("6")
    assert CHECK_QUESTION not in patient.text


async def test_a_yes_during_a_report_ends_the_report_and_staff_have_it_all(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("Both")
    await patient.press("9")
    await patient.say("yes")
    assert CRISIS_LINE in patient.text and PLAN_QUESTION in patient.text
    assert "weakness" not in patient.text.lower()  # no red-flag checklist on top of it
    await patient.say("no")
    assert "contact you" not in patient.text  # the team will: no question about it
    (escalation,) = await escalations(runtime)
    assert (escalation.severity, escalation.complete, escalation.urgent) == (9, True, True)
    assert (escalation.check_answer, escalation.plan_answer) == ("yes", "no")
    await team.deliver()
    latest = team.desk.alerts()[-1]
    assert "Severity: 9 out of 10" in latest.text and "not finished" not in latest.text


# --- more than one concern in one message --------------------------------------------------


async def test_abuse_and_a_wish_to_die_are_both_answered_and_both_reach_staff(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("my husband hits me and I want to die")
    text = patient.text
    assert "0808 2000 247" in text and "Please get help now" in text and CRISIS_LINE in text
    assert text.count("Thank you for telling me") <= 1
    assert PLAN_QUESTION in text  # their own life comes first
    (escalation,) = await escalations(runtime)
    assert (escalation.concern, escalation.other_concerns, escalation.urgent) == (
        "self",
        "safeguarding",
        True,
    )
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert alert.text.startswith("URGENT RISK")
    assert "Also: abuse, violence or someone unsafe" in alert.text


async def test_feeling_the_same_as_someone_at_risk_is_about_the_writer_too(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("my son is suicidal and honestly I feel the same")
    assert "For the person you are worried about" in patient.text
    assert "Please get help now" in patient.text and PLAN_QUESTION in patient.text
    (escalation,) = await escalations(runtime)
    assert (escalation.concern, escalation.other_concerns, escalation.urgent) == (
        "self",
        "someone-else",
        True,
    )


async def test_abuse_then_a_wish_to_die_keeps_both_concerns(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("he hit me")
    await patient.say("I want to die")
    (escalation,) = await escalations(runtime)
    assert (escalation.concern, escalation.other_concerns) == ("self", "safeguarding")
    await team.deliver()
    assert "Also: abuse, violence or someone unsafe" in team.desk.alerts()[-1].text


async def test_abuse_after_a_no_to_the_question_is_not_asked_how(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say(AMBIGUOUS)
    await patient.say("no")
    await patient.say("he hit me again")
    assert "0808 2000 247" in patient.text and "check it is safe to talk" in patient.text
    assert PLAN_QUESTION not in patient.text
    (escalation,) = await escalations(runtime)
    assert "safeguarding" in (escalation.other_concerns or "") and escalation.urgent


async def test_crisis_words_after_a_crisis_in_a_report_join_the_same_alert(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("9")  # severe: the report's escalation is open already
    await patient.press("No, none of these")
    await patient.say("I want to kill myself")
    await patient.say("I really want to die")
    (escalation,) = await escalations(runtime)
    assert (escalation.source, escalation.risk) == ("report", "crisis")
