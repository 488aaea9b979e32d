"""The outbox dispatcher: claim due messages atomically, send them, record what happened."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.clock import Clock
from bot.db.models import OutboxMessage, Person, Worker
from bot.messages import (
    ChatBusy,
    DeliveryError,
    Editor,
    PermanentDeliveryError,
    RecipientBlocked,
    Reply,
    Sender,
    buttons_from_json,
)
from bot.services.outbox import Priority, Status
from scheduler.failures import FailureReporter
from scheduler.guests import remind_from
from scheduler.reminders import ReminderReleaser

log = logging.getLogger(__name__)

# A claim older than this is taken to belong to a process that died mid-send.
CLAIM_LEASE = timedelta(minutes=2)
# This process, as it signs its claims. A process that says it is alive (HEARTBEAT) and then
# goes quiet for CLAIMER_SILENT has died: its claims are taken over then, not after the lease,
# so nobody's replies queue for minutes behind a dead claim.
INSTANCE = secrets.token_hex(4)
HEARTBEAT = timedelta(seconds=2)
CLAIMER_SILENT = timedelta(seconds=10)
MAX_ATTEMPTS = 10
# Transient failures for this many chats in a row: the channel is down, not the chat.
OUTAGE_AFTER = 2
# Chats sent to side by side in a round (the rate limiter still sets the overall pace).
SEND_CONCURRENCY = 8
# Rows claimed per round: finding due rows costs about the same for 50 as for 200.
CLAIM_BATCH = 200
MAX_BACKOFF = timedelta(minutes=5)
UNSENT = (Status.PENDING, Status.SENDING)
# Marks the last error of a staff alert a staff route refused ("chat not found", the bot
# removed from the group): it is retried for ever and sent by the other routes at once.
REFUSED = "refused: "


def _unsent(row: type[OutboxMessage]) -> ColumnElement[bool]:
    """`status IN ('pending', 'sending')` written out, not as bound parameters.

    The index of unsent rows per chat is a partial index with exactly this condition; SQLite
    (and PostgreSQL's generic plans) only use it when the query states the values literally.
    """
    return row.status.in_([literal_column(f"'{status}'") for status in UNSENT])


@dataclass(frozen=True)
class Outcome:
    """What happened to one outbox row."""

    row_id: int
    status: str  # "sent" | "retry" | "held" | "failed" | "blocked"
    error: str | None = None
    retry_after: float | None = None
    # The channel's id for the sent message (kept for staff alerts, which are edited later).
    message_id: str | None = None


def refused_alert(row: OutboxMessage, outcome: Outcome) -> bool:
    """A staff alert that its route refused for good: never given up on."""
    return row.kind == "alert" and outcome.status in ("failed", "blocked")


def new_claim_token() -> str:
    """A token naming one claim, so only its holder can record the result; it starts with
    this process's INSTANCE, so others can tell when its claimer has died."""
    return f"{INSTANCE}-{secrets.token_hex(8)}"


async def heartbeat(sessions: async_sessionmaker[AsyncSession], now: datetime) -> None:
    """Say this process is alive (every few seconds), and forget processes long gone."""
    async with sessions() as session, session.begin():
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(Worker).values(instance=INSTANCE, seen_at=now)
        await session.execute(
            statement.on_conflict_do_update(index_elements=["instance"], set_={"seen_at": now})
        )
        await session.execute(delete(Worker).where(Worker.seen_at < now - timedelta(days=1)))


async def last_seen(sessions: async_sessionmaker[AsyncSession], now: datetime) -> float | None:
    """Seconds since any bot process last said it was alive (None: none ever did)."""
    async with sessions() as session:
        seen = await session.scalar(select(func.max(Worker.seen_at)))
    return None if seen is None else (now - seen).total_seconds()


async def signed_off(sessions: async_sessionmaker[AsyncSession]) -> None:
    """This process is stopping cleanly: nothing of its is claimed any more."""
    async with sessions() as session, session.begin():
        await session.execute(delete(Worker).where(Worker.instance == INSTANCE))


async def send_rows(
    rows: Sequence[OutboxMessage],
    senders: Mapping[str, Sender],
    budget: timedelta = CLAIM_LEASE / 2,
    urgent_senders: Mapping[str, Sender] | None = None,
    after_each: Callable[[OutboxMessage, Outcome], Awaitable[None]] | None = None,
) -> list[Outcome]:
    """Send claimed rows one after another, in order, and return every outcome (each also
    handed to `after_each` as soon as it is known)."""
    sending = SendRound(senders, budget, urgent_senders)
    outcomes = []
    for row in rows:
        outcome = await sending.send(row)
        if after_each is not None:
            await after_each(row, outcome)
        outcomes.append(outcome)
    return outcomes


async def _send_by_channel(
    rows: Sequence[OutboxMessage],
    senders: Mapping[str, Sender],
    budget: timedelta,
    after_each: Callable[[OutboxMessage, Outcome], Awaitable[None]] | None = None,
) -> list[Outcome]:
    """Send each channel's rows side by side (in order within a channel), so a channel that
    hangs (a Teams webhook timing out) holds up none of the others; outcomes in row order."""
    by_channel: dict[str, list[OutboxMessage]] = {}
    for row in rows:
        by_channel.setdefault(row.channel, []).append(row)
    results = await asyncio.gather(
        *(
            send_rows(channel_rows, senders, budget, after_each=after_each)
            for channel_rows in by_channel.values()
        )
    )
    outcome_of = {
        outcome.row_id: outcome for channel_outcomes in results for outcome in channel_outcomes
    }
    return [outcome_of[row.id] for row in rows]


class SendRound:
    """The sending of one claimed batch, with what it has learnt about the channel.

    After a failure, a chat's later rows wait so order holds. When a channel says "slow
    down" (a 429 applies to the whole bot) or fails for two chats running (an outage), the
    rest of the round's rows for that channel wait too, rather than hammering it; other
    channels carry on (Teams being down must not hold up Telegram). Sending also stops once
    `budget` is spent, well inside the claim lease, so no other worker takes over a row this
    round may still send; the rest are handed back.
    """

    def __init__(
        self,
        senders: Mapping[str, Sender],
        budget: timedelta,
        urgent_senders: Mapping[str, Sender] | None = None,
    ) -> None:
        self.senders = senders
        # Urgent rows go through these (on Telegram: a bot outside our rate limiter).
        self.urgent_senders = urgent_senders or senders
        self.deadline = time.monotonic() + budget.total_seconds()
        self.stalled: set[tuple[str, str]] = set()
        # Seconds a halted channel's rows must wait, by channel.
        self.halted: dict[str, float] = {}
        self.failures_running: dict[str, int] = {}
        # Set when more urgent mail is waiting: bulk rows not yet sent are handed back.
        self.make_way = False
        # Set when the round is failing: nothing more is sent.
        self.stopping = False

    async def send(self, row: OutboxMessage) -> Outcome:
        """Send one row (or hold it back) and say what happened."""
        chat = (row.channel, row.chat_id)
        if row.channel in self.halted:
            wait = self.halted[row.channel]
            return Outcome(row.id, "held", "the channel asked us to wait", wait)
        if chat in self.stalled or time.monotonic() > self.deadline:
            return Outcome(row.id, "held", "behind an unsent message")
        if self.stopping:
            return Outcome(row.id, "held", "the round stopped")
        if self.make_way and row.priority >= Priority.BULK:
            return Outcome(row.id, "held", "making way for urgent messages")
        senders = self.urgent_senders if row.priority <= Priority.URGENT else self.senders
        sender = senders.get(row.channel)
        if sender is None:
            self.stalled.add(chat)
            return Outcome(row.id, "retry", "no sender for channel")
        reply = Reply(row.text, buttons_from_json(row.buttons), row.document_name)
        try:
            message_id = await _send_or_edit(sender, row, reply)
        except ChatBusy as error:
            # Its own conversation is at its limit: that chat waits, the channel goes on.
            self.stalled.add(chat)
            return Outcome(row.id, "held", error.reason, error.retry_after or 1.0)
        except RecipientBlocked as error:
            self.failures_running[row.channel] = 0
            return Outcome(row.id, "blocked", error.reason)
        except PermanentDeliveryError as error:
            self.failures_running[row.channel] = 0
            return Outcome(row.id, "failed", error.reason)
        except DeliveryError as error:
            self.stalled.add(chat)
            failures = self.failures_running[row.channel] = (
                self.failures_running.get(row.channel, 0) + 1
            )
            if error.retry_after is not None:
                self.halted[row.channel] = error.retry_after
            elif failures >= OUTAGE_AFTER:
                self.halted[row.channel] = _backoff(1, None).total_seconds()
            return Outcome(row.id, "retry", error.reason, error.retry_after)
        except Exception as error:
            # Unexpected: keep the outcomes of the rows already sent, retry this one later.
            log.exception("unexpected error while sending", extra={"row": row.id})
            self.stalled.add(chat)
            return Outcome(row.id, "retry", type(error).__name__)
        self.failures_running[row.channel] = 0
        return Outcome(row.id, "sent", message_id=message_id)


async def _send_or_edit(sender: Sender, row: OutboxMessage, reply: Reply) -> str | None:
    """Send the row, or edit the message it names where the channel can edit messages."""
    if row.edit_message_id is not None and isinstance(sender, Editor):
        await sender.edit(row.chat_id, row.edit_message_id, reply)
        return row.edit_message_id
    # A channel that cannot edit (a Teams webhook) gets the new version as a new message.
    return await sender.send(row.chat_id, reply)


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    """Wait as long as the channel asked, else double each time up to a ceiling."""
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    # The exponent is capped: an urgent row retried for hours must not overflow timedelta.
    return min(timedelta(seconds=2 ** min(attempts, 16)), MAX_BACKOFF)


_OUTBOX = cast(Table, OutboxMessage.__table__)
# Built once: recording a send is the commonest write of a reminder round, and building an
# ORM statement (and its cache key) for each one costs more than running it.
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"), _OUTBOX.c.claim_token == bindparam("token"))
    .values(
        status=Status.SENT,
        sent_at=bindparam("now"),
        attempts=_OUTBOX.c.attempts + 1,
        sent_message_id=bindparam("message_id"),
    )
)


