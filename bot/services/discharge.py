"""Discharging a patient by hand: when staff have seen them at a review arranged another way."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Content
from bot.db.models import Person, ScheduledMessage
from bot.messages import Reply
from bot.services.outbox import after_quiet_hours, patient_message


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
    goodbye = Reply(content.render("reminders/discharge", name=person.display_name))
    # Not urgent: it waits for the end of their quiet hours.
    session.add(
        patient_message(person, "discharge", goodbye, after_quiet_hours(person, now, tz), now)
    )
    await session.flush()
    return True
