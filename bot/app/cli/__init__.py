"""The `pmp` command line: run the bot, the demo, migrations, groups and invites."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from datetime import date, datetime, time, timedelta
from typing import Any

import click
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app.cli import common
from bot.app.cli.common import day, emit, with_runtime
from bot.app.cli.escalations import escalations, screen
from bot.app.cli.family import family
from bot.app.cli.questions import questions_command
from bot.app.cli.staff import staff
from bot.app.cli.teams import teams
from bot.app.runtime import Runtime, configure_logging, open_runtime
from bot.config import Settings
from bot.content import Content
from bot.db.models import Cohort, CohortEvent, Invite
from bot.messages import Reply
from bot.services import (
    attendance,
    calendar_changes,
    cohorts,
    discharge,
    events,
    invites,
    people,
    questions,
)
from bot.services.cohorts import CohortError, CohortRequest
from bot.services.outbox import after_quiet_hours, patient_message
from bot.services.planner import Planner, first_session
from bot.time.calendar import DEFAULT_FAMILY_DAY, DEFAULT_QA_DAY, bank_holiday
from bot.time.times import hhmm, parse_clock
from scheduler import delivery
from scheduler.dispatcher import CLAIMER_SILENT, last_seen
from scheduler.reminders import paused


@click.group()
def main() -> None:
    """PMP Companion: the pain management programme's messaging assistant."""


@main.command()
def run() -> None:
    """Start the bot: on Telegram when TELEGRAM_BOT_TOKEN is set, otherwise the terminal demo."""
    settings = common.settings()
    if not settings.telegram_bot_token:
        click.echo("No TELEGRAM_BOT_TOKEN set: starting the terminal demo.", err=True)
        _run_demo(settings)
        return
    from bot.app.telegram_service import run_forever

    configure_logging(settings)

    async def go() -> None:
        runtime = await open_runtime(settings)
        try:
            await run_forever(runtime)
        finally:
            await runtime.close()

    from telegram.error import InvalidToken

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)
    except InvalidToken:
        # PTB's own message prints the token: say what is wrong without it.
        raise click.ClickException(
            "Telegram rejected TELEGRAM_BOT_TOKEN. Check it with @BotFather."
        ) from None
    except (ValueError, OSError) as error:  # a setting it cannot run safely without
        raise click.ClickException(str(error)) from error
    except Exception:
        # Through the log, whose formatter takes the token out of the traceback too.
        logging.getLogger(__name__).critical("the bot stopped", exc_info=True)
        raise SystemExit(1) from None


@main.command()
def health() -> None:
    """Exit 0 if a running bot said, in the last 10 seconds, that it receives updates (for a
    service manager's health check); 1 otherwise."""

    async def seconds_ago(runtime: Runtime) -> float | None:
        return await last_seen(runtime.sessions, runtime.clock.now())

    ago = with_runtime(seconds_ago)
    limit = CLAIMER_SILENT.total_seconds()
    if ago is None or ago > limit:
        click.echo(f"Unhealthy: no bot process has said it is receiving in the last {limit:.0f} s.")
        raise SystemExit(1)
    click.echo(f"OK: the bot said it was receiving {ago:.0f} s ago.")


@main.command()
def demo() -> None:
    """The terminal demo on its own SQLite database: chat as a patient."""
    _run_demo(common.settings())


def _run_demo(settings: Settings) -> None:
    from bot.app.demo import demo_settings, run_demo

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(demo_settings(settings)))
    click.echo("\nGoodbye.")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def db_upgrade(as_json: bool) -> None:
    """Apply every migration to DATABASE_URL."""

    async def revision(runtime: Runtime) -> str | None:
        async with runtime.engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    current = with_runtime(revision)
    emit({"revision": current}, as_json, f"Database is up to date (revision {current}).")


@main.group()
def cohort() -> None:
    """Programme groups."""


async def _cohort_dict(session: AsyncSession, item: Cohort, content: Content) -> dict[str, Any]:
    """A group and its calendar, for printing or JSON."""
    calendar = await events.events_of(session, item)
    return {
        "id": item.id,
        "name": item.name,
        "start_date": item.start_date.isoformat(),
        "mode": item.mode,
        "location": item.location,
        "video_link": item.video_link,
        "qa_day": item.qa_day,
        "family_day": item.family_day,
        "programme_days": [d.isoformat() for d in events.day_dates(calendar)],
        "calendar": [_event_dict(e, item, content) for e in calendar],
    }


