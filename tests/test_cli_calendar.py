"""Staff commands for a group's calendar and its reminders: create, show, move-event, reminders."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from bot.app.cli import main as pmp_main
from bot.app.runtime import Runtime, open_runtime
from bot.clock import ManualClock
from bot.config import Settings
from bot.db.models import Cohort, CohortEvent, OutboxMessage, Person, ScheduledMessage
from bot.messages import RecipientBlocked, Reply
from bot.services import attendance, people
from bot.services.planner import Planner, sessions_of
from dialogs.flows import NUDGE_RENDERERS
from scheduler.dispatcher import Dispatcher
from scheduler.reminders import ReminderReleaser
from tests.helpers import CliForTests, RecordingSender, make_cohort

WINTER = date(2026, 12, 7)  # days 7-10, 14-17, 21-24 Dec 2026
SUMMER = date(2027, 6, 7)  # days 7-10, 14-17, 21-24 Jun 2027 (British Summer Time)
ONLINE = ["--mode", "online", "--video-link", "https://video.example.org/pmp"]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def cli(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object, clock: ManualClock
) -> CliRunner:
    """A runner on the test database whose commands see the test's clock."""
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "pmp_test_bot")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("TIMEZONE", raising=False)

    async def with_test_clock(
        settings: Settings, _clock: object = None, migrate: bool = True
    ) -> Runtime:
        return await open_runtime(settings, clock, migrate=False)

    return CliForTests(with_test_clock)


async def invoke(cli: CliRunner, *args: str) -> Result:
    """Run a command in a thread (it runs its own event loop), as staff would."""
    return await asyncio.to_thread(cli.invoke, pmp_main, list(args))


