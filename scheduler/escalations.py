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

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Escalation, OutboxMessage, Person
from bot.services.escalations import OPEN, SYSTEM, TEAMS, TEAMS_CHAT, Escalator, audit

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
        """Copy alerts stuck on one channel to the other; say loudly when every one fails."""
        copied = 0
        async with self.sessions() as session, session.begin():
            stuck = list(
                await session.scalars(
                    select(OutboxMessage)
                    .join(Escalation, Escalation.id == OutboxMessage.escalation_id)
                    .where(
                        # Only while nobody has acknowledged it: then staff have seen it.
                        Escalation.status.in_(OPEN),
                        OutboxMessage.kind == "alert",
                        # Failing again and again, or refused for good (a wrong chat id).
                        or_(
                            and_(
                                OutboxMessage.status == "pending",
                                OutboxMessage.attempts >= FAILOVER_AFTER_ATTEMPTS,
                            ),
                            OutboxMessage.status.in_(("failed", "blocked")),
                        ),
                        OutboxMessage.escalation_id.is_not(None),
                    )
                )
            )
            for row in stuck:
                assert row.escalation_id is not None
                other = await self._other_channel(session, row)
                if other is None:
                    continue
                channel, chat = other
                if await self._has_alert(session, row.escalation_id, channel, chat, row):
                    if await self._all_failing(session, row):
                        log.error(
                            "every staff channel is failing; alerts keep being retried",
                            extra={"escalation": row.escalation_id},
                        )
                    continue
                escalation = await session.get(Escalation, row.escalation_id)
                assert escalation is not None
                person = await session.get(Person, escalation.person_id)
                assert person is not None
                text = self.escalator.alert_text(escalation, person, "failover")
                session.add(
                    self.escalator.row(
                        channel,
                        chat,
                        escalation,
                        text,
                        self.escalator.buttons(escalation, channel),
                        now,
                    )
                )
                audit(session, escalation, "failed_over", SYSTEM, now, f"{row.channel}->{channel}")
                log.warning(
                    "staff alert copied to the other channel",
                    extra={"escalation": escalation.id, "from": row.channel, "to": channel},
                )
                copied += 1
            if not stuck:
                return 0
            lonely = [row for row in stuck if await self._other_channel(session, row) is None]
            if lonely:
                log.error(
                    "staff alerts are failing and there is no other channel to try",
                    extra={"alerts": len(lonely)},
                )
        return copied

    async def _other_channel(
        self, session: AsyncSession, row: OutboxMessage
    ) -> tuple[str, str] | None:
        """Teams for a failing staff chat, the patient's staff chat for a failing Teams."""
        targets = self.escalator.targets
        if row.channel != TEAMS:
            return (TEAMS, TEAMS_CHAT) if targets.teams else None
        assert row.escalation_id is not None
        channel = await session.scalar(
            select(Person.channel)
            .join(Escalation, Escalation.person_id == Person.id)
            .where(Escalation.id == row.escalation_id)
        )
        if channel is None or channel not in targets.staff_chats:
            return None
        return channel, targets.staff_chats[channel]

    @staticmethod
    async def _has_alert(
        session: AsyncSession, escalation_id: int, channel: str, chat: str, row: OutboxMessage
    ) -> bool:
        """Whether this escalation already has an alert on that channel since this one."""
        found = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.escalation_id == escalation_id,
                OutboxMessage.kind == "alert",
                OutboxMessage.channel == channel,
                OutboxMessage.chat_id == chat,
                OutboxMessage.created_at >= row.created_at,
            )
        )
        return bool(found)

    @staticmethod
    async def _all_failing(session: AsyncSession, row: OutboxMessage) -> bool:
        """Whether no alert of this escalation has got through on any channel since."""
        sent = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.escalation_id == row.escalation_id,
                OutboxMessage.kind == "alert",
                OutboxMessage.status == "sent",
                OutboxMessage.created_at >= row.created_at,
            )
        )
        return not sent
