"""Sample variables for the thought challenge's templates (content/challenge/)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

CHALLENGE = SimpleNamespace(
    id=3,
    status="reflected",
    thought="If I walk to the shops, I will be in bed for two days",
    belief_before=80,
    practical="Walk to the corner shop on Saturday at 10",
    expected="My back will seize up",
    obstacles="Rain: I will go on Sunday",
    happened="I walked there and back, and rested after",
    came_true="partly",
    learned="I was sore but not in bed",
    balanced="If I pace the walk, I can manage it",
    belief_after=40,
    shared_at=None,
    created_at=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
)
PLANNED = SimpleNamespace(**{**vars(CHALLENGE), "status": "planned", "belief_after": None})

SAMPLES: dict[str, Any] = {
    "thought": CHALLENGE.thought,
    "belief": 80,
    "limit": 500,
    "challenge": CHALLENGE,
    "challenges": [CHALLENGE, PLANNED],
    "fresh": True,
    "asked": datetime(2026, 11, 28, 22, 0, tzinfo=UTC),
    "nudge_at": datetime(2026, 11, 28, 20, 59, tzinfo=UTC),
    "quiet_night": False,
    "held": None,
    "reflect_at": datetime(2026, 12, 6, 18, 0, tzinfo=UTC),
    "reference": "P7",
    "first_name": "Robin",
    "shared_at": datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
}
