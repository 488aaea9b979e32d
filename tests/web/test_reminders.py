"""Reminders in the console: what was due on a day for a group and what happened to each, the
same facts as `pmp reminders`."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from click.testing import CliRunner
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Cohort, OutboxMessage, ScheduledMessage
from tests.helpers import RecordingSender, make_cohort
from tests.scheduler.support import dispatcher, enrol
from tests.test_cli_escalations import cli, run_json
from tests.web.support import Browser

__all__ = ["cli"]  # the fixture, shared with the CLI's tests

DAY_1 = "2026-12-07"  # the group's first day, a Monday (GMT)


async def group_with_every_outcome(
    runtime: Runtime, clock: ManualClock
) -> tuple[Cohort, dict[str, int]]:
    """Four patients whose day-1 morning reminders went four ways, and whose home-practice
    prompts are still to come, skipped or blocked."""
    cohort = await make_cohort(runtime)
    ids = {
        name: await enrol(runtime, cohort, name.lower(), name=name)
        for name in ("Robin", "Sam", "Alex", "Jo")
    }
    await enrol(runtime, await make_cohort(runtime), "other", name="Other")  # another group
    clock.set(datetime(2026, 12, 7, 7, 45, tzinfo=UTC))
    await dispatcher(runtime, RecordingSender()).drain()
    async with runtime.sessions() as session, session.begin():
        found = await session.execute(
            select(ScheduledMessage, OutboxMessage).outerjoin(
                OutboxMessage, OutboxMessage.scheduled_id == ScheduledMessage.id
            )
        )
        for reminder, message in found:
            person = {v: k for k, v in ids.items()}.get(reminder.person_id)
            if reminder.slot == "morning" and message is not None:
                if person == "Robin":
                    message.status = "expired"
                elif person == "Sam":
                    message.status, message.last_error = "failed", "Bad Request: chat not found"
                elif person == "Jo":
                    message.status, message.attempts = "pending", 1
                    message.last_error = "<b>timed out</b>"
            if reminder.slot == "practice_plan" and reminder.event_date.isoformat() == DAY_1:
                if person == "Sam":
                    reminder.status, reminder.reason = "skipped", "paused"
                elif person == "Alex":
                    reminder.status, reminder.reason = "blocked", "unreachable"
    return cohort, ids


def rows(page: str) -> list[list[str]]:
    """The table's cells, markup removed."""
    body = page.split('<tbody class="nhsuk-table__body">', 1)[1].split("</tbody>", 1)[0]
    return [
        [
            html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip())
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


async def test_each_reminder_and_what_happened_as_pmp_reminders_says(
    runtime: Runtime, clock: ManualClock, browser: Browser, cli: CliRunner
) -> None:
    cohort, ids = await group_with_every_outcome(runtime, clock)
    assert (await browser.sign_in()).status_code == 303  # the clock moved on days
    page = await browser.client.get(f"/reminders?group={cohort.id}&date={DAY_1}")
    assert page.status_code == 200
    robin, sam, alex, jo = (f"P{ids[n]}" for n in ("Robin", "Sam", "Alex", "Jo"))
    assert rows(page.text) == [
        ["07:45", f"{robin} Robin", "Day 1", "Morning of the day",
         "Expired not delivered before it stopped being useful"],
        ["07:45", f"{sam} Sam", "Day 1", "Morning of the day",
         "Failed Bad Request: chat not found"],
        ["07:45", f"{alex} Alex", "Day 1", "Morning of the day", "Sent"],
        ["07:45", f"{jo} Jo", "Day 1", "Morning of the day",
         "Queued retrying: <b>timed out</b>"],
        ["15:30", f"{robin} Robin", "Day 1", "Set home practice", "Planned"],
        ["15:30", f"{sam} Sam", "Day 1", "Set home practice",
         "Skipped the patient paused reminders"],
        ["15:30", f"{alex} Alex", "Day 1", "Set home practice",
         "Blocked the patient can't be reached (blocked the bot?)"],
        ["15:30", f"{jo} Jo", "Day 1", "Set home practice", "Planned"],
        ["18:00", f"{robin} Robin", "Day 2", "Evening before", "Planned"],
        ["18:00", f"{sam} Sam", "Day 2", "Evening before", "Planned"],
        ["18:00", f"{alex} Alex", "Day 2", "Evening before", "Planned"],
        ["18:00", f"{jo} Jo", "Day 2", "Evening before", "Planned"],
    ]  # fmt: skip
    assert "Other" not in page.text
    assert "retrying: &lt;b&gt;timed out&lt;/b&gt;" in page.text  # shown, never run
    counts = re.search(r'<p id="reminder-counts">(.*?)</p>', page.text, re.S)
    assert counts is not None and " ".join(counts.group(1).split()) == (
        "12 reminders: 6 planned, 1 queued, 1 sent, 1 skipped, 1 blocked, 1 failed, 1 expired."
    )
    # The same facts as the command line's, row for row.
    facts = await run_json(cli, "reminders", "--cohort", str(cohort.id), "--date", DAY_1)
    assert [(r["due_local"][11:], r["reference"], r["event"]) for r in facts] == [
        (row[0], row[1].split()[0], row[2]) for row in rows(page.text)
    ]
    for fact, row in zip(facts, rows(page.text), strict=True):
        state = (
            "expired"
            if fact["detail"] == "not delivered before it stopped being useful"
            else (fact["state"])
        )
        assert row[4].lower().startswith(state)
        assert (fact["detail"] or "") in row[4]


async def test_a_day_without_reminders_and_the_days_either_side(
    runtime: Runtime, browser: Browser
) -> None:
    cohort = await make_cohort(runtime)
    page = await browser.client.get(f"/reminders?group={cohort.id}&date=2026-11-26")
    assert page.status_code == 200
    assert "No reminders are due on this day for this group." in page.text
    assert f'href="/reminders?group={cohort.id}&amp;date=2026-11-25"' in page.text
    assert f'href="/reminders?group={cohort.id}&amp;date=2026-11-27"' in page.text


async def test_the_date_is_today_unless_given_and_a_group_is_chosen_first(
    runtime: Runtime, browser: Browser
) -> None:
    empty = await browser.client.get("/reminders")
    assert empty.status_code == 200 and "There are no groups yet." in empty.text
    cohort = await make_cohort(runtime)
    await enrol(runtime, cohort, "robin", name="Robin")
    chooser = await browser.client.get("/reminders")
    assert chooser.status_code == 200
    assert '<option value="">Choose a group</option>' in chooser.text
    assert 'value="2026-11-26"' in chooser.text and "<table" not in chooser.text
    today = await browser.client.get(f"/reminders?group={cohort.id}")
    assert "Thursday 26 November 2026" in today.text


async def test_a_bad_date_or_group_is_explained_not_a_failure(
    runtime: Runtime, browser: Browser
) -> None:
    cohort = await make_cohort(runtime)
    for bad in ("2026-02-30", "tomorrow", "26/11/2026", "20261126", "2026-13-01", "0000-01-01",
                "<script>x</script>", "9999-12-31", "0001-01-01", "2026-11-26T10:00"):  # fmt: skip
        page = await browser.client.get(f"/reminders?group={cohort.id}&date={bad}")
        assert page.status_code == 400, bad
        assert "is not a date we can show. Enter a date like 2026-11-26." in page.text
        assert "<script>x" not in page.text and "<table" not in page.text
    edge = await browser.client.get(f"/reminders?group={cohort.id}&date=2099-12-31")
    assert edge.status_code == 200 and "Next day" not in edge.text
    for group in ("99", "abc", "-1", "99999999999999999999", ""):
        page = await browser.client.get(f"/reminders?group={group}&date=2026-12-07")
        if group:
            assert page.status_code == 404, group
            assert "There is no group with the number" in page.text
        else:
            assert page.status_code == 200 and "Choose a group" in page.text
