"""The database engine: SQLite connections given up on still let the bot exit."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from bot.db.session import create_engine


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
