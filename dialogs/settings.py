"""Reminder settings: the evening and morning times, quiet hours, pause and resume.

Every change re-plans the patient's reminders in the same transaction, so it applies to each
reminder still to come at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.db.models import Person
from bot.services.planner import Planner, Preferences, outside_quiet
from bot.time.times import QuietHours, at, hhmm, parse_clock
from dialogs import engine, menu
from dialogs.engine import Form, Option, Step
from dialogs.flow import Flow
from dialogs.turn import Turn
from scheduler.reminders import paused, withhold_waiting

EVENING_RANGE = (time(12, 0), time(23, 0))
MORNING_RANGE = (time(5, 0), time(9, 0))
MAX_QUIET = timedelta(hours=14)
PAUSES = {"week": timedelta(weeks=1), "two_weeks": timedelta(weeks=2), "open": None}
_OFF = {"off", "none", "no", "no quiet hours"}


def _clean_between(low: time, high: time) -> Callable[[str], str | None]:
    """A cleaner accepting a time of day from `low` to `high`, as 'HH:MM'."""

    def clean(text: str) -> str | None:
        parsed = parse_clock(text)
        return hhmm(parsed) if parsed is not None and low <= parsed <= high else None

    return clean


def clean_quiet(text: str) -> str | None:
    """'21:00-07:30', '9pm to 7.30am' → '21:00-07:30'; 'off' → 'off'; None if unreadable."""
    lowered = text.strip().lower()
    if lowered in _OFF:
        return "off"
    for separator in ("-", "–", " to ", "until"):
        if separator in lowered:
            start_text, _, end_text = lowered.partition(separator)
            start, end = parse_clock(start_text), parse_clock(end_text)
            if start is None or end is None or start == end:
                return None
            if QuietHours(start, end).length() > MAX_QUIET:
                return None
            return f"{hhmm(start)}-{hhmm(end)}"
    return None


def _choices(turn: Turn) -> tuple[Option, ...]:
    """What can be changed; pause or resume depending on the current state."""
    person = turn.person
    is_paused = person is not None and paused(person, turn.now)
    toggle = Option("resume", "settings_resume") if is_paused else Option("pause", "settings_pause")
    return (
        Option("evening", "settings_evening"),
        Option("morning", "settings_morning"),
        Option("quiet", "settings_quiet"),
        toggle,
        Option("done", "settings_done"),
    )


def summary(turn: Turn, _data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The current settings, for templates."""
    person = turn.person
    assert person is not None
    prefs = Preferences.of(person)
    return {
        "evening": hhmm(prefs.evening),
        "morning": hhmm(prefs.morning),
        "quiet": f"{hhmm(prefs.quiet.start)} to {hhmm(prefs.quiet.end)}" if prefs.quiet else None,
        "paused": paused(person, turn.now),
        "paused_until": person.paused_until,
    }


async def start(turn: Turn) -> None:
    """Show the settings and what can be changed."""
    await engine.start(turn, SETTINGS_FORM)


async def _finish(turn: Turn, data: dict[str, Any]) -> None:
    """Apply the change, re-plan reminders, and say what is now in force."""
    person = turn.person
    assert person is not None
    choice = data["choose"]
    template = "settings/saved"
    if choice == "done":
        template = "settings/unchanged"
    elif choice == "resume":
        template = "settings/resumed"
        person.paused_at = person.paused_until = None
    elif choice == "pause":
        length = PAUSES[data["pause"]]
        person.paused_at = turn.now
        person.paused_until = turn.now + length if length is not None else None
        # One already waiting to go (its moment came while they were choosing) stays back too.
        await withhold_waiting(turn.session, person.id, turn.now)
        template = "settings/paused"
    elif choice == "evening":
        person.evening_time = data["evening"]
    elif choice == "morning":
        person.morning_time = data["morning"]
    elif choice == "quiet":
        start_text, _, end_text = str(data["quiet"]).partition("-")
        person.quiet_start, person.quiet_end = (start_text, end_text) if end_text else (None, None)
    if choice in ("evening", "morning", "quiet"):
        await Planner.of(turn.content, turn.settings).plan(turn.session, turn.now, [person.id])
    today = menu.local_today(turn)
    turn.say(template, **summary(turn), in_quiet=_in_quiet(person, turn.settings.tz, today))
    await menu.show(turn)


def _in_quiet(person: Person, tz: ZoneInfo, today: date) -> dict[str, str] | None:
    """A reminder time inside the quiet hours, and when that reminder will come instead."""
    prefs = Preferences.of(person)
    if prefs.quiet is None:
        return None
    # A sample programme day, next week, to work out where the planner puts the reminder.
    day = today + timedelta(days=7)
    cases = (
        (prefs.evening, at(day - timedelta(days=1), prefs.evening, tz), at(day, time(0), tz), True),
        (prefs.morning, at(day, prefs.morning, tz), at(day, time(9, 30), tz), False),
    )
    for asked, due, until, earlier in cases:
        if prefs.quiet.contains(asked):
            sent = outside_quiet(due, until, prefs.quiet, tz, earlier)
            return {
                "asked": hhmm(asked),
                "sent": hhmm(sent.astimezone(tz).time()) if sent is not None else "",
            }
    return None


def _next(step: str, value: Any) -> str | None:
    """From the first question, go to the chosen setting; every other answer finishes."""
    if step == "choose":
        return value if value in ("evening", "morning", "quiet", "pause") else ""
    return ""


SETTINGS_FORM = Form(
    name="settings",
    steps=(
        Step("choose", "settings/menu", "choice", options_for=_choices),
        Step(
            "evening",
            "settings/ask_evening",
            "text",
            max_length=20,
            clean=_clean_between(*EVENING_RANGE),
            invalid="settings/evening_invalid",
        ),
        Step(
            "morning",
            "settings/ask_morning",
            "text",
            max_length=20,
            clean=_clean_between(*MORNING_RANGE),
            invalid="settings/morning_invalid",
        ),
        Step(
            "quiet",
            "settings/ask_quiet",
            "text",
            max_length=40,
            clean=clean_quiet,
            invalid="settings/quiet_invalid",
        ),
        Step(
            "pause",
            "settings/ask_pause",
            "choice",
            options=(
                Option("week", "pause_week"),
                Option("two_weeks", "pause_two_weeks"),
                Option("open", "pause_open"),
            ),
        ),
    ),
    finish=_finish,
    prompt_vars=summary,
    branch=_next,
)


FLOW = Flow("settings", start, forms=(SETTINGS_FORM,))
