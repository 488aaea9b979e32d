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

from bot.channels.types import Incoming, Reply, Sender
from bot.clock import Clock
from bot.config import Settings
from bot.content import Content
from bot.db.models import Conversation, InboxUpdate, OutboxMessage
from bot.services.people import find_person
from dialogs.router import route
from dialogs.turn import Notice, Turn
from scheduler import dispatcher

log = logging.getLogger(__name__)

REPLY_PRIORITY = 1


@dataclass
class TurnOutcome:
    """What a committed turn left to do: replies to send now, and rows for the dispatcher."""

    replies: list[OutboxMessage] = field(default_factory=list)
    alert: str | None = None
    # Rows left to the dispatcher (staff notices, replies queued behind unsent ones).
    queued: int = 0
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
            conversation_query = select(Conversation).where(
                Conversation.channel == incoming.channel,
                Conversation.channel_user_id == incoming.user_id,
            )
            if session.get_bind().dialect.name == "postgresql":
                # Two instances handling one person's updates at once take turns here, so
                # neither overwrites the other's dialog state. (SQLite has one writer anyway.)
                conversation_query = conversation_query.with_for_update()
            turn = Turn(
                incoming=incoming,
                session=session,
                settings=self.settings,
                clock=self.clock,
                content=self.content,
                person=person,
                conversation=await session.scalar(conversation_query),
                _now=now,
            )
            await route(turn)
            # Replies go straight out after the commit, unless older messages to this chat
            # are still unsent: then they queue behind them so the order is kept.
            send_now = not await dispatcher.has_unsent(
                session, incoming.channel, incoming.chat_id, REPLY_PRIORITY
            )
            token = dispatcher.new_claim_token()
            person_id = turn.person.id if turn.person is not None else None
            replies = [
                self._row(incoming.channel, incoming.chat_id, person_id, "reply", reply, now)
                for reply in turn.replies
            ]
            for row in replies:
                if send_now:
                    # Claimed by this turn. If the process dies before sending, the
                    # dispatcher takes the rows over when the claim lease runs out.
                    row.status, row.claimed_at, row.claim_token = "sending", now, token
            staff_chat = self.staff_chats.get(incoming.channel)
            notices = [
                self._row(incoming.channel, staff_chat, None, notice.kind, notice, now)
                for notice in turn.notices
                if staff_chat is not None
            ]
            session.add_all(replies + notices)
            await session.flush()
        log.info(
            "turn committed",
            extra={"channel": incoming.channel, "kind": incoming.kind, "replies": len(replies)},
        )
        return TurnOutcome(
            replies=replies if send_now else [],
            alert=turn.alert,
            queued=len(notices) + (0 if send_now else len(replies)),
        )

    @staticmethod
    def _row(
        channel: str,
        chat_id: str,
        person_id: int | None,
        kind: str,
        message: Reply | Notice,
        now: datetime,
    ) -> OutboxMessage:
        """An outbox row for a reply or a staff notice."""
        return OutboxMessage(
            channel=channel,
            chat_id=chat_id,
            person_id=person_id,
            kind=kind,
            priority=message.priority if isinstance(message, Notice) else REPLY_PRIORITY,
            text=message.text,
            buttons=message.to_json() if isinstance(message, Reply) else None,
            status="pending",
            attempts=0,
            not_before=now,
            created_at=now,
        )

    async def deliver(self, outcome: TurnOutcome, senders: Mapping[str, Sender]) -> None:
        """Send a turn's replies now and record the results."""
        if not outcome.replies:
            return
        results = await dispatcher.send_rows(outcome.replies, senders)
        await dispatcher.record(self.sessions, outcome.replies, results, self.clock.now())
