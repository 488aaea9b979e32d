"""Home practice: the plan after a programme day, how it went before the next review, the
nudges that ask, the weekend check-in, relaxation, and every bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import PracticePlan, ScheduledMessage
from bot.services.planner import PRACTICE_CHECK, PRACTICE_PLAN, PRACTICE_WEEKEND
from dialogs.practice import PLAN_FORM
from tests.helpers import Chat, enrol_patient, make_cohort
from tests.scheduler.support import Recorder, dispatcher, enrol, run_until, scheduled

# The group starts Monday 7 December 2026 (GMT): day 1 Monday 7, day 2 Tuesday 8, ...
DAY_1_AFTERNOON = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
DAY_2_MORNING = datetime(2026, 12, 8, 8, 30, tzinfo=UTC)


async def plans(runtime: Runtime) -> list[PracticePlan]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(PracticePlan).order_by(PracticePlan.id)))


async def set_plan(chat: Chat) -> None:
    """Relaxation tonight and movement tomorrow morning."""
    await chat.command("plan")
    await chat.press("Relaxation")
    await chat.say("10 minutes of breathing at 9pm")
    await chat.press("Movement")
    await chat.say("a 5-minute walk after breakfast")


async def test_before_the_first_day_home_practice_is_explained(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    await chat.command("plan")
    assert "starts after your first programme day, Monday 7 December 2026" in chat.text
    assert await plans(runtime) == []


async def test_set_a_plan_then_say_how_it_went_before_the_review(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(DAY_1_AFTERNOON)
    await chat.press("Home practice", await chat.command("menu"))
    assert "Day 1 is done." in chat.text and "tonight?" in chat.text
    assert chat.labels == [
        "Pacing",
        "Relaxation",
        "Movement",
        "My own goal",
        "Nothing tonight",
    ]
    await chat.press("Relaxation")
    assert "What exactly will you do for relaxation tonight?" in chat.text
    await chat.say("10 minutes of breathing at 9pm")
    assert "And tomorrow morning?" in chat.text
    await chat.press("Movement")
    assert "for movement tomorrow morning?" in chat.text
    await chat.say("a 5-minute walk after breakfast")
    assert "- Tonight: Relaxation, 10 minutes of breathing at 9pm" in chat.text
    assert "- Tomorrow morning: Movement, a 5-minute walk after breakfast" in chat.text
    assert "On Tuesday 8 December, before the 09:30 review, I will ask how it went." in chat.text
    (plan,) = await plans(runtime)
    assert plan.reviewed_at is None
    assert [(i["when"], i["area"], i["outcome"]) for i in plan.items["items"]] == [
        ("tonight", "relaxation", None),
        ("morning", "movement", None),
    ]

    # Later the same day: /plan shows it, and it can be changed.
    await chat.command("plan")
    assert "Your home practice after day 1:" in chat.text
    assert chat.labels == ["Change my plan"]

    clock.set(DAY_2_MORNING)
    await chat.command("plan")
    assert "How did last night's practice go?" in chat.text
    assert "Relaxation: 10 minutes of breathing at 9pm" in chat.text
    assert chat.labels == ["Done", "Partly", "Not this time"]
    await chat.press("Done")
    assert "And this morning's?" in chat.text and "a 5-minute walk" in chat.text
    await chat.press("Partly")
    assert "What got in the way, if anything?" in chat.text
    assert chat.labels == ["Skip"]
    await chat.say("My back was sore")
    assert "ready for the 09:30 review" in chat.text
    assert "- Evening: Relaxation, 10 minutes of breathing at 9pm (done)" in chat.text
    assert "- Morning: Movement, a 5-minute walk after breakfast (partly done)" in (chat.text)
    assert "What got in the way: My back was sore" in chat.text
    (plan,) = await plans(runtime)
    assert plan.reviewed_at == DAY_2_MORNING and plan.obstacles == "My back was sore"
    assert [i["outcome"] for i in plan.items["items"]] == ["done", "partly"]


async def test_all_done_skips_what_got_in_the_way(runtime: Runtime, clock: ManualClock) -> None:
    chat = await enrol_patient(runtime)
    clock.set(DAY_1_AFTERNOON)
    await set_plan(chat)
    clock.set(DAY_2_MORNING)
    await chat.command("plan")
    await chat.press("Done")
    await chat.press("Done")
    assert "ready for the 09:30 review" in chat.text
    assert "What got in the way" not in chat.text


async def test_only_a_morning_plan_asks_only_about_the_morning(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(DAY_1_AFTERNOON)
    await chat.command("plan")
    await chat.press("Nothing tonight")
    assert "And tomorrow morning?" in chat.text
    await chat.press("Pacing")
    await chat.say("break the washing-up into two goes")
    assert "Tonight:" not in chat.text
    clock.set(DAY_2_MORNING)
    await chat.command("plan")
    assert "And this morning's?" in chat.text  # the first question is the morning's
    await chat.press("Not this time")
    assert "What got in the way" in chat.text
    await chat.press("Skip")
    assert "(not this time)" in chat.text
    (plan,) = await plans(runtime)
    assert plan.obstacles is None and plan.reviewed_at is not None


async def test_nothing_either_time_saves_nothing_and_offers_relaxation(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(DAY_1_AFTERNOON)
    await chat.command("plan")
    await chat.press("Nothing tonight")
    await chat.press("Nothing tomorrow")
    assert "Rest is part of pacing too." in chat.text
    assert chat.labels == ["Calm breathing", "Body scan"]
    assert await plans(runtime) == []


async def test_bad_inputs_get_a_kind_reprompt_and_lose_nothing(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(DAY_1_AFTERNOON)
    await chat.command("plan")
    await chat.say("swimming")  # not one of the choices
    assert "Please choose one of the buttons" in chat.text or "choose" in chat.text.lower()
    assert "tonight?" in chat.text  # asked again
    await chat.say("relaxation")  # typing the button's words works
    assert "What exactly will you do for relaxation tonight?" in chat.text
    await chat.say("x" * 201)  # over the limit
    assert "up to 200 characters" in chat.text
    await chat.say("   ")  # empty
    assert "up to 200 characters" in chat.text
    await chat.say("10 minutes of breathing")
    assert "And tomorrow morning?" in chat.text
    await chat.sticker()
    assert "And tomorrow morning?" in chat.text
    await chat.press("Movement")
    await chat.say("a walk")
    (plan,) = await plans(runtime)
    assert [i["target"] for i in plan.items["items"]] == ["10 minutes of breathing", "a walk"]

    clock.set(DAY_2_MORNING)
    await chat.command("plan")
    await chat.press("Partly")
    await chat.press("Partly")
    await chat.say("y" * 501)
    assert "keep it to 500 characters" in chat.text
    await chat.say("I was tired")
    assert "What got in the way: I was tired" in chat.text


async def test_cancel_part_way_keeps_the_saved_plan(runtime: Runtime, clock: ManualClock) -> None:
    chat = await enrol_patient(runtime)
    clock.set(DAY_1_AFTERNOON)
    await set_plan(chat)
    await chat.press("Change my plan", await chat.command("plan"))
    await chat.press("Pacing")
    await chat.command("cancel")
    assert "I've stopped. What you had started has not been saved." in chat.text
    (plan,) = await plans(runtime)
    assert plan.items["items"][0]["area"] == "relaxation"  # the saved plan is unchanged


async def test_risk_language_in_a_target_gets_crisis_help(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(DAY_1_AFTERNOON)
    await chat.command("plan")
    await chat.press("Relaxation")
    await chat.say("I want to end my life")
    assert "999" in chat.text and "116 123" in chat.text
    assert await plans(runtime) == []


async def test_after_the_last_day_there_is_no_daily_plan(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(datetime(2026, 12, 24, 16, 0, tzinfo=UTC))  # day 12
    await chat.command("plan")
    assert "The programme days are over" in chat.text
    assert chat.labels == ["Calm breathing", "Body scan"]


async def test_nudges_invite_a_plan_ask_how_it_went_and_check_in_at_the_weekend(
    runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime)
    robin = await enrol(runtime, cohort, "robin", name="Robin")
    await enrol(runtime, cohort, "alex", name="Alex")
    rows = await scheduled(runtime, robin, slots=(PRACTICE_PLAN, PRACTICE_CHECK, PRACTICE_WEEKEND))
    # Plans after days 1 to 11, check-ins before days 2 to 12, and two Saturdays.
    assert [r.slot for r in rows].count(PRACTICE_PLAN) == 11
    assert [r.slot for r in rows].count(PRACTICE_CHECK) == 11
    assert [(r.slot, r.due_at) for r in rows if r.slot == PRACTICE_WEEKEND] == [
        (PRACTICE_WEEKEND, datetime(2026, 12, 12, 10, 0, tzinfo=UTC)),
        (PRACTICE_WEEKEND, datetime(2026, 12, 19, 10, 0, tzinfo=UTC)),
    ]
    assert rows[0].slot == PRACTICE_PLAN and rows[0].due_at == datetime(
        2026, 12, 7, 15, 30, tzinfo=UTC
    )

    recorder = Recorder(clock)
    worker = dispatcher(runtime, recorder)
    await run_until(runtime, clock, worker, datetime(2026, 12, 7, 15, 31, tzinfo=UTC))
    (nudge, at) = next((r, at) for r, at in recorder.to("robin") if "Well done" in r.text)
    assert at == datetime(2026, 12, 7, 15, 30, tzinfo=UTC)
    assert [b.label for row in nudge.buttons for b in row] == ["Set my practice"]

    chat = Chat(runtime, user_id="robin")
    await chat.press("Set my practice", [nudge])
    assert "tonight?" in chat.text
    await chat.press("Relaxation")
    await chat.say("10 minutes of breathing")
    await chat.press("Nothing tomorrow")
    assert "- Tonight: Relaxation, 10 minutes of breathing" in chat.text

    # Day 2's check-in comes 15 minutes after the morning reminder, to Robin only: Alex set
    # no plan, so there is nothing to ask about.
    await run_until(runtime, clock, worker, datetime(2026, 12, 8, 8, 1, tzinfo=UTC))
    checks = [(r, at) for r, at in recorder.to("robin") if "how did your home practice" in r.text]
    assert len(checks) == 1 and checks[0][1] == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    assert "10 minutes of breathing" in checks[0][0].text
    assert not [r for r, _ in recorder.to("alex") if "how did your home practice" in r.text]
    async with runtime.sessions() as session:
        alex_check = await session.scalar(
            select(ScheduledMessage).where(
                ScheduledMessage.slot == PRACTICE_CHECK,
                ScheduledMessage.person_id != robin,
                ScheduledMessage.status != "planned",
            )
        )
    assert alex_check is not None and alex_check.reason == "not_needed"
    await chat.press("Tell you how it went", [checks[0][0]])
    await chat.press("Done")
    assert "ready for the 09:30 review" in chat.text
    # The same button again says it is already done, and changes nothing.
    await chat.press("Tell you how it went", [checks[0][0]])
    assert "You have already told me how this went." in chat.text

    # Having already set day 2's plan, no nudge comes for it.
    clock.set(datetime(2026, 12, 8, 15, 0, tzinfo=UTC))
    await set_plan(chat)
    await run_until(runtime, clock, worker, datetime(2026, 12, 8, 15, 31, tzinfo=UTC))
    assert len([r for r, _ in recorder.to("robin") if "Well done" in r.text]) == 1

    # The weekend after Thursday (day 4): lighter and optional, with relaxation on offer.
    await run_until(runtime, clock, worker, datetime(2026, 12, 12, 10, 1, tzinfo=UTC))
    (weekend,) = [r for r, _ in recorder.to("alex") if "weekend check-in" in r.text]
    assert [b.label for row in weekend.buttons for b in row] == ["A short relaxation"]
    alex = Chat(runtime, user_id="alex")
    await alex.press("A short relaxation", [weekend])
    await alex.press("Calm breathing")
    assert "Calm breathing (about 3 minutes)" in alex.text


async def test_an_old_or_foreign_practice_button_changes_nothing(
    runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime)
    await enrol(runtime, cohort, "robin", name="Robin")
    await enrol(runtime, cohort, "alex", name="Alex")
    robin = Chat(runtime, user_id="robin")
    clock.set(DAY_1_AFTERNOON)
    await set_plan(robin)
    (plan,) = await plans(runtime)
    alex = Chat(runtime, user_id="alex")
    clock.set(DAY_2_MORNING)
    await alex.event(kind="button", payload=f"p:review:{plan.id}")
    assert "That button is from an earlier message" in alex.text
    await alex.event(kind="button", payload="p:review:notanumber")
    assert alex.replies  # a kind reply, not silence
    # Robin presses day 1's "Set my practice" on day 3: it has moved on.
    clock.set(datetime(2026, 12, 9, 16, 0, tzinfo=UTC))
    async with runtime.sessions() as session:
        first = await session.get(PracticePlan, plan.id)
        assert first is not None
        day_1 = first.event_id
    await robin.event(kind="button", payload=f"p:set:{day_1}")
    assert "That button was for an earlier day." in robin.text
    (after,) = await plans(runtime)
    assert after.reviewed_at is None and after.items == plan.items


async def test_a_button_mid_report_asks_to_finish_first(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(DAY_1_AFTERNOON)
    await chat.command("report")
    await chat.event(kind="button", payload="x:breathing")
    assert "Calm breathing" in chat.text  # relaxation is an aside: it never ends the report
    async with runtime.sessions() as session:
        from bot.db.models import Conversation

        state = await session.scalar(select(Conversation))
        assert state is not None and state.dialog == "report"
    await chat.event(kind="button", payload="p:set:1")
    assert "Let's finish what we were doing first." in chat.text
    assert PLAN_FORM.name != "report"


async def test_relax_any_time_and_at_the_self_directed_session(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    await chat.command("relax")
    assert "Which relaxation would you like?" in chat.text
    assert "time for the self-directed relaxation" not in chat.text
    await chat.press("Body scan")
    assert "Body scan (about 5 minutes)" in chat.text
    clock.set(datetime(2026, 12, 8, 13, 25, tzinfo=UTC))  # day 2, just before 13:30
    await chat.press("Relaxation", await chat.command("menu"))
    assert "It's time for the self-directed relaxation." in chat.text
    clock.set(clock.now() + timedelta(hours=2))
    await chat.command("relax")
    assert "time for the self-directed relaxation" not in chat.text


async def test_while_paused_the_plan_says_to_use_plan_instead_of_waiting(
    runtime: Runtime, clock: ManualClock
) -> None:
    from bot.db.models import Person

    chat = await enrol_patient(runtime)
    async with runtime.sessions() as session, session.begin():
        person = await session.scalar(select(Person))
        assert person is not None
        person.paused_at, person.paused_until = clock.now(), None
    clock.set(DAY_1_AFTERNOON)
    await set_plan(chat)
    assert "Your reminders are paused, so I won't ask how it went." in chat.text
    assert "Send /plan on Tuesday 8 December" in chat.text
    assert "I will ask how it went" not in chat.text


async def test_pain_words_in_an_answer_are_kept_and_a_report_is_one_tap_away(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(DAY_1_AFTERNOON)
    await set_plan(chat)
    clock.set(DAY_2_MORNING)
    await chat.command("plan")
    await chat.press("Partly")
    await chat.press("Not this time")
    await chat.say("I had a flare up in the night")
    assert "I have kept that as your answer." in chat.text
    assert "More pain or distress" in chat.labels
    assert "What got in the way: I had a flare up in the night" in chat.text
    (plan,) = await plans(runtime)
    assert plan.reviewed_at is not None and plan.obstacles == "I had a flare up in the night"
    await chat.press("More pain or distress")
    assert "goes to the pain clinic team" in chat.text  # the report begins


async def test_a_plan_already_looked_back_on_is_not_changed(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    thursday = datetime(2026, 12, 10, 16, 0, tzinfo=UTC)  # day 4
    clock.set(thursday)
    await set_plan(chat)
    assert "On Monday 14 December, before the 09:30 review" in chat.text
    await chat.command("plan")
    assert "On Monday 14 December, before the 09:30 review" in chat.text  # not "tomorrow"
    (plan,) = await plans(runtime)
    clock.set(datetime(2026, 12, 11, 10, 0, tzinfo=UTC))  # Friday
    await chat.command("plan")
    await chat.press("Done")
    await chat.press("Partly")
    await chat.say("I was too tired")
    await chat.command("plan")
    assert "You have already said how it went." in chat.text
    assert chat.labels == []  # no "Change my plan": it would lose the answers
    await chat.event(kind="button", payload=f"p:set:{plan.event_id}")
    assert "You have already told me how this went." in chat.text
    (after,) = await plans(runtime)
    assert after.obstacles == "I was too tired" and after.reviewed_at is not None


async def test_changing_a_plan_to_nothing_lets_it_go(runtime: Runtime, clock: ManualClock) -> None:
    chat = await enrol_patient(runtime)
    clock.set(DAY_1_AFTERNOON)
    await set_plan(chat)
    await chat.press("Change my plan", await chat.command("plan"))
    await chat.press("Nothing tonight")
    await chat.press("Nothing tomorrow")
    assert "Rest is part of pacing too." in chat.text
    (plan,) = await plans(runtime)
    assert plan.items == {"items": []}
    clock.set(DAY_2_MORNING)
    await chat.command("plan")
    assert "How did last night's practice go?" not in chat.text  # nothing to look back on


async def test_before_the_days_sessions_finish_there_is_nothing_to_plan_yet(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(datetime(2026, 12, 8, 8, 0, tzinfo=UTC))  # day 2, before it starts
    await chat.command("plan")
    assert "Today's sessions are still to come." in chat.text
    assert chat.labels == ["Calm breathing", "Body scan"]
    clock.set(datetime(2026, 12, 8, 15, 5, tzinfo=UTC))
    await chat.command("plan")
    assert "Day 2 is done." in chat.text
