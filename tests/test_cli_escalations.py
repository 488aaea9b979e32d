"""`pmp screen` and `pmp escalations`: the risk screen and staff alerts from the command line."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from bot.app.cli import main as pmp_main
from bot.app.runtime import Runtime, open_runtime
from bot.clock import ManualClock
from bot.config import ANONYMOUS_ADMIN_ID, Settings
from bot.db.models import Escalation, EscalationEvent, OutboxMessage, Person
from bot.services import people
from tests.escalation_support import STAFF_GROUP, Team
from tests.helpers import Chat, CliForTests

CRISIS = "I want to kill myself"
WORDS = "Worse since the walk on Monday"


@pytest.fixture
def cli(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object, clock: ManualClock
) -> CliRunner:
    """A runner on the test database whose commands see the test's clock; 5001 is staff."""
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]  # no .env is read
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("STAFF_TELEGRAM_IDS", "5001")
    for name in (
        "TELEGRAM_BOT_TOKEN",
        "TIMEZONE",
        "STAFF_CHAT_ID",
        "STAFF_LEAD_TELEGRAM_IDS",
        "TEAMS_WEBHOOK_URL",
    ):
        monkeypatch.delenv(name, raising=False)

    async def with_test_clock(
        settings: Settings, _clock: object = None, migrate: bool = True
    ) -> Runtime:
        return await open_runtime(settings, clock, migrate=False)

    return CliForTests(with_test_clock)


async def invoke(cli: CliRunner, *args: str) -> Result:
    """Run a command in a thread (it runs its own event loop), as staff would."""
    return await asyncio.to_thread(cli.invoke, pmp_main, list(args))


async def run_ok(cli: CliRunner, *args: str) -> str:
    result = await invoke(cli, *args)
    assert result.exit_code == 0, result.output
    return result.output


async def run_json(cli: CliRunner, *args: str) -> Any:
    result = await invoke(cli, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def refused(cli: CliRunner, *args: str) -> str:
    """A usage error: exit code 2, an explanation, no traceback."""
    result = await invoke(cli, *args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.output


async def report_pain(patient: Chat, words: str = WORDS) -> None:
    """A complete pain report, severity 6, with the patient's own words."""
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("6")
    await patient.press("No, none of these")
    await patient.say(words)
    await patient.press("Yes, please contact me")
    assert "I have sent this to the pain clinic team" in patient.text


async def only_escalation(runtime: Runtime) -> Escalation:
    async with runtime.sessions() as session:
        (escalation,) = await session.scalars(select(Escalation))
        return escalation


async def patient_person(runtime: Runtime, patient: Chat) -> Person:
    async with runtime.sessions() as session:
        person = await people.find_account(session, patient.channel, patient.user_id)
    assert person is not None
    return person


async def trail(runtime: Runtime, escalation_id: int) -> list[tuple[str, str]]:
    """The audit trail as (action, actor)."""
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(EscalationEvent.action, EscalationEvent.actor)
            .where(EscalationEvent.escalation_id == escalation_id)
            .order_by(EscalationEvent.id)
        )
        return [(action, actor) for action, actor in rows]


async def snapshot(runtime: Runtime) -> tuple[Any, ...]:
    """Everything a staff action could change: escalations, the audit trail, the outbox."""
    async with runtime.sessions() as session:
        escalations = [
            (e.id, e.status, e.acknowledged_at, e.acknowledged_by, e.resolved_by, e.outcome)
            for e in await session.scalars(select(Escalation).order_by(Escalation.id))
        ]
        events = list(await session.scalars(select(EscalationEvent.id)))
        outbox = [
            (m.id, m.kind, m.status)
            for m in await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]
    return escalations, sorted(events), outbox


async def seen_messages(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.sessions() as session:
        return list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "seen"))
        )


# --- pmp screen -----------------------------------------------------------------------------


KEYS = ["verdict", "concern", "matched", "entries", "score"]


