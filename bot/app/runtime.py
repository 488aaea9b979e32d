"""Wiring shared by the Telegram bot, the terminal demo and the command line."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app.turns import TurnRunner
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.content import Clinic, Content
from bot.db.migrate import upgrade
from bot.db.session import create_engine, session_factory


@dataclass
class Runtime:
    """The parts every entry point needs: settings, clock, database, content, turn runner."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    content: Content

    def runner(self, staff_chats: Mapping[str, str], claim_urgent: bool = False) -> TurnRunner:
        """A turn runner that sends staff messages to these chats, per channel."""
        return TurnRunner(
            self.sessions, self.settings, self.clock, self.content, staff_chats, claim_urgent
        )

    async def close(self) -> None:
        """Release database connections."""
        await self.engine.dispose()


async def open_runtime(
    settings: Settings, clock: Clock | None = None, migrate: bool = True
) -> Runtime:
    """Connect to the database (migrating it to the newest schema) and load content."""
    engine = create_engine(settings.database_url)
    if migrate:
        await upgrade(engine)
    return Runtime(
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine,
        sessions=session_factory(engine),
        content=Content(
            tz=settings.tz,
            clinic=Clinic(settings.clinic_name, settings.clinic_phone, settings.clinic_hours),
        ),
    )


class _NoSecrets(logging.Filter):
    """Last line of defence: drop a record that would print the bot token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self.token and self.token in record.getMessage():
            record.msg, record.args = "[record withheld: it contained the bot token]", ()
        return True


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    """Appends the `extra=` fields (ids, counts, error types: never text) as key=value."""

    def __init__(self, fmt: str, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(fmt)
        # Taken out of whole lines, tracebacks included (PTB puts a rejected token in one).
        self.secrets = tuple(secret for secret in secrets if secret)

    def format(self, record: logging.LogRecord) -> str:
        """The usual line, then the extras."""
        line = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRIBUTES}
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in sorted(extras.items()))
        for secret in self.secrets:
            line = line.replace(secret, "[secret]")
        return line


def configure_logging(settings: Settings) -> None:
    """Log ids and events only; keep httpx quiet because it prints the token in URLs."""
    logging.basicConfig(level=settings.log_level.upper())
    formatter = KeyValueFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        (settings.telegram_bot_token, settings.teams_app_password, settings.entra_client_secret),
    )
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
    for noisy in (
        "httpx",
        "httpcore",
        "telegram",
        "apscheduler",
        "aiosqlite",
        "uvicorn.access",
        "microsoft_agents",
        "msal",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The SDK's connector logs every refused call at ERROR; our sender turns each into a
    # delivery outcome that the dispatcher logs by outbox row, so those lines are only noise.
    logging.getLogger("microsoft_agents.hosting.core.connector").setLevel(logging.CRITICAL)
    token_filter = _NoSecrets(settings.telegram_bot_token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(token_filter)