async def run_json(cli: CliRunner, *args: str) -> Any:
    result = await invoke(cli, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def refused(cli: CliRunner, *args: str) -> str:
    result = await invoke(cli, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output


async def enrol(runtime: Runtime, cohort_id: int, *names: str) -> list[int]:
    """Patients who joined a group, with their reminders planned."""
    now = runtime.clock.now()
    ids = []
    async with runtime.sessions() as session, session.begin():
        for name in names:
            person = await people.enrol(
                session,
                role="patient",
                cohort_id=cohort_id,
                display_name=name,
                channel="console",
                user_id=f"user-{name}",
                chat_id=f"chat-{name}",
                now=now,
            )
            ids.append(person.id)
        await Planner(runtime.content, runtime.settings.tz).plan(session, now, ids)
    return ids


async def calendar_rows(runtime: Runtime) -> dict[str, tuple[date, str | None]]:
    async with runtime.sessions() as session:
        found = await session.scalars(select(CohortEvent))
        return {f"{e.kind}{e.number}": (e.on_date, e.start_time) for e in found}


async def count(runtime: Runtime, model: type, *where: Any) -> int:
    async with runtime.sessions() as session:
        query = select(func.count()).select_from(model).where(*where)
        return int(await session.scalar(query) or 0)


def dispatcher(runtime: Runtime, sender: Any) -> Dispatcher:
    releaser = ReminderReleaser(
        runtime.sessions, runtime.content, runtime.settings.tz, NUDGE_RENDERERS
    )
    return Dispatcher(runtime.sessions, {"console": sender}, runtime.clock, reminders=releaser)


# --- cohort create / show ---------------------------------------------------------------


async def test_create_on_a_bank_holiday_monday_shows_the_moved_calendar(
    cli: CliRunner, runtime: Runtime
) -> None:
    result = await invoke(
        cli,
        "cohort",
        "create",
        "--name",
        "May online",
        "--start",
        "2026-05-04",
        "--allow-past",
        *ONLINE,
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Created group 1: May online (online)." in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("    ")}
    assert len(lines) == 15
    assert lines["day1"].split() == ["day1", "Day", "1", "Tue", "05", "May", "2026", "09:30"]
    assert "Tue 26 May 2026" in lines["day12"]  # after the Spring bank holiday
    assert "Thu 14 May 2026  09:30  – friends and family day" in lines["day7"]
    assert "Wed 20 May 2026  09:30  – doctor's question-and-answer session" in lines["day10"]
    assert "Mon 29 Jun 2026  10:00" in lines["review1"]
    assert "Wed 26 May 2027  10:00  – discharge after this review" in lines["review12"]
    assert "pmp cohort move-event 1 EVENT YYYY-MM-DD" in text
    assert text.splitlines()[-2:] == [
        "Note: the start date, Monday 4 May 2026, is in the past; reminders are only sent for"
        " what is still to come.",
        # Early May and Spring bank holidays: days 1 and 12 move on a day each.
        "Note: bank holidays move day 12 into a fourth week (Tue 26 May 2026).",
    ]
    stored = await calendar_rows(runtime)
    assert stored["day1"] == (date(2026, 5, 5), None)
    assert stored["day12"] == (date(2026, 5, 26), None)
    assert len(stored) == 15


async def test_create_json_with_chosen_days(cli: CliRunner) -> None:
    created = await run_json(
        cli,
        "cohort",
        "create",
        "--name",
        "Easter",
        "--start",
        "2027-03-15",
        "--qa-day",
        "12",
        "--family-day",
        "5",
        *ONLINE,
    )
    assert (created["qa_day"], created["family_day"]) == (12, 5)
    assert created["programme_days"][8:] == ["2027-03-30", "2027-03-31", "2027-04-01", "2027-04-05"]
    notes = {e["event"]: e["notes"] for e in created["calendar"]}
    assert notes["day5"] == ["friends and family day"]
    assert notes["day12"] == ["doctor's question-and-answer session"]
    assert notes["day7"] == [] and notes["day10"] == []
    assert notes["review12"] == ["discharge after this review"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--qa-day", "0", "Invalid value for '--qa-day': 0 is not in the range 1<=x<=12"),
        ("--qa-day", "13", "Invalid value for '--qa-day': 13 is not in the range 1<=x<=12"),
        ("--family-day", "3", "Invalid value for '--family-day': 3 is not in the range 5<=x<=8"),
        ("--family-day", "9", "Invalid value for '--family-day': 9 is not in the range 5<=x<=8"),
    ],
)
async def test_create_refuses_day_numbers_out_of_range(
    cli: CliRunner, runtime: Runtime, option: str, value: str, message: str
) -> None:
    args = ["cohort", "create", "--name", "A", "--start", "2026-12-07", *ONLINE, option, value]
    assert message in await refused(cli, *args)
    assert await count(runtime, CohortEvent) == 0


async def test_create_refuses_a_start_that_is_not_a_monday(
    cli: CliRunner, runtime: Runtime
) -> None:
    output = await refused(cli, "cohort", "create", "--name", "A", "--start", "2026-12-09", *ONLINE)
    assert "The start date must be a Monday; Wednesday 09 December 2026 is not." in output
    assert await count(runtime, CohortEvent) == 0


async def test_create_refuses_a_start_in_the_past_unless_allowed(
    cli: CliRunner, runtime: Runtime, clock: ManualClock
) -> None:
    args = ["cohort", "create", "--name", "A", "--start", "2026-11-23", *ONLINE]  # last Monday
    output = await refused(cli, *args)
    assert (
        "Error: The start date, Monday 23 November 2026, is in the past. Check it; to record a"
        " group that has already started, add --allow-past." in output
    )
    assert await count(runtime, CohortEvent) == 0
    created = await run_json(cli, *args, "--allow-past")
    assert created["programme_days"][0] == "2026-11-23"
    assert created["warnings"] == [
        "the start date, Monday 23 November 2026, is in the past; reminders are only sent for"
        " what is still to come."
    ]
    # A group starting today is not in the past: late on Monday in London, still Monday.
    clock.set(datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    today = await run_json(cli, "cohort", "create", "--name", "B", "--start", "2026-11-30", *ONLINE)
    assert today["warnings"] == []
    help_text = (await invoke(cli, "cohort", "create", "--help")).output
    assert "--allow-past" in help_text and "already started" in help_text


@pytest.mark.parametrize(
    ("start", "note"),
    [
        # The Spring bank holiday, Monday 31 May 2027, is in week two.
        ("2027-05-24", "a bank holiday moves day 12 into a fourth week (Mon 14 Jun 2027)."),
        # Christmas 2027 and New Year 2028 fall at weekends: 27 Dec, 28 Dec and 3 Jan instead.
        ("2027-12-13", "bank holidays move day 12 into a fourth week (Wed 05 Jan 2028)."),
    ],
    ids=["spring", "christmas"],
)
async def test_create_says_when_bank_holidays_carry_day_12_into_a_fourth_week(
    cli: CliRunner, start: str, note: str
) -> None:
    result = await invoke(cli, "cohort", "create", "--name", "A", "--start", start, *ONLINE)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"Note: {note}"
    created = await run_json(cli, "cohort", "create", "--name", "B", "--start", start, *ONLINE)
    assert created["warnings"] == [note]


async def test_create_of_an_ordinary_three_weeks_has_no_notes(cli: CliRunner) -> None:
    result = await invoke(cli, "cohort", "create", "--name", "A", "--start", "2027-01-11", *ONLINE)
    assert result.exit_code == 0, result.output
    assert "Note:" not in result.output
    created = await run_json(
        cli, "cohort", "create", "--name", "B", "--start", "2027-01-11", *ONLINE
    )
    assert created["warnings"] == []


async def test_show_lists_the_fifteen_events(cli: CliRunner, runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    shown = await run_json(cli, "cohort", "show", str(cohort.id))
    calendar = shown["calendar"]
    assert len(calendar) == 15
    assert [e["event"] for e in calendar] == [f"day{n}" for n in range(1, 13)] + [
        "review1",
        "review6",
        "review12",
    ]
    assert set(calendar[0]) == {"event", "title", "date", "start", "notes"}
    assert calendar[11] == {
        "event": "day12",
        "title": "Day 12",
        "date": "2026-12-24",
        "start": "09:30",
        "notes": [],
    }
    assert calendar[14] == {
        "event": "review12",
        "title": "12-month review",
        "date": "2027-12-29",  # 24 Dec 2027 is a Friday; 27 and 28 are bank holidays
        "start": "10:00",
        "notes": ["discharge after this review"],
    }


# --- cohort move-event ------------------------------------------------------------------


async def test_move_event_text(cli: CliRunner, runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    await enrol(runtime, cohort.id, "Robin", "Sam")
    result = await invoke(cli, "cohort", "move-event", str(cohort.id), "Day-12", "2026-12-28")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Moved day12 of group 1 from Thu 24 Dec 2026 to Mon 28 Dec 2026, starting 09:30."
        " Reminders re-planned; 2 patient(s) will get a message about it.",
        "  Check: Monday 28 December 2026 is a bank holiday in England.",
    ]
    assert (await calendar_rows(runtime))["day12"] == (date(2026, 12, 28), None)
    assert await count(runtime, OutboxMessage, OutboxMessage.kind == "event_moved") == 2
    assert (
        await count(runtime, ScheduledMessage, ScheduledMessage.event_date == date(2026, 12, 24))
        == 0
    )
    assert (
        await count(runtime, ScheduledMessage, ScheduledMessage.event_date == date(2026, 12, 28))
        == 6  # each patient's evening and morning reminders and home-practice check-in
    )
    shown = await run_json(cli, "cohort", "show", str(cohort.id))
    day12 = next(e for e in shown["calendar"] if e["event"] == "day12")
    assert (day12["date"], day12["notes"]) == ("2026-12-28", ["bank holiday"])


async def test_move_event_json_with_a_start_time(cli: CliRunner, runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    await enrol(runtime, cohort.id, "Robin")
    moved = await run_json(
        cli, "cohort", "move-event", str(cohort.id), "review1", "2027-01-30", "--start", "9.15"
    )
    assert moved == {
        "cohort_id": 1,
        "event": "review1",
        "old_date": "2027-01-25",
        "new_date": "2027-01-30",
        "start": "09:15",
        "changed": True,
        "patients_told": 1,
        "warnings": ["Saturday 30 January 2027 is not a Monday to Thursday."],
    }
    assert (await calendar_rows(runtime))["review1"] == (date(2027, 1, 30), "09:15")
    async with runtime.sessions() as session:
        notice = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.kind == "event_moved")
        )
    assert notice is not None
    assert "review has moved from Monday 25 January 2027 to Saturday 30 January 2027" in notice.text
    assert "starting at 09:15" in notice.text
    shown = await run_json(cli, "cohort", "show", str(cohort.id))
    assert next(e for e in shown["calendar"] if e["event"] == "review1")["start"] == "09:15"


async def test_changing_only_the_start_time_is_told_as_such(
    cli: CliRunner, runtime: Runtime
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    await enrol(runtime, cohort.id, "Robin")
    moved = await run_json(
        cli, "cohort", "move-event", str(cohort.id), "day12", "2026-12-24", "--start", "10:30"
    )
    assert (moved["old_date"], moved["new_date"], moved["start"]) == (
        "2026-12-24",
        "2026-12-24",
        "10:30",
    )
    assert (await calendar_rows(runtime))["day12"] == (date(2026, 12, 24), "10:30")
    async with runtime.sessions() as session:
        notice = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.kind == "event_moved")
        )
    assert notice is not None and "10:30" in notice.text
    # Not "moved from Thursday 24 December 2026 to Thursday 24 December 2026".
    assert "from Thursday 24 December 2026 to Thursday 24 December 2026" not in notice.text


async def test_show_notes_a_review_moved_onto_a_bank_holiday(
    cli: CliRunner, runtime: Runtime
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    moved = await run_json(cli, "cohort", "move-event", str(cohort.id), "review12", "2027-12-27")
    assert moved["warnings"] == ["Monday 27 December 2027 is a bank holiday in England."]
    shown = await run_json(cli, "cohort", "show", str(cohort.id))
    review12 = next(e for e in shown["calendar"] if e["event"] == "review12")
    assert review12["date"] == "2027-12-27"
    # Like a programme day on a bank holiday, the calendar should flag it.
    assert "bank holiday" in review12["notes"], review12["notes"]


async def test_moving_a_review_into_the_past_changes_nothing(
    cli: CliRunner, runtime: Runtime
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    await enrol(runtime, cohort.id, "Robin")
    before = await calendar_rows(runtime)
    async with runtime.sessions() as session:
        planned_before = sorted(
            (r.id, r.event_date, r.due_at) for r in await session.scalars(select(ScheduledMessage))
        )
    output = await refused(cli, "cohort", "move-event", str(cohort.id), "review1", "2026-11-20")
    assert "Friday 20 November 2026 is in the past; choose today or later." in output
    assert await calendar_rows(runtime) == before
    assert await count(runtime, OutboxMessage) == 0
    async with runtime.sessions() as session:
        planned_after = sorted(
            (r.id, r.event_date, r.due_at) for r in await session.scalars(select(ScheduledMessage))
        )
    assert planned_after == planned_before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["1", "day13", "2027-01-04"], "'day13' is not an event: use day1 to day12"),
        (["1", "review3", "2027-01-04"], "'review3' is not an event"),
        (["1", "day12", "2027-01-04", "--start", "25:00"], "'25:00' is not a time: use HH:MM"),
        (["999", "day12", "2027-01-04"], "There is no group with id 999."),
        (["1", "day5", "2026-12-10"], "Day 5 must come after Day 4 (Thursday 10 December 2026)."),
    ],
)
async def test_move_event_bad_input_is_explained(
    cli: CliRunner, runtime: Runtime, args: list[str], message: str
) -> None:
    await make_cohort(runtime, start=WINTER)
    before = await calendar_rows(runtime)
    assert message in await refused(cli, "cohort", "move-event", *args)
    assert await calendar_rows(runtime) == before
    assert await count(runtime, OutboxMessage) == 0


async def test_a_date_that_is_not_a_date_is_explained_in_staff_words(
    cli: CliRunner, runtime: Runtime
) -> None:
    await make_cohort(runtime, start=WINTER)
    output = await refused(cli, "cohort", "move-event", "1", "day12", "4 January")
    assert "'4 January'" in output
    # The usage line and the error name the argument as a date staff can read (today they
    # show click's strftime metavar, "[%Y-%m-%d]", which also looks optional).
    assert "COHORT_ID EVENT YYYY-MM-DD" in output
    assert "[%Y-%m-%d]" not in output


# --- reminders --------------------------------------------------------------------------


async def test_reminders_show_local_and_utc_times_in_summer_and_winter(
    cli: CliRunner, runtime: Runtime
) -> None:
    summer = await make_cohort(runtime, start=SUMMER)
    winter = await make_cohort(runtime, start=WINTER)
    (robin,) = await enrol(runtime, summer.id, "Robin")
    (sam,) = await enrol(runtime, winter.id, "Sam")

    result = await invoke(cli, "reminders", "--cohort", str(summer.id), "--date", "2027-06-07")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{'P' + str(robin):>6}  Day 1            morning          2027-06-07 07:45 "
        "(2027-06-07 06:45 UTC)  planned",
        f"{'P' + str(robin):>6}  Day 1            practice_plan    2027-06-07 15:30 "
        "(2027-06-07 14:30 UTC)  planned",
        f"{'P' + str(robin):>6}  Day 2            evening          2027-06-07 18:00 "
        "(2027-06-07 17:00 UTC)  planned",
    ]
    found = await run_json(cli, "reminders", "--cohort", str(winter.id), "--date", "2026-12-07")
    assert [
        (r["reference"], r["event"], r["slot"], r["due_local"], r["due_utc"]) for r in found
    ] == [
        (f"P{sam}", "Day 1", "morning", "2026-12-07 07:45", "2026-12-07 07:45"),
        (f"P{sam}", "Day 1", "practice_plan", "2026-12-07 15:30", "2026-12-07 15:30"),
        (f"P{sam}", "Day 2", "evening", "2026-12-07 18:00", "2026-12-07 18:00"),
    ]
    # The summer group's reminders are not the winter group's.
    assert all(r["reference"] == f"P{sam}" for r in found)


