"""Saying you can't come, or are late, in your own words: one tap tells the team."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from tests.dialogs.test_attendance import answers, own_event, person_of, staff_notices
from tests.helpers import enrol_patient

FALLBACK = "can't read messages like that"


async def test_cant_come_tomorrow_in_own_words_tells_the_team_after_one_tap(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    person = await person_of(runtime)
    day1 = await own_event(runtime, "day", 1)
    clock.set(datetime(2026, 12, 6, 19, 0, tzinfo=UTC))  # Sunday evening
    await chat.say("I can't come tomorrow, my back has gone")
    assert "Shall I tell the team you can't come to day 1 (Monday 7 December)?" in chat.text
    assert chat.labels == ["Yes, tell the team", "No, don't tell them"]
    assert FALLBACK not in chat.text
    assert await answers(runtime) == {}  # nothing until they say so
    await chat.press("Yes, tell the team")
    assert "I have let the team know you can't come to day 1" in chat.text
    assert await answers(runtime) == {day1: "no"}
    (notice,) = await staff_notices(runtime)
    assert notice.text.strip() == f"P{person.id} can't come to day 1 (Monday 7 December)."


async def test_running_late_after_the_day_began_is_about_today(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    day1 = await own_event(runtime, "day", 1)
    clock.set(datetime(2026, 12, 7, 9, 40, tzinfo=UTC))  # ten minutes after the start
    await chat.say("so sorry, running a bit late, bus didn't come")
    assert "running late for day 1 (Monday 7 December)?" in chat.text
    await chat.press("Yes, tell the team")
    assert await answers(runtime) == {day1: "late"}
    assert [n.kind for n in await staff_notices(runtime)] == ["attendance_late"]


async def test_after_the_day_ends_the_words_are_about_the_next_day(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(datetime(2026, 12, 7, 16, 0, tzinfo=UTC))  # day 1 has finished
    await chat.say("see you tomorrow")
    assert "Shall I tell the team you will be at day 2 (Tuesday 8 December)?" in chat.text


async def test_no_tells_nobody(runtime: Runtime, clock: ManualClock) -> None:
    chat = await enrol_patient(runtime)
    clock.set(datetime(2026, 12, 6, 19, 0, tzinfo=UTC))
    await chat.say("might have to miss tomorrow")
    await chat.press("No, don't tell them")
    assert chat.text.startswith("OK. I have not told the team anything.")
    assert await answers(runtime) == {}
    assert await staff_notices(runtime) == []


async def test_on_a_day_with_nothing_near_it_says_so_twice_and_stores_nothing(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(datetime(2026, 12, 11, 10, 0, tzinfo=UTC))  # Friday: no programme day
    for _ in range(2):
        await chat.say("I can't come today")
        assert "You have no session still to come today, so there is nothing to tell the team." in (
            chat.text
        )
        assert "Your next one is day 5 (Monday 14 December)." in chat.text
        assert "Yes, tell the team" not in chat.labels
    assert await answers(runtime) == {}
    assert await staff_notices(runtime) == []
    await chat.say("see you Monday")  # nothing near: a goodbye
    assert chat.text.startswith("Take care, Robin.")


async def test_an_old_confirm_button_for_a_past_day_changes_nothing(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(datetime(2026, 12, 6, 19, 0, tzinfo=UTC))
    await chat.say("can't make it tomorrow")
    replies = chat.replies
    clock.set(datetime(2026, 12, 8, 9, 0, tzinfo=UTC))
    await chat.press("Yes, tell the team", replies)
    assert "which has passed, so I have not changed anything" in chat.text
    assert await answers(runtime) == {}


async def test_words_about_coming_with_a_worry_in_them_get_both_answers(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(datetime(2026, 12, 6, 19, 0, tzinfo=UTC))
    await chat.say("can't come tomorrow, I feel like such a burden on everyone")
    assert "Shall I tell the team you can't come to day 1 (Monday 7 December)?" in chat.text
    assert "having thoughts of ending your life or harming yourself?" in chat.text
    assert "Yes, tell the team" in chat.labels and "Not sure" in chat.labels


async def test_today_offers_the_attendance_buttons_for_the_next_session(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    day2 = await own_event(runtime, "day", 2)
    clock.set(datetime(2026, 12, 7, 16, 0, tzinfo=UTC))  # day 1 is over
    await chat.command("today")
    assert "If you are running late for day 2 (Tuesday 8 December), or can't come" in chat.text
    assert chat.labels[:3] == ["I'll be there", "Running late", "Can't make it"]
    await chat.press("Can't make it")
    assert await answers(runtime) == {day2: "no"}
    clock.set(datetime(2026, 12, 11, 10, 0, tzinfo=UTC))  # Friday: nothing today or tomorrow
    await chat.command("today")
    assert "Can't make it" not in chat.labels
    assert "running late" not in chat.text
