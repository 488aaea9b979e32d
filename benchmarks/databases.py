"""Database set-up shared by the benchmark scripts: a fresh database for every run."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.db.migrate import upgrade
from bot.db.session import create_engine


def remove_sqlite_files(url: str) -> None:
    """Delete a SQLite database and its journal files, if that is what the URL names."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        for suffix in ("", "-wal", "-shm"):
            Path(parsed.database + suffix).unlink(missing_ok=True)


async def prepare_database(url: str) -> None:
    """An empty database at the newest schema: each run starts from nothing."""
    remove_sqlite_files(url)
    engine = create_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            async with engine.begin() as connection:
                await connection.execute(text("DROP SCHEMA public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
    finally:
        await engine.dispose()


def describe_database(url: str, temporary: bool) -> str:
    """The database URL without its password (a temp SQLite file is named as such)."""
    if temporary:
        return "sqlite (fresh file in a temp folder)"
    return make_url(url).render_as_string(hide_password=True)