async def test_reminders_json_fields(cli: CliRunner, runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    await enrol(runtime, cohort.id, "Robin", "Sam")
    found = await run_json(cli, "reminders", "--cohort", str(cohort.id), "--date", "2026-12-24")
    # Each: day 12's morning reminder and home-practice check-in (the last day has no plan).
    assert [r["slot"] for r in found] == ["morning", "morning", "practice_check", "practice_check"]
    for item in found[:2]:
        assert {"reference", "event", "slot", "due_local", "due_utc", "state", "detail"} <= set(
            item
        )
        assert (item["event"], item["slot"], item["state"], item["detail"]) == (
            "Day 12",
            "morning",
            "planned",
            None,
        )
        datetime.strptime(item["due_local"], "%Y-%m-%d %H:%M")
        datetime.strptime(item["due_utc"], "%Y-%m-%d %H:%M")
    assert [item["reference"] for item in found] == ["P1", "P2", "P1", "P2"]


async def test_reminders_show_sent_after_the_dispatcher_ran(
    cli: CliRunner, runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    await enrol(runtime, cohort.id, "Robin", "Sam")
    clock.set(utc(2026, 12, 6, 18, 0))
    sender = RecordingSender()
    await dispatcher(runtime, sender).drain()
    assert sorted(chat for chat, _reply in sender.sent) == ["chat-Robin", "chat-Sam"]

    found = await run_json(cli, "reminders", "--cohort", str(cohort.id), "--date", "2026-12-06")
    assert [(r["reference"], r["event"], r["slot"], r["state"]) for r in found] == [
        ("P1", "Day 1", "evening", "sent"),
        ("P2", "Day 1", "evening", "sent"),
    ]
    text = (
        await invoke(cli, "reminders", "--cohort", str(cohort.id), "--date", "2026-12-06")
    ).output
    assert text.count("(2026-12-06 18:00 UTC)  sent") == 2
    # The next morning's are still planned.
    later = await run_json(cli, "reminders", "--cohort", str(cohort.id), "--date", "2026-12-07")
    assert [r["state"] for r in later if r["slot"] == "morning"] == ["planned", "planned"]


class BlockedSender:
    """A chat whose person has blocked the bot."""

    channel = "console"

    async def send(self, chat_id: str, reply: Reply) -> None:
        raise RecipientBlocked("Forbidden: bot was blocked by the user")


async def test_reminders_show_blocked(cli: CliRunner, runtime: Runtime, clock: ManualClock) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    (robin,) = await enrol(runtime, cohort.id, "Robin")
    clock.set(utc(2026, 12, 6, 18, 0))
    await dispatcher(runtime, BlockedSender()).drain()
    async with runtime.sessions() as session:
        person = await session.get(Person, robin)
        assert person is not None and person.unreachable_at == utc(2026, 12, 6, 18, 0)
        statuses = list(await session.scalars(select(OutboxMessage.status)))
        assert statuses == ["blocked"]

    found = await run_json(cli, "reminders", "--cohort", str(cohort.id), "--date", "2026-12-06")
    assert [(r["slot"], r["state"], r["detail"]) for r in found] == [
        ("evening", "blocked", "the patient can't be reached (blocked the bot?)")
    ]
    # Later reminders are not sent to someone who blocked the bot: they show blocked too.
    clock.set(utc(2026, 12, 7, 7, 45))
    sender = RecordingSender()
    await dispatcher(runtime, sender).drain()
    assert sender.sent == []
    text = (
        await invoke(cli, "reminders", "--cohort", str(cohort.id), "--date", "2026-12-07")
    ).output
    assert "morning          2026-12-07 07:45 (2026-12-07 07:45 UTC)  blocked – the patient" in text


async def test_reminders_show_skipped_when_released_too_late(
    cli: CliRunner, runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    await enrol(runtime, cohort.id, "Robin")
    clock.set(utc(2026, 12, 7, 0, 30))  # the evening reminder was useful until midnight
    sender = RecordingSender()
    await dispatcher(runtime, sender).drain()
    assert sender.sent == []
    found = await run_json(cli, "reminders", "--cohort", str(cohort.id), "--date", "2026-12-06")
    assert [(r["slot"], r["state"], r["detail"]) for r in found] == [
        ("evening", "skipped", "no longer useful by the time it could be sent")
    ]
    today = await run_json(cli, "reminders", "--cohort", str(cohort.id), "--date", "2026-12-07")
    assert [(r["slot"], r["state"]) for r in today] == [
        ("morning", "planned"),
        ("practice_plan", "planned"),
        ("evening", "planned"),
    ]


async def test_reminders_nothing_due_and_unknown_group(cli: CliRunner, runtime: Runtime) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    await enrol(runtime, cohort.id, "Robin")
    result = await invoke(cli, "reminders", "--cohort", str(cohort.id), "--date", "2026-12-02")
    assert result.exit_code == 0
    assert result.output.strip() == "No reminders due on Wed 02 Dec 2026 for group 1."
    assert (
        await run_json(cli, "reminders", "--cohort", str(cohort.id), "--date", "2026-12-02") == []
    )
    output = await refused(cli, "reminders", "--cohort", "999", "--date", "2026-12-07")
    assert "There is no group with id 999." in output


# --- cohort set-days --------------------------------------------------------------------


async def test_set_days_after_creation_changes_what_reminders_say(
    cli: CliRunner, runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    await enrol(runtime, cohort.id, "Robin")
    shown = await run_json(cli, "cohort", "set-days", str(cohort.id), "--qa-day", "3")
    assert (shown["qa_day"], shown["family_day"]) == (3, 7)
    assert "doctor's question-and-answer session" in shown["calendar"][2]["notes"]
    assert "friends and family day" in shown["calendar"][6]["notes"]
    # The evening before day 3, the reminder names the session.
    sender = RecordingSender()
    clock.set(datetime(2026, 12, 8, 18, 0, tzinfo=runtime.settings.tz))
    await dispatcher(runtime, sender).drain()
    (reminder,) = [reply.text for _chat, reply in sender.sent if "day 3 of 12" in reply.text]
    assert "The doctor's question-and-answer session is tomorrow." in reminder
    assert "11:30  The doctor's question-and-answer session" in reminder


async def test_set_days_refuses_bad_days_and_changes_nothing(
    cli: CliRunner, runtime: Runtime
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    for args in (["--family-day", "3"], ["--qa-day", "13"], []):
        output = await refused(cli, "cohort", "set-days", str(cohort.id), *args)
        assert "Error" in output
    shown = await run_json(cli, "cohort", "show", str(cohort.id))
    assert (shown["qa_day"], shown["family_day"]) == (10, 7)


# Day 10 as the timetable has it: the doctor's session in the place of pacing.
QA_DAY_USUAL = [
    ("09:30", "Review of your home-practice action plan (whole team)"),
    ("09:45", "Feedback from the thought challenge (psychology)"),
    ("11:00", "Break"),
    ("11:30", "The doctor's question-and-answer session"),
    ("12:30", "Lunch"),
    ("13:30", "Relaxation (self-directed)"),
    ("14:00", "Trying out movement (physiotherapy)"),
    ("15:00", "Finish"),
]


async def qa_day_timetable(runtime: Runtime, number: int = 10) -> list[tuple[str, str]]:
    """What patients are shown for a day of the group (the one the test made)."""
    async with runtime.sessions() as session:
        cohort = await session.get(Cohort, 1)
        assert cohort is not None
        event = await session.scalar(
            select(CohortEvent).where(CohortEvent.kind == "day", CohortEvent.number == number)
        )
        assert event is not None
        return [(s["time"], s["title"]) for s in sessions_of(runtime.content, event, cohort)]


async def test_set_days_moves_the_doctors_session_without_a_clash_and_prints_the_day(
    cli: CliRunner, runtime: Runtime
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    assert await qa_day_timetable(runtime) == QA_DAY_USUAL
    result = await invoke(cli, "cohort", "set-days", str(cohort.id), "--qa-time", "14:00")
    assert result.exit_code == 0, result.output
    # It takes the physiotherapy hour, which takes its place; nothing else moves or goes.
    expected = [
        ("09:30", "Review of your home-practice action plan (whole team)"),
        ("09:45", "Feedback from the thought challenge (psychology)"),
        ("11:00", "Break"),
        ("11:30", "Trying out movement (physiotherapy)"),
        ("12:30", "Lunch"),
        ("13:30", "Relaxation (self-directed)"),
        ("14:00", "The doctor's question-and-answer session"),
        ("15:00", "Finish"),
    ]
    assert await qa_day_timetable(runtime) == expected
    assert result.output.splitlines()[:10] == [
        f"Group {cohort.id}: question-and-answer session on day 10 at 14:00, friends and family"
        " day on day 7.",
        "  Day 10 (Tue 22 Dec 2026):",
        "    09:30  Review of your home-practice action plan (whole team)",
        "    09:45  Feedback from the thought challenge (psychology)",
        "    11:00  Break",
        "    11:30  Trying out movement (physiotherapy)  – moved from 14:00",
        "    12:30  Lunch",
        "    13:30  Relaxation (self-directed)",
        "    14:00  The doctor's question-and-answer session  – moved from 11:30",
        "    15:00  Finish",
    ]
    shown = await run_json(cli, "cohort", "set-days", str(cohort.id), "--qa-time", "2pm")
    assert [(s["time"], s["title"]) for s in shown["qa_day_timetable"]] == expected
    assert shown["qa_day_timetable"][3]["moved_from"] == "14:00"
    # Back to the timetable's own time.
    await run_json(cli, "cohort", "set-days", str(cohort.id), "--qa-time", "11:30")
    assert await qa_day_timetable(runtime) == QA_DAY_USUAL


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("25:00", "'25:00' is not a time: use HH:MM, like 14:00."),
        (
            "09:30",
            "can't start at 09:30 on day 10: the day starts at 09:30 with 'Review of your"
            " home-practice action plan (whole team)'.",
        ),
        (
            "13:30",
            "can't start at 13:30 on day 10: from 13:30 to 14:30 it would overlap 'Trying out"
            " movement (physiotherapy)' (14:00 to 15:00).",
        ),
        ("12:30", "'Lunch' (12:30 to 13:30) is a break and stays where it is."),
        ("14:30", "the day finishes at 15:00 and the doctor's session lasts 1 hour."),
    ],
    ids=["not-a-time", "first-session", "overlap", "lunch", "past-the-finish"],
)
async def test_set_days_refuses_a_time_that_would_clash_and_changes_nothing(
    cli: CliRunner, runtime: Runtime, typed: str, reason: str
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    output = await refused(cli, "cohort", "set-days", str(cohort.id), "--qa-time", typed)
    assert reason in output
    if typed != "25:00":
        assert "Times that fit on day 10: 11:30 or 14:00 (give one with --qa-time)." in output
    async with runtime.sessions() as session:
        stored = await session.get(Cohort, cohort.id)
        assert stored is not None and stored.qa_time is None
    assert await qa_day_timetable(runtime) == QA_DAY_USUAL


async def test_set_days_checks_a_chosen_time_on_the_new_day(
    cli: CliRunner, runtime: Runtime
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    await run_json(cli, "cohort", "set-days", str(cohort.id), "--qa-time", "14:00")
    # On the family day, 14:00 is the guests' second session: it stays where guests expect it.
    output = await refused(cli, "cohort", "set-days", str(cohort.id), "--qa-day", "7")
    assert (
        "The doctor's session can't start at 14:00 on day 7: 'Friends and family: how to support"
        " pain management at home' (14:00 to 15:00) is for friends and family, who are told its"
        " time, and stays where it is. Times that fit on day 7: 11:30 (give one with --qa-time)."
        in " ".join(output.split())
    )
    shown = await run_json(cli, "cohort", "show", str(cohort.id))
    assert (shown["qa_day"], shown["family_day"]) == (10, 7)
    moved = await run_json(
        cli, "cohort", "set-days", str(cohort.id), "--qa-day", "7", "--qa-time", "11:30"
    )
    assert moved["qa_day"] == 7 and moved["qa_time"] == "11:30"


async def test_moving_the_doctors_day_to_another_start_warns_if_its_time_no_longer_fits(
    cli: CliRunner, runtime: Runtime
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    await run_json(cli, "cohort", "set-days", str(cohort.id), "--qa-time", "14:00")
    result = await invoke(cli, "cohort", "move-event", str(cohort.id), "day10", "2026-12-22",
                          "--start", "10:30")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "  Check: The doctor's session, set for 14:00, no longer fits day 10: from 14:00 to 15:00"
        " it would overlap 'Lunch' (13:30 to 14:30). Times that fit: 12:30 or 15:00"
        f" (pmp cohort set-days {cohort.id} --qa-time HH:MM)." in result.output
    )
    fixed = await invoke(cli, "cohort", "set-days", str(cohort.id), "--qa-time", "15:00")
    assert fixed.exit_code == 0, fixed.output
    times = [time for time, _title in await qa_day_timetable(runtime)]
    assert times == ["10:30", "10:45", "12:00", "12:30", "13:30", "14:30", "15:00", "16:00"]


async def test_reminders_list_visitors_booked_onto_the_groups_review(
    cli: CliRunner, runtime: Runtime
) -> None:
    own = await make_cohort(runtime, start=WINTER)
    other = await make_cohort(runtime, start=date(2026, 12, 14))
    (visitor,) = await enrol(runtime, own.id, "Robin")
    async with runtime.sessions() as session, session.begin():
        review = await session.scalar(
            select(CohortEvent).where(
                CohortEvent.cohort_id == other.id,
                CohortEvent.kind == "review",
                CohortEvent.number == 1,
            )
        )
        person = await session.get(Person, visitor)
        assert review is not None and person is not None
        await attendance.book_review(session, person, review, runtime.clock.now())
        await Planner(runtime.content, runtime.settings.tz).plan(
            session, runtime.clock.now(), [visitor]
        )
    day_before = (review.on_date - timedelta(days=1)).isoformat()
    listed = await run_json(cli, "reminders", "--cohort", str(other.id), "--date", day_before)
    assert [(r["reference"], r["slot"]) for r in listed] == [(f"P{visitor}", "day_before")]


# --- patient discharge / book-review ------------------------------------------------------


async def test_discharge_by_hand_stops_reminders_and_says_goodbye(
    cli: CliRunner, runtime: Runtime
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    (robin,) = await enrol(runtime, cohort.id, "Robin")
    done = await run_json(cli, "patient", "discharge", f"p{robin}")
    assert done == {"reference": f"P{robin}", "discharged": True}
    assert await count(runtime, ScheduledMessage, ScheduledMessage.status == "planned") == 0
    async with runtime.sessions() as session:
        person = await session.get(Person, robin)
        message = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.kind == "discharge")
        )
    assert person is not None and person.discharged_at is not None
    assert message is not None and "discharged you" in message.text
    again = await invoke(cli, "patient", "discharge", f"P{robin}")
    assert again.exit_code == 0 and "already discharged; nothing changed" in again.output
    assert await count(runtime, OutboxMessage, OutboxMessage.kind == "discharge") == 1
    for unknown in ("P999", "banana", "P²"):
        assert "There is no patient" in await refused(cli, "patient", "discharge", unknown)


async def test_booking_a_review_by_hand_moves_the_reminders_and_the_discharge(
    cli: CliRunner, runtime: Runtime, clock: ManualClock
) -> None:
    own = await make_cohort(runtime, start=WINTER)
    later = await make_cohort(runtime, start=date(2027, 1, 11))
    (robin,) = await enrol(runtime, own.id, "Robin")
    booked = await run_json(cli, "patient", "book-review", f"P{robin}", "12", str(later.id))
    async with runtime.sessions() as session:
        review = await session.scalar(
            select(CohortEvent).where(
                CohortEvent.cohort_id == later.id,
                CohortEvent.kind == "review",
                CohortEvent.number == 12,
            )
        )
        assert review is not None
        discharge_row = await session.scalar(
            select(ScheduledMessage).where(ScheduledMessage.slot == "discharge")
        )
    assert booked["date"] == review.on_date.isoformat()
    assert discharge_row is not None and discharge_row.event_id == review.id
    # The patient is told the date, the time and the other group's place.
    async with runtime.sessions() as session:
        told = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.kind == "review_booked")
        )
    assert booked["patient_told"] is True
    assert told is not None
    assert f"12-month group review on {review.on_date:%A} {review.on_date.day}" in told.text
    assert "with another group" in told.text and "from " in told.text
    assert (later.location or later.video_link or "") in told.text
    # Booking a review that has passed, or for a discharged patient, is refused.
    clock.set(datetime(2028, 6, 1, 12, 0, tzinfo=UTC))
    output = await refused(cli, "patient", "book-review", f"P{robin}", "1", str(later.id))
    assert "That review was on" in output
    clock.set(datetime(2027, 1, 4, 12, 0, tzinfo=UTC))
    await invoke(cli, "patient", "discharge", f"P{robin}")
    output = await refused(cli, "patient", "book-review", f"P{robin}", "12", str(later.id))
    assert f"P{robin} has been discharged." in output


async def test_cohort_show_marks_patients_who_paused_reminders_or_were_discharged(
    cli: CliRunner, runtime: Runtime, clock: ManualClock
) -> None:
    own = await make_cohort(runtime, start=WINTER)
    robin, sam, jo = await enrol(runtime, own.id, "Robin", "Sam", "Jo")
    async with runtime.sessions() as session, session.begin():
        paused_one = await session.get(Person, robin)
        discharged_one = await session.get(Person, sam)
        assert paused_one is not None and discharged_one is not None
        paused_one.paused_at = clock.now()
        discharged_one.discharged_at = clock.now()
    shown = await invoke(cli, "cohort", "show", str(own.id))
    lines = {line.split()[0]: line for line in shown.output.splitlines() if line.strip()}
    assert "reminders paused until they turn them back on" in lines[f"P{robin}"]
    assert "review reminders still go" in lines[f"P{robin}"]
    assert "discharged" in lines[f"P{sam}"]
    assert "paused" not in lines[f"P{jo}"] and "discharged" not in lines[f"P{jo}"]
    data = await run_json(cli, "cohort", "show", str(own.id))
    assert [(p["paused"], bool(p["discharged"])) for p in data["patients"]] == [
        (True, False),
        (False, True),
        (False, False),
    ]


async def test_reminders_show_which_planned_ones_a_pause_will_skip(
    cli: CliRunner, runtime: Runtime, clock: ManualClock
) -> None:
    cohort = await make_cohort(runtime, start=WINTER)
    robin, sam = await enrol(runtime, cohort.id, "Robin", "Sam")
    async with runtime.sessions() as session, session.begin():
        person = await session.get(Person, robin)
        assert person is not None
        person.paused_at = clock.now()  # until they turn them back on
    found = await run_json(cli, "reminders", "--cohort", str(cohort.id), "--date", "2026-12-24")
    details = {(r["reference"], r["slot"]): r["detail"] for r in found}
    assert details[(f"P{robin}", "morning")] == "will be skipped: the patient has paused reminders"
    assert details[(f"P{sam}", "morning")] is None
