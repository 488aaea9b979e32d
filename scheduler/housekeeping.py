"""Keep only what is needed: old inbox ids and delivered replies are deleted."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import InboxUpdate, OutboxMessage

# Telegram keeps unconfirmed updates about a day; a week covers any redelivery with margin.
INBOX_KEEP = timedelta(days=7)
# Delivered replies are kept a month so staff can answer "did the bot tell me that?".
REPLY_KEEP = timedelta(days=30)


async def purge(sessions: async_sessionmaker[AsyncSession], now: datetime) -> tuple[int, int]:
    """Delete inbox rows and delivered replies past their keeping time; return the counts."""
    async with sessions() as session, session.begin():
        inbox = await session.execute(
            delete(InboxUpdate).where(InboxUpdate.received_at < now - INBOX_KEEP)
        )
        replies = await session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.kind == "reply",
                OutboxMessage.status == "sent",
                OutboxMessage.created_at < now - REPLY_KEEP,
            )
        )
    return int(inbox.rowcount or 0), int(replies.rowcount or 0)  # type: ignore[attr-defined]
