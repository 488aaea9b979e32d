"""The terminal demo's staff side: a report or risk language reaches the staff group, and the
demo's staff commands (!ack, !details, !resolve) act on it as Sam from the team."""

from __future__ import annotations

import io
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.app.demo import DEMO_DB, demo_settings, run_demo
from bot.config import Settings

WORDS = "Worse since the walk on Monday"
BAD_STAFF_COMMAND = "Staff commands take a staff message number that has that button"
CLOCK = r"\d{2}:\d{2}"

Step = str | Callable[[str], str]


class Keyboard:
    """stdin for the demo: types each step when the demo asks, and keeps what each line got.

    A step is a line, or a function of the transcript so far that works out the line (the
    number of a button, the number of a staff message), as someone at the keyboard would.
    """

    def __init__(self, out: io.StringIO, steps: list[Step]) -> None:
        self.out = out
        self.steps = list(steps)
        self.typed: list[str] = []
        self.replies: list[str] = []  # what the demo printed after each typed line
        self._mark = 0

    def readline(self) -> str:
        transcript = self.out.getvalue()
        if self.typed:
            self.replies.append(transcript[self._mark :])
        self._mark = len(transcript)
        if not self.steps:
            return ""
        step = self.steps.pop(0)
        line = step(transcript) if callable(step) else step
        self.typed.append(line)
        return line + "\n"

    def reply(self, line: str) -> str:
        """What the demo printed after the last time `line` was typed."""
        index = len(self.typed) - 1 - self.typed[::-1].index(line)
        return self.replies[index]


def button(label: str) -> Callable[[str], str]:
    """Type the number the demo shows beside `label` on the latest buttons."""

    def number(transcript: str) -> str:
        if label.isdigit():
            return label  # on a 0 to 10 scale the demo takes a typed number as the value
        rows = [line for line in transcript.splitlines() if re.search(r"bot │ \[\d+\] ", line)]
        assert rows, "no buttons on screen"
        found = re.search(r"\[(\d+)\] " + re.escape(label) + r"(?:   |$)", rows[-1])
        assert found, f"no button {label!r} in {rows[-1]!r}"
        return found.group(1)

    return number


def alert_number(transcript: str, title: str) -> int:
    """The newest staff-group message (not an update) whose first line is `title`."""
    found = re.findall(
        r"staff │ ── staff group, message (\d+) ──\n  staff │ " + re.escape(title) + "\n",
        transcript,
    )
    assert found, f"no staff message {title!r}"
    return int(found[-1])


def staff(command: str, title: str, note: str = "") -> Callable[[str], str]:
    """A demo staff command on the newest alert titled `title`."""
    return lambda transcript: f"!{command} {alert_number(transcript, title)}{note}".rstrip()


def report(words: str = WORDS) -> list[Step]:
    """A complete pain report, severity 6, with own words, wanting contact."""
    return [
        "/report",
        button("More pain than usual"),
        button("6"),
        button("No, none of these"),
        words,
        button("Yes, please contact me"),
    ]


JOIN: list[Step] = [button("Yes, I agree"), "Robin"]


async def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: list[Step]) -> Keyboard:
    """The demo in a fresh directory, on its own settings, typed at by `steps`."""
    monkeypatch.chdir(tmp_path)
    settings = demo_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    out = io.StringIO()
    keyboard = Keyboard(out, steps)
    await run_demo(settings, stdin=keyboard, out=out)  # type: ignore[arg-type]
    return keyboard


def staff_lines(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "staff │" in line)


def patient_lines(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "bot │" in line)


def demo_rows(tmp_path: Path, query: str) -> list[tuple[object, ...]]:
    """Rows from the demo's own SQLite file, after the demo closed it."""
    with sqlite3.connect(tmp_path / DEMO_DB) as connection:
        return list(connection.execute(query))


async def test_a_report_is_acknowledged_shown_and_resolved_by_demo_staff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyboard = await run(
        tmp_path,
        monkeypatch,
        [
            *JOIN,
            *report(),
            staff("ack", "New report"),
            staff("details", "New report"),
            staff("resolve", "New report", " Called back, all fine"),
            "!staff",
        ],
    )
    assert keyboard.typed[2:6] == ["/report", "1", "6", "2"]  # on the scale, "6" means 6
    sent = keyboard.replies[7]
    assert "bot │ Thank you. I have sent this to the pain clinic team." in sent
    number = alert_number(sent, "New report")
    assert number == 2  # message 1 told staff the patient joined
    alert = staff_lines(sent)
    for line in (
        f"── staff group, message {number} ──",
        "New report",
        "Reference: P1",
        "Category: More pain than usual",
        "Severity: 6 out of 10",
        "Contact wanted: yes",
        "Own words and name: press Show details",
        "buttons: Acknowledge · Resolve · Show details  "
        f"(type !ack {number}, !resolve {number}, !details {number})",
    ):
        assert f"staff │ {line}\n" in alert + "\n", line
    assert "walk" not in alert  # the patient's words never go to the group
    assert "Robin" not in alert  # nor their name

    acked = keyboard.reply(f"!ack {number}")
    assert f"staff │ ── staff group, message {number} (updated) ──" in acked
    assert re.search(rf"staff │ Acknowledged by Sam at {CLOCK}\n", acked)
    assert "staff │ buttons: Resolve · Show details" in acked
    assert "Acknowledge ·" not in staff_lines(acked)
    assert "bot │ Someone from the pain clinic team has seen your message" in acked
    assert re.search(rf"\(only you see this\) Acknowledged by Sam at {CLOCK}", acked)

    details = keyboard.reply(f"!details {number}")
    # The name goes to Sam privately, and the demo says so: never labelled the staff group.
    assert re.search(r"staff │ ── to Sam privately, message \d+ ──", details)
    assert "staff group" not in details
    assert "staff │ Details for P1 (Robin). Please keep them out of the group." in details
    assert "staff │ Their own words:\n  staff │ " + WORDS in details
    assert "bot │" not in details  # nothing went to the patient

    resolved = keyboard.reply(f"!resolve {number} Called back, all fine")
    assert f"staff │ ── staff group, message {number} (updated) ──" in resolved
    assert re.search(rf"staff │ Resolved by Sam at {CLOCK}\n", resolved)
    assert "staff │ Thank you. P1 is marked resolved." in resolved
    assert re.search(r"staff │ buttons: Show details  ", resolved)
    assert "Called back" not in patient_lines(resolved)

    listed = keyboard.reply("!staff")
    assert "the number is the one !ack, !resolve and !details take" in listed
    assert f"  {number}. New report" in listed  # numbered as !ack takes them
    assert "(to Sam privately) Details for P1 (Robin)" in listed
    assert demo_rows(tmp_path, "SELECT status, resolved_by, outcome FROM escalation") == [
        ("resolved", "Sam", "Called back, all fine")
    ]
    assert demo_rows(
        tmp_path, "SELECT action, actor FROM escalation_event WHERE actor != 'system' ORDER BY id"
    ) == [
        ("reported", "console:demo-patient"),
        ("acknowledged", "console:demo-staff"),
        ("details_shown", "console:demo-staff"),
        ("resolve_started", "console:demo-staff"),
        ("resolved", "console:demo-staff"),
    ]


