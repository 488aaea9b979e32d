"""Sample values for the templates in content/reminders/."""

from __future__ import annotations

from datetime import date
from typing import Any

SAMPLES: dict[str, Any] = {
    # reminders/group_moved: a patient moved by staff to another group.
    "group": "Thursday Group B",
    "where": "Where: Pain Clinic, Room 4.",
    "next_event": "Day 3",
    "next_date": date(2026, 12, 9),
    # reminders/discharge: after the 12-month review, or earlier by staff.
    "finished": True,
}
