"""Render the wording in `content/`: Jinja2 templates, button labels and the timetable."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"
MAX_MESSAGE_LENGTH = 4096


def _long_date(value: date | datetime) -> str:
    """'Monday 7 December 2026': the way the clinic's letters write dates."""
    return f"{value:%A} {value.day} {value:%B %Y}"


def _short_date(value: date | datetime) -> str:
    """'Monday 7 December'."""
    return f"{value:%A} {value.day} {value:%B}"


def _clock_time(value: datetime) -> str:
    """'09:30'."""
    return f"{value:%H:%M}"


@dataclass(frozen=True)
class Clinic:
    """How patients reach the clinic (CLINIC_NAME, CLINIC_PHONE, CLINIC_HOURS)."""

    name: str = "the Pain Management Programme"
    phone: str = ""
    hours: str = ""


class Content:
    """Templates rendered with StrictUndefined, so a missing variable fails loudly in tests."""

    def __init__(
        self, root: Path = CONTENT_DIR, tz: ZoneInfo | None = None, clinic: Clinic | None = None
    ) -> None:
        self.root = root
        self.tz = tz or ZoneInfo("Europe/London")
        self.env = Environment(
            loader=FileSystemLoader(root),
            undefined=StrictUndefined,
            autoescape=False,  # replies go out as plain text, never parsed as HTML or Markdown
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            # Wording changes with a release, not while the bot runs: no file check per reply.
            auto_reload=False,
        )
        self.env.filters["long_date"] = _long_date
        self.env.filters["short_date"] = _short_date
        self.env.filters["clock"] = _clock_time
        self.env.filters["local"] = lambda moment: moment.astimezone(self.tz)
        # The same in every message, so a setting rather than a variable of each render.
        self.env.globals["clinic"] = clinic or Clinic()
        self._labels = _labels(root)

    def render(self, name: str, /, **variables: Any) -> str:
        """Render `content/<name>.j2`; the text is trimmed and never over Telegram's limit."""
        text = self.env.get_template(f"{name}.j2").render(**variables).strip()
        if len(text) > MAX_MESSAGE_LENGTH:
            raise ValueError(f"template {name} rendered {len(text)} characters")
        return text

    def carrier(self, channel: str) -> str:
        """The app that carries a channel's messages, as people know it ("Microsoft Teams")."""
        return str(self._labels.get(f"carrier_{channel}", self._labels["carrier_other"]))

    def label(self, key: str) -> str:
        """A button label from `content/labels.toml`."""
        return str(self._labels[key])

    @property
    def labels(self) -> dict[str, str]:
        """Every button label, for tests."""
        return dict(self._labels)

    def commands(self, name: str = "commands") -> dict[str, str]:
        """Command names and descriptions: patients' from `content/commands.toml`, the staff
        group's from `content/staff/commands.toml`."""
        path = self.root / f"{name}.toml"
        return {str(k): str(v) for k, v in _load_toml(path).items()}

    def timetable(self) -> list[dict[str, str]]:
        """The typical programme day from `content/timetable.toml`."""
        return list(_load_toml(self.root / "timetable.toml")["session"])

    def day_sessions(
        self, number: int, *, qa_day: bool = False, family_day: bool = False
    ) -> list[dict[str, str]]:
        """One programme day's sessions: the typical day with that day's overrides."""
        data = _load_toml(self.root / "timetable.toml")
        overrides = data.get("override", {})
        sessions = {s["time"]: dict(s) for s in data["session"]}
        keys = (
            [f"day_{number}"]
            + (["qa_day"] if qa_day else [])
            + (["family_day"] if family_day else [])
        )
        for key in keys:
            for session in overrides.get(key, {}).get("session", []):
                sessions[session["time"]] = dict(session)
        return [sessions[time] for time in sorted(sessions)]

    def small_talk(self) -> dict[str, list[str]]:
        """Thanks, greetings, goodbyes and "ok"s, and the words around them, from
        `content/common/small_talk.toml`."""
        data = _load_toml(self.root / "common" / "small_talk.toml")
        return {str(kind): [str(phrase) for phrase in phrases] for kind, phrases in data.items()}

    def attendance_phrases(self) -> dict[str, list[str]]:
        """Ways of saying "I can't come", "I'm late" and "see you", from
        `content/attendance/typed.toml`."""
        data = _load_toml(self.root / "attendance" / "typed.toml")
        return {str(kind): [str(phrase) for phrase in phrases] for kind, phrases in data.items()}

    def review_sessions(self) -> list[dict[str, str]]:
        """A group review's sessions."""
        return list(_load_toml(self.root / "timetable.toml")["review"]["session"])


def _labels(root: Path) -> dict[str, Any]:
    """`content/labels.toml` and each flow's own `content/<flow>/labels.toml`, as one."""
    labels = dict(_load_toml(root / "labels.toml"))
    for path in sorted(root.glob("*/labels.toml")):
        own = _load_toml(path)
        twice = set(own) & set(labels)
        if twice:
            raise ValueError(f"{path} repeats labels: {', '.join(sorted(twice))}")
        labels.update(own)
    return labels


@cache
def _load_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)
