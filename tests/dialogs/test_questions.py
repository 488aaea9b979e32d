"""Questions for the doctor: sending, seeing, changing and withdrawing them, the deadline,
late questions for the team, nudges, and every bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Conversation, DoctorQuestion, OutboxMessage, Person, ScheduledMessage
from bot.services.planner import QA_INVITE, QA_REMINDER
from dialogs import settings as settings_dialog
from tests.escalation_support import Team
from tests.helpers import Chat, make_cohort
from tests.scheduler.support import Recorder, dispatcher, enrol, run_until, scheduled

# The group starts Monday 7 December 2026; the session is on day 10, Tuesday 22 December, at
# 11:30 (GMT). Questions open on Thursday 17 December at 10:00 and close 24 hours before it.
OPENS = datetime(2026, 12, 17, 10, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 12, 21, 11, 30, tzinfo=UTC)
SESSION = datetime(2026, 12, 22, 11, 30, tzinfo=UTC)
WHILE_OPEN = datetime(2026, 12, 18, 12, 0, tzinfo=UTC)
AFTER_DEADLINE = DEADLINE + timedelta(minutes=1)


async def stored(runtime: Runtime) -> list[DoctorQuestion]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(DoctorQuestion).order_by(DoctorQuestion.id)))


async def staff_rows(runtime: Runtime, kind: str) -> list[OutboxMessage]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


async def ask(patient: Chat, text: str, share: str = "Ask anonymously") -> None:
    """Send one question from the overview."""
    await patient.command("question")
    label = "Ask another question" if "Ask another question" in patient.labels else "Ask a question"
    await patient.press(label)
    await patient.say(text)
    await patient.press(share)


async def test_a_question_can_be_sent_any_time_after_joining(
    patient: Chat, runtime: Runtime
) -> None:
    # Before the programme starts, well before the invitation five days ahead.
    await patient.command("question")
    assert "Tuesday 22 December at 11:30" in patient.text
    assert "until Monday 21 December at 11:30" in patient.text
    assert "come back" not in patient.text and "when they open" not in patient.text
    await patient.press("Ask a question")
    await patient.say("Can I keep doing my swimming during the programme?")
    await patient.press("Ask anonymously")
    (question,) = await stored(runtime)
    assert question.text == "Can I keep doing my swimming during the programme?"


async def test_an_emoji_only_question_is_not_taken_as_one(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(WHILE_OPEN)
    await patient.command("question")
    await patient.press("Ask a question")
    for text in ("🤔", "😩😩 ?", "..."):
        await patient.say(text)
        assert "I couldn't add that" in patient.text
    assert await stored(runtime) == []


async def test_send_several_list_edit_and_withdraw(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(WHILE_OPEN)
    await patient.press("Questions for the doctor", await patient.command("menu"))
    assert "until Monday 21 December at 11:30" in patient.text
    await patient.press("Ask a question")
    assert "up to 500 characters" in patient.text
    await patient.say("Will my pain ever go away?")
    assert patient.labels == ["Say my first name with it", "Ask anonymously"]
    await patient.press("Say my first name with it")
    assert "on the list for the doctor, with your first name" in patient.text
    await patient.press("Ask another question")
    await patient.say("Can I drive on my medication?")
    await patient.press("Ask anonymously")
    assert "asked anonymously" in patient.text
    first, second = await stored(runtime)
    assert (first.share_name, second.share_name) == (True, False)
    assert first.status == second.status == "open" and not first.late

    replies = await patient.press("See my questions")
    assert "1. Will my pain ever go away?" in replies[1].text
    assert "Asked with your first name" in replies[1].text
    assert "2. Can I drive on my medication?" in replies[2].text
    await patient.press("Change it", [replies[1]])
    assert '"Will my pain ever go away?"' in patient.text
    await patient.say("Will my pain ever go away completely?")
    await patient.press("Ask anonymously")
    assert "Your question is changed, asked anonymously" in patient.text
    await patient.press("Withdraw it", [replies[2]])
    assert "Withdraw this question?" in patient.text
    await patient.press("Yes, withdraw it")
    assert "off the list. You still have 1 on it." in patient.text
    first, second = await stored(runtime)
    assert (first.text, first.share_name) == ("Will my pain ever go away completely?", False)
    assert second.status == "withdrawn"


async def test_no_keep_it_changes_nothing(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(WHILE_OPEN)
    await ask(patient, "Should I have another scan?")
    replies = await patient.press("See my questions")
    await patient.press("Withdraw it", [replies[1]])
    await patient.press("No, keep it")
    assert "1. Should I have another scan?" in patient.text
    assert [q.status for q in await stored(runtime)] == ["open"]


async def test_text_over_the_limit_gets_a_kind_reprompt(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(WHILE_OPEN)
    await patient.command("question")
    await patient.press("Ask a question")
    await patient.say("x" * 501)
    assert "up to 500 characters" in patient.text and "A shorter version is fine" in patient.text
    assert await stored(runtime) == []
    await patient.say("y" * 500)  # exactly the limit is fine
    await patient.press("Ask anonymously")
    (question,) = await stored(runtime)
    assert len(question.text) == 500


async def test_empty_text_gets_a_kind_reprompt(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(WHILE_OPEN)
    await patient.command("question")
    await patient.press("Ask a question")
    await patient.say("   \n  ")
    assert "I couldn't add that" in patient.text
    assert "What would you like to ask the doctor?" in patient.text
    assert await stored(runtime) == []


async def test_after_the_deadline_questions_are_closed_and_a_late_one_goes_to_the_team(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(WHILE_OPEN)
    await ask(patient, "Will my pain ever go away?")
    clock.set(AFTER_DEADLINE)
    await patient.command("question")
    assert "closed on Monday 21 December at 11:30" in patient.text
    assert "Your 1 question will be asked" in patient.text
    await patient.press("Pass a question to the team")
    await patient.say("What about my sleep?")
    assert "passed your question to the team" in patient.text
    on_list, late = await stored(runtime)
    assert not on_list.late
    assert late.late and late.text == "What about my sleep?" and not late.share_name
    (notice,) = await staff_rows(runtime, "question_late")
    assert notice.chat_id == "staff"
    assert "after questions for the doctor closed" in notice.text
    assert "sleep" not in notice.text  # the patient's words never go to the group


async def test_the_deadline_passing_while_writing_offers_to_pass_it_on(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(DEADLINE - timedelta(minutes=2))
    await patient.command("question")
    await patient.press("Ask a question")
    await patient.say("Is it safe to exercise when it hurts?")
    clock.set(AFTER_DEADLINE)
    await patient.press("Say my first name with it")
    assert "closed while you were writing" in patient.text
    assert await stored(runtime) == []
    await patient.press("Yes, pass it on")
    (late,) = await stored(runtime)
    assert late.late and late.text == "Is it safe to exercise when it hurts?"
    assert len(await staff_rows(runtime, "question_late")) == 1


async def test_declining_to_pass_it_on_sends_nothing(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(DEADLINE - timedelta(minutes=2))
    await patient.command("question")
    await patient.press("Ask a question")
    await patient.say("Is it safe to exercise?")
    clock.set(AFTER_DEADLINE)
    await patient.press("Ask anonymously")
    await patient.press("No, thank you")
    assert "nothing has been sent" in patient.text
    assert await stored(runtime) == []
    assert await staff_rows(runtime, "question_late") == []


async def test_changing_or_withdrawing_after_the_deadline_changes_nothing(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(WHILE_OPEN)
    await ask(patient, "Will my pain ever go away?")
    overview = await patient.command("question")
    listed = await patient.press("See my questions")
    clock.set(AFTER_DEADLINE)
    await patient.press("Change it", listed)
    assert "closed on Monday 21 December" in patient.text
    await patient.press("Withdraw it", listed)
    assert "closed on Monday 21 December" in patient.text
    await patient.press("Ask another question", overview)  # an old button
    assert "closed on Monday 21 December" in patient.text
    (question,) = await stored(runtime)
    assert (question.status, question.text) == ("open", "Will my pain ever go away?")


async def test_an_edit_finished_after_the_deadline_keeps_the_first_words(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(WHILE_OPEN)
    await ask(patient, "Will my pain ever go away?")
    listed = await patient.press("See my questions")
    await patient.press("Change it", listed)
    await patient.say("Will it go away for good?")
    clock.set(AFTER_DEADLINE)
    await patient.press("Ask anonymously")
    assert "stays on the list as you first wrote it" in patient.text
    (question,) = await stored(runtime)
    assert question.text == "Will my pain ever go away?"


async def test_stale_buttons_are_refused_kindly(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(WHILE_OPEN)
    await ask(patient, "Will my pain ever go away?")
    listed = await patient.press("See my questions")
    await patient.press("Withdraw it", listed)
    await patient.press("Yes, withdraw it")
    await patient.press("Change it", listed)  # the question was withdrawn meanwhile
    assert "no longer on your list" in patient.text
    await patient.event(kind="button", payload="q:wdy:999")  # not theirs / not there
    assert "no longer on your list" in patient.text
    await patient.event(kind="button", payload="q:edit:abc")
    assert "from an earlier message" in patient.text
    assert [q.status for q in await stored(runtime)] == ["withdrawn"]


async def test_an_old_share_button_is_not_used(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(WHILE_OPEN)
    await patient.command("question")
    await patient.press("Ask a question")
    share = await patient.say("Can I drive?")
    await patient.press("Ask anonymously", share)
    await patient.press("Ask another question")
    await patient.say("Can I swim?")
    await patient.press("Say my first name with it", share)  # the first question's prompt
    assert "from an earlier message" in patient.text
    assert len(await stored(runtime)) == 1


async def test_someone_who_is_not_a_patient_cannot_send_questions(
    team: Team, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(WHILE_OPEN)
    await team.staff.command("question")
    assert "I don't know that command" in team.staff.text
    await team.staff.event(kind="button", payload="m:question")
    assert "for patients on the programme" in team.staff.text
    await team.staff.event(kind="button", payload="q:ask")
    assert "for patients on the programme" in team.staff.text
    stranger = Chat(runtime, user_id="stranger-1")
    await stranger.command("question")
    assert "I can only help people taking part in the programme" in stranger.text
    assert await stored(runtime) == []


async def test_a_group_with_no_session_left_gets_a_kind_explanation(
    patient: Chat, clock: ManualClock
) -> None:
    clock.set(SESSION + timedelta(days=1))
    await patient.command("question")
    assert "no doctor's question-and-answer session coming up" in patient.text
    assert patient.labels == ["Pass a question to the team"]


async def test_a_question_button_does_not_drop_another_form(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(WHILE_OPEN)
    await patient.command("settings")
    await patient.event(kind="button", payload="q:ask")
    assert "part way through something else" in patient.text
    async with runtime.sessions() as session:
        state = await session.scalar(select(Conversation))
        assert state is not None and state.dialog == settings_dialog.SETTINGS_FORM.name


async def test_ten_questions_is_the_most_one_patient_can_send(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(WHILE_OPEN)
    for number in range(10):
        await ask(patient, f"Question number {number} about pacing?")
    await patient.command("question")
    assert "as many as one person can send" in patient.text
    assert "Ask another question" not in patient.labels
    await patient.event(kind="button", payload="q:ask")
    assert "as many as one person can send" in patient.text
    assert len(await stored(runtime)) == 10


async def test_the_invitation_and_the_reminder_only_to_those_who_sent_none(
    runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime)
    asker = await enrol(runtime, cohort, "asker", name="Robin")
    await enrol(runtime, cohort, "quiet", name="Alex")
    rows = await scheduled(runtime, asker, slots=(QA_INVITE, QA_REMINDER))
    assert [(r.slot, r.due_at) for r in rows] == [
        (QA_INVITE, OPENS),
        (QA_REMINDER, DEADLINE - timedelta(days=2)),
    ]
    recorder = Recorder(clock)
    worker = dispatcher(runtime, recorder)
    await run_until(runtime, clock, worker, OPENS + timedelta(minutes=1))
    (invite, _at) = next(
        (reply, at) for reply, at in recorder.to("asker") if "send questions" in reply.text
    )
    assert "Tuesday 22 December at 11:30" in invite.text
    assert "until Monday 21 December at 11:30" in invite.text
    labels = [b.label for row in invite.buttons for b in row]
    assert labels == ["Ask a question", "Questions for the doctor"]

    chat = Chat(runtime, user_id="asker")
    await chat.event(kind="button", payload=invite.buttons[0][0].payload)
    await chat.say("Will my pain ever go away?")
    await chat.press("Ask anonymously")
    await run_until(runtime, clock, worker, DEADLINE - timedelta(days=2, minutes=-1))
    reminded = [r.text for r, _ in recorder.to("quiet") if "gentle reminder" in r.text]
    assert len(reminded) == 1 and "close on Monday 21 December at 11:30" in reminded[0]
    assert not [r for r, _ in recorder.to("asker") if "gentle reminder" in r.text]
    async with runtime.sessions() as session:
        skipped = await session.scalar(
            select(ScheduledMessage).where(
                ScheduledMessage.person_id == asker, ScheduledMessage.slot == QA_REMINDER
            )
        )
        assert skipped is not None and (skipped.status, skipped.reason) == (
            "skipped",
            "not_needed",
        )


async def test_pain_words_in_a_question_are_kept_and_a_report_is_one_tap_away(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(WHILE_OPEN)
    await patient.command("question")
    await patient.press("Ask a question")
    await patient.say("What should I do when I have a flare up?")
    assert "I have kept that as your answer." in patient.text
    assert "More pain or distress" in patient.labels
    await patient.press("Ask anonymously")
    assert [q.text for q in await stored(runtime)] == ["What should I do when I have a flare up?"]


async def test_a_notice_about_a_discharged_patient_says_they_were_discharged(
    patient: Chat, runtime: Runtime, clock: ManualClock
) -> None:
    async with runtime.sessions() as session, session.begin():
        person = await session.scalar(select(Person).where(Person.role == "patient"))
        assert person is not None
        person.discharged_at = clock.now()
    clock.set(AFTER_DEADLINE)
    await patient.command("question")
    await patient.press("Pass a question to the team")
    await patient.say("Can I come back to the programme one day?")
    (notice,) = await staff_rows(runtime, "question_late")
    assert f"P{person.id} (discharged)" in notice.text
