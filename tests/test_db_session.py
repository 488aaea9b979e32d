"""The database engine: SQLite connections given up on still let the bot exit."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from pathlib import Path

import aiosqlite

from bot.db.session import _stop_once, create_engine


async def test_a_sqlite_connection_stopped_while_closing_still_closes(tmp_path: Path) -> None:
    # SQLAlchemy gives up on a connection whose statement was cancelled by closing it and
    # stopping it at once. aiosqlite's close() then waited for ever on its ended worker, and
    # `pmp run` hung at exit after a frozen database (sqlalchemy/sqlalchemy#13039).
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'pmp.db'}")
    try:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            closing = asyncio.create_task(driver.close())
            await asyncio.sleep(0)  # the close is queued for the worker
            driver.stop()
            await asyncio.wait_for(closing, timeout=5)
            assert await _ends(driver._thread)
            await connection.invalidate()
    finally:
        await engine.dispose()


async def _ends(thread: threading.Thread) -> bool:
    """Whether a worker thread ends within a few seconds."""
    for _ in range(100):
        if not thread.is_alive():
            return True
        await asyncio.sleep(0.05)
    return False


def test_the_stop_once_patch_leaves_no_reference_cycle() -> None:
    # A cycle would keep a dropped connection (and its worker) until a garbage collection,
    # which after `pmp run`'s gc.freeze() might never come for older objects.
    connection = aiosqlite.connect(":memory:")  # not started: no worker yet
    _stop_once(connection)
    held = weakref.ref(connection)
    gc.disable()
    try:
        del connection
        assert held() is None
    finally:
        gc.enable()
