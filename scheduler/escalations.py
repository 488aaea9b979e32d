"""The escalation watchdog: nobody forgets an alert.

Each tick it alerts reports left unfinished (and check questions left unanswered) once their
wait is over, re-sends alerts nobody has acknowledged, raises acknowledged ones still open at
the end of the next working day, and sends an alert to the other staff channel when one
channel keeps failing. Each escalation is moved on by a conditional UPDATE of the moment it
was due, so two instances ticking together send one re-alert, not two.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Escalation, OutboxMessage, Person
from bot.services.escalations import OPEN, SYSTEM, Escalator, audit
from bot.services.outbox import Status
from scheduler.dispatcher import REFUSED

log = logging.getLogger(__name__)

# An alert row that has failed this often on one channel is copied to the other one.
FAILOVER_AFTER_ATTEMPTS = 3
BATCH = 100


@dataclass
class WatchCounts:
    """What one tick did."""

    alerted: int = 0
    realerted: int = 0
    raised: int = 0
    failed_over: int = 0

    @property
    def total(self) -> int:
        """Everything sent."""
        return self.alerted + self.realerted + self.raised + self.failed_over


class EscalationWatchdog:
    """Ticked by APScheduler (and the demo); the escalation rows say what is due."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], escalator: Escalator) -> None:
        self.sessions = sessions
        self.escalator = escalator

    async def run(self, now: datetime) -> WatchCounts:
        """Do everything that is due now."""
        counts = WatchCounts()
        async with self.sessions() as session:
            due = list(
                await session.execute(
                    select(Escalation.id, Escalation.status, Escalation.next_alert_at)
                    .where(
                        Escalation.status.in_(("reported", "alerted", "acknowledged")),
                        Escalation.next_alert_at <= now,
                    )
                    .order_by(Escalation.next_alert_at)
                    .limit(BATCH)
                )
            )
        for escalation_id, status, due_at in due:
            assert due_at is not None  # the query asked for due ones
            kind = await self._move_on(escalation_id, status, due_at, now)
            if kind == "new":
                counts.alerted += 1
            elif kind == "unacknowledged":
                counts.realerted += 1
            elif kind == "unresolved":
                counts.raised += 1
        counts.failed_over = await self.fail_over(now)
        return counts

    async def _move_on(
        self, escalation_id: int, status: str, due_at: datetime, now: datetime
    ) -> str | None:
        """Alert, re-alert or raise one escalation, unless another worker just did."""
        async with self.sessions() as session, session.begin():
            claimed = await session.execute(
                update(Escalation)
                .where(
                    Escalation.id == escalation_id,
                    Escalation.status == status,
                    Escalation.next_alert_at == due_at,
                )
                .values(next_alert_at=None)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount == 0:  # type: ignore[attr-defined]
                return None
            escalation = await session.get(Escalation, escalation_id, populate_existing=True)
            assert escalation is not None
            person = await session.get(Person, escalation.person_id)
            assert person is not None
            if status == "reported":
                kind = "new"
            elif status == "alerted":
                kind = "unacknowledged"
            else:
                kind = "unresolved"
            self.escalator.alert(session, escalation, person, now, kind)
            if kind == "unresolved":
                escalation.next_alert_at = self.escalator.hours.end_of_next_working_day(now)
            log.info("escalation raised", extra={"escalation": escalation_id, "kind": kind})
            return kind

    async def fail_over(self, now: datetime) -> int:
        """Send alerts stuck on one channel by the other routes; say loudly if all fail.

        A staff group that keeps failing (the bot removed, the group upgraded to a supergroup
        with a new id) is backed up by Teams and by the leads' private chats; a failing Teams
        by the staff group. Each route gets one copy per stuck alert, and none is needed once
        a copy of the alert got through somewhere.
        """
        copied = 0
        async with self.sessions() as session, session.begin():
            stuck = list(
                await session.execute(
                    select(OutboxMessage, Escalation, Person)
                    .join(Escalation, Escalation.id == OutboxMessage.escalation_id)
                    .join(Person, Person.id == Escalation.person_id)
                    .where(
                        # Only while nobody has acknowledged it: then staff have seen it.
                        Escalation.status.in_(OPEN),
                        OutboxMessage.kind == "alert",
                        # Failing again and again, or refused by its route (a wrong chat id,
                        # the bot removed from the group): retried there, and copied at once.
                        or_(
                            and_(
                                OutboxMessage.status == Status.PENDING,
                                or_(
                                    OutboxMessage.attempts >= FAILOVER_AFTER_ATTEMPTS,
                                    OutboxMessage.last_error.startswith(REFUSED),
                                ),
                            ),
                            OutboxMessage.status.in_((Status.FAILED, Status.BLOCKED)),
                        ),
                    )
                    .order_by(OutboxMessage.id)
                )
            )
            for row, escalation, person in stuck:
                if await self._sent_anywhere(session, row):
                    continue  # staff have it by another route already
                before = copied
                for channel, chat in self._other_routes(row, person):
                    if await self._has_alert(session, escalation.id, channel, chat, row):
                        continue
                    text = self.escalator.alert_text(escalation, person, "failover")
                    buttons = self.escalator.buttons(escalation, channel)
                    session.add(self.escalator.row(channel, chat, escalation, text, buttons, now))
                    audit(
                        session, escalation, "failed_over", SYSTEM, now, f"{row.channel}->{channel}"
                    )
                    log.warning(
                        "staff alert sent by another route",
                        extra={"escalation": escalation.id, "from": row.channel, "to": channel},
                    )
                    copied += 1
                if copied == before:
                    log.error(
                        "every route for a staff alert is failing; it keeps being retried",
                        extra={"escalation": escalation.id},
                    )
        return copied

    def _other_routes(self, row: OutboxMessage, person: Person) -> list[tuple[str, str]]:
        """Where else this alert can go: the other staff channel, and the leads."""
        targets = self.escalator.targets
        routes = [route for route in targets.groups(person.channel) if route[0] != row.channel]
        routes += targets.lead_chats(person.channel)
        return [route for route in routes if route != (row.channel, row.chat_id)]

    @staticmethod
    async def _has_alert(
        session: AsyncSession, escalation_id: int, channel: str, chat: str, row: OutboxMessage
    ) -> bool:
        """Whether this escalation already has an alert on that route since this one."""
        return await _alerts_since(
            session, row, OutboxMessage.channel == channel, OutboxMessage.chat_id == chat
        )

    @staticmethod
    async def _sent_anywhere(session: AsyncSession, row: OutboxMessage) -> bool:
        """Whether any alert of this escalation has got through since this one was written."""
        return await _alerts_since(session, row, OutboxMessage.status == Status.SENT)


async def _alerts_since(
    session: AsyncSession, row: OutboxMessage, *conditions: ColumnElement[bool]
) -> bool:
    """Whether the escalation of `row` has alert rows, written since it, meeting `conditions`."""
    found = await session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.escalation_id == row.escalation_id,
            OutboxMessage.kind == "alert",
            OutboxMessage.created_at >= row.created_at,
            *conditions,
        )
    )
    return bool(found)
