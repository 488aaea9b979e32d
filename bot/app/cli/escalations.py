"""`pmp screen` and `pmp escalations`: the risk screen and staff alerts from the command line."""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy import select

from bot.app.cli import common
from bot.app.runtime import Runtime
from bot.db.models import Escalation, EscalationEvent, Person
from bot.safety.screening import Screen, Screening, default_screen
from bot.services.escalations import OUTCOME_MAX_LENGTH, Actor, Escalator, Result
from bot.services.people import reference

# An id the database's integer column can hold: anything larger is a typing mistake.
ESCALATION_ID = click.IntRange(1, 2**31 - 1)


@click.command()
@click.argument("text", required=False)
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    help="Screen each line of this file (- for standard input): one result per line, in order.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (JSON Lines with --file).")
def screen(text: str | None, path: str | None, as_json: bool) -> None:
    """Show what the risk screen makes of TEXT, or of every line of a file: the level (crisis,
    check or none), the concern, and the lexicon entries and classifier score that decided it."""
    if (text is None) == (path is None):
        raise click.UsageError("give TEXT or --file PATH (not both)")
    screener = default_screen(common.settings().risk_lexicon_path)  # a copy being tried, if set
    if path is None:
        assert text is not None
        result = screener.screen(text)
        common.emit(result.to_json(), as_json, _describe(result, screener, text))
        return
    with click.open_file(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            result = screener.screen(line.rstrip("\r\n"))
            click.echo(json.dumps(result.to_json()) if as_json else _result_line(result))


def _describe(result: Screening, screener: Screen, text: str) -> str:
    """What a clinician trying one message needs to see, a fact per line."""
    rows = [
        f"{result.verdict}  (concern: {result.concern or '-'}, decided by: "
        f"{result.matched or '-'}, screen {screener.version})",
        f"lexicon entries: {', '.join(result.entries) or '-'}",
        f"classifier: {_score(result)}",
        f"as read: {screener.normalised(text)}",
    ]
    if result.pattern:
        rows.append(f"pattern: {result.pattern}")
    return "\n".join(rows)


def _result_line(result: Screening) -> str:
    """One tab-separated line: verdict, concern, deciding entry, classifier score."""
    return "\t".join((result.verdict, result.concern or "-", result.matched or "-", _score(result)))


def _score(result: Screening) -> str:
    """The classifier's likelihood of crisis, or '-' when it is not loaded."""
    return "-" if result.score is None else f"{result.score:.3f}"


@click.group()
def escalations() -> None:
    """Reports of pain or distress and risk alerts: list, show, acknowledge, resolve."""


def _escalator(runtime: Runtime) -> Escalator:
    settings = runtime.settings
    staff_chats = settings.telegram_staff_chats()
    return Escalator.from_settings(settings, runtime.content, staff_chats)


def _summary(escalation: Escalation, person: Person, runtime: Runtime) -> dict[str, Any]:
    """What staff need to triage; the patient's words only in `show`."""
    tz = runtime.settings.tz
    return {
        "id": escalation.id,
        "reference": reference(person),
        "first_name": person.display_name,
        "category": escalation.category,
        "severity": escalation.severity,
        "red_flag": escalation.red_flag,
        "risk": escalation.risk,
        "urgent": escalation.urgent,
        "contact_wanted": escalation.contact_wanted,
        "status": escalation.status,
        "reported_local": f"{escalation.created_at.astimezone(tz):%a %d %b %H:%M}",
        "acknowledged_by": escalation.acknowledged_by,
        "resolved_by": escalation.resolved_by,
    }


def _line(item: dict[str, Any]) -> str:
    flags = " ".join(
        flag
        for flag, on in (
            ("URGENT", item["urgent"]),
            ("RED-FLAG", item["red_flag"]),
            (f"RISK:{item['risk']}", item["risk"] != "none"),
        )
        if on
    )
    severity = "-" if item["severity"] is None else f"{item['severity']}/10"
    return (
        f"#{item['id']:<4} {item['status']:<12} {item['reference']:<6} {item['first_name']:<16} "
        f"{item['category']:<10} {severity:<6} {item['reported_local']}  {flags}"
    ).rstrip()


@escalations.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include resolved ones.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def escalations_list(show_all: bool, as_json: bool) -> None:
    """Open escalations (newest first); --all includes resolved ones."""

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.sessions() as session:
            query = select(Escalation, Person).join(Person, Person.id == Escalation.person_id)
            if not show_all:
                query = query.where(Escalation.status != "resolved")
            rows = await session.execute(query.order_by(Escalation.id.desc()))
            return [_summary(e, p, runtime) for e, p in rows]

    data = common.with_runtime(work)
    text = "\n".join(_line(item) for item in data) or "No open escalations."
    common.emit(data, as_json, text)


@escalations.command("show")
@click.argument("escalation_id", type=ESCALATION_ID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def escalations_show(escalation_id: int, as_json: bool) -> None:
    """One escalation with the patient's own words and its audit trail."""

    async def work(runtime: Runtime) -> dict[str, Any] | None:
        async with runtime.sessions() as session:
            escalation = await session.get(Escalation, escalation_id)
            if escalation is None:
                return None
            person = await session.get(Person, escalation.person_id)
            assert person is not None
            events = await session.scalars(
                select(EscalationEvent)
                .where(EscalationEvent.escalation_id == escalation_id)
                .order_by(EscalationEvent.id)
            )
            tz = runtime.settings.tz
            data = _summary(escalation, person, runtime)
            data["own_words"] = escalation.details
            data["outcome"] = escalation.outcome
            data["audit"] = [
                {
                    "at_local": f"{event.at.astimezone(tz):%a %d %b %H:%M:%S}",
                    "action": event.action,
                    "actor": event.actor,
                    "detail": event.detail,
                }
                for event in events
            ]
            return data

    data = common.with_runtime(work)
    if data is None:
        raise click.UsageError(f"There is no escalation {escalation_id}.")
    lines = [_line(data), f"Own words: {data['own_words'] or '(none)'}"]
    if data["outcome"]:
        lines.append(f"Outcome: {data['outcome']}")
    lines += [
        f"  {e['at_local']}  {e['action']:<16} {e['actor']}  {e['detail'] or ''}".rstrip()
        for e in data["audit"]
    ]
    common.emit(data, as_json, "\n".join(lines))


async def _staff_actor(runtime: Runtime, staff_id: int) -> Actor:
    """The member of staff named by --by: their Telegram id must be on the staff list."""
    if not runtime.settings.is_staff(staff_id):
        raise click.UsageError(f"{staff_id} is not on STAFF_TELEGRAM_IDS.")
    async with runtime.sessions() as session:
        person = await session.scalar(
            select(Person).where(
                Person.channel == "telegram",
                Person.channel_user_id == str(staff_id),
                Person.role == "staff",
            )
        )
    name = person.display_name if person is not None else f"staff {staff_id}"
    return Actor(f"cli:{staff_id}", name)


_BY = click.option(
    "--by", "staff_id", type=int, required=True, help="Your Telegram user id (on the staff list)."
)


@escalations.command("ack")
@click.argument("escalation_id", type=ESCALATION_ID)
@_BY
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def escalations_ack(escalation_id: int, staff_id: int, as_json: bool) -> None:
    """Acknowledge: the alerts show who, and the patient is told the team has seen it."""

    async def work(runtime: Runtime) -> tuple[Result, str]:
        actor = await _staff_actor(runtime, staff_id)
        escalator = _escalator(runtime)
        async with runtime.sessions() as session, session.begin():
            result, escalation = await escalator.acknowledge(
                session, escalation_id, actor, runtime.clock.now()
            )
            status = escalator.status_line(escalation) if escalation is not None else ""
        return result, status

    _report_change(*common.with_runtime(work), escalation_id, as_json)


@escalations.command("resolve")
@click.argument("escalation_id", type=ESCALATION_ID)
@_BY
@click.option("--note", required=True, help="A short outcome note (up to 500 characters).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def escalations_resolve(escalation_id: int, staff_id: int, note: str, as_json: bool) -> None:
    """Resolve with an outcome note (acknowledging it first if nobody had)."""
    if not note.strip():
        raise click.UsageError("The outcome note is empty.")
    if len(note.strip()) > OUTCOME_MAX_LENGTH:
        raise click.UsageError(f"Please keep the outcome note to {OUTCOME_MAX_LENGTH} characters.")

    async def work(runtime: Runtime) -> tuple[Result, str]:
        actor = await _staff_actor(runtime, staff_id)
        escalator = _escalator(runtime)
        async with runtime.sessions() as session, session.begin():
            result, escalation = await escalator.resolve(
                session, escalation_id, actor, note, runtime.clock.now()
            )
            status = escalator.status_line(escalation) if escalation is not None else ""
        return result, status

    _report_change(*common.with_runtime(work), escalation_id, as_json)


def _report_change(result: Result, status: str, escalation_id: int, as_json: bool) -> None:
    """Say what happened; a missing escalation is a usage error."""
    if result is Result.NOT_FOUND:
        raise click.UsageError(f"There is no escalation {escalation_id}.")
    text = status if result is Result.DONE else f"Nothing changed: already {status}."
    common.emit({"result": str(result), "status": status}, as_json, text)
