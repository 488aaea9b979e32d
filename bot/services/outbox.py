"""The outbox: the one way to write a message that must reach someone, and its priorities.

A row is written in the same transaction as whatever made it, and delivered after the commit
by the turn itself or by a dispatcher (scheduler/dispatcher.py), lowest priority number first.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import OutboxMessage, Person
from bot.messages import Reply
from bot.time.times import QuietHours


class Priority(IntEnum):
    """Which rows go first: a staff alert never waits behind a round of reminders."""

    URGENT = 0  # staff alerts and notices, crisis replies, "the team has seen your report"
    REPLY = 1  # replies to what someone just wrote, and files they asked for
    BULK = 2  # reminders, calendar news, discharge, guests' invitations


class Status(StrEnum):
    """Where a row is on its way (stored as these words)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# Statuses a row does not leave: nothing more will be tried.
SETTLED = (Status.SENT, Status.EXPIRED, Status.FAILED, Status.CANCELLED, Status.BLOCKED)


def outbox_row(
    *,
    channel: str,
    chat_id: str,
    kind: str,
    text: str,
    now: datetime,
    priority: Priority = Priority.REPLY,
    person_id: int | None = None,
    buttons: Reply | None = None,
    not_before: datetime | None = None,
    escalation_id: int | None = None,
    edit_message_id: str | None = None,
    document_name: str | None = None,
    expires_at: datetime | None = None,
    failure_reported: bool = False,
) -> OutboxMessage:
    """A new pending row. `person_id` only for a patient's own chat: a failed delivery marks
    that person unreachable. `buttons`: the reply whose buttons go with the text."""
    return OutboxMessage(
        channel=channel,
        chat_id=chat_id,
        person_id=person_id,
        kind=kind,
        priority=int(priority),
        text=text,
        buttons=buttons.to_json() if buttons is not None else None,
        status=Status.PENDING.value,
        attempts=0,
        not_before=not_before or now,
        created_at=now,
        escalation_id=escalation_id,
        edit_message_id=edit_message_id,
        document_name=document_name,
        expires_at=expires_at,
        failure_reported=failure_reported,
    )


def patient_message(
    person: Person, kind: str, reply: Reply, not_before: datetime, now: datetime
) -> OutboxMessage:
    """A bulk row for a patient (reminders, calendar news, discharge)."""
    return outbox_row(
        channel=person.channel,
        chat_id=person.chat_id,
        person_id=person.id,
        kind=kind,
        priority=Priority.BULK,
        text=reply.text,
        buttons=reply,
        not_before=not_before,
        now=now,
    )


def after_quiet_hours(person: Person, now: datetime, tz: ZoneInfo) -> datetime:
    """Now, or the end of the person's quiet hours if they are in them."""
    quiet = QuietHours.of(person.quiet_start, person.quiet_end)
    return quiet.end_after(now, tz) if quiet is not None and quiet.is_quiet(now, tz) else now


async def cancel_unsent(session: AsyncSession, row_ids: list[int]) -> set[int]:
    """Cancel these outbox rows if they still wait; a row a dispatcher has just started
    sending is left to go. The ids cancelled."""
    if not row_ids:
        return set()
    return set(
        await session.scalars(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(row_ids))
            .where(OutboxMessage.status == Status.PENDING)
            .values(status=Status.CANCELLED.value)
            .returning(OutboxMessage.id)
        )
    )
