"""Sample values for the templates in content/common/."""

from __future__ import annotations

from typing import Any

SAMPLES: dict[str, Any] = {
    "kind": "greeting",  # common/small_talk: thanks, goodbye, greeting or ok
    "kept": "nothing",  # common/cancelled: so_far, report, report_sent or nothing
}
