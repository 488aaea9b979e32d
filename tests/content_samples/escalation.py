"""Sample variables for content/escalation/ templates."""

from __future__ import annotations

from typing import Any

SAMPLES: dict[str, Any] = {
    # escalation/open_list: what /escalations lists.
    "items": [
        {
            "id": 12,
            "reference": "P5",
            "title": "URGENT RISK: risk language",
            "status": "alerted",
            "urgent": True,
            "minutes": 75,
        },
        {
            "id": 9,
            "reference": "P3",
            "title": "New report",
            "status": "acknowledged",
            "urgent": False,
            "minutes": 4,
        },
    ],
    "total": 23,
}
