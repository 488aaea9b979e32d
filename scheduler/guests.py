"""Reminders for friends-and-family guests who said they will come: the day before, the morning.

Guests are not patients, so they have no planned rows in `scheduled_message`; each reminder
is guarded by its own column on `family_guest` instead. A conditional UPDATE marks it sent in
the transaction that writes its outbox row, so however many dispatchers run, each guest gets
each reminder once.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.content import Content
from bot.db.models import Cohort, CohortEvent, FamilyGuest, OutboxMessage, Person
from bot.services.family import COMING, day_of, family_day_event
from bot.services.outbox import Priority, outbox_row
from scheduler.reminders import ReminderReleaser

log = logging.getLogger(__name__)

DAY_BEFORE_AT = time(18, 0)
# Not sent later than this the evening before (after downtime): too late to be welcome.
DAY_BEFORE_UNTIL = time(21, 0)
MORNING_AT = time(8, 0)
MORNING_UNTIL = time(18, 0)
KIND = "guest_reminder"


async def remind_guests(
    sessions: async_sessionmaker[AsyncSession], content: Content, tz: ZoneInfo, now: datetime
) -> int:
    """Queue the guest reminders that are due now; returns how many were queued."""
    local = now.astimezone(tz)
    evening = DAY_BEFORE_AT <= local.time() < DAY_BEFORE_UNTIL
    # Until the family sessions begin (early afternoon); not asked about the rest of the day,
    # as this runs every dispatcher round.
    morning = MORNING_AT <= local.time() < MORNING_UNTIL
    if not evening and not morning:
        return 0
    queued = 0
    async with sessions() as session, session.begin():
        if evening:
            until = datetime.combine(local.date(), DAY_BEFORE_UNTIL, tzinfo=tz)
            tomorrow = local.date() + timedelta(days=1)
            queued += await _send(session, content, tz, now, tomorrow, until)
        if morning:
            queued += await _send(session, content, tz, now, local.date(), None)
    if queued:
        log.info("guest reminders queued", extra={"n": queued})
    return queued


async def remind_from(releaser: ReminderReleaser, now: datetime) -> int:
    """The dispatcher's hook: guest reminders with the releaser's database, wording and zone."""
    return await remind_guests(releaser.sessions, releaser.content, releaser.tz, now)


async def _send(
    session: AsyncSession,
    content: Content,
    tz: ZoneInfo,
    now: datetime,
    on_date: date,
    until: datetime | None,
) -> int:
    """Queue the day-before reminder (`until` given) or the morning one for a day's guests."""
    column = FamilyGuest.day_before_sent_at if until is not None else FamilyGuest.morning_sent_at
    template = "family/guest_day_before" if until is not None else "family/guest_morning"
    at = DAY_BEFORE_AT if until is not None else MORNING_AT
    due_at = datetime.combine(now.astimezone(tz).date(), at, tzinfo=tz)
    found = await session.execute(
        select(FamilyGuest, Person, Cohort, CohortEvent)
        .join(Person, Person.id == FamilyGuest.person_id)
        .join(Cohort, Cohort.id == FamilyGuest.cohort_id)
        .join(CohortEvent, family_day_event())
        .where(
            FamilyGuest.reply == COMING,
            FamilyGuest.chat_id.is_not(None),
            column.is_(None),
            # Someone who said yes after this reminder was due has just read the details.
            FamilyGuest.replied_at <= due_at,
            CohortEvent.on_date == on_date,
        )
        .order_by(FamilyGuest.id)
    )
    queued = 0
    for guest, person, cohort, event in found:
        day = day_of(content, tz, cohort, event)
        # The morning reminder is worth sending until the family sessions begin.
        expires = until if until is not None else day.starts_at
        if now >= expires:
            continue
        # Conditional: a guest another dispatcher has just reminded is left alone.
        claimed = await session.execute(
            update(FamilyGuest)
            .where(FamilyGuest.id == guest.id, column.is_(None))
            .values({column.key: now})
            .execution_options(synchronize_session=False)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            continue
        text = content.render(
            template,
            guest=guest.first_name or "",
            patient=person.display_name,
            on_date=day.on_date,
            sessions=day.sessions,
            cohort=cohort,
        )
        session.add(_message(guest, text, now, expires))
        queued += 1
    return queued


def _message(guest: FamilyGuest, text: str, now: datetime, expires: datetime) -> OutboxMessage:
    """A bulk row to the guest's chat: no person (a guest is not one), expiring when useless."""
    assert guest.channel is not None and guest.chat_id is not None
    return outbox_row(
        channel=guest.channel,
        chat_id=guest.chat_id,
        kind=KIND,
        priority=Priority.BULK,
        text=text,
        now=now,
        expires_at=expires,
        # The failure report names patients by reference and a guest has none: a guest's
        # reminder that could not be delivered is not worth a staff message.
        failure_reported=True,
    )