def _message_id_to_keep(row: OutboxMessage, outcome: Outcome) -> str | None:
    """Only staff alerts need their message id: they are edited when acknowledged."""
    return outcome.message_id if row.kind == "alert" else None


async def record_sent(
    connection: AsyncConnection, row: OutboxMessage, outcome: Outcome, now: datetime
) -> None:
    """Mark one row sent and commit at once; only the claim's holder may."""
    await connection.execute(
        _MARK_SENT,
        {
            "row_id": row.id,
            "token": row.claim_token,
            "now": now,
            "message_id": _message_id_to_keep(row, outcome),
        },
    )
    await connection.commit()


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
            if outcome.status == "sent" and _message_id_to_keep(row, outcome) is not None:
                await session.execute(
                    _MARK_SENT,
                    {
                        "row_id": row.id,
                        "token": row.claim_token,
                        "now": now,
                        "message_id": _message_id_to_keep(row, outcome),
                    },
                )
            elif outcome.status == "sent":
                # Someone not enrolled (a stranger, or someone who declined): keep nothing.
                action = "forget" if _keeps_nothing(row) else "sent"
                grouped[(action, row.claim_token)].append(row.id)
            elif outcome.status == "held" and outcome.retry_after is None:
                grouped[("held", row.claim_token)].append(row.id)
            elif outcome.status == "held":
                # The round halted: hand the row back, due once the channel is ready again.
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id, OutboxMessage.claim_token == row.claim_token)
                    .values(
                        status=Status.PENDING,
                        claimed_at=None,
                        claim_token=None,
                        not_before=now + timedelta(seconds=outcome.retry_after or 0),
                    )
                )
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
                    .values(status=Status.SENT, sent_at=now, attempts=OutboxMessage.attempts + 1)
                )
            else:
                await session.execute(
                    update(OutboxMessage)
                    .where(mine)
                    .values(
                        status=Status.PENDING, claimed_at=None, claim_token=None, not_before=now
                    )
                )


