"""The outbox dispatcher: claim due messages atomically, send them, record what happened."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.channels.types import (
    DeliveryError,
    PermanentDeliveryError,
    RecipientBlocked,
    Reply,
    Sender,
    buttons_from_json,
)
from bot.clock import Clock
from bot.db.models import OutboxMessage, Person

log = logging.getLogger(__name__)

# A claim older than this is taken to belong to a process that died mid-send.
CLAIM_LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 8
MAX_BACKOFF = timedelta(minutes=5)
UNSENT = ("pending", "sending")


@dataclass(frozen=True)
class Outcome:
    """What happened to one outbox row."""

    row_id: int
    status: str  # "sent" | "retry" | "held" | "failed" | "blocked"
    error: str | None = None
    retry_after: float | None = None


def new_claim_token() -> str:
    """A token naming one claim, so only its holder can record the result."""
    return secrets.token_hex(8)


async def send_rows(
    rows: Sequence[OutboxMessage],
    senders: Mapping[str, Sender],
    budget: timedelta = CLAIM_LEASE / 2,
) -> list[Outcome]:
    """Send claimed rows in order; after a failure, a chat's later rows wait so order holds.

    Sending stops once `budget` is spent (a slow or failing channel), well inside the claim
    lease, so no other worker takes over a row this round may still send; the rest are handed
    back to the dispatcher.
    """
    outcomes: list[Outcome] = []
    stalled: set[tuple[str, str]] = set()
    deadline = time.monotonic() + budget.total_seconds()
    for row in rows:
        chat = (row.channel, row.chat_id)
        if chat in stalled or time.monotonic() > deadline:
            outcomes.append(Outcome(row.id, "held", "behind an unsent message"))
            continue
        sender = senders.get(row.channel)
        if sender is None:
            outcomes.append(Outcome(row.id, "retry", "no sender for channel"))
            stalled.add(chat)
            continue
        try:
            await sender.send(row.chat_id, Reply(row.text, buttons_from_json(row.buttons)))
        except RecipientBlocked as error:
            outcomes.append(Outcome(row.id, "blocked", error.reason))
        except PermanentDeliveryError as error:
            outcomes.append(Outcome(row.id, "failed", error.reason))
        except DeliveryError as error:
            outcomes.append(Outcome(row.id, "retry", error.reason, error.retry_after))
            stalled.add(chat)
        except Exception as error:
            # Unexpected: keep the outcomes of the rows already sent, retry this one later.
            log.exception("unexpected error while sending", extra={"row": row.id})
            outcomes.append(Outcome(row.id, "retry", type(error).__name__))
            stalled.add(chat)
        else:
            outcomes.append(Outcome(row.id, "sent"))
    return outcomes


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    """Wait as long as the channel asked, else double each time up to a ceiling."""
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    return min(timedelta(seconds=2**attempts), MAX_BACKOFF)


async def record(
    sessions: async_sessionmaker[AsyncSession],
    rows: Sequence[OutboxMessage],
    outcomes: Sequence[Outcome],
    now: datetime,
) -> None:
    """Store the outcome of a send round in one transaction; only the claim's holder may."""
    by_id = {row.id: row for row in rows}
    # The common outcomes are settled in one statement per kind and claim, not one per row.
    grouped: defaultdict[tuple[str, str | None], list[int]] = defaultdict(list)
    async with sessions() as session, session.begin():
        for outcome in outcomes:
            row = by_id[outcome.row_id]
            if outcome.status == "sent":
                # Someone not enrolled (a stranger, or someone who declined): keep nothing.
                action = "forget" if _keeps_nothing(row) else "sent"
                grouped[(action, row.claim_token)].append(row.id)
            elif outcome.status == "held":
                grouped[("held", row.claim_token)].append(row.id)
            else:
                await _record_failure(session, row, outcome, now)
        for (action, token), ids in grouped.items():
            mine = and_(OutboxMessage.id.in_(ids), OutboxMessage.claim_token == token)
            if action == "forget":
                await session.execute(delete(OutboxMessage).where(mine))
            elif action == "sent":
                await session.execute(
                    update(OutboxMessage)
                    .where(mine)
                    .values(status="sent", sent_at=now, attempts=OutboxMessage.attempts + 1)
                )
            else:
                await session.execute(
                    update(OutboxMessage)
                    .where(mine)
                    .values(status="pending", claimed_at=None, claim_token=None, not_before=now)
                )


