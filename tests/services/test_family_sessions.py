"""The family day's own sessions are found by what they are, whatever else moved that day."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any, cast

from bot.content import Content
from bot.services.family import family_sessions

FAMILY = [
    ("13:30", "Friends and family session: understanding chronic pain together"),
    ("14:00", "Friends and family: how to support pain management at home"),
]


def test_the_family_sessions_of_an_ordinary_family_day() -> None:
    event = SimpleNamespace(kind="day", number=7, on_date=date(2026, 12, 16), start_time=None)
    cohort = SimpleNamespace(qa_day=10, family_day=7, qa_time=None)
    found = family_sessions(Content(), cast(Any, event), cast(Any, cohort))
    assert [(s["time"], s["title"]) for s in found] == FAMILY


def test_the_doctors_session_moved_on_the_same_day_does_not_shift_them() -> None:
    event = SimpleNamespace(kind="day", number=7, on_date=date(2026, 12, 16), start_time=None)
    cohort = SimpleNamespace(qa_day=7, family_day=7, qa_time="14:30")
    found = family_sessions(Content(), cast(Any, event), cast(Any, cohort))
    assert [(s["time"], s["title"]) for s in found] == FAMILY
