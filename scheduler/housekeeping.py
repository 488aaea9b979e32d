"""Keep only what is needed: old inbox ids, delivered replies and unfinished joins go."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, exists, or_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Conversation, InboxUpdate, OutboxMessage, Person
from bot.services.family import purge_guests
from scheduler.reminders import BULK_PRIORITY

# Telegram keeps unconfirmed updates about a day; a week covers any redelivery with margin.
INBOX_KEEP = timedelta(days=7)
# Delivered replies and reminders are kept a month so staff can answer "did the bot tell me
# that?".
REPLY_KEEP = timedelta(days=30)
# Someone who opened a link and never finished joining: forget them after two days.
UNFINISHED_ENROLMENT_KEEP = timedelta(days=2)
ENROLMENT_DIALOGS = ("enrol", "enrol_staff")
# Friends-and-family guests are deleted this long after their day (FAMILY_KEEP_DAYS).
FAMILY_KEEP = timedelta(days=30)
LONDON = ZoneInfo("Europe/London")


async def purge(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    family_keep: timedelta = FAMILY_KEEP,
    tz: ZoneInfo = LONDON,
) -> tuple[int, int, int, int]:
    """Delete what is past its keeping time; return (inbox rows, replies, conversations,
    friends-and-family guests)."""
    async with sessions() as session, session.begin():
        inbox = await session.execute(
            delete(InboxUpdate).where(InboxUpdate.received_at < now - INBOX_KEEP)
        )
        # Delivered replies, and reminders and other bulk messages whose fate is settled
        # (their text names the patient): kept a month, then gone.
        settled = OutboxMessage.status.in_(("sent", "expired", "failed", "cancelled", "blocked"))
        replies = await session.execute(
            delete(OutboxMessage).where(
                or_(
                    and_(OutboxMessage.kind == "reply", OutboxMessage.status == "sent"),
                    and_(OutboxMessage.priority == BULK_PRIORITY, settled),
                ),
                OutboxMessage.created_at < now - REPLY_KEEP,
            )
        )
        unfinished = await session.execute(
            delete(Conversation).where(
                Conversation.dialog.in_(ENROLMENT_DIALOGS),
                Conversation.updated_at < now - UNFINISHED_ENROLMENT_KEEP,
                ~exists().where(
                    Person.channel == Conversation.channel,
                    Person.channel_user_id == Conversation.channel_user_id,
                ),
            )
        )
        guests = await purge_guests(session, now.astimezone(tz).date(), family_keep)
    return (
        int(inbox.rowcount or 0),  # type: ignore[attr-defined]
        int(replies.rowcount or 0),  # type: ignore[attr-defined]
        int(unfinished.rowcount or 0),  # type: ignore[attr-defined]
        guests,
    )