async def _record_failure(
    session: AsyncSession, row: OutboxMessage, outcome: Outcome, now: datetime
) -> None:
    """Back off and retry, or give up where giving up is allowed."""
    mine = and_(OutboxMessage.id == row.id, OutboxMessage.claim_token == row.claim_token)
    attempts = row.attempts + 1
    give_up = outcome.status in ("failed", "blocked") or (
        attempts >= MAX_ATTEMPTS and row.priority > 0  # urgent rows never give up
    )
    log.warning(
        "outbox delivery problem", extra={"row": row.id, "kind": row.kind, "error": outcome.error}
    )
    if give_up and _keeps_nothing(row):
        await session.execute(delete(OutboxMessage).where(mine))
        return
    await session.execute(
        update(OutboxMessage)
        .where(mine)
        .values(
            status="failed" if give_up else "pending",
            attempts=attempts,
            claimed_at=None,
            claim_token=None,
            last_error=(outcome.error or "")[:200],
            not_before=now + _backoff(attempts, outcome.retry_after),
        )
    )
    if outcome.status == "blocked" and row.person_id is not None:
        await session.execute(
            update(Person)
            .where(Person.id == row.person_id, Person.unreachable_at.is_(None))
            .values(unreachable_at=now)
        )


def _keeps_nothing(row: OutboxMessage) -> bool:
    """Replies to someone not enrolled are not kept once they are done with."""
    return row.kind == "reply" and row.person_id is None


def _due(now: datetime, row: type[OutboxMessage] = OutboxMessage) -> ColumnElement[bool]:
    """Due rows: pending and ready, or claimed by a process that has not finished in time."""
    return or_(
        and_(row.status == "pending", row.not_before <= now),
        and_(row.status == "sending", row.claimed_at < now - CLAIM_LEASE),
    )


def _behind_an_earlier_message(now: datetime) -> ColumnElement[bool]:
    """An older, equally urgent unsent row for the same chat that cannot go now: wait for it.

    An older row that is due itself is claimed in the same round and sent first (rows are
    ordered by priority, then id), so only one that is waiting holds the chat back.
    """
    older = aliased(OutboxMessage)
    return exists().where(
        older.channel == OutboxMessage.channel,
        older.chat_id == OutboxMessage.chat_id,
        older.id < OutboxMessage.id,
        older.priority <= OutboxMessage.priority,
        older.status.in_(UNSENT),
        ~_due(now, older),
    )


async def unsent_chats(
    session: AsyncSession, chats: set[tuple[str, str]], priority: int
) -> set[tuple[str, str]]:
    """Which of these chats have unsent rows at least as urgent (new replies queue behind)."""
    if not chats:
        return set()
    found = await session.execute(
        select(OutboxMessage.channel, OutboxMessage.chat_id)
        .where(
            tuple_(OutboxMessage.channel, OutboxMessage.chat_id).in_(chats),
            OutboxMessage.priority <= priority,
            OutboxMessage.status.in_(UNSENT),
        )
        .distinct()
    )
    return {(channel, chat_id) for channel, chat_id in found}


async def claim_due(
    sessions: async_sessionmaker[AsyncSession], now: datetime, limit: int = 50
) -> list[OutboxMessage]:
    """Claim up to `limit` due rows, most urgent first, so no other worker sends them too."""
    # On SQLite another worker may claim every row we picked just before us (no SKIP
    # LOCKED there); looking again then finds the rows after theirs.
    for _attempt in range(3):
        found, claimed = await _claim_once(sessions, now, limit)
        if claimed or not found:
            return claimed
    return []


async def _claim_once(
    sessions: async_sessionmaker[AsyncSession], now: datetime, limit: int
) -> tuple[bool, list[OutboxMessage]]:
    """One attempt: (whether any row was due, the rows this attempt claimed)."""
    token = new_claim_token()
    due = _due(now)
    async with sessions() as session, session.begin():
        candidates = (
            select(OutboxMessage.id)
            .where(due, ~_behind_an_earlier_message(now))
            .order_by(OutboxMessage.priority, OutboxMessage.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        ids = list(await session.scalars(candidates))
        if not ids:
            return False, []
        # The WHERE is checked again under the row lock: a row another worker took is skipped.
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), due)
            .values(status="sending", claimed_at=now, claim_token=token)
        )
        claimed = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.claim_token == token)
            .order_by(OutboxMessage.priority, OutboxMessage.id)
        )
        return True, list(claimed)


class Dispatcher:
    """Delivers whatever is due in the outbox; APScheduler ticks it, turns nudge it."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        senders: Mapping[str, Sender],
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.senders = senders
        self.clock = clock
        # Held for a whole round, so stopping can wait for a round to be recorded.
        self.round = asyncio.Lock()

    async def run_once(self, limit: int = 50) -> int:
        """One claim-send-record round; returns how many rows were sent or settled."""
        async with self.round:
            rows = await claim_due(self.sessions, self.clock.now(), limit)
            if not rows:
                return 0
            outcomes = await send_rows(rows, self.senders)
            await record(self.sessions, rows, outcomes, self.clock.now())
            return sum(1 for outcome in outcomes if outcome.status != "held")

    async def drain(self, limit: int = 50) -> int:
        """Run rounds until nothing more is due; returns the total handled."""
        total = 0
        while handled := await self.run_once(limit):
            total += handled
        return total
