"""The thought challenge: planning, every bad input, nudges, reflecting, the card and sharing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Conversation, OutboxMessage, ScheduledMessage, ThoughtChallenge
from bot.services.challenges import REFLECT_SLOT
from bot.services.planner import CHALLENGE_NUDGE
from dialogs.challenge import percent, when_text
from tests.escalation_support import Team, escalations
from tests.helpers import Chat, enrol_patient
from tests.scheduler.support import Recorder, dispatcher, on, run_until

THOUGHT = "If I walk to the shops, I will be in bed for two days"
PRACTICAL = "Walk to the corner shop on Saturday at 10"
SATURDAY = date(2026, 11, 28)
SUNDAY_BEFORE_DAY_1 = date(2026, 12, 6)


async def plan(chat: Chat, when: str = "Sat 10:00", belief: str = "75% - mostly") -> None:
    """Plan a challenge from /challenge to the nudge time."""
    await chat.command("challenge")
    if "Plan a new one" in chat.labels:  # another one awaits its reflection
        await chat.press("Plan a new one")
    await chat.say(THOUGHT)
    await chat.press(belief)
    await chat.say(PRACTICAL)
    await chat.say("My back will seize up and I will have to lie down")
    await chat.say("If it rains, I will go on Sunday instead")
    await chat.say(when)


async def saved(runtime: Runtime) -> list[ThoughtChallenge]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(ThoughtChallenge).order_by(ThoughtChallenge.id)))


async def nudges(runtime: Runtime) -> list[ScheduledMessage]:
    async with runtime.sessions() as session:
        return list(
            await session.scalars(
                select(ScheduledMessage)
                .where(ScheduledMessage.challenge_id.is_not(None))
                .order_by(ScheduledMessage.due_at)
            )
        )


async def dialog(runtime: Runtime, user_id: str = "patient-1") -> str | None:
    async with runtime.sessions() as session:
        state = await session.scalar(
            select(Conversation).where(Conversation.channel_user_id == user_id)
        )
        return state.dialog if state is not None else None


async def reflect(chat: Chat, belief_after: str = "30%") -> None:
    """Answer every reflection question (the form already started)."""
    await chat.say("I walked there and back, and rested after")
    await chat.press("Partly")
    await chat.say("I was sore but I was not in bed")
    await chat.say("If I pace the walk, I can manage it")
    await chat.say(belief_after)


async def test_planning_step_by_step_saves_the_challenge_and_its_nudges(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    await chat.press("Thought challenge")
    assert "small practical you plan for yourself" in chat.text
    assert "thought or prediction you would like to test" in chat.text
    await chat.say(THOUGHT)
    assert f'Your thought: "{THOUGHT}"' in chat.text
    assert chat.labels == [
        "0% - not at all",
        "25% - a little",
        "50% - partly",
        "75% - mostly",
        "100% - completely",
    ]
    await chat.press("75% - mostly")
    assert "What will you do to test" in chat.text and THOUGHT in chat.text
    await chat.say(PRACTICAL)
    assert "What do you expect will happen" in chat.text
    await chat.say("My back will seize up")
    assert "What might get in the way" in chat.text and chat.labels == ["Skip"]
    await chat.press("Skip")
    assert "When would you like a nudge" in chat.text
    assert chat.labels == ["This evening", "Tomorrow morning", "Tomorrow evening", "No reminder"]
    await chat.say("Sat 10:00")
    assert "Your thought challenge is saved" in chat.text
    assert "I will nudge you at 10:00 on Saturday 28 November" in chat.text
    # The evening before day 1 (Monday 7 December), at their evening time: ready for 09:45.
    assert "I will ask how it went at 18:00 on Sunday 6 December" in chat.text
    assert chat.labels == ["Reflect now"]
    (challenge,) = await saved(runtime)
    assert (challenge.thought, challenge.belief_before, challenge.status) == (
        THOUGHT,
        75,
        "planned",
    )
    assert (challenge.practical, challenge.expected) == (PRACTICAL, "My back will seize up")
    assert challenge.obstacles is None and challenge.shared_at is None
    nudge, reflection = await nudges(runtime)
    assert (nudge.slot, nudge.event_id, nudge.challenge_id) == (CHALLENGE_NUDGE, None, challenge.id)
    assert nudge.due_at == on(SATURDAY, 10, 0, runtime) == challenge.nudge_at
    assert nudge.send_until == nudge.due_at + timedelta(hours=3)
    assert (nudge.event_date, nudge.status) == (SATURDAY, "planned")
    assert reflection.slot == REFLECT_SLOT and reflection.event_id is None
    assert reflection.due_at == on(SUNDAY_BEFORE_DAY_1, 18, 0, runtime) == challenge.reflect_at
    assert reflection.event_date == SUNDAY_BEFORE_DAY_1
    assert await dialog(runtime) is None


@pytest.mark.parametrize("typed", ["150", "-5", "lots", "70.5", "101%"])
async def test_a_belief_that_is_not_0_to_100_gets_a_kind_re_prompt(
    runtime: Runtime, typed: str
) -> None:
    chat = await enrol_patient(runtime)
    await chat.command("challenge")
    await chat.say(THOUGHT)
    await chat.say(typed)
    assert "Please give a whole number from 0 to 100" in chat.text
    assert "How strongly do you believe it" in chat.text
    assert "75% - mostly" in chat.labels  # asked again with its buttons
    assert await dialog(runtime) == "ch_belief"
    await chat.say("70%")  # typed with a percent sign: fine
    assert "What will you do to test" in chat.text
    await chat.say(PRACTICAL)
    await chat.say("It will hurt")
    await chat.say("Rain: Sunday")
    await chat.press("No reminder")
    (challenge,) = await saved(runtime)
    assert challenge.belief_before == 70


def test_percent_reads_typed_ratings() -> None:
    assert [percent(t) for t in ("0", "70", " 70 % ", "100 percent", "55 per cent")] == [
        "0",
        "70",
        "70",
        "100",
        "55",
    ]
    assert [percent(t) for t in ("150", "-5", "lots", "", "7O", "٣")] == [None] * 6


async def test_text_over_the_limit_and_an_empty_answer_are_asked_again(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    await chat.command("challenge")
    await chat.say("x" * 501)
    assert "up to 500 characters" in chat.text
    assert "thought or prediction you would like to test" in chat.text
    await chat.say("   ")
    assert "I need a few words here" in chat.text
    await chat.say("x" * 500)  # exactly the limit is fine
    assert "How strongly do you believe it" in chat.text
    await chat.press("50% - partly")
    await chat.say("y" * 501)
    assert "up to 500 characters" in chat.text and "What will you do" in chat.text
    assert await saved(runtime) == []


async def test_a_nudge_time_in_the_past_or_unreadable_is_asked_again(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)  # it is Thursday 26 November, 10:00
    await plan(chat, when="today 9am")
    assert "09:00 on Thursday 26 November has already gone" in chat.text
    assert "When would you like a nudge" in chat.text
    assert "This evening" in chat.labels  # fresh buttons with the question
    await chat.say("whenever")
    assert "couldn't read that as a time" in chat.text
    await chat.say("Thu 9:00")  # a Thursday time that has gone today means next Thursday
    assert "I will nudge you at 09:00 on Thursday 3 December" in chat.text
    assert len(await saved(runtime)) == 1


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("tomorrow 4pm", "tomorrow@16:00"),
        ("4 pm tomorrow", "tomorrow@16:00"),
        ("Sat 10:00", "sat@10:00"),
        ("on Saturday at 10am", "sat@10:00"),
        ("18:30", "@18:30"),
        ("This evening", "evening"),
        ("no reminder", "none"),
        ("tomorrow", None),
        ("sunny 4pm", None),
        ("tomorrow 25:00", None),
    ],
)
def test_when_text_reads_days_and_times(typed: str, expected: str | None) -> None:
    assert when_text(typed) == expected


async def test_a_time_in_quiet_hours_is_moved_and_the_patient_is_told(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)  # quiet hours 21:00 to 07:30
    await plan(chat, when="Sat 22:00")
    assert "22:00 is in your quiet hours" in chat.text
    assert "your nudge will come at 20:59 on Saturday 28 November instead" in chat.text
    nudge, _reflection = await nudges(runtime)
    assert nudge.due_at == on(SATURDAY, 20, 59, runtime)
    await plan(chat, when="tomorrow 6am")
    assert "your nudge will come at 07:30 on Friday 27 November instead" in chat.text


async def test_planned_in_the_quiet_night_for_later_that_night_no_nudge_is_promised(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)  # quiet hours 21:00 to 07:30
    clock.set(datetime(2026, 11, 26, 22, 30, tzinfo=UTC))
    await plan(chat, when="23:00")
    assert "23:00 is in your quiet hours, so I can't send a nudge for it." in chat.text
    assert "nudge will come" not in chat.text
    (reflection,) = await nudges(runtime)  # only the reflection prompt is planned
    assert reflection.slot == REFLECT_SLOT and reflection.due_at > clock.now()


async def test_no_reminder_plans_only_the_reflection(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    await plan(chat, when="No reminder")
    assert "You chose no reminder" in chat.text
    (reflection,) = await nudges(runtime)
    assert reflection.slot == REFLECT_SLOT
    assert reflection.due_at == on(SUNDAY_BEFORE_DAY_1, 18, 0, runtime)
    (challenge,) = await saved(runtime)
    assert challenge.nudge_at is None


async def test_the_nudge_arrives_then_reflection_card_and_the_later_prompt_is_not_sent(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    await plan(chat)
    recorder = Recorder(clock)
    worker = dispatcher(runtime, recorder)
    await run_until(runtime, clock, worker, on(SATURDAY, 10, 5, runtime))
    ((nudge, sent_at),) = recorder.to(chat.user_id)
    assert sent_at == on(SATURDAY, 10, 0, runtime)
    assert nudge.text.startswith("Hello Robin. It is time for your thought challenge")
    assert PRACTICAL in nudge.text and THOUGHT in nudge.text
    await chat.press("I've done it: reflect now", [nudge])
    for question in ("What happened", "Did your prediction come true", "What did you learn"):
        # The original thought and belief stay in view throughout.
        assert f'Your thought: "{THOUGHT}" (you believed it 75%)' in chat.text
        assert question in chat.text
        if question.startswith("Did"):
            assert chat.labels == ["Yes, it came true", "Partly", "No, it didn't"]
            await chat.press("Partly")
        else:
            await chat.say("I walked there and back, and rested after")
    assert "more balanced thought" in chat.text and THOUGHT in chat.text
    await chat.say("If I pace the walk, I can manage it")
    assert "How strongly do you believe the original thought now" in chat.text
    assert THOUGHT in chat.text and "25% - a little" in chat.labels
    await chat.say("lots")
    assert "Please give a whole number from 0 to 100" in chat.text
    await chat.say("30%")
    assert "Here is your card for the 09:45 feedback session" in chat.text
    for line in (
        f'Thought: "{THOUGHT}"',
        "Belief before: 75%",
        f"What I planned: {PRACTICAL}",  # the feedback session asks what was planned
        "What I expected: My back will seize up and I will have to lie down",
        "Belief after: 30%",
        "What happened: I walked there and back, and rested after",
        "A more balanced thought: If I pace the walk, I can manage it",
    ):
        assert line in chat.text
    assert chat.labels == ["Share with the team", "See past challenges"]
    (challenge,) = await saved(runtime)
    assert (challenge.status, challenge.came_true, challenge.belief_after) == (
        "reflected",
        "partly",
        30,
    )
    # Sunday evening's prompt is no longer needed: recorded as skipped, not sent.
    await run_until(runtime, clock, worker, on(SUNDAY_BEFORE_DAY_1, 18, 5, runtime))
    assert not any(
        "How did your thought challenge go" in r.text for r, _ in recorder.to("patient-1")
    )
    _nudge, reflection = await nudges(runtime)
    assert (reflection.status, reflection.reason) == ("skipped", "not_needed")


async def test_the_reflection_prompt_arrives_when_not_yet_reflected(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    await plan(chat, when="No reminder")
    recorder = Recorder(clock)
    await run_until(
        runtime, clock, dispatcher(runtime, recorder), on(SUNDAY_BEFORE_DAY_1, 18, 1, runtime)
    )
    prompts = [
        r for r, _ in recorder.to(chat.user_id) if "How did your thought challenge go" in r.text
    ]
    assert len(prompts) == 1 and THOUGHT in prompts[0].text
    await chat.press("Reflect now", prompts)
    assert "What happened when you did your practical" in chat.text


async def test_paused_reminders_hold_back_the_nudge(runtime: Runtime, clock: ManualClock) -> None:
    chat = await enrol_patient(runtime)
    await plan(chat)
    await chat.command("settings")
    await chat.press("Pause reminders")
    await chat.press("For two weeks")
    recorder = Recorder(clock)
    await run_until(runtime, clock, dispatcher(runtime, recorder), on(SATURDAY, 11, 0, runtime))
    assert not any("thought challenge" in r.text for r, _ in recorder.to(chat.user_id))
    nudge, _reflection = await nudges(runtime)
    assert (nudge.status, nudge.reason) == ("skipped", "paused")


async def test_an_old_planning_button_is_recognised_as_stale(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    await chat.command("challenge")
    await chat.say(THOUGHT)
    belief_prompt = chat.replies
    await chat.press("25% - a little")
    await chat.say(PRACTICAL)
    await chat.press("100% - completely", belief_prompt)
    assert "That button is from an earlier message" in chat.text
    assert "What do you expect will happen" in chat.text  # where they really are
    await chat.say("It will hurt")
    await chat.press("Skip")
    await chat.press("No reminder")
    (challenge,) = await saved(runtime)
    assert challenge.belief_before == 25


async def test_a_button_for_someone_elses_challenge_does_nothing(runtime: Runtime) -> None:
    robin = await enrol_patient(runtime)
    await plan(robin)
    (challenge,) = await saved(runtime)
    alex = await enrol_patient(runtime, user_id="patient-2", name="Alex")
    for action in ("r", "v", "s", "y"):
        await alex.event(kind="button", payload=f"c:{action}:{challenge.id}")
        assert "can't find that thought challenge" in alex.text
        assert THOUGHT not in alex.text
    assert await dialog(runtime, "patient-2") is None
    (unchanged,) = await saved(runtime)
    assert unchanged.shared_at is None and unchanged.status == "planned"
    await alex.event(kind="button", payload="c:r:not-a-number")
    assert "can't find that thought challenge" in alex.text


async def test_cancel_part_way_saves_nothing_and_keeps_saved_challenges(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    await chat.command("challenge")
    await chat.say(THOUGHT)
    await chat.press("50% - partly")
    await chat.say(PRACTICAL)
    await chat.command("cancel")
    assert "I've stopped" in chat.text
    assert "has not been saved" in chat.text and "still kept" not in chat.text
    assert await saved(runtime) == [] and await nudges(runtime) == []
    await chat.command("challenge")  # nothing awaits: a fresh plan starts
    assert "thought or prediction you would like to test" in chat.text
    await chat.command("cancel")
    await plan(chat)
    # Part way through reflecting: the saved challenge stays, still awaiting its reflection.
    await chat.command("challenge")
    await chat.press("Reflect now")
    await chat.say("I went")
    await chat.command("cancel")
    (challenge,) = await saved(runtime)
    assert (challenge.status, challenge.happened) == ("planned", None)
    await chat.command("challenge")
    assert "waiting for your reflection" in chat.text
    assert chat.labels == ["Reflect now", "Plan a new one", "See past challenges"]


async def test_crisis_words_while_planning_get_crisis_signposting(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.command("challenge")
    await patient.say(THOUGHT)
    await patient.press("50% - partly")
    await patient.say("I want to kill myself")
    assert "116 123" in patient.text and "999" in patient.text
    (escalation,) = await escalations(runtime)
    assert escalation.risk == "crisis"
    assert await saved(runtime) == []
    assert await dialog(runtime) is None  # not asked the next planning question


async def test_pain_words_in_an_answer_are_kept_and_a_report_offered(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    await chat.command("challenge")
    await chat.say("If I do the hoovering I will be in a lot of pain")
    assert "kept that as your answer" in chat.text
    assert "More pain or distress" in chat.labels
    assert "How strongly do you believe it" in chat.text
    assert await dialog(runtime) == "ch_belief"
    await chat.press("More pain or distress")
    assert "What is happening?" in chat.text  # the report is one tap away


async def test_awaiting_list_card_and_sharing_only_when_chosen(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    await plan(chat)
    await chat.command("challenge")
    await chat.press("Reflect now")
    await reflect(chat)
    async with runtime.sessions() as session:
        shared = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "challenge_shared")
        )
        assert list(shared) == []  # nothing reaches staff unless chosen
    await plan(chat, when="tomorrow 4pm")
    await chat.command("challenge")
    await chat.press("See past challenges")
    assert "1. Thursday 26 November" in chat.text and "Not reflected on yet" in chat.text
    assert "Belief 75% before, 30% after" in chat.text
    assert chat.labels == ["Reflect on number 1", "Card for number 2", "Plan a new one"]
    await chat.press("Card for number 2")
    assert "Your thought challenge card" in chat.text
    await chat.press("Share with the team")
    assert "your first name and your reference P1" in chat.text
    await chat.press("No, keep it to myself")
    assert "stays private" in chat.text
    first, _second = await saved(runtime)
    assert first.shared_at is None
    await chat.press("See past challenges")
    await chat.press("Card for number 2")
    await chat.press("Share with the team")
    ask = chat.replies
    await chat.press("Yes, share it")
    assert "shared your card with the team" in chat.text
    async with runtime.sessions() as session:
        (notice,) = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "challenge_shared")
            )
        )
    assert notice.chat_id == "staff" and "shared by Robin (P1)" in notice.text
    assert "Belief before: 75%" in notice.text and "Belief after: 30%" in notice.text
    first, _second = await saved(runtime)
    assert first.shared_at == datetime.fromisoformat("2026-11-26T10:00:00+00:00")
    await chat.press("Yes, share it", ask)  # again, from the same message: not sent twice
    assert "already shared this card" in chat.text
    async with runtime.sessions() as session:
        found = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "challenge_shared")
        )
        assert len(list(found)) == 1
    await chat.press("See past challenges")
    await chat.press("Reflect on number 1")
    assert "What happened when you did your practical" in chat.text


async def test_reflect_on_one_already_reflected_shows_its_card(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    await plan(chat)
    confirmation = chat.replies
    await chat.press("Reflect now")
    await reflect(chat)
    await chat.press("Reflect now", confirmation)
    assert "already reflected on this thought challenge" in chat.text
    assert "Belief after: 30%" in chat.text
    assert await dialog(runtime) is None


async def test_a_challenge_button_while_in_another_form_asks_to_finish_it(
    runtime: Runtime,
) -> None:
    chat = await enrol_patient(runtime)
    await plan(chat)
    confirmation = chat.replies
    await chat.command("challenge")
    await chat.press("Plan a new one")
    await chat.say("Another thought")
    await chat.press("Reflect now", confirmation)
    assert "part way through something else" in chat.text
    assert "How strongly do you believe it" in chat.text  # the planning question again
    assert await dialog(runtime) == "ch_belief"


async def test_list_with_nothing_yet(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    await chat.event(kind="button", payload="c:l")
    assert "no thought challenges yet" in chat.text
    assert chat.labels == ["Plan a new one"]


async def test_the_reflection_prompt_moves_when_the_programme_day_moves(
    runtime: Runtime,
) -> None:
    from bot.db.models import Cohort
    from bot.services import calendar_changes

    chat = await enrol_patient(runtime)
    await plan(chat, when="No reminder")
    (reflection,) = await nudges(runtime)
    assert reflection.due_at == on(SUNDAY_BEFORE_DAY_1, 18, 0, runtime)
    async with runtime.sessions() as session, session.begin():
        cohort = await session.scalar(select(Cohort))
        assert cohort is not None
        await calendar_changes.move_and_tell(
            session,
            runtime.content,
            runtime.settings.tz,
            cohort,
            "day",
            1,
            date(2026, 12, 4),  # day 1 brought forward to Friday 4 December
            runtime.clock.now(),
        )
    (moved,) = await nudges(runtime)
    assert moved.due_at == on(date(2026, 12, 3), 18, 0, runtime)
    assert moved.event_date == date(2026, 12, 3)
    (challenge,) = await saved(runtime)
    assert challenge.reflect_at == moved.due_at


async def test_no_nudge_is_promised_while_paused_or_after_discharge(
    runtime: Runtime, clock: ManualClock
) -> None:
    from bot.db.models import Person

    chat = await enrol_patient(runtime)
    async with runtime.sessions() as session, session.begin():
        person = await session.scalar(select(Person))
        assert person is not None
        person.paused_at, person.paused_until = clock.now(), None
    await plan(chat)
    assert "Your reminders are paused, so the nudge won't come" in chat.text
    assert "I will nudge you" not in chat.text and "I will ask how it went" not in chat.text
    async with runtime.sessions() as session, session.begin():
        person = await session.scalar(select(Person))
        assert person is not None
        person.paused_at, person.discharged_at = None, clock.now()
    await plan(chat)
    assert "You have finished the programme, so I won't send reminders" in chat.text
    assert len(await saved(runtime)) == 2  # both saved: they can still reflect on them


async def test_this_evening_pressed_after_it_passed_is_asked_again_kindly(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)  # evening reminders at 18:00
    clock.set(datetime(2026, 11, 26, 17, 45, tzinfo=UTC))
    await chat.command("challenge")
    await chat.say(THOUGHT)
    await chat.press("75% - mostly")
    await chat.say(PRACTICAL)
    await chat.say("My back will seize up")
    await chat.press("Skip")
    shown = chat.replies
    assert "This evening" in chat.labels
    clock.set(datetime(2026, 11, 26, 18, 5, tzinfo=UTC))
    await chat.press("This evening", shown)
    assert "earlier message" not in chat.text
    assert "gone" in chat.text.lower() or "past" in chat.text.lower()
    assert "This evening" not in chat.labels  # offered again without it
    assert await saved(runtime) == []


async def test_tomorrow_morning_said_in_the_small_hours_is_this_morning(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)  # morning reminders at 07:45
    clock.set(datetime(2026, 11, 27, 0, 30, tzinfo=UTC))
    await plan(chat, when="Tomorrow morning")
    (challenge,) = await saved(runtime)
    assert challenge.nudge_at == datetime(2026, 11, 27, 7, 45, tzinfo=UTC)
    await plan(chat, when="tonight at 8pm")
    assert "I will nudge you at 20:00 on Friday 27 November" in chat.text
