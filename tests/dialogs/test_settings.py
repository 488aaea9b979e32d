"""Reminder settings through neutral events: times, quiet hours, pause and resume."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Conversation, OutboxMessage, Person, ScheduledMessage
from bot.services.planner import REMINDER_SLOTS
from dialogs.flows import NUDGE_RENDERERS
from scheduler.reminders import ReminderReleaser
from tests.helpers import Chat, enrol_patient

LONDON = ZoneInfo("Europe/London")
EVENING_SLOTS = ("evening", "week_before", "day_before")
MENU_LABELS = [
    "Evening reminder time",
    "Morning reminder time",
    "Quiet hours",
    "Pause reminders",
    "No changes",
]
TIME_INVALID = "Sorry, I need a time between"
ASK_EVENING = "What time would you like the evening reminder"
QUIET_INVALID = "Sorry, I couldn't read that as quiet hours."
ASK_QUIET = "When should I stay quiet?"


async def person_of(runtime: Runtime, user_id: str = "patient-1") -> Person:
    async with runtime.sessions() as session:
        person = await session.scalar(select(Person).where(Person.channel_user_id == user_id))
        assert person is not None
        return person


async def reminders(
    runtime: Runtime, slots: tuple[str, ...] | None = None, status: str | None = "planned"
) -> list[ScheduledMessage]:
    """The patient's reminders, by due time."""
    async with runtime.sessions() as session:
        query = select(ScheduledMessage).order_by(ScheduledMessage.due_at, ScheduledMessage.id)
        if slots is not None:
            query = query.where(ScheduledMessage.slot.in_(slots))
        if status is not None:
            query = query.where(ScheduledMessage.status == status)
        return list(await session.scalars(query))


def local_times(rows: list[ScheduledMessage]) -> set[time]:
    """The Europe/London times of day the reminders are due."""
    return {row.due_at.astimezone(LONDON).time() for row in rows}


async def snapshot(runtime: Runtime) -> list[tuple[int, str, datetime, str]]:
    return [(r.id, r.slot, r.due_at, r.status) for r in await reminders(runtime, status=None)]


async def open_settings(chat: Chat, choice: str) -> None:
    await chat.command("settings")
    await chat.press(choice)


async def release_until(runtime: Runtime, clock: ManualClock, end: datetime) -> None:
    """Run the releaser at each planned reminder's due time up to `end`, as the tick would."""
    releaser = ReminderReleaser(
        runtime.sessions, runtime.content, runtime.settings.tz, NUDGE_RENDERERS
    )
    while True:
        due = [r for r in await reminders(runtime) if r.due_at <= end]
        if not due:
            break
        clock.set(due[0].due_at)
        assert await releaser.release(clock.now()) > 0
    clock.set(end)


# Showing the settings