def _event_dict(event: CohortEvent, cohort: Cohort, content: Content) -> dict[str, Any]:
    notes = []
    if event.kind == events.DAY and event.number == cohort.family_day:
        notes.append("friends and family day")
    if event.kind == events.DAY and event.number == cohort.qa_day:
        notes.append("doctor's question-and-answer session")
    if bank_holiday(event.on_date):
        notes.append("bank holiday")
    if event.kind == events.REVIEW and event.number == 12:
        notes.append("discharge after this review")
    return {
        "event": f"{event.kind}{event.number}",
        "title": events.describe(event),
        "date": event.on_date.isoformat(),
        "start": f"{first_session(content, event, cohort):%H:%M}",
        "notes": notes,
    }


def _calendar_lines(data: dict[str, Any]) -> list[str]:
    lines = ["  Calendar (event name for move-event, date, start):"]
    for item in data["calendar"]:
        notes = f"  – {', '.join(item['notes'])}" if item["notes"] else ""
        lines.append(
            f"    {item['event']:9} {item['title']:16} {day(item['date'])}  {item['start']}{notes}"
        )
    return lines


@cohort.command("create")
@click.option("--name", required=True, help="Group name, e.g. 'January online'.")
@click.option(
    "--start", "start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="A Monday."
)
@click.option("--mode", required=True, type=click.Choice(cohorts.MODES))
@click.option("--location", default=None, help="Where an in-person group meets.")
@click.option("--video-link", default=None, help="https:// link for an online group.")
@click.option(
    "--qa-day",
    default=DEFAULT_QA_DAY,
    show_default=True,
    type=click.IntRange(1, 12),
    help="Day number of the doctor's question-and-answer session.",
)
@click.option(
    "--family-day",
    default=DEFAULT_FAMILY_DAY,
    show_default=True,
    type=click.IntRange(5, 8),
    help="Day number of the friends-and-family day (week two: 5 to 8).",
)
@click.option(
    "--allow-past",
    is_flag=True,
    help="Allow a start date in the past, to record a group that has already started"
    " (otherwise refused, as a likely typing mistake).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def cohort_create(
    name: str,
    start: Any,
    mode: str,
    location: str | None,
    video_link: str | None,
    qa_day: int,
    family_day: int,
    allow_past: bool,
    as_json: bool,
) -> None:
    """Create a group and print its calendar (bank holidays are moved to the next free day)."""
    request = CohortRequest(name, start.date(), mode, location, video_link, qa_day, family_day)

    async def work(runtime: Runtime) -> dict[str, Any]:
        today = runtime.clock.now().astimezone(runtime.settings.tz).date()
        async with runtime.sessions() as session, session.begin():
            created = await cohorts.create_cohort(
                session, request, runtime.clock.now(), earliest=None if allow_past else today
            )
            data = await _cohort_dict(session, created, runtime.content)
            days = [date.fromisoformat(d) for d in data["programme_days"]]
            data["warnings"] = cohorts.calendar_notes(created, days, today)
            return data

    try:
        data = with_runtime(work)
    except CohortError as error:
        raise click.UsageError(str(error)) from error
    lines = [f"Created group {data['id']}: {data['name']} ({data['mode']})."]
    lines += _calendar_lines(data)
    lines.append(f"  Change any date with: pmp cohort move-event {data['id']} EVENT YYYY-MM-DD")
    lines += [f"Note: {warning}" for warning in data["warnings"]]
    emit(data, as_json, "\n".join(lines))


@cohort.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def cohort_list(as_json: bool) -> None:
    """List groups, newest first."""

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.sessions() as session:
            return [
                await _cohort_dict(session, c, runtime.content)
                for c in await cohorts.list_cohorts(session)
            ]

    data = with_runtime(work)
    text = (
        "\n".join(f"{c['id']:4}  {c['start_date']}  {c['mode']:9}  {c['name']}" for c in data)
        or "No groups yet."
    )
    emit(data, as_json, text)


