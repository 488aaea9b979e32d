"""Slowing down anyone who guesses joining codes or guest links: a few wrong in a row pause
that account for a while, and staff hear of it once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import CodeAttempt

log = logging.getLogger(__name__)

# Five wrong codes within 15 minutes pause the account until the oldest of them is 15 minutes
# old: a person mistyping gets several goes; 300 guesses take 15 hours instead of 11 seconds.
WRONG_LIMIT = 5
WINDOW = timedelta(minutes=15)
# Kept a day, for the count; then gone (housekeeping).
KEEP = timedelta(days=1)


async def _recent(session: AsyncSession, channel: str, user_id: str, now: datetime) -> int:
    """Wrong codes from this account within the window."""
    count = await session.scalar(
        select(func.count()).where(
            CodeAttempt.channel == channel,
            CodeAttempt.channel_user_id == user_id,
            CodeAttempt.at > now - WINDOW,
        )
    )
    return int(count or 0)


async def paused(session: AsyncSession, channel: str, user_id: str, now: datetime) -> bool:
    """Whether this account has had too many wrong codes lately to have another checked."""
    return await _recent(session, channel, user_id, now) >= WRONG_LIMIT


async def wrong(session: AsyncSession, channel: str, user_id: str, kind: str, now: datetime) -> int:
    """Record a wrong code (kind "invite" or "guest"); the account's wrong codes lately."""
    session.add(CodeAttempt(channel=channel, channel_user_id=user_id, kind=kind, at=now))
    await session.flush()
    count = await _recent(session, channel, user_id, now)
    # The account id and a count: never the code, which may be one a real person was given.
    log.warning("a wrong code", extra={"account": user_id, "kind": kind, "recent": count})
    return count


async def forget_old(session: AsyncSession, now: datetime) -> int:
    """Delete attempts older than a day; how many."""
    result = await session.execute(delete(CodeAttempt).where(CodeAttempt.at < now - KEEP))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