async def _record_failure(
    session: AsyncSession, row: OutboxMessage, outcome: Outcome, now: datetime
) -> None:
    """Back off and retry, or give up where giving up is allowed."""
    mine = and_(OutboxMessage.id == row.id, OutboxMessage.claim_token == row.claim_token)
    attempts = row.attempts + 1
    refused = refused_alert(row, outcome)
    give_up = not refused and (
        outcome.status in ("failed", "blocked")
        or (attempts >= MAX_ATTEMPTS and row.priority > 0)  # urgent rows never give up
    )
    error = outcome.error or ""
    if refused:
        # Which route is broken, so whoever runs the bot can mend it; the chat id is no secret.
        log.error(
            "a staff route refuses alerts: retrying, and sending them by the other routes",
            extra={"route": row.channel, "chat": row.chat_id, "row": row.id, "error": error},
        )
        error = REFUSED + error
    else:
        log.warning(
            "outbox delivery problem", extra={"row": row.id, "kind": row.kind, "error": error}
        )
    if give_up and _keeps_nothing(row):
        await session.execute(delete(OutboxMessage).where(mine))
        return
    await session.execute(
        update(OutboxMessage)
        .where(mine)
        .values(
            status=Status.PENDING
            if not give_up
            else Status.BLOCKED
            if outcome.status == "blocked"
            else Status.FAILED,
            attempts=attempts,
            claimed_at=None,
            claim_token=None,
            last_error=error[:200],
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
    """Replies to someone not enrolled, and a patient's words shown privately to a member of
    staff, are not kept once they are done with (the escalation keeps the words once); nor is
    a document such as the doctor's list, which is made afresh from the database on request."""
    return (
        (row.kind == "reply" and row.person_id is None)
        or row.kind == "details"
        or row.document_name is not None
    )


def _due(now: datetime, row: type[OutboxMessage] = OutboxMessage) -> ColumnElement[bool]:
    """Due rows: pending and ready, or claimed by a process that has not finished in time or
    has gone quiet."""
    return or_(
        and_(row.status == Status.PENDING, row.not_before <= now),
        and_(
            row.status == Status.SENDING,
            or_(row.claimed_at < now - CLAIM_LEASE, _claimer_gone(now, row)),
        ),
    )


def _claimer_gone(now: datetime, row: type[OutboxMessage]) -> ColumnElement[bool]:
    """The row's claimer said it was alive, then went quiet: it died. Never this process (its
    claims are alive while it runs); a claimer that never said (the demo, the command line)
    keeps the lease."""
    claimer = func.substr(row.claim_token, 1, len(INSTANCE))
    return exists().where(
        Worker.instance == claimer,
        Worker.instance != INSTANCE,
        Worker.seen_at < now - CLAIMER_SILENT,
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
        _unsent(older),
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
            _unsent(OutboxMessage),
        )
        .distinct()
    )
    return {(channel, chat_id) for channel, chat_id in found}


async def claim_due(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    limit: int = 50,
    max_priority: int | None = None,
    skip_channels: Sequence[str] = (),
    resent_note: str = "",
) -> list[OutboxMessage]:
    """Claim up to `limit` due rows, most urgent first, so no other worker sends them too.

    Rows of `skip_channels` (channels that asked us to wait) are left where they are. A
    staff alert taken over from a process that died may already have reached staff: it goes
    with `resent_note` under its title (in this copy only, not in the database).
    """
    # On SQLite another worker may claim every row we picked just before us (no SKIP
    # LOCKED there); looking again then finds the rows after theirs.
    for _attempt in range(3):
        found, claimed, taken_over = await _claim_once(
            sessions, now, limit, max_priority, skip_channels
        )
        if claimed or not found:
            for row in claimed:
                if resent_note and row.id in taken_over and row.kind == "alert":
                    # Under the title, which stays first (Teams cards take it as theirs).
                    title, _, rest = row.text.partition("\n")
                    row.text = f"{title}\n{resent_note}\n{rest}"
            return claimed
    return []


async def _claim_once(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    limit: int,
    max_priority: int | None,
    skip_channels: Sequence[str],
) -> tuple[bool, list[OutboxMessage], set[int]]:
    """One attempt: whether any row was due, the rows this attempt claimed, and the ids of
    those another process had claimed and not finished."""
    token = new_claim_token()
    due = _due(now)
    if max_priority is not None:
        due = and_(due, OutboxMessage.priority <= max_priority)
    if skip_channels:
        due = and_(due, OutboxMessage.channel.not_in(list(skip_channels)))
    async with sessions() as session, session.begin():
        # A message that is no use any more (a morning reminder after the day began) is not
        # sent late; the failure report tells staff.
        await session.execute(
            update(OutboxMessage)
            .where(due, OutboxMessage.expires_at <= now)
            .values(status=Status.EXPIRED, claimed_at=None, claim_token=None)
        )
        candidates = (
            select(OutboxMessage.id, OutboxMessage.status)
            .where(due, ~_behind_an_earlier_message(now))
            .order_by(OutboxMessage.priority, OutboxMessage.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        picked = list(await session.execute(candidates))
        if not picked:
            return False, [], set()
        ids = [row_id for row_id, _status in picked]
        taken_over = {row_id for row_id, status in picked if status == Status.SENDING}
        # The WHERE is checked again under the row lock: a row another worker took is skipped.
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), due)
            .values(status=Status.SENDING, claimed_at=now, claim_token=token)
        )
        claimed = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.claim_token == token)
            .order_by(OutboxMessage.priority, OutboxMessage.id)
        )
        return True, list(claimed), taken_over