async def test_screen_explicit_risk_is_crisis_with_its_entry(cli: CliRunner) -> None:
    output = await run_ok(cli, "screen", CRISIS)
    first, *rest = output.splitlines()
    assert first.startswith("crisis  (concern: self, decided by: suicide-explicit-kill-myself, ")
    assert "screen 2026-" in first  # the lexicon version, so a result can be reproduced
    assert "lexicon entries: suicide-explicit-kill-myself" in rest
    assert "as read: i want to kill myself" in rest
    assert any(line.startswith("pattern: ") for line in rest)
    found = await run_json(cli, "screen", CRISIS)
    assert list(found) == KEYS  # exactly these keys; no pattern in JSON
    assert (found["verdict"], found["concern"]) == ("crisis", "self")
    assert found["matched"] == "suicide-explicit-kill-myself"
    assert found["entries"] == ["suicide-explicit-kill-myself"]
    assert found["score"] is None  # the classifier is not asked once the lexicon says crisis


async def test_screen_a_pain_idiom_is_a_check(cli: CliRunner) -> None:
    output = await run_ok(cli, "screen", "this pain is killing me")
    assert output.startswith("check  (concern: self, decided by: idiom-killing-me,")
    found = await run_json(cli, "screen", "this pain is killing me")
    assert (found["verdict"], found["matched"]) == ("check", "idiom-killing-me")
    assert 0.0 <= found["score"] <= 1.0


async def test_screen_ordinary_words_are_none_with_no_entry(cli: CliRunner) -> None:
    output = await run_ok(cli, "screen", "I'd love a cup of tea")
    assert output.startswith("none  (concern: -, decided by: -, screen ")
    assert "pattern:" not in output
    assert "lexicon entries: -" in output
    found = await run_json(cli, "screen", "I'd love a cup of tea")
    assert (found["verdict"], found["concern"], found["matched"]) == ("none", None, None)
    assert found["entries"] == []
    assert (
        '"matched": null' in (await invoke(cli, "screen", "I'd love a cup of tea", "--json")).stdout
    )


async def test_screen_shows_how_disguised_words_were_read(cli: CliRunner) -> None:
    output = await run_ok(cli, "screen", "i w4nt t0 k!ll mys3lf")
    assert output.startswith("crisis")
    assert "as read: i want to kill myself" in output


