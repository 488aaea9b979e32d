"""Sample values for the templates in content/demo/."""

from __future__ import annotations

from typing import Any

SAMPLES: dict[str, Any] = {
    # demo/console: where the demo's staff console listens, and its sign-in for this run.
    "address": "http://127.0.0.1:8080",
    "email": "demo@pmp.example",
    "password": "made-for-this-run",
    # demo/staff: what staff were sent, numbered as !ack takes them.
    "messages": [
        {"number": 1, "text": "A new patient joined Demo group (reference P1).", "private": False},
        {"number": 2, "text": "Details for P1 (Robin).", "private": True},
    ],
}
