"""Turns: each incoming event is recorded, handled and answered in one committed transaction.

Events that arrive together (one getUpdates batch, concurrent webhook calls) share that
transaction, so the cost of a commit is paid once per batch rather than once per message. If
anything in a batch fails, its events are run again one by one, so one bad event cannot hold
back the others and each still commits or fails on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.content import Content
from bot.db.models import (
    Cohort,
    Conversation,
    CrisisReply,
    InboxUpdate,
    OutboxMessage,
    Person,
)
from bot.messages import Incoming, Reply, Sender
from bot.safety.screening import default_screen
from bot.services import attendance, people
from bot.services.escalations import Escalator
from bot.services.outbox import Priority, Status, outbox_row
from dialogs.router import route
from dialogs.turn import Notice, Turn
from scheduler import dispatcher

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (channel, user id)


@dataclass
class TurnOutcome:
    """What a committed turn left to do: replies to send now, and rows for the dispatcher."""

    replies: list[OutboxMessage] = field(default_factory=list)
    # Urgent rows for others (staff alerts) this turn claimed, to be sent straight away.
    urgent: list[OutboxMessage] = field(default_factory=list)
    alert: str | None = None
    # Rows left to the dispatcher (staff notices, replies queued behind unsent ones).
    queued: int = 0
    duplicate: bool = False


async def _record_inbox(
    session: AsyncSession, incomings: Sequence[Incoming], now: datetime
) -> set[Key]:
    """Insert inbox rows; return the (channel, update id) pairs not seen before."""
    dialect = session.get_bind().dialect.name
    rows = [{"channel": i.channel, "update_id": i.update_id, "received_at": now} for i in incomings]
    # One statement for the batch, its parameters apart: SQLAlchemy compiles it once per
    # process (a multi-row VALUES with the values in it was compiled for every batch).
    found = await session.execute(_INBOX_INSERT[dialect], rows)
    return {(channel, update_id) for channel, update_id in found}


# An update already in the inbox (a redelivery) is not inserted again, so not returned.
_INBOX_INSERT = {
    "postgresql": pg_insert(InboxUpdate)
    .on_conflict_do_nothing()
    .returning(InboxUpdate.channel, InboxUpdate.update_id),
    "sqlite": sqlite_insert(InboxUpdate)
    .on_conflict_do_nothing()
    .returning(InboxUpdate.channel, InboxUpdate.update_id),
}


class TurnRunner:
    """Runs turns for every channel against one database."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock,
        content: Content,
        staff_chats: Mapping[str, str],
        claim_urgent: bool = False,
    ) -> None:
        self.sessions = sessions
        # Whether turns claim their urgent rows for the caller to send at once (the Telegram
        # service does; elsewhere the dispatcher sends them).
        self.claim_urgent = claim_urgent
        self.settings = settings
        self.clock = clock
        self.content = content
        # Where each channel's staff messages go (Telegram: the configured staff group).
        self.staff_chats = dict(staff_chats)
        self.escalator = Escalator.from_settings(settings, content, staff_chats)
        self.screener = default_screen(settings.risk_lexicon_path)

    async def reference_of(self, channel: str, user_id: str) -> str | None:
        """The patient reference (P7) of this account, if the database says so within two
        seconds: used when a turn has failed, so it must not wait long."""
        try:
            async with asyncio.timeout(2), self.sessions() as session:
                person = await people.find_account(session, channel, user_id)
        except Exception:
            return None
        return people.reference(person) if person is not None else None

    async def answered(self, incoming: Incoming) -> bool:
        """Whether this event was answered before: its crisis numbers sent, or its turn run."""
        async with self.sessions() as session:
            for table in (CrisisReply, InboxUpdate):
                found = await session.scalar(
                    select(table.id).where(
                        table.channel == incoming.channel,
                        table.update_id == incoming.update_id,
                    )
                )
                if found is not None:
                    return True
        return False

    async def crisis_reply_sent(self, incoming: Incoming) -> None:
        """Note that this event's crisis numbers went out (before its turn)."""
        async with self.sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            await session.execute(
                insert(CrisisReply)
                .values(
                    channel=incoming.channel,
                    update_id=incoming.update_id,
                    sent_at=self.clock.now(),
                )
                .on_conflict_do_nothing()
            )

    async def database_reachable(self) -> bool:
        """Whether the database answers at all (to tell an outage from a bug)."""
        try:
            async with asyncio.timeout(5), self.sessions() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def run(self, incoming: Incoming) -> TurnOutcome:
        """Handle one event in its own transaction; a redelivered update changes nothing."""
        (outcome,) = await self.run_batch([incoming])
        return outcome

    async def run_together(self, incomings: Sequence[Incoming]) -> list[TurnOutcome | Exception]:
        """Handle events in one transaction; if that fails, one by one, so each stands alone."""
        try:
            return list(await self.run_batch(incomings))
        except Exception as error:
            if len(incomings) == 1:
                raise
            log.warning(
                "batch failed; running its turns one by one",
                extra={"n": len(incomings), "error": type(error).__name__},
            )
        results: list[TurnOutcome | Exception] = []
        for incoming in incomings:
            try:
                results.append(await self.run(incoming))
            except Exception as error:
                results.append(error)
        return results

    async def run_batch(self, incomings: Sequence[Incoming]) -> list[TurnOutcome]:
        """Handle events in order in one transaction; duplicates get an empty outcome."""
        now = self.clock.now()
        outcomes: dict[int, TurnOutcome] = {}
        async with self.sessions() as session, session.begin():
            fresh = await _record_inbox(session, incomings, now)
            todo: list[tuple[int, Incoming]] = []
            for index, incoming in enumerate(incomings):
                key = (incoming.channel, incoming.update_id)
                if key in fresh:
                    fresh.discard(key)  # the same update twice in one batch counts once
                    todo.append((index, incoming))
            if len(todo) < len(incomings):
                log.info("duplicate update ignored", extra={"n": len(incomings) - len(todo)})
            keys = {(i.channel, i.user_id) for _index, i in todo}
            people = await _people(session, keys)
            # Held for the whole batch: the session's identity map is weak, and without a
            # reference every turn would load its group again.
            groups = await _cohorts(session, people.values())
            attendance.share_events(session, (p for p in people.values() if p is not None))
            conversations = await _conversations(session, keys)
            busy = await dispatcher.unsent_chats(
                session, {(i.channel, i.chat_id) for _index, i in todo}, Priority.REPLY
            )
            token = dispatcher.new_claim_token()
            rows: list[OutboxMessage] = []
            for index, incoming in todo:
                key = (incoming.channel, incoming.user_id)
                turn = Turn(
                    incoming=incoming,
                    session=session,
                    settings=self.settings,
                    clock=self.clock,
                    content=self.content,
                    person=people.get(key),
                    conversation=conversations.get(key),
                    escalator=self.escalator,
                    screener=self.screener,
                    _now=now,
                )
                await route(turn)
                # Later events of the same person in this batch see what this one changed.
                people[key] = turn.person
                conversations[key] = turn.conversation
                outcome, turn_rows = self._outbox_rows(turn, busy, token, now)
                outcomes[index] = outcome
                rows.extend(turn_rows)
            session.add_all(rows)
            await session.flush()
            del groups
        for index, incoming in todo:
            log.info(
                "turn committed",
                extra={
                    "channel": incoming.channel,
                    "kind": incoming.kind,
                    "replies": len(outcomes[index].replies),
                },
            )
        return [outcomes.get(index, TurnOutcome(duplicate=True)) for index in range(len(incomings))]

    def _outbox_rows(
        self, turn: Turn, busy: set[tuple[str, str]], token: str, now: datetime
    ) -> tuple[TurnOutcome, list[OutboxMessage]]:
        """Outbox rows for a turn's replies and staff notices, and what is left to do."""
        incoming = turn.incoming
        chat = (incoming.channel, incoming.chat_id)
        person_id = turn.person.id if turn.person is not None else None
        replies = [
            self._row(incoming.channel, incoming.chat_id, person_id, "reply", reply, now)
            for reply in turn.replies
        ]
        if turn.urgent:
            for row in replies:
                row.priority = Priority.URGENT
        # Replies go out straight after the commit, unless older messages to this chat are
        # still unsent: then they queue behind them so the order is kept.
        # Crisis signposting jumps the queue: it must not wait behind a reminder.
        send_now = turn.urgent or chat not in busy
        if send_now:
            for row in replies:
                # Claimed by this turn. If the process dies before sending, the dispatcher
                # takes the rows over when the claim lease runs out.
                row.status, row.claimed_at, row.claim_token = Status.SENDING, now, token
        elif replies:
            busy.add(chat)
        staff_chat = self.staff_chats.get(incoming.channel)
        notices = [
            self._row(incoming.channel, staff_chat, None, notice.kind, notice, now)
            for notice in turn.notices
            if staff_chat is not None
        ]
        urgent: list[OutboxMessage] = []
        if self.claim_urgent:
            # Sent by the caller as soon as the turn commits (no claim round trip); if the
            # process dies first, the dispatcher takes them over when the lease runs out.
            for row in turn.urgent_rows:
                row.status, row.claimed_at, row.claim_token = Status.SENDING, now, token
            urgent = list(turn.urgent_rows)
        outcome = TurnOutcome(
            replies=replies if send_now else [],
            urgent=urgent,
            alert=turn.alert,
            queued=len(notices) + turn.queued - len(urgent) + (0 if send_now else len(replies)),
        )
        return outcome, replies + notices

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
        return outbox_row(
            channel=channel,
            chat_id=chat_id,
            person_id=person_id,
            kind=kind,
            priority=message.priority if isinstance(message, Notice) else Priority.REPLY,
            text=message.text,
            buttons=message if isinstance(message, Reply) else None,
            now=now,
        )

    async def deliver(self, outcome: TurnOutcome, senders: Mapping[str, Sender]) -> None:
        """Send a turn's replies now and record the results."""
        await self.deliver_all([outcome], senders)

    async def deliver_all(
        self,
        outcomes: Sequence[TurnOutcome],
        senders: Mapping[str, Sender],
        urgent_senders: Mapping[str, Sender] | None = None,
    ) -> None:
        """Send the replies of several turns, in order, and record the results together.

        Urgent replies (crisis signposting) go through `urgent_senders` when given.
        """
        rows = [row for outcome in outcomes for row in outcome.replies]
        if not rows:
            return
        results = await dispatcher.send_rows(rows, senders, urgent_senders=urgent_senders)
        await dispatcher.record(self.sessions, rows, results, self.clock.now())


