"""Discharging a patient by hand: when staff have seen them at a review arranged another way."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Content
from bot.db.models import OutboxMessage, Person, ScheduledMessage
from scheduler.reminders import BULK_PRIORITY
from scheduler.times import QuietHours


async def discharge(
    session: AsyncSession, content: Content, tz: ZoneInfo, person: Person, now: datetime
) -> bool:
    """Discharge now: no more reminders, and the goodbye message; False if already done."""
    if person.discharged_at is not None:
        return False
    person.discharged_at = now
    await session.execute(
        delete(ScheduledMessage).where(
            ScheduledMessage.person_id == person.id, ScheduledMessage.status == "planned"
        )
    )
    quiet = QuietHours.of(person.quiet_start, person.quiet_end)
    session.add(
        OutboxMessage(
            channel=person.channel,
            chat_id=person.chat_id,
            person_id=person.id,
            kind="discharge",
            priority=BULK_PRIORITY,
            text=content.render("reminders/discharge", name=person.display_name),
            status="pending",
            attempts=0,
            # Not urgent: it waits for the end of their quiet hours.
            not_before=quiet.end_after(now, tz) if quiet and quiet.is_quiet(now, tz) else now,
            created_at=now,
        )
    )
    await session.flush()
    return True
