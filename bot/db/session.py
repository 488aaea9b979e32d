"""Async engine and session factory, with SQLite set up for safe concurrent use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# Seconds to connect (or wait for a pooled connection), and for one statement to answer.
CONNECT_TIMEOUT = 10
COMMAND_TIMEOUT = 30


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an engine; for SQLite make the folder and turn on foreign keys, WAL and a timeout.

    Parameters are hidden from error messages: they hold names and messages, and errors are logged.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        if parsed.get_driver_name() == "asyncpg":
            # A frozen or unreachable server must fail a turn, not hang it for ever: the turn
            # is retried, and the bot goes on answering crisis messages meanwhile.
            connect_args = {"timeout": CONNECT_TIMEOUT, "command_timeout": COMMAND_TIMEOUT}
            kwargs = {"connect_args": connect_args, "pool_timeout": CONNECT_TIMEOUT} | kwargs
        return create_async_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)
    database = parsed.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, hide_parameters=True, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL is durable across application crashes; only power loss can cost
        # the last commits, a trade the SQLite documentation recommends for WAL.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()
        _stop_once(dbapi_connection.driver_connection)

    return engine


def _stop_once(connection: Any) -> None:
    """Make an aiosqlite connection's worker stop once, however often it is asked.

    SQLAlchemy gives up on a connection whose statement was cancelled (a turn's time limit) by
    stopping it and closing it at once; aiosqlite 0.22's close() then asks its ended worker to
    stop again and waits for ever, so the bot could not exit (sqlalchemy/sqlalchemy#13039).
    Every later stop returns the first's answer instead.
    """
    first_stop = connection.stop
    answers: list[Any] = []

    def stop() -> Any:
        if not answers:
            answers.append(first_stop())
        return answers[0]

    connection.stop = stop


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