@pytest.mark.parametrize(
    "command",
    [
        "!ack 99",
        "!ack 0",
        "!ack -1",
        "!ack two",
        "!ack",
        "!details 1",  # the "new patient joined" message has no buttons
        "!resolve 2",  # no outcome note
        "!resolve 2    ",
        "!resolve 99 Called back",
        "!ack ２",  # a full-width digit
    ],
)
async def test_a_bad_staff_command_is_explained_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    keyboard = await run(tmp_path, monkeypatch, [*JOIN, *report(), command])
    assert alert_number(keyboard.replies[7], "New report") == 2
    answer = keyboard.reply(command)
    assert BAD_STAFF_COMMAND in answer
    assert "(updated)" not in answer and "staff │" not in answer
    assert "has seen your message" not in answer
    assert demo_rows(tmp_path, "SELECT status, acknowledged_by FROM escalation") == [
        ("alerted", None)
    ]


async def test_acknowledging_twice_tells_the_patient_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyboard = await run(tmp_path, monkeypatch, [*JOIN, *report(), "!ack 2", "!ack 2"])
    first, second = keyboard.replies[-2:]
    assert "has seen your message" in first
    assert BAD_STAFF_COMMAND in second  # the Acknowledge button has gone
    assert "has seen your message" not in second
    assert demo_rows(tmp_path, "SELECT count(*) FROM outbox_message WHERE kind = 'seen'") == [(1,)]


async def test_risk_language_gets_crisis_numbers_and_an_urgent_alert_raised_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyboard = await run(
        tmp_path,
        monkeypatch,
        [
            *JOIN,
            "I want to kill myself",
            "!later 2m",
            "!later 4m",
            staff("ack", "UNACKNOWLEDGED: URGENT RISK: risk language"),
            "!later 30m",
        ],
    )
    crisis = keyboard.reply("I want to kill myself")
    patient = patient_lines(crisis)
    assert "Samaritans: call 116 123" in patient
    assert "call 999" in patient
    assert "I have let the pain clinic team know" in patient
    number = alert_number(crisis, "URGENT RISK: risk language")
    assert number == 2
    alert = staff_lines(crisis)
    assert "staff │ Risk: risk language (crisis numbers given)" in alert
    assert "staff │ buttons: Acknowledge · Resolve · Show details" in alert
    assert "kill" not in alert and "myself" not in alert

    # Urgent alerts come back after five minutes, at any hour, until someone acknowledges.
    assert "staff │" not in keyboard.reply("!later 2m")
    again = keyboard.reply("!later 4m")
    assert "staff │ ── staff group, message 3 ──" in again
    assert "staff │ UNACKNOWLEDGED: URGENT RISK: risk language" in again
    assert (
        "staff │ buttons: Acknowledge · Resolve · Show details  "
        "(type !ack 3, !resolve 3, !details 3)"
    ) in again
    assert "kill" not in again

    acked = keyboard.reply("!ack 3")
    # Every copy of the alert now shows who acknowledged it; the patient is told.
    for copy in (2, 3):
        assert f"staff │ ── staff group, message {copy} (updated) ──" in acked
    assert len(re.findall(rf"staff │ Acknowledged by Sam at {CLOCK}", acked)) == 2
    assert "bot │ Someone from the pain clinic team has seen your message" in acked
    assert "staff │" not in keyboard.reply("!later 30m")  # acknowledged: no more re-alerts
    assert demo_rows(tmp_path, "SELECT risk, urgent, status FROM escalation") == [
        ("crisis", 1, "acknowledged")
    ]


async def test_help_lists_the_staff_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyboard = await run(tmp_path, monkeypatch, [*JOIN, "!help"])
    shown = keyboard.reply("!help")
    for command in ("!ack N", "!details N", "!resolve N note", "!later 2h", "!staff"):
        assert command in shown
