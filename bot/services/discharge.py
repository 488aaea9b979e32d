"""Discharging a patient by hand: when staff have seen them at a review arranged another way."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Content
from bot.db.models import Person, ScheduledMessage
from bot.messages import Reply
from bot.services.attendance import patient_events
from bot.services.events import REVIEW
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
    goodbye = Reply(await goodbye_text(session, content, tz, person, now))
    # Not urgent: it waits for the end of their quiet hours.
    session.add(
        patient_message(person, "discharge", goodbye, after_quiet_hours(person, now, tz), now)
    )
    await session.flush()
    return True


async def goodbye_text(
    session: AsyncSession, content: Content, tz: ZoneInfo, person: Person, now: datetime
) -> str:
    """The goodbye message: thanks for finishing after the last review, or plainer words (and
    whom to ask) for someone discharged before it."""
    today = now.astimezone(tz).date()
    reviews = [event for event in await patient_events(session, person) if event.kind == REVIEW]
    last = max(reviews, key=lambda event: event.number, default=None)
    finished = last is not None and last.on_date <= today
    return content.render("reminders/discharge", name=person.display_name, finished=finished)