async def _people(session: AsyncSession, keys: set[Key]) -> dict[Key, Person | None]:
    """The enrolled people behind these accounts, in one query."""
    if not keys:
        return {}
    found = await session.scalars(
        select(Person).where(tuple_(Person.channel, Person.channel_user_id).in_(keys))
    )
    return {(p.channel, p.channel_user_id): p for p in found}


async def _cohorts(session: AsyncSession, people: Iterable[Person | None]) -> list[Cohort]:
    """The groups of these people, in one query."""
    ids = {p.cohort_id for p in people if p is not None and p.cohort_id is not None}
    if not ids:
        return []
    return list(await session.scalars(select(Cohort).where(Cohort.id.in_(ids))))


async def _conversations(session: AsyncSession, keys: set[Key]) -> dict[Key, Conversation | None]:
    """Dialog state for these accounts, in one query (locked on PostgreSQL)."""
    if not keys:
        return {}
    query = select(Conversation).where(
        tuple_(Conversation.channel, Conversation.channel_user_id).in_(keys)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Two instances handling one person's updates at once take turns here, so neither
        # overwrites the other's dialog state. (SQLite has a single writer anyway.)
        query = query.order_by(Conversation.id).with_for_update()  # one lock order: no deadlock
    found = await session.scalars(query)
    return {(c.channel, c.channel_user_id): c for c in found}


class TurnBatcher:
    """Gathers the events that arrive together and runs them as one batch, one batch at a time."""

    MAX_BATCH = 100

    def __init__(
        self,
        runner: TurnRunner,
        senders: Mapping[str, Sender],
        on_outbox_work: asyncio.Event | None = None,
        urgent_senders: Mapping[str, Sender] | None = None,
        on_urgent: Callable[[list[OutboxMessage]], None] | None = None,
    ) -> None:
        self.runner = runner
        self.senders = senders
        self.urgent_senders = urgent_senders
        # Given the urgent rows a batch claimed, the moment it commits (they are sent beside
        # the replies, not after them).
        self.on_urgent = on_urgent
        # Set as soon as a batch that wrote rows for the dispatcher commits (staff alerts go
        # out beside the patients' replies, not after them).
        self.on_outbox_work = on_outbox_work
        self._waiting: list[tuple[Incoming, asyncio.Future[TurnOutcome]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, incoming: Incoming) -> TurnOutcome:
        """Queue an event; return its outcome once its batch has committed and been sent."""
        future: asyncio.Future[TurnOutcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((incoming, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                await asyncio.sleep(0)  # let every event that arrived together join the batch
                batch = self._waiting[: self.MAX_BATCH]
                del self._waiting[: self.MAX_BATCH]
                await self._run(batch)
        finally:
            self._drainer = None

    async def _run(self, batch: list[tuple[Incoming, asyncio.Future[TurnOutcome]]]) -> None:
        """Run one batch and settle every caller's future, whatever happens."""
        try:
            try:
                results = await self.runner.run_together([incoming for incoming, _ in batch])
            except Exception as error:
                for _incoming, future in batch:
                    if not future.done():
                        future.set_exception(error)
                return
            committed = [r for r in results if isinstance(r, TurnOutcome)]
            urgent = [row for outcome in committed for row in outcome.urgent]
            if urgent and self.on_urgent is not None:
                try:
                    self.on_urgent(urgent)
                except Exception:
                    # Committed and claimed: the dispatcher takes them over after the lease.
                    log.exception("handing over urgent rows failed")
            if self.on_outbox_work is not None and any(r.queued for r in committed):
                self.on_outbox_work.set()
            try:
                await self.runner.deliver_all(committed, self.senders, self.urgent_senders)
            except Exception:
                # The turns are committed; their replies stay claimed and the dispatcher sends
                # them when the lease runs out. The updates must not be processed again.
                log.exception("sending replies failed; the dispatcher will retry them")
            for (_incoming, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue  # the caller gave up (cancelled); the turn still counts
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
        finally:
            for _incoming, future in batch:
                if not future.done():
                    future.set_exception(RuntimeError("the batch was interrupted"))
