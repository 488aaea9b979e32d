"""Sample variables for the friends-and-family day's templates (content/family/)."""

from __future__ import annotations

from datetime import date
from typing import Any

SESSIONS = [
    {"time": "13:30", "title": "Friends and family session: understanding chronic pain together"},
    {"time": "14:00", "title": "Friends and family: how to support pain management at home"},
]

SAMPLES: dict[str, Any] = {
    "on_date": date(2026, 12, 16),
    "sessions": SESSIONS,
    "guests": [
        {"number": 1, "name": "Sam", "status": "coming"},
        {"number": 2, "name": "Alex", "status": "not_coming"},
        {"number": 3, "name": None, "status": "no_answer"},
        {"number": 4, "name": None, "status": "not_opened"},
    ],
    "max_guests": 3,
    "closed": False,
    "patient": "Robin",
    "link": "https://t.me/pmp_test_bot?start=g_abcdefghijklmnopqrstuv",
    "opened": True,
    "guest": "Sam",
    "reply": "yes",
    "access_needs": "Step-free access, please",
    "question": "How can I help on bad days?",
    "stopped": True,
    "keep_days": 30,
}
