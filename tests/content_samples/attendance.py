"""Sample values for the templates in content/attendance/."""

from __future__ import annotations

from typing import Any

SAMPLES: dict[str, Any] = {
    "choice": "no",  # typed_confirm: no, late or yes
    "day": "tomorrow",  # typed_none: the day the patient named, or None
}