@cohort.command("show")
@click.argument("cohort_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def cohort_show(cohort_id: int, as_json: bool) -> None:
    """Show a group: where, its twelve days, how many have joined."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.sessions() as session:
            item = await cohorts.get_cohort(session, cohort_id)
            data = await _cohort_dict(session, item, runtime.content)
            joined = await people.patients_of(session, cohort_id)
            tz = runtime.settings.tz
            data["patients"] = [
                {
                    "reference": people.reference(p),
                    "name": p.display_name,
                    "joined": f"{p.created_at.astimezone(tz):%Y-%m-%d %H:%M}",
                    "reachable": p.unreachable_at is None,
                    "discharged": (
                        f"{p.discharged_at.astimezone(tz):%Y-%m-%d}" if p.discharged_at else None
                    ),
                    "paused": paused(p, runtime.clock.now()),
                    "paused_until": (
                        f"{p.paused_until.astimezone(tz):%Y-%m-%d %H:%M}"
                        if paused(p, runtime.clock.now()) and p.paused_until
                        else None
                    ),
                }
                for p in joined
            ]
            all_invites = await invites.invites_for_cohort(session, cohort_id)
            data["invites"] = {
                "total": len(all_invites),
                "used": sum(1 for i in all_invites if i.used_at is not None),
            }
            return data

    try:
        data = with_runtime(work)
    except CohortError as error:
        raise click.UsageError(str(error)) from error
    place = data["location"] or data["video_link"]
    lines = [
        f"Group {data['id']}: {data['name']}",
        f"  Mode: {data['mode']} – {place}",
        f"  Patients joined: {len(data['patients'])} (invites used {data['invites']['used']}"
        f" of {data['invites']['total']})",
    ]
    lines += [
        f"    {p['reference']:>6}  {p['name']}  (joined {p['joined']})" + _patient_notes(p)
        for p in data["patients"]
    ]
    lines += _calendar_lines(data)
    emit(data, as_json, "\n".join(lines))


def _patient_notes(patient: dict[str, Any]) -> str:
    """What staff should know of a patient at a glance: discharged, paused, unreachable."""
    notes = []
    if patient["discharged"]:
        notes.append(f"discharged {patient['discharged']}")
    if patient["paused"]:
        until = patient["paused_until"] or "they turn them back on"
        notes.append(f"reminders paused until {until} (review reminders still go)")
    if not patient["reachable"]:
        notes.append("not reachable: has blocked the bot")
    return "".join(f"  – {note}" for note in notes)


@cohort.command("move-event")
@click.argument("cohort_id", type=int)
@click.argument("event")
@click.argument("new_date", type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD")
@click.option("--start", "start_time", default=None, help="A start time, HH:MM, for this event.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def cohort_move_event(
    cohort_id: int, event: str, new_date: Any, start_time: str | None, as_json: bool
) -> None:
    """Move a programme day or review (EVENT: day1..day12, review1, review6, review12).

    Reminders move with it, and each patient it concerns gets a message about the change.
    """
    if start_time is not None:
        parsed = parse_clock(start_time)
        if parsed is None:
            raise click.UsageError(f"'{start_time}' is not a time: use HH:MM, like 09:30.")
        start_time = hhmm(parsed)

    async def work(runtime: Runtime) -> dict[str, Any]:
        kind, number = events.parse_event_name(event)
        async with runtime.sessions() as session, session.begin():
            item = await cohorts.get_cohort(session, cohort_id)
            move, told = await calendar_changes.move_and_tell(
                session,
                runtime.content,
                runtime.settings.tz,
                item,
                kind,
                number,
                new_date.date(),
                runtime.clock.now(),
                start_time,
                Planner.of(runtime.content, runtime.settings).times,
            )
            return {
                "cohort_id": cohort_id,
                "event": f"{kind}{number}",
                "old_date": move.old_date.isoformat(),
                "new_date": move.event.on_date.isoformat(),
                "start": f"{first_session(runtime.content, move.event, item):%H:%M}",
                "changed": move.changed,
                "patients_told": told,
                "warnings": list(move.warnings),
            }

    try:
        data = with_runtime(work)
    except (CohortError, events.EventError) as error:
        raise click.UsageError(str(error)) from error
    if not data["changed"]:
        lines = [
            f"Nothing changed: {data['event']} of group {cohort_id} is already on"
            f" {day(data['new_date'])} at {data['start']}."
        ]
    else:
        lines = [
            f"Moved {data['event']} of group {cohort_id} from {day(data['old_date'])}"
            f" to {day(data['new_date'])}, starting {data['start']}. Reminders re-planned;"
            f" {data['patients_told']} patient(s) will get a message about it."
        ]
    lines += [f"  Check: {warning}" for warning in data["warnings"]]
    emit(data, as_json, "\n".join(lines))


@cohort.command("set-days")
@click.argument("cohort_id", type=int)
@click.option("--qa-day", type=click.IntRange(1, 12), default=None, help="Day 1 to 12.")
@click.option("--family-day", type=click.IntRange(5, 8), default=None, help="Day 5 to 8.")
@click.option(
    "--qa-time",
    default=None,
    help="When the doctor's session starts, HH:MM (e.g. 14:00). It takes the place of the"
    " sessions at that time, which move to its usual time; a time that would overlap a break,"
    " the family sessions, the start or the end of the day is refused.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def cohort_set_days(
    cohort_id: int, qa_day: int | None, family_day: int | None, qa_time: str | None, as_json: bool
) -> None:
    """Choose the day (and time) of the doctor's question-and-answer session or the family day.

    Questions for the doctor open and close relative to the session, so they move with it.
    Prints the timetable of the doctor's day.
    """
    if qa_day is None and family_day is None and qa_time is None:
        raise click.UsageError("Give --qa-day, --qa-time, --family-day or more than one.")

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.sessions() as session, session.begin():
            item = await cohorts.get_cohort(session, cohort_id)
            await cohorts.set_days(session, runtime.content, item, qa_day, family_day, qa_time)
            # The reminders' wording follows at once; their times may change with the day.
            planner = Planner.of(runtime.content, runtime.settings)
            await planner.plan_cohort(session, runtime.clock.now(), cohort_id)
            data = await _cohort_dict(session, item, runtime.content)
            window = await questions.window_of(
                session, runtime.content, item, planner.times, runtime.settings.tz
            )
            data["qa_time"] = (
                f"{window.qa_at.astimezone(runtime.settings.tz):%H:%M}" if window else None
            )
            day = await cohorts.qa_day(session, runtime.content, item)
            moved = day.moved() if day else {}
            data["qa_day_timetable"] = [
                {"time": s["time"], "title": s["title"], "moved_from": moved.get(s["title"])}
                for s in (day.sessions if day else [])
            ]
            data["qa_date"] = day.on_date.isoformat() if day else None
            return data

    try:
        data = with_runtime(work)
    except CohortError as error:
        raise click.UsageError(str(error)) from error
    at_time = f" at {data['qa_time']}" if data["qa_time"] else ""
    lines = [
        f"Group {cohort_id}: question-and-answer session on day {data['qa_day']}{at_time},"
        f" friends and family day on day {data['family_day']}."
    ]
    if data["qa_date"]:
        lines.append(f"  Day {data['qa_day']} ({day(data['qa_date'])}):")
        lines += [
            f"    {s['time']}  {s['title']}"
            + (f"  – moved from {s['moved_from']}" if s["moved_from"] else "")
            for s in data["qa_day_timetable"]
        ]
    lines += _calendar_lines(data)
    emit(data, as_json, "\n".join(lines))


@main.group()
def patient() -> None:
    """One patient, by reference (P7)."""


@patient.command("discharge")
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def patient_discharge(reference: str, as_json: bool) -> None:
    """Discharge a patient now (say, after a review arranged by hand): reminders stop and
    they get the discharge message."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.sessions() as session, session.begin():
            person = await people.find_patient(session, reference)
            if person is None:
                raise CohortError(f"There is no patient {reference}.")
            done = await discharge.discharge(
                session, runtime.content, runtime.settings.tz, person, runtime.clock.now()
            )
            return {"reference": people.reference(person), "discharged": done}

    try:
        data = with_runtime(work)
    except CohortError as error:
        raise click.UsageError(str(error)) from error
    text = (
        f"{data['reference']} is discharged: reminders stopped, discharge message sent."
        if data["discharged"]
        else f"{data['reference']} was already discharged; nothing changed."
    )
    emit(data, as_json, text)


@patient.command("book-review")
@click.argument("reference")
@click.argument("months", type=click.Choice(["1", "6", "12"]))
@click.argument("cohort_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def patient_book_review(reference: str, months: str, cohort_id: int, as_json: bool) -> None:
    """Book a patient onto a group's 1, 6 or 12-month review (their own group's undoes a move).

    Their review reminders (and the discharge after the 12-month review) follow at once.
    """

    async def work(runtime: Runtime) -> dict[str, Any]:
        now = runtime.clock.now()
        async with runtime.sessions() as session, session.begin():
            person = await people.find_patient(session, reference)
            if person is None:
                raise CohortError(f"There is no patient {reference}.")
            if person.discharged_at is not None:
                raise CohortError(f"{people.reference(person)} has been discharged.")
            group = await cohorts.get_cohort(session, cohort_id)
            review = next(
                e
                for e in await events.events_of(session, group)
                if e.kind == events.REVIEW and e.number == int(months)
            )
            if review.on_date < now.astimezone(runtime.settings.tz).date():
                raise CohortError(f"That review was on {events.nice(review.on_date)}.")
            await attendance.book_review(session, person, review, now)
            await Planner.of(runtime.content, runtime.settings).plan(session, now, [person.id])
            # The patient hears when and where, as if they had chosen it themselves.
            told = person.unreachable_at is None
            if told:
                text = runtime.content.render(
                    "reminders/review_booked_by_staff",
                    name=person.display_name,
                    months=int(months),
                    on_date=review.on_date,
                    start=f"{first_session(runtime.content, review, group):%H:%M}",
                    cohort=group,
                    elsewhere=group.id != person.cohort_id,
                )
                send_at = after_quiet_hours(person, now, runtime.settings.tz)
                session.add(patient_message(person, "review_booked", Reply(text), send_at, now))
            return {
                "reference": people.reference(person),
                "cohort_id": cohort_id,
                "months": int(months),
                "date": review.on_date.isoformat(),
                "patient_told": told,
            }

    try:
        data = with_runtime(work)
    except CohortError as error:
        raise click.UsageError(str(error)) from error
    text = (
        f"{data['reference']} is booked on the {data['months']}-month review of group"
        f" {cohort_id} on {day(data['date'])}; their reminders follow it."
        + (
            " They have been sent a message with the date, time and place."
            if data["patient_told"]
            else " They have blocked the bot, so they could not be told: please tell them."
        )
    )
    emit(data, as_json, text)


@main.command("reminders")
@click.option("--cohort", "cohort_id", required=True, type=int, help="Group id.")
@click.option("--date", "on", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Local date.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def reminders_command(cohort_id: int, on: Any, as_json: bool) -> None:
    """Every reminder due that day for a group's patients, and what happened to it."""

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.sessions() as session:
            await cohorts.get_cohort(session, cohort_id)
            found = await delivery.reminders_on(session, cohort_id, on.date(), runtime.settings.tz)
            return [item.as_dict() for item in found]

    try:
        data = with_runtime(work)
    except CohortError as error:
        raise click.UsageError(str(error)) from error
    text = (
        "\n".join(
            f"{r['reference']:>6}  {r['event']:16} {r['slot']:16} {r['due_local']} "
            f"({r['due_utc']} UTC)  {r['state']}" + (f" – {r['detail']}" if r["detail"] else "")
            for r in data
        )
        or f"No reminders due on {day(on.date().isoformat())} for group {cohort_id}."
    )
    emit(data, as_json, text)


@main.group()
def invite() -> None:
    """Joining codes."""


@invite.command("list")
@click.option("--cohort", "cohort_id", required=True, type=int, help="Group id.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def invite_list(cohort_id: int, as_json: bool) -> None:
    """List a group's codes and whether each is unused, used, declined or expired."""
    settings = common.settings()
    username = settings.telegram_bot_username or "YOUR_BOT_USERNAME"

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.sessions() as session:
            await cohorts.get_cohort(session, cohort_id)
            now = runtime.clock.now()
            return [
                _invite_dict(i, invites.status(i, now), username, settings)
                for i in await invites.invites_for_cohort(session, cohort_id)
            ]

    try:
        data = with_runtime(work, settings)
    except CohortError as error:
        raise click.UsageError(str(error)) from error
    text = (
        "\n".join(
            f"{i['display']}  {i['role']:7}  {i['status']:8}  expiry: {i['expiry']}" for i in data
        )
        or "No invites yet."
    )
    emit(data, as_json, text)


def _invite_dict(item: Invite, state: str, username: str, settings: Settings) -> dict[str, Any]:
    return {
        "code": item.code,
        "display": invites.pretty_code(item.code),
        "link": invites.deep_link(username, item.code),
        "role": item.role,
        "cohort_id": item.cohort_id,
        "status": state,
        "expires_at": item.expires_at.isoformat(),
        "expires_local": f"{item.expires_at.astimezone(settings.tz):%Y-%m-%d %H:%M}",
        "expiry": _until(item.expires_at, settings),
    }


@invite.command("create")
@click.option("--cohort", "cohort_id", required=True, type=int, help="Group id.")
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 200))
@click.option("--role", default="patient", show_default=True, type=click.Choice(invites.ROLES))
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def invite_create(cohort_id: int, count: int, role: str, as_json: bool) -> None:
    """Make single-use codes with their links. Each works for INVITE_VALID_DAYS (default 14)
    and at least until the end of the group's first day; a group that has finished takes none.
    """
    settings = common.settings()
    username = settings.telegram_bot_username or "YOUR_BOT_USERNAME"
    if not settings.telegram_bot_username:
        click.echo("TELEGRAM_BOT_USERNAME is not set: links show a placeholder.", err=True)

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.sessions() as session, session.begin():
            item = await cohorts.get_cohort(session, cohort_id)
            made = await invites.create_invites(
                session,
                cohort_id,
                role,
                count,
                runtime.clock.now(),
                settings.invite_valid_days,
                settings.tz,
            )
            first_day = events.day_dates(await events.events_of(session, item))[0]
            return {
                "name": item.name,
                "first_day": first_day,
                "invites": [_invite_dict(i, "unused", username, settings) for i in made],
            }

    try:
        data = with_runtime(work, settings)
    except (CohortError, invites.InviteError) as error:
        raise click.UsageError(str(error)) from error
    made = data["invites"]
    if as_json:
        emit(made, as_json, "")
        return
    click.echo(_invites_made(made, data, settings, cohort_id, role))


def _invites_made(
    made: list[dict[str, Any]], data: dict[str, Any], settings: Settings, cohort_id: int, role: str
) -> str:
    """The new codes, under one line that says plainly until when they work."""
    expires = datetime.fromisoformat(made[0]["expires_at"]).astimezone(settings.tz)
    until = _until(expires, settings)
    if expires.time() == time(0) and expires.date() - timedelta(days=1) == data["first_day"]:
        until += " (the group's first day)"
    kind = "staff code" if role == "staff" else "patient code"
    lines = [
        f"{len(made)} {kind}{'' if len(made) == 1 else 's'} for group {cohort_id}"
        f" ({data['name']}). Each works once, until {until}.",
        *(f"  {i['display']}  {i['link']}" for i in made),
    ]
    return "\n".join(lines)


def _until(expires: datetime, settings: Settings) -> str:
    """'Sun 20 Dec 2026 19:31 (UK time)', or 'the end of Mon 11 Jan 2027' for midnight, which
    is easily read as the wrong day."""
    local = expires.astimezone(settings.tz)
    if local.time() == time(0):
        return f"the end of {local - timedelta(days=1):%a %d %b %Y}"
    zone = "UK time" if settings.timezone == "Europe/London" else settings.timezone
    return f"{local:%a %d %b %Y} {local:%H:%M} ({zone})"


main.add_command(screen)
main.add_command(staff)
main.add_command(escalations)
main.add_command(family)
main.add_command(questions_command)
main.add_command(teams)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
