"""What every console page is given: the runtime's parts, and how to wake the sender."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.content import CONTENT_DIR, Content
from bot.services.escalations import Escalator
from bot.services.staff_accounts import Throttle
from bot.services.staff_sessions import Lifetime


def _nothing() -> None:
    """No sender to wake (a test, or the console on its own)."""


def web_templates(content: Content, root: Path = CONTENT_DIR / "web") -> Environment:
    """The console's pages: HTML-escaped, the same date filters as the messages."""
    env = Environment(
        loader=FileSystemLoader(root),
        undefined=StrictUndefined,
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    for name in ("long_date", "short_date", "clock", "local"):
        env.filters[name] = content.env.filters[name]
    env.filters["when"] = lambda moment: f"{moment.astimezone(content.tz):%a %d %b %H:%M}"
    env.filters["duration"] = _duration
    env.globals["clinic"] = content.env.globals["clinic"]
    return env


def _duration(span: timedelta) -> str:
    """'3 days 2 hours', '1 hour 5 minutes', '4 minutes': how long something has waited."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    shown = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n][:2]
    return " ".join(shown) or "under a minute"


@dataclass
class Console:
    """The console's share of the runtime."""

    settings: Settings
    clock: Clock
    sessions: async_sessionmaker[AsyncSession]
    content: Content
    escalator: Escalator
    # Called after a request committed outbox rows, so they go now, not at the next tick.
    wake: Callable[[], None] = _nothing
    templates: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.templates = web_templates(self.content)

    @property
    def lifetime(self) -> Lifetime:
        """How long a signed-in session lasts."""
        return Lifetime(
            idle=timedelta(minutes=self.settings.web_idle_minutes),
            absolute=timedelta(hours=self.settings.web_absolute_hours),
        )

    @property
    def throttle(self) -> Throttle:
        """When sign-in is refused for a while."""
        return Throttle(
            failures=self.settings.web_lockout_failures,
            window=timedelta(minutes=self.settings.web_lockout_minutes),
        )

    def render(self, name: str, /, **variables: Any) -> str:
        """A page or fragment of `content/web/`."""
        return self.templates.get_template(f"{name}.html").render(**variables)
