"""Shared fixtures: every database test runs on SQLite and, with TEST_DATABASE_URL, PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.app.runtime import Runtime, open_runtime
from bot.clock import ManualClock
from bot.config import Settings
from bot.db.migrate import upgrade
from bot.db.models import Base
from bot.db.session import create_engine
from tests.escalation_support import Team, make_team
from tests.helpers import Chat, enrol_patient

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
# Every console a test starts (the demo's, `pmp run`'s) listens where the system finds room,
# never on the 8080 a developer's own demo may hold.
os.environ["WEB_PORT"] = "0"
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

STAFF_ID = 5001
LEAD_ID = 5002
STAFF_CHAT_ID = -100777
BOT_USERNAME = "pmp_test_bot"
START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # a Thursday


def _migrate(url: str, reset_postgres: bool) -> None:
    async def go() -> None:
        engine = create_engine(url)
        if reset_postgres:
            async with engine.begin() as connection:
                await connection.execute(text("DROP SCHEMA public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(go())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (far faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(f"sqlite+aiosqlite:///{path}", reset_postgres=False)
    return path


@pytest.fixture(scope="session")
def postgres_ready() -> str:
    """PostgreSQL migrated from an empty schema once per run."""
    _migrate(PG_URL, reset_postgres=True)
    return PG_URL


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A migrated, empty database for one test."""
    if request.param == "sqlite":
        target = tmp_path / "test.db"
        shutil.copy(sqlite_template, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    url = request.getfixturevalue("postgres_ready")
    yield url
    _truncate(url)


def _truncate(url: str) -> None:
    async def go() -> None:
        engine = create_engine(url)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await engine.dispose()

    asyncio.run(go())


@pytest.fixture
def clock() -> ManualClock:
    """A clock the test moves."""
    return ManualClock(START)


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings for tests: no .env, a staff list, a staff group, no rate limiting."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        telegram_bot_token="123456:TEST-TOKEN",
        telegram_bot_username=BOT_USERNAME,
        telegram_api_base_url="https://api.telegram.test/bot",
        staff_telegram_ids=[STAFF_ID, LEAD_ID],
        staff_chat_id=STAFF_CHAT_ID,
        telegram_max_messages_per_second=0,
        webhook_secret_token="test-secret_token-123",
        webhook_path="/telegram",
        web_port=0,  # the console listens where the system finds room
    )


@pytest.fixture
async def runtime(settings: Settings, clock: ManualClock) -> AsyncIterator[Runtime]:
    """Database, content and clock, as the bot has them."""
    rt = await open_runtime(settings, clock, migrate=False)
    yield rt
    await rt.close()


@pytest.fixture
async def team(runtime: Runtime, clock: ManualClock) -> Team:
    """A member of staff (Sam), the staff group as a desk, the dispatcher and the watchdog."""
    return await make_team(runtime, clock)


@pytest.fixture
async def patient(runtime: Runtime, team: Team) -> Chat:
    """Robin, a patient who has joined a group (after the team, so Robin is P2)."""
    return await enrol_patient(runtime, name="Robin")