async def test_settings_shows_current_settings_and_choices(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    await chat.command("settings")
    assert "Your reminder settings:" in chat.text
    assert "Evening reminder, the day before: 18:00" in chat.text
    assert "Morning reminder, on the day: 07:45" in chat.text
    assert "Quiet hours: 21:00 to 07:30" in chat.text
    assert "Reminders are on." in chat.text
    assert chat.labels == MENU_LABELS

    await chat.command("menu")
    await chat.press("Reminder settings")
    assert "Your reminder settings:" in chat.text
    assert chat.labels == MENU_LABELS


async def test_no_changes_changes_nothing(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    before = await snapshot(runtime)
    await open_settings(chat, "No changes")
    assert "Nothing changed." in chat.text
    assert "What would you like to do, Robin?" in chat.text
    assert await snapshot(runtime) == before
    async with runtime.sessions() as session:
        state = await session.scalar(select(Conversation))
        assert state is not None and state.dialog is None


# Reminder times


@pytest.mark.parametrize("typed", ["19:30", "7.30pm", "1930", " 7:30 PM "])
async def test_evening_time_is_stored_and_every_evening_reminder_moves(
    runtime: Runtime, typed: str
) -> None:
    chat = await enrol_patient(runtime)
    mornings = [(r.id, r.due_at) for r in await reminders(runtime, ("morning",))]
    await open_settings(chat, "Evening reminder time")
    assert ASK_EVENING in chat.text
    await chat.say(typed)
    assert "Saved. This applies to every reminder from now on." in chat.text
    assert "Evening reminder, the day before: 19:30" in chat.text
    assert (await person_of(runtime)).evening_time == "19:30"
    evenings = await reminders(runtime, EVENING_SLOTS)
    assert len(evenings) == 12 + 3 * 2  # the evening before each day, two per review
    assert local_times(evenings) == {time(19, 30)}
    # The 6-month review is in summer time: 19:30 there is 18:30 UTC.
    summer = [r for r in evenings if r.event_date.month == 6]
    assert {r.due_at.astimezone(UTC).time() for r in summer} == {time(18, 30)}
    assert [(r.id, r.due_at) for r in await reminders(runtime, ("morning",))] == mornings


async def test_bad_times_are_refused_kindly_and_change_nothing(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    before = await snapshot(runtime)
    await open_settings(chat, "Evening reminder time")
    for typed in ("banana", "25:00", "7", "18:60", "", "09:00", "23:30", "6.30am"):
        await chat.say(typed)
        assert TIME_INVALID in chat.text, typed
        assert ASK_EVENING in chat.replies[-1].text, typed
    assert (await person_of(runtime)).evening_time == "18:00"
    assert await snapshot(runtime) == before
    await chat.say("12:00")  # the edge of the range is fine
    assert (await person_of(runtime)).evening_time == "12:00"


async def test_morning_time_outside_its_range_is_refused(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    before = await snapshot(runtime)
    await open_settings(chat, "Morning reminder time")
    assert "Type a time between 05:00 and 09:00" in chat.text
    for typed in ("10:00", "04:59", "18:30"):
        await chat.say(typed)
        assert TIME_INVALID in chat.text, typed
        assert "What time would you like the morning reminder" in chat.replies[-1].text
    assert (await person_of(runtime)).morning_time == "07:45"
    assert await snapshot(runtime) == before

    await chat.say("8.15am")
    assert "Morning reminder, on the day: 08:15" in chat.text
    assert (await person_of(runtime)).morning_time == "08:15"
    assert local_times(await reminders(runtime, ("morning",))) == {time(8, 15)}
    assert local_times(await reminders(runtime, ("evening",))) == {time(18, 0)}


# Quiet hours


@pytest.mark.parametrize(
    ("typed", "stored", "shown"),
    [
        ("22:00-07:00", ("22:00", "07:00"), "22:00 to 07:00"),
        ("9pm to 7am", ("21:00", "07:00"), "21:00 to 07:00"),
        ("off", (None, None), "off"),
    ],
)
async def test_quiet_hours_are_stored(
    runtime: Runtime, typed: str, stored: tuple[str | None, str | None], shown: str
) -> None:
    chat = await enrol_patient(runtime)
    await open_settings(chat, "Quiet hours")
    assert ASK_QUIET in chat.text
    await chat.say(typed)
    assert "Saved." in chat.text
    assert f"Quiet hours: {shown}" in chat.text
    person = await person_of(runtime)
    assert (person.quiet_start, person.quiet_end) == stored


async def test_bad_quiet_hours_are_refused_and_change_nothing(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    before = await snapshot(runtime)
    await open_settings(chat, "Quiet hours")
    for typed in ("07:00-22:00", "22:00-22:00", "nonsense", "21:00-", "25:00-07:00"):
        await chat.say(typed)
        assert QUIET_INVALID in chat.text, typed
        assert "no more than 14 hours" in chat.text
        assert ASK_QUIET in chat.replies[-1].text, typed
    person = await person_of(runtime)
    assert (person.quiet_start, person.quiet_end) == ("21:00", "07:30")
    assert await snapshot(runtime) == before


async def test_evening_time_in_quiet_hours_is_explained_and_kept_out_of_them(
    runtime: Runtime,
) -> None:
    chat = await enrol_patient(runtime)
    await open_settings(chat, "Evening reminder time")
    await chat.say("22:00")  # quiet hours are 21:00 to 07:30
    assert "22:00 falls in your quiet hours, so that reminder will come at 20:59 instead." in (
        chat.text
    )
    assert (await person_of(runtime)).evening_time == "22:00"
    # Their end (07:30) would be too late for the evening before: it comes just before them.
    assert local_times(await reminders(runtime, ("evening", "day_before"))) == {time(20, 59)}
    # A week ahead, the morning after is still in time: it comes when they end.
    week_before = await reminders(runtime, ("week_before",))
    assert local_times(week_before) == {time(7, 30)}
    assert [(r.event_date - r.due_at.astimezone(LONDON).date()).days for r in week_before] == [
        6,
        6,
        6,
    ]
    for row in await reminders(runtime):
        local = row.due_at.astimezone(LONDON).time()
        assert time(7, 30) <= local < time(21, 0), (row.slot, local)


async def test_quiet_hours_over_the_morning_reminder_move_it_to_their_end(
    runtime: Runtime,
) -> None:
    chat = await enrol_patient(runtime)
    await open_settings(chat, "Quiet hours")
    await chat.say("22:00-08:30")
    assert "07:45 falls in your quiet hours" in chat.text
    mornings = await reminders(runtime, ("morning",))
    assert len(mornings) == 12
    assert local_times(mornings) == {time(8, 30)}  # still before the 09:30 start
    assert local_times(await reminders(runtime, ("evening",))) == {time(18, 0)}


# Pause and resume


async def test_pause_for_a_week_skips_that_weeks_reminders_only(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(datetime(2026, 12, 6, 12, 0, tzinfo=UTC))  # day 1 is tomorrow
    await open_settings(chat, "Pause reminders")
    assert "How long would you like to pause reminders for?" in chat.text
    assert chat.labels == ["For a week", "For two weeks", "Until I turn them back on"]
    await chat.press("For a week")
    assert "I have paused your reminders until Sunday 13 December 2026 at 12:00." in chat.text
    assert "Reminders for your group reviews still come" in chat.text
    person = await person_of(runtime)
    assert person.paused_at == clock.now()
    assert person.paused_until == datetime(2026, 12, 13, 12, 0, tzinfo=UTC)
    await chat.command("settings")
    assert "Reminders are paused until Sunday 13 December 2026, 12:00." in chat.text
    assert "Turn reminders back on" in chat.labels and "Pause reminders" not in chat.labels
    await chat.command("cancel")

    await release_until(runtime, clock, datetime(2026, 12, 14, 12, 0, tzinfo=UTC))
    done = await reminders(runtime, status=None)
    in_week = [r for r in done if r.due_at < person.paused_until]
    after = [
        r
        for r in await reminders(runtime, REMINDER_SLOTS, status=None)
        if person.paused_until <= r.due_at <= clock.now()
    ]
    # Evening and morning for days 1 to 4, and the flows' nudges: home-practice plans for days
    # 1 to 4, check-ins for days 2 to 4 and the weekend's.
    assert len(in_week) == 8 + 4 + 3 + 1
    assert {(r.status, r.reason) for r in in_week} == {("skipped", "paused")}
    assert [(r.slot, r.event_date.day) for r in after] == [("evening", 14), ("morning", 14)]
    assert {(r.status, r.reason) for r in after} == {("queued", None)}

    await chat.command("settings")
    assert "Reminders are on." in chat.text
    assert "Pause reminders" in chat.labels


async def test_pause_until_turned_back_on(runtime: Runtime, clock: ManualClock) -> None:
    chat = await enrol_patient(runtime)
    clock.set(datetime(2026, 12, 6, 12, 0, tzinfo=UTC))
    await open_settings(chat, "Pause reminders")
    await chat.press("Until I turn them back on")
    assert "I have paused your reminders until you turn them back on with /settings." in chat.text
    assert "Please still come to your sessions and reviews" in chat.text
    person = await person_of(runtime)
    assert (person.paused_at, person.paused_until) == (clock.now(), None)

    await release_until(runtime, clock, datetime(2026, 12, 9, 12, 0, tzinfo=UTC))
    skipped = [r for r in await reminders(runtime, status=None) if r.status != "planned"]
    # Days 1 to 3, with the home-practice plans of days 1 and 2 and check-ins of days 2 and 3.
    assert len(skipped) == 6 + 2 + 2
    assert {(r.status, r.reason) for r in skipped} == {("skipped", "paused")}
    skipped_ids = {r.id for r in skipped}

    await chat.command("settings")
    assert "Reminders are paused until you turn them back on." in chat.text
    assert "Pause reminders" not in chat.labels
    await chat.press("Turn reminders back on")
    assert "Your reminders are back on." in chat.text
    person = await person_of(runtime)
    assert (person.paused_at, person.paused_until) == (None, None)

    await release_until(runtime, clock, datetime(2026, 12, 10, 12, 0, tzinfo=UTC))
    rows = await reminders(runtime, REMINDER_SLOTS, status=None)
    sent = [r for r in rows if r.status != "planned" and r.id not in skipped_ids]
    assert [(r.slot, r.event_date.day, r.status) for r in sent] == [
        ("evening", 10, "queued"),
        ("morning", 10, "queued"),
    ]
    # Those skipped while paused stay skipped.
    still = {(r.status, r.reason) for r in rows if r.id in skipped_ids}
    assert still == {("skipped", "paused")}


# Leaving part way


async def test_cancel_in_the_middle_changes_nothing(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    before = await snapshot(runtime)
    await open_settings(chat, "Evening reminder time")
    await chat.command("cancel")
    assert "OK, I've stopped." in chat.text
    await chat.say("19:30")  # no longer an answer to anything
    assert "Sorry Robin, I can't read messages like that" in chat.text
    assert (await person_of(runtime)).evening_time == "18:00"
    assert await snapshot(runtime) == before
    async with runtime.sessions() as session:
        state = await session.scalar(select(Conversation))
        assert state is not None and (state.dialog, state.step) == (None, None)


async def test_a_command_in_the_middle_shows_the_prompt_again(runtime: Runtime) -> None:
    chat = await enrol_patient(runtime)
    await open_settings(chat, "Quiet hours")
    await chat.command("help")
    assert "Here is what I can do:" in chat.text
    assert ASK_QUIET in chat.replies[-1].text
    await chat.say("22:30-06:30")
    assert "Quiet hours: 22:30 to 06:30" in chat.text
    person = await person_of(runtime)
    assert (person.quiet_start, person.quiet_end) == ("22:30", "06:30")


async def test_pausing_while_a_reminder_waits_to_go_keeps_it_back(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    evening = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)  # day 1's evening reminder
    clock.set(evening)
    releaser = ReminderReleaser(
        runtime.sessions, runtime.content, runtime.settings.tz, NUDGE_RENDERERS
    )
    assert await releaser.release(clock.now()) >= 1  # in the outbox, not yet sent
    async with runtime.sessions() as session, session.begin():
        rows = list(
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.kind == "reminder", OutboxMessage.status == "pending"
                )
            )
        )
        assert rows
    await open_settings(chat, "Pause reminders")
    await chat.press("Until I turn them back on")
    async with runtime.sessions() as session:
        statuses = {
            row.status
            for row in await session.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows]))
            )
        }
        skipped = list(
            await session.scalars(
                select(ScheduledMessage.reason).where(ScheduledMessage.status == "skipped")
            )
        )
    assert statuses == {"cancelled"}
    assert skipped and set(skipped) == {"paused"}


async def test_a_reminder_already_being_sent_when_they_pause_is_left_to_go(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    clock.set(datetime(2026, 12, 6, 18, 0, tzinfo=UTC))
    releaser = ReminderReleaser(
        runtime.sessions, runtime.content, runtime.settings.tz, NUDGE_RENDERERS
    )
    await releaser.release(clock.now())
    async with runtime.sessions() as session, session.begin():
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))
        assert row is not None
        row.status = "sending"  # a dispatcher has it in hand
    await open_settings(chat, "Pause reminders")
    await chat.press("For a week")
    async with runtime.sessions() as session:
        again = await session.get(OutboxMessage, row.id)
        assert again is not None and again.status == "sending"