async def test_screen_names_the_concern_for_someone_unsafe_at_home(cli: CliRunner) -> None:
    found = await run_json(cli, "screen", "my husband hits me when he's been drinking")
    assert (found["verdict"], found["concern"]) == ("crisis", "safeguarding")


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("<b>I want to <i>kill</i> myself</b>", "crisis"),
        ("**I want to _kill_ myself** [link](http://x.test)", "crisis"),
        ("I want to kill myself 😢🔪", "crisis"),
        ("I want to kíll mysélf", "crisis"),
        ("<script>alert('x')</script> & &amp; `code` *bold*", "none"),
        ("😀" * 1000, "none"),
        ("x" * 5000, "none"),
        ("lorem ipsum " * 415 + "I want to kill myself", "crisis"),
        ("", "none"),
    ],
    ids=["html", "markdown", "emoji", "accents", "script", "emoji-only", "5000", "long", "empty"],
)
async def test_screen_hostile_input(cli: CliRunner, text: str, verdict: str) -> None:
    result = await invoke(cli, "screen", text, "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert list(found) == KEYS
    assert found["verdict"] == verdict
    assert (found["matched"] is None) == (verdict == "none")
    plain = await invoke(cli, "screen", text)
    assert plain.exit_code == 0 and plain.output.startswith(verdict)
    assert "Traceback" not in plain.output


# --- pmp screen --file -------------------------------------------------------------------------

FILE_LINES = [
    "I want to kill myself",
    "I'd love a cup of tea",
    "this pain is killing me",
    "",
    "my husband hits me when he's been drinking",
]


async def test_screen_file_gives_one_line_per_message_in_order(
    cli: CliRunner, tmp_path: Any
) -> None:
    path = tmp_path / "messages.txt"
    path.write_text("\n".join(FILE_LINES) + "\n", encoding="utf-8")
    lines = (await run_ok(cli, "screen", "--file", str(path))).splitlines()
    assert len(lines) == len(FILE_LINES)
    rows = [line.split("\t") for line in lines]
    assert all(len(row) == 4 for row in rows)
    assert [row[0] for row in rows] == ["crisis", "none", "check", "none", "crisis"]
    assert rows[0][1:3] == ["self", "suicide-explicit-kill-myself"]
    assert rows[1][1:3] == ["-", "-"]
    assert rows[4][1] == "safeguarding"
    for secret in ("kill", "tea", "husband"):  # results only: the file's words stay in the file
        assert all(secret not in cell for row in rows for cell in row[1:2] + row[3:])


async def test_screen_file_as_json_lines(cli: CliRunner, tmp_path: Any) -> None:
    path = tmp_path / "messages.txt"
    path.write_text("\r\n".join(FILE_LINES), encoding="utf-8")  # Windows line endings too
    result = await invoke(cli, "screen", "--file", str(path), "--json")
    assert result.exit_code == 0, result.output
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert [item["verdict"] for item in found] == ["crisis", "none", "check", "none", "crisis"]
    assert all(list(item) == KEYS for item in found)


async def test_screen_file_of_thousands_of_lines_and_bad_bytes(
    cli: CliRunner, tmp_path: Any
) -> None:
    path = tmp_path / "many.txt"
    body = ("I walked to the shop today\n" * 2999).encode() + b"\xff\xfe I want to kill myself\n"
    path.write_bytes(body)
    lines = (await run_ok(cli, "screen", "--file", str(path))).splitlines()
    assert len(lines) == 3000
    assert {line.split("\t")[0] for line in lines[:-1]} == {"none"}
    assert lines[-1].startswith("crisis\t")


async def test_screen_file_from_standard_input(cli: CliRunner) -> None:
    result = await asyncio.to_thread(
        cli.invoke, pmp_main, ["screen", "--file", "-"], input="I want to kill myself\n"
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("crisis\t")


async def test_screen_needs_text_or_a_file_but_not_both(cli: CliRunner, tmp_path: Any) -> None:
    assert "give TEXT or --file PATH" in await refused(cli, "screen")
    path = tmp_path / "one.txt"
    path.write_text("hello", encoding="utf-8")
    assert "give TEXT or --file PATH" in await refused(cli, "screen", "hi", "--file", str(path))
    assert "does not exist" in await refused(cli, "screen", "--file", str(tmp_path / "nope.txt"))


# --- pmp escalations list ---------------------------------------------------------------------


async def test_list_is_empty_at_first(cli: CliRunner, runtime: Runtime) -> None:
    assert (await run_ok(cli, "escalations", "list")).strip() == "No open escalations."
    assert (await run_ok(cli, "escalations", "list", "--all")).strip() == "No open escalations."
    assert await run_json(cli, "escalations", "list") == []


async def test_list_shows_triage_facts_and_never_the_patients_words(
    cli: CliRunner, runtime: Runtime, patient: Chat
) -> None:
    await report_pain(patient)
    await patient.say(CRISIS)
    person = await patient_person(runtime, patient)
    ref = f"P{person.id}"

    output = await run_ok(cli, "escalations", "list")
    lines = output.strip().splitlines()
    assert len(lines) == 2
    # Newest first: the crisis, then the report.
    assert lines[0].startswith("#2 ")
    assert lines[1].startswith("#1 ")
    assert lines[0].split()[1:4] == ["alerted", ref, "Robin"]
    assert lines[0].endswith("URGENT RISK:crisis")
    assert lines[1].split()[1:6] == ["alerted", ref, "Robin", "pain", "6/10"]
    assert "URGENT" not in lines[1] and "RISK" not in lines[1]
    assert "Thu 26 Nov 10:00" in lines[1]
    for secret in ("walk", "Monday", "kill", "myself"):
        assert secret not in output

    found = await run_json(cli, "escalations", "list")
    assert [item["id"] for item in found] == [2, 1]
    crisis, report = found
    assert (crisis["risk"], crisis["urgent"], crisis["reference"]) == ("crisis", True, ref)
    assert (report["category"], report["severity"], report["contact_wanted"]) == ("pain", 6, True)
    assert (report["status"], report["urgent"], report["red_flag"]) == ("alerted", False, False)
    assert "own_words" not in report and "details" not in report
    raw = (await invoke(cli, "escalations", "list", "--json")).stdout
    for secret in ("walk", "kill myself"):
        assert secret not in raw


async def test_list_hides_resolved_ones_unless_all(
    cli: CliRunner, runtime: Runtime, patient: Chat
) -> None:
    await report_pain(patient)
    await patient.say(CRISIS)
    await run_ok(cli, "escalations", "resolve", "1", "--by", "5001", "--note", "Called back")

    open_only = await run_json(cli, "escalations", "list")
    assert [(item["id"], item["status"]) for item in open_only] == [(2, "alerted")]
    text = await run_ok(cli, "escalations", "list")
    assert "#1 " not in text and "#2 " in text

    everything = await run_json(cli, "escalations", "list", "--all")
    assert [(item["id"], item["status"]) for item in everything] == [
        (2, "alerted"),
        (1, "resolved"),
    ]
    assert everything[1]["resolved_by"] == "staff 5001"
    assert "#1    resolved" in await run_ok(cli, "escalations", "list", "--all")

    await run_ok(cli, "escalations", "resolve", "2", "--by", "5001", "--note", "Safe, GP told")
    assert (await run_ok(cli, "escalations", "list")).strip() == "No open escalations."
    assert len(await run_json(cli, "escalations", "list", "--all")) == 2


# --- pmp escalations show ---------------------------------------------------------------------


async def test_show_gives_the_own_words_and_the_audit_trail(
    cli: CliRunner, runtime: Runtime, patient: Chat
) -> None:
    await report_pain(patient, words="It's <b>*much*</b> worse since the walk 😣")
    output = await run_ok(cli, "escalations", "show", "1")
    lines = output.splitlines()
    assert lines[0].startswith("#1    alerted")
    assert lines[1] == "Own words: It's <b>*much*</b> worse since the walk 😣"
    assert "Outcome:" not in output
    assert len(lines) == 4
    assert lines[2] == "  Thu 26 Nov 10:00:00  reported         console:patient-1  report"
    assert lines[3] == "  Thu 26 Nov 10:00:00  alerted          system  1 chats"

    found = await run_json(cli, "escalations", "show", "1")
    assert found["own_words"] == "It's <b>*much*</b> worse since the walk 😣"
    assert found["outcome"] is None
    assert [e["action"] for e in found["audit"]] == ["reported", "alerted"]
    assert found["audit"][1]["actor"] == "system"
    assert found["audit"][0]["at_local"] == "Thu 26 Nov 10:00:00"


async def test_show_after_resolve_has_the_outcome_and_who_did_what(
    cli: CliRunner, runtime: Runtime, patient: Chat, clock: ManualClock
) -> None:
    await patient.say(CRISIS)
    clock.advance(timedelta(minutes=3))
    await run_ok(cli, "escalations", "ack", "1", "--by", "5001")
    clock.advance(timedelta(minutes=20))
    await run_ok(cli, "escalations", "resolve", "1", "--by", "5001", "--note", "Called back")
    found = await run_json(cli, "escalations", "show", "1")
    assert found["own_words"] == CRISIS
    assert found["outcome"] == "Called back"
    assert [(e["action"], e["actor"]) for e in found["audit"]] == [
        ("reported", "console:patient-1"),
        ("alerted", "system"),
        ("plan_asked", "console:patient-1"),
        ("acknowledged", "cli:5001"),
        ("patient_told", "system"),
        ("resolved", "cli:5001"),
    ]
    assert [e["at_local"] for e in found["audit"]][3:] == [
        "Thu 26 Nov 10:03:00",
        "Thu 26 Nov 10:03:00",
        "Thu 26 Nov 10:23:00",
    ]
    output = await run_ok(cli, "escalations", "show", "1")
    assert f"Own words: {CRISIS}" in output
    assert "Outcome: Called back" in output
    assert output.splitlines()[0].endswith("URGENT RISK:crisis")


async def test_show_an_unknown_escalation_is_a_clear_error(
    cli: CliRunner, runtime: Runtime
) -> None:
    output = await refused(cli, "escalations", "show", "999")
    assert "There is no escalation 999." in output
    assert "is not a valid integer" in await refused(cli, "escalations", "show", "banana")


# --- pmp escalations ack ----------------------------------------------------------------------


async def test_ack_acknowledges_audits_and_tells_the_patient(
    cli: CliRunner, runtime: Runtime, patient: Chat, team: Team, clock: ManualClock
) -> None:
    await report_pain(patient)
    await team.deliver()  # the alert is in the staff group
    (alert,) = team.desk.alerts()
    assert "Acknowledged" not in alert.text
    clock.advance(timedelta(minutes=7))

    done = await run_json(cli, "escalations", "ack", "1", "--by", "5001")
    assert done == {"result": "done", "status": "Acknowledged by staff 5001 at 10:07"}
    escalation = await only_escalation(runtime)
    assert escalation.status == "acknowledged"
    assert escalation.acknowledged_by == "staff 5001"
    assert escalation.acknowledged_at is not None
    assert escalation.acknowledged_at.replace(tzinfo=None) == clock.now().replace(tzinfo=None)
    assert (await trail(runtime, 1))[-2:] == [
        ("acknowledged", "cli:5001"),
        ("patient_told", "system"),
    ]
    person = await patient_person(runtime, patient)
    (seen,) = await seen_messages(runtime)
    assert (seen.channel, seen.chat_id, seen.person_id) == ("console", person.chat_id, person.id)
    assert seen.status == "pending" and seen.escalation_id == 1
    assert "has seen your message" in seen.text

    # Delivered: the patient hears, and the alert in the group shows who acknowledged it.
    await team.deliver()
    assert any("has seen your message" in t for t in team.desk.texts(person.chat_id))
    (edited,) = team.desk.alerts()
    assert "Acknowledged by staff 5001 at 10:07" in edited.text
    assert [b.label for row in edited.buttons for b in row] == ["Resolve", "Show details"]
    # Edited in place, not sent again.
    assert sum("New report" in t for t in team.desk.texts(STAFF_GROUP)) == 1


async def test_ack_text_and_acking_again_changes_nothing(
    cli: CliRunner, runtime: Runtime, patient: Chat
) -> None:
    await patient.say(CRISIS)
    output = await run_ok(cli, "escalations", "ack", "1", "--by", "5001")
    assert output.strip() == "Acknowledged by staff 5001 at 10:00"
    before = await snapshot(runtime)

    again = await run_json(cli, "escalations", "ack", "1", "--by", "5001")
    assert again == {"result": "already", "status": "Acknowledged by staff 5001 at 10:00"}
    text = await run_ok(cli, "escalations", "ack", "1", "--by", "5001")
    assert text.strip() == "Nothing changed: already Acknowledged by staff 5001 at 10:00."
    assert await snapshot(runtime) == before
    assert len(await seen_messages(runtime)) == 1


async def test_ack_names_the_member_of_staff_when_they_have_joined(
    cli: CliRunner, runtime: Runtime, patient: Chat, clock: ManualClock
) -> None:
    async with runtime.sessions() as session, session.begin():
        await people.enrol(
            session,
            role="staff",
            cohort_id=None,
            display_name="Sam",
            channel="telegram",
            user_id="5001",
            chat_id="5001",
            now=clock.now(),
        )
    await patient.say(CRISIS)
    done = await run_json(cli, "escalations", "ack", "1", "--by", "5001")
    assert done["status"] == "Acknowledged by Sam at 10:00"
    assert (await only_escalation(runtime)).acknowledged_by == "Sam"
    assert ("acknowledged", "cli:5001") in await trail(runtime, 1)


@pytest.mark.parametrize("staff_id", ["4242", "5002", str(ANONYMOUS_ADMIN_ID), "0"])
async def test_ack_by_someone_not_on_the_staff_list_is_refused(
    cli: CliRunner, runtime: Runtime, patient: Chat, staff_id: str
) -> None:
    await patient.say(CRISIS)
    before = await snapshot(runtime)
    output = await refused(cli, "escalations", "ack", "1", "--by", staff_id)
    assert f"{staff_id} is not on STAFF_TELEGRAM_IDS." in output
    assert await snapshot(runtime) == before
    assert (await only_escalation(runtime)).status == "alerted"
    assert await seen_messages(runtime) == []


async def test_the_anonymous_admin_is_refused_even_on_the_list(
    cli: CliRunner, runtime: Runtime, patient: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAFF_TELEGRAM_IDS", f"5001,{ANONYMOUS_ADMIN_ID}")
    await patient.say(CRISIS)
    before = await snapshot(runtime)
    await refused(cli, "escalations", "ack", "1", "--by", str(ANONYMOUS_ADMIN_ID))
    assert await snapshot(runtime) == before


async def test_ack_unknown_or_malformed_is_a_usage_error(
    cli: CliRunner, runtime: Runtime, patient: Chat
) -> None:
    await patient.say(CRISIS)
    before = await snapshot(runtime)
    assert "There is no escalation 999." in await refused(
        cli, "escalations", "ack", "999", "--by", "5001"
    )
    assert "Missing option '--by'" in await refused(cli, "escalations", "ack", "1")
    assert "is not a valid integer" in await refused(cli, "escalations", "ack", "1", "--by", "Sam")
    assert await snapshot(runtime) == before


async def test_ack_of_a_pending_alert_cancels_it_instead_of_sending_it_stale(
    cli: CliRunner, runtime: Runtime, patient: Chat, team: Team
) -> None:
    await patient.say(CRISIS)  # alert written, not yet sent
    await run_ok(cli, "escalations", "ack", "1", "--by", "5001")
    async with runtime.sessions() as session:
        alerts = list(
            await session.scalars(select(OutboxMessage.status).where(OutboxMessage.kind == "alert"))
        )
    assert alerts == ["cancelled"]
    await team.deliver()
    assert team.desk.alerts() == []
    person = await patient_person(runtime, patient)
    assert any("has seen your message" in t for t in team.desk.texts(person.chat_id))


# --- pmp escalations resolve ------------------------------------------------------------------


async def test_resolve_an_open_one_acknowledges_it_first(
    cli: CliRunner, runtime: Runtime, patient: Chat, team: Team, clock: ManualClock
) -> None:
    await report_pain(patient)
    await team.deliver()
    clock.advance(timedelta(minutes=30))
    done = await run_json(
        cli, "escalations", "resolve", "1", "--by", "5001", "--note", "Called back, all fine"
    )
    assert done == {"result": "done", "status": "Resolved by staff 5001 at 10:30"}
    escalation = await only_escalation(runtime)
    assert (escalation.status, escalation.outcome) == ("resolved", "Called back, all fine")
    assert (escalation.acknowledged_by, escalation.resolved_by) == ("staff 5001", "staff 5001")
    assert escalation.next_alert_at is None
    assert [action for action, _ in await trail(runtime, 1)] == [
        "reported",
        "alerted",
        "acknowledged",
        "patient_told",
        "resolved",
    ]
    assert (await trail(runtime, 1))[-1] == ("resolved", "cli:5001")
    assert len(await seen_messages(runtime)) == 1  # acknowledging told the patient
    await team.deliver()
    (alert,) = team.desk.alerts()
    assert "Resolved by staff 5001 at 10:30" in alert.text
    assert [b.label for row in alert.buttons for b in row] == ["Show details"]

    before = await snapshot(runtime)
    again = await run_json(cli, "escalations", "resolve", "1", "--by", "5001", "--note", "Again")
    assert again == {"result": "already", "status": "Resolved by staff 5001 at 10:30"}
    assert await snapshot(runtime) == before
    assert "Nothing changed: already Resolved by" in await run_ok(
        cli, "escalations", "ack", "1", "--by", "5001"
    )


async def test_resolve_after_ack_does_not_tell_the_patient_twice(
    cli: CliRunner, runtime: Runtime, patient: Chat
) -> None:
    await patient.say(CRISIS)
    await run_ok(cli, "escalations", "ack", "1", "--by", "5001")
    output = await run_ok(cli, "escalations", "resolve", "1", "--by", "5001", "--note", "Safe")
    assert output.strip() == "Resolved by staff 5001 at 10:00"
    assert len(await seen_messages(runtime)) == 1
    assert [a for a, _ in await trail(runtime, 1)].count("acknowledged") == 1


@pytest.mark.parametrize("note", ["", "   ", "\n\t"])
async def test_resolve_with_an_empty_note_is_refused(
    cli: CliRunner, runtime: Runtime, patient: Chat, note: str
) -> None:
    await patient.say(CRISIS)
    before = await snapshot(runtime)
    output = await refused(cli, "escalations", "resolve", "1", "--by", "5001", "--note", note)
    assert "The outcome note is empty." in output
    assert await snapshot(runtime) == before
    assert "Missing option '--note'" in await refused(
        cli, "escalations", "resolve", "1", "--by", "5001"
    )


async def test_resolve_by_someone_not_on_the_staff_list_is_refused(
    cli: CliRunner, runtime: Runtime, patient: Chat
) -> None:
    await patient.say(CRISIS)
    before = await snapshot(runtime)
    output = await refused(cli, "escalations", "resolve", "1", "--by", "4242", "--note", "Fine")
    assert "4242 is not on STAFF_TELEGRAM_IDS." in output
    assert await snapshot(runtime) == before
    assert "There is no escalation 999." in await refused(
        cli, "escalations", "resolve", "999", "--by", "5001", "--note", "Fine"
    )
    assert await snapshot(runtime) == before


async def test_resolve_keeps_hostile_notes_as_written_and_at_most_500_characters(
    cli: CliRunner, runtime: Runtime, patient: Chat
) -> None:
    await patient.say(CRISIS)
    await report_pain(patient)
    note = "<b>*Called*</b> 😊 `back`"
    await run_ok(cli, "escalations", "resolve", "1", "--by", "5001", "--note", note)
    shown = await run_json(cli, "escalations", "show", "1")
    assert shown["outcome"] == note
    # Too long a note is refused, as on Telegram, rather than cut without a word.
    assert "500 characters" in await refused(
        cli, "escalations", "resolve", "2", "--by", "5001", "--note", "y" * 501
    )
    assert (await run_json(cli, "escalations", "show", "2"))["status"] != "resolved"
    await run_ok(cli, "escalations", "resolve", "2", "--by", "5001", "--note", "y" * 500)
    assert (await run_json(cli, "escalations", "show", "2"))["outcome"] == "y" * 500


# --- ids past the database's integer range ----------------------------------------------------


@pytest.mark.parametrize("command", ["show", "ack", "resolve"])
@pytest.mark.parametrize("escalation_id", [3_000_000_000, 2**64])
async def test_an_id_past_the_integer_range_is_a_usage_error(
    cli: CliRunner, runtime: Runtime, command: str, escalation_id: int
) -> None:
    extra = {"show": [], "ack": ["--by", "5001"], "resolve": ["--by", "5001", "--note", "x"]}
    output = await refused(cli, "escalations", command, str(escalation_id), *extra[command])
    assert "ESCALATION_ID" in output and "range" in output


async def test_screen_uses_the_lexicon_named_in_risk_lexicon_path(
    cli: CliRunner, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.safety.screening import DEFAULT_LEXICON_PATH

    copy = tmp_path / "trial.toml"
    text = DEFAULT_LEXICON_PATH.read_text(encoding="utf-8")
    copy.write_text(text.replace('version = "', 'version = "trial-', 1), encoding="utf-8")
    monkeypatch.setenv("RISK_LEXICON_PATH", str(copy))
    output = await run_ok(cli, "screen", "I'd love a cup of tea")
    assert "screen trial-" in output.splitlines()[0]
