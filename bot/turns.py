"""One transaction per turn: record the update, run the dialog, write replies to the outbox."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.types import Incoming, Sender
from bot.clock import Clock
from bot.config import Settings
from bot.content import Content
from bot.db.models import Conversation, InboxUpdate, OutboxMessage
from bot.services.people import find_person
from dialogs.router import route
from dialogs.turn import Turn
from scheduler import dispatcher

log = logging.getLogger(__name__)

REPLY_PRIORITY = 1


@dataclass
class TurnOutcome:
    """What a committed turn left to do: replies to send now, and whether staff have mail."""

    replies: list[OutboxMessage] = field(default_factory=list)
    alert: str | None = None
    staff_messages: int = 0
    duplicate: bool = False


async def _record_inbox(session: AsyncSession, incoming: Incoming, now: datetime) -> bool:
    """Insert the inbox row; False when this update was handled before (same channel and id)."""
    dialect = session.get_bind().dialect.name
    values = {"channel": incoming.channel, "update_id": incoming.update_id, "received_at": now}
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    result = await session.execute(insert(InboxUpdate).values(**values).on_conflict_do_nothing())
    return bool(result.rowcount)  # type: ignore[attr-defined]


class TurnRunner:
    """Runs turns for every channel against one database."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock,
        content: Content,
        staff_chats: Mapping[str, str],
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.content = content
        # Where each channel's staff messages go (Telegram: the configured staff group).
        self.staff_chats = dict(staff_chats)

    async def run(self, incoming: Incoming) -> TurnOutcome:
        """Handle an event in one transaction; a redelivered update changes nothing."""
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            recorded = await _record_inbox(session, incoming, now)
            if not recorded:
                log.info("duplicate update ignored", extra={"channel": incoming.channel})
                return TurnOutcome(duplicate=True)
            person = await find_person(session, incoming.channel, incoming.user_id)
            conversation = await session.scalar(
                select(Conversation).where(
                    Conversation.channel == incoming.channel,
                    Conversation.channel_user_id == incoming.user_id,
                )
            )
            turn = Turn(
                incoming=incoming,
                session=session,
                settings=self.settings,
                clock=self.clock,
                content=self.content,
                person=person,
                conversation=conversation,
                _now=now,
            )
            await route(turn)
            person_id = turn.person.id if turn.person is not None else None
            replies = [
                OutboxMessage(
                    channel=incoming.channel,
                    chat_id=incoming.chat_id,
                    person_id=person_id,
                    kind="reply",
                    priority=REPLY_PRIORITY,
                    text=reply.text,
                    buttons=reply.to_json(),
                    # Claimed by this turn: sent straight after the commit. If the process
                    # dies first, the dispatcher picks it up when the claim lease runs out.
                    status="sending",
                    claimed_at=now,
                    attempts=0,
                    not_before=now,
                    created_at=now,
                )
                for reply in turn.replies
            ]
            staff_chat = self.staff_chats.get(incoming.channel)
            notices = [
                OutboxMessage(
                    channel=incoming.channel,
                    chat_id=staff_chat,
                    person_id=None,
                    kind=notice.kind,
                    priority=notice.priority,
                    text=notice.text,
                    buttons=None,
                    status="pending",
                    attempts=0,
                    not_before=now,
                    created_at=now,
                )
                for notice in turn.notices
                if staff_chat is not None
            ]
            session.add_all(replies + notices)
            await session.flush()
        log.info(
            "turn committed",
            extra={"channel": incoming.channel, "kind": incoming.kind, "replies": len(replies)},
        )
        return TurnOutcome(replies=replies, alert=turn.alert, staff_messages=len(notices))

    async def deliver(self, outcome: TurnOutcome, senders: Mapping[str, Sender]) -> None:
        """Send a turn's replies now and record the results."""
        if not outcome.replies:
            return
        results = await dispatcher.send_rows(outcome.replies, senders)
        await dispatcher.record(self.sessions, outcome.replies, results, self.clock.now())