class Dispatcher:
    """Delivers whatever is due: releases due reminders, sends the outbox, reports failures.

    APScheduler ticks it and turns nudge it; it owns no reminder, the database does.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        senders: Mapping[str, Sender],
        clock: Clock,
        reminders: ReminderReleaser | None = None,
        reporter: FailureReporter | None = None,
        concurrency: int = SEND_CONCURRENCY,
        urgent_senders: Mapping[str, Sender] | None = None,
        resent_note: str = "",
    ) -> None:
        self.sessions = sessions
        # Put above a staff alert taken over from a process that died: it may be a repeat.
        self.resent_note = resent_note
        self.engine = cast(AsyncEngine, sessions.kw["bind"])
        self.senders = senders
        # Senders for urgent mail: on Telegram, ones that do not wait in the rate limiter.
        self.urgent_senders = urgent_senders or senders
        # Called when a staff route refuses an alert, so it is sent by the other routes now.
        self.on_refused_alert: Callable[[], None] | None = None
        self.urgent_round = asyncio.Lock()
        self.clock = clock
        self.reminders = reminders
        self.reporter = reporter
        # Held for a whole round, so stopping can wait for a round to be recorded.
        self.round = asyncio.Lock()
        # After "slow down" from a channel, nothing is sent on it before this moment.
        self.resume_at: dict[str, datetime] = {}
        # How many chats are sent to at once; records are written one at a time.
        self._lanes = asyncio.Semaphore(concurrency)
        self._recording = asyncio.Lock()
        self._sending: SendRound | None = None  # the round under way, if any

    async def run_once(self, limit: int = CLAIM_BATCH) -> int:
        """One release-claim-send-record round; returns how many rows were settled."""
        async with self.round:
            now = self.clock.now()
            released = await self.reminders.release(now) if self.reminders else 0
            if self.reminders:  # friends-and-family guests: the day before and the morning
                released += await remind_from(self.reminders, now)
            waiting = [channel for channel, until in self.resume_at.items() if now < until]
            rows = await claim_due(
                self.sessions, now, limit, skip_channels=waiting, resent_note=self.resent_note
            )
            if not rows:
                return released
            by_chat: dict[tuple[str, str], list[OutboxMessage]] = {}
            for row in rows:  # most urgent first, so their chats start first
                by_chat.setdefault((row.channel, row.chat_id), []).append(row)
            sending = self._sending = SendRound(self.senders, CLAIM_LEASE / 2, self.urgent_senders)
            # One connection for the round's records: each still commits on its own.
            async with self.engine.connect() as connection:
                lanes = [
                    asyncio.create_task(self._send_chat(sending, chat_rows, connection))
                    for chat_rows in by_chat.values()
                ]
                try:
                    results = await asyncio.gather(*lanes)
                except BaseException:
                    # One lane failed: the others send nothing more, but finish recording
                    # what they sent before the connection goes, so none of it is repeated.
                    sending.stopping = True
                    await asyncio.gather(*lanes, return_exceptions=True)
                    raise
            return released + sum(results)

    async def send_urgent(self) -> int:
        """Send urgent rows (crisis replies, staff alerts) now, beside any reminder round.

        Claims are atomic, so this lane and a round under way never take the same row; the
        round's bulk mail never delays this one.
        """
        settled = 0
        async with self.urgent_round:
            while rows := await claim_due(
                self.sessions,
                self.clock.now(),
                CLAIM_BATCH,
                max_priority=Priority.URGENT,
                resent_note=self.resent_note,
            ):
                outcomes = await self._send_urgent_rows(rows, CLAIM_LEASE / 2)
                settled += sum(outcome.status != "held" for outcome in outcomes)
                if any(outcome.status != "sent" for outcome in outcomes):
                    break  # failures back off; the ticks retry them
        return settled

    async def send_claimed(self, rows: list[OutboxMessage]) -> None:
        """Send urgent rows a turn has already claimed, and record what happened."""
        # The claim's lease started when the turn claimed them, not now.
        claimed = min((row.claimed_at for row in rows if row.claimed_at), default=None)
        spent = self.clock.now() - claimed if claimed is not None else timedelta(0)
        budget = max(CLAIM_LEASE / 2 - spent, timedelta(0))
        await self._send_urgent_rows(rows, budget)

    async def _send_urgent_rows(
        self, rows: Sequence[OutboxMessage], budget: timedelta
    ) -> list[Outcome]:
        """Send urgent rows, recording each sent one at once: a process killed between a staff
        alert going out and its record would send it again, so that moment is kept short."""
        recorded: set[int] = set()

        async def record_at_once(row: OutboxMessage, outcome: Outcome) -> None:
            if outcome.status == "sent":
                await record(self.sessions, [row], [outcome], self.clock.now())
                recorded.add(row.id)

        outcomes = await _send_by_channel(rows, self.urgent_senders, budget, record_at_once)
        unrecorded = [
            (row, outcome)
            for row, outcome in zip(rows, outcomes, strict=True)
            if row.id not in recorded
        ]
        if unrecorded:
            await self._record([row for row, _ in unrecorded], [o for _, o in unrecorded])
        return outcomes

    async def _record(self, rows: Sequence[OutboxMessage], outcomes: Sequence[Outcome]) -> None:
        """Record a send; if a staff route refused an alert, say so at once for fail-over."""
        await record(self.sessions, rows, outcomes, self.clock.now())
        by_id = {row.id: row for row in rows}
        if self.on_refused_alert is not None and any(
            refused_alert(by_id[outcome.row_id], outcome) for outcome in outcomes
        ):
            self.on_refused_alert()

    def make_way(self) -> None:
        """Urgent mail is waiting: a round of reminders under way hands back what it has not
        sent yet, so the next round (most urgent first) starts at once."""
        if self._sending is not None:
            self._sending.make_way = True

    async def _send_chat(
        self, sending: SendRound, rows: list[OutboxMessage], connection: AsyncConnection
    ) -> int:
        """Send one chat's rows in order, recording each straight after it is sent.

        Chats are sent to side by side (a real Bot API call takes tens of milliseconds), so
        the round keeps up with the overall rate limit; one chat's messages keep their order.
        Recording each send at once means a process killed mid-round repeats nothing it had
        recorded.
        """
        settled = 0
        async with self._lanes:
            for row in rows:
                outcome = await sending.send(row)
                async with self._recording:
                    if outcome.status == "sent" and not _keeps_nothing(row):
                        await record_sent(connection, row, outcome, self.clock.now())
                    else:
                        await self._record([row], [outcome])
                if outcome.retry_after is not None:
                    self.resume_at[row.channel] = self.clock.now() + timedelta(
                        seconds=outcome.retry_after
                    )
                if outcome.status != "held":
                    settled += 1
        return settled

    async def drain(self, limit: int = CLAIM_BATCH) -> int:
        """Run rounds until nothing more is due, then report failures; returns the total."""
        total = 0
        while handled := await self.run_once(limit):
            total += handled
        if self.reporter is not None:
            await self.reporter.report(self.clock.now())
        return total
