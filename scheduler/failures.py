"""Tell staff, once, about messages that could not be delivered and people we can't reach.

One summary per channel per report, not one message per failure: a Telegram outage must not
flood the staff group.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.content import Content
from bot.db.models import CohortEvent, OutboxMessage, Person, ScheduledMessage
from bot.services.events import describe
from bot.services.outbox import Priority, Status, outbox_row

log = logging.getLogger(__name__)

# At most this many patients and this many messages are named in one summary.
LISTED = 25

# A staff alert: it never gives up, and goes before replies and reminders.
KIND = "delivery_problems"
# At most one summary in this time: an outage gives staff a few messages, not hundreds.
REPORT_EVERY = timedelta(minutes=15)
_KIND_NAMES = {
    "event_moved": "the message about a change to their dates",
    # A thought challenge's nudges name no programme day, and staff see a challenge only when
    # the patient shares it: so only "a reminder they set".
    "reminder": "a reminder they set themselves",
}
_SLOT_NAMES = {
    "evening": "evening reminder",
    "morning": "morning reminder",
    "week_before": "reminder a week before",
    "day_before": "reminder the day before",
    "discharge": "discharge message",
    "practice_plan": "invitation to plan home practice",
    "practice_check": "home-practice check-in",
    "practice_weekend": "weekend check-in",
    "qa_invite": "invitation to send questions for the doctor",
    "qa_reminder": "reminder to send questions for the doctor",
}


@dataclass(frozen=True)
class Failed:
    """One undelivered message, as staff see it."""

    reference: str
    what: str
    expired: bool


class FailureReporter:
    """Finds unreported delivery failures and newly unreachable people; tells staff once."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        content: Content,
        staff_chats: Mapping[str, str],
    ) -> None:
        self.sessions = sessions
        self.content = content
        self.staff_chats = dict(staff_chats)

    async def report(self, now: datetime) -> int:
        """Write one staff notice per channel with news; returns how many notices."""
        async with self.sessions() as session, session.begin():
            recent = await session.scalar(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.kind == KIND,
                    OutboxMessage.created_at > now - REPORT_EVERY,
                )
                .limit(1)
            )
            if recent is not None:
                return 0  # what failed since is gathered into the next summary
            # Conditional updates claim what to report, so two instances never both report it.
            failed = list(
                await session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.status.in_((Status.FAILED, Status.EXPIRED)),
                        OutboxMessage.priority == Priority.BULK,
                        OutboxMessage.failure_reported.is_(False),
                    )
                    .values(failure_reported=True)
                    .returning(
                        OutboxMessage.channel,
                        OutboxMessage.person_id,
                        OutboxMessage.status,
                        OutboxMessage.scheduled_id,
                        OutboxMessage.kind,
                    )
                )
            )
            unreachable = list(
                await session.execute(
                    update(Person)
                    .where(
                        Person.unreachable_at.is_not(None), Person.unreachable_reported.is_(False)
                    )
                    .values(unreachable_reported=True)
                    .returning(Person.channel, Person.id, Person.discharged_at)
                )
            )
            if not failed and not unreachable:
                return 0
            described = await _descriptions(session, [row[3] for row in failed if row[3]])
            by_channel: defaultdict[str, tuple[list[str], list[Failed]]] = defaultdict(
                lambda: ([], [])
            )
            for channel, unreachable_id, discharged_at in unreachable:
                # A discharged patient is marked, as in every notice about them.
                mark = " (discharged)" if discharged_at is not None else ""
                by_channel[channel][0].append(f"P{unreachable_id}{mark}")
            for channel, person_id, status, scheduled_id, kind in failed:
                what = described.get(scheduled_id or 0, _KIND_NAMES.get(kind, "a message"))
                by_channel[channel][1].append(
                    Failed(f"P{person_id}" if person_id else "a guest", what, status == "expired")
                )
            notices = 0
            for channel, (people, items) in by_channel.items():
                staff_chat = self.staff_chats.get(channel)
                if staff_chat is None:
                    log.warning("delivery problems but no staff chat", extra={"channel": channel})
                    continue
                # A long outage fails hundreds: the message lists the first ones and counts the
                # rest, so it always fits in one Telegram message.
                listed = sorted(people)
                text = self.content.render(
                    "staff/delivery_problems",
                    unreachable=listed[:LISTED],
                    more_unreachable=max(0, len(listed) - LISTED),
                    failed=items[:LISTED],
                    more_failed=max(0, len(items) - LISTED),
                )
                session.add(
                    outbox_row(
                        channel=channel,
                        chat_id=staff_chat,
                        kind=KIND,
                        priority=Priority.URGENT,
                        text=text,
                        now=now,
                    )
                )
                notices += 1
            log.info(
                "delivery problems reported",
                extra={"failed": len(failed), "unreachable": len(unreachable)},
            )
            return notices


async def _descriptions(session: AsyncSession, scheduled_ids: list[int]) -> dict[int, str]:
    """'Day 3 morning reminder' for each scheduled message."""
    if not scheduled_ids:
        return {}
    found = await session.execute(
        select(ScheduledMessage.id, ScheduledMessage.slot, CohortEvent)
        .join(CohortEvent, CohortEvent.id == ScheduledMessage.event_id)
        .where(ScheduledMessage.id.in_(scheduled_ids))
    )
    return {
        row_id: f"{describe(event)} {_SLOT_NAMES.get(slot, slot)}" for row_id, slot, event in found
    }
