"""Sample values for the templates in content/menu/."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

SAMPLES: dict[str, Any] = {
    # The next session still to come, whose attendance buttons /today shows.
    "attend": SimpleNamespace(kind="day", number=2, on_date=date(2026, 12, 8)),
}
