"""Async engine and session factory, with SQLite set up for safe concurrent use."""

from __future__ import annotations

import weakref
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

    When a statement is cancelled (a turn's time limit), SQLAlchemy closes the connection in a
    shielded task and, as it is cancelled in turn, stops it at once. aiosqlite 0.22's close()
    then asks the worker, already ended by that stop, to stop again and waits for ever, so the
    bot could not exit. Every stop after the first returns the first's answer instead. The
    connection is held weakly, so the patch makes no reference cycle.
    """
    stop_first = getattr(type(connection), "stop", None)
    if stop_first is None:
        return  # an aiosqlite without stop(): SQLAlchemy does not stop it either
    held = weakref.ref(connection)
    answers: list[Any] = []

    def stop() -> Any:
        """The first stop's answer (None once the connection is gone)."""
        if not answers:
            live = held()
            if live is None:
                return None
            answers.append(stop_first(live))
        return answers[0]

    connection.stop = stop


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
