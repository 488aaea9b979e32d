"""Sample variables for the home-practice and relaxation templates."""

from __future__ import annotations

from datetime import date
from typing import Any

ITEMS = [
    {"when": "tonight", "area": "relaxation", "target": "10 minutes at 9pm", "outcome": "done"},
    {"when": "morning", "area": "movement", "target": "a short walk", "outcome": None},
]
SAMPLES: dict[str, Any] = {
    "items": ITEMS,
    "number": 3,
    "reviewed": False,
    "first_day": date(2026, 12, 7),
    "obstacles": "My back was sore.",
    "already": False,
    "next_day": date(2026, 12, 10),
    "area": "relaxation",
    "when": "tonight",
    "limit": 200,
    "tonight": ITEMS[0],
    "morning": ITEMS[1],
    "has_plan": True,
    "back": True,
    "checked": True,
    "session_time": True,
}
