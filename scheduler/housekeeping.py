"""Keep only what is needed: old inbox ids, delivered replies, unfinished joins, forms left
half-done, and a resolved alert's copy of the patient's words go."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, exists, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import (
    Conversation,
    CrisisReply,
    Escalation,
    InboxUpdate,
    OutboxMessage,
    Person,
)
from bot.services import guessing
from bot.services.family import purge_guests
from bot.services.outbox import SETTLED, Priority, Status

# Telegram keeps unconfirmed updates about a day; a week covers any redelivery with margin.
INBOX_KEEP = timedelta(days=7)
# Delivered replies and reminders are kept a month so staff can answer "did the bot tell me
# that?".
REPLY_KEEP = timedelta(days=30)
# Someone who opened a link and never finished joining: forget them after two days.
UNFINISHED_ENROLMENT_KEEP = timedelta(days=2)
ENROLMENT_DIALOGS = ("enrol", "enrol_staff")
# A form left part way (a report, a question for the doctor) holds what was typed into it:
# after a month nobody will come back to it, so it is forgotten.
STALE_DIALOG_KEEP = timedelta(days=30)
# A resolved alert keeps the patient's own words this long after it was resolved: time for the
# team to copy what matters into the clinical record. The alert itself, its outcome and audit
# stay.
ESCALATION_WORDS_KEEP = timedelta(days=90)
# Friends-and-family guests are deleted this long after their day (FAMILY_KEEP_DAYS).
FAMILY_KEEP = timedelta(days=30)
LONDON = ZoneInfo("Europe/London")


class Purged(NamedTuple):
    """How many of each were deleted or emptied."""

    inbox: int
    replies: int
    unfinished_enrolments: int
    family_guests: int
    stale_dialogs: int = 0
    escalation_words: int = 0


async def purge(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    family_keep: timedelta = FAMILY_KEEP,
    tz: ZoneInfo = LONDON,
) -> Purged:
    """Delete what is past its keeping time; say how much."""
    async with sessions() as session, session.begin():
        inbox = await session.execute(
            delete(InboxUpdate).where(InboxUpdate.received_at < now - INBOX_KEEP)
        )
        await session.execute(delete(CrisisReply).where(CrisisReply.sent_at < now - INBOX_KEEP))
        # Delivered replies, and reminders and other bulk messages whose fate is settled
        # (their text names the patient): kept a month, then gone.
        settled = OutboxMessage.status.in_(SETTLED)
        replies = await session.execute(
            delete(OutboxMessage).where(
                or_(
                    and_(OutboxMessage.kind == "reply", OutboxMessage.status == Status.SENT),
                    and_(OutboxMessage.priority == Priority.BULK, settled),
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
        await guessing.forget_old(session, now)
        stale = await session.execute(
            update(Conversation)
            .where(
                Conversation.dialog.is_not(None),
                Conversation.dialog.not_in(ENROLMENT_DIALOGS),
                Conversation.updated_at < now - STALE_DIALOG_KEEP,
            )
            .values(dialog=None, step=None, data={})
        )
        words = await session.execute(
            update(Escalation)
            .where(
                Escalation.status == "resolved",
                Escalation.resolved_at < now - ESCALATION_WORDS_KEEP,
                Escalation.details.is_not(None),
            )
            .values(details=None)
        )
    return Purged(
        int(inbox.rowcount or 0),  # type: ignore[attr-defined]
        int(replies.rowcount or 0),  # type: ignore[attr-defined]
        int(unfinished.rowcount or 0),  # type: ignore[attr-defined]
        guests,
        int(stale.rowcount or 0),  # type: ignore[attr-defined]
        int(words.rowcount or 0),  # type: ignore[attr-defined]
    )
