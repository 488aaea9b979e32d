"""Sample variables for content/questions/ templates."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

COHORT = SimpleNamespace(id=3, name="Group A")
QA_AT = datetime(2026, 12, 17, 11, 30, tzinfo=UTC)
DEADLINE = datetime(2026, 12, 16, 11, 30, tzinfo=UTC)

SAMPLES: dict[str, Any] = {
    # questions/answered: marked answered after the doctor's session (or before it).
    "after_session": True,
    "cohort": COHORT,
    "opens": datetime(2026, 12, 12, 10, 0, tzinfo=UTC),
    "qa_at": QA_AT,
    "deadline": DEADLINE,
    "count": 2,
    "limit": 500,
    "editing": True,
    "current": "Will my pain ever go away?",
    "text": "Will my pain ever go away?",
    "share_name": True,
    "edited": False,
    "asked": "99",
    "waiting": [(COHORT, 4), (SimpleNamespace(id=5, name="January online"), 1)],
    "window": SimpleNamespace(qa_at=QA_AT, deadline=DEADLINE),
    "groups": [
        [
            {"id": 1, "name": "Robin", "text": "Will my pain ever go away?", "status": "open"},
            {"id": 4, "name": "Anonymous", "text": "Will the pain go away?", "status": "answered"},
        ],
        [{"id": 2, "name": "Anonymous", "text": "Can I drive?", "status": "open"}],
    ],
    "late": False,
}
