"""What happened to each reminder: planned, queued, sent, failed, skipped or blocked."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from bot.db.models import CohortEvent, OutboxMessage, Person, ScheduledMessage
from bot.services.events import describe
from bot.time.times import at
from scheduler.reminders import KEPT_WHILE_PAUSED, paused

_REASONS = {
    # Not a guess at why: the bot may have been stopped, or (in the demo) the clock jumped.
    "too_late": "no longer useful by the time it could be sent",
    "not_coming": "the patient said they can't come",
    "review_missed": "the patient missed the 12-month review: not discharged, staff to arrange",
    "paused": "the patient paused reminders",
    "quiet_hours": "would have fallen in the patient's quiet hours",
    "discharged": "the patient has been discharged",
    "unreachable": "the patient can't be reached (blocked the bot?)",
}


@dataclass(frozen=True)
class ReminderState:
    """One reminder as staff see it."""

    reference: str
    event: str
    slot: str
    due_local: str
    due_utc: str
    state: str  # planned | queued | sent | failed | skipped | blocked | done (details purged)
    detail: str | None
    attempts: int

    def as_dict(self) -> dict[str, object]:
        """For JSON."""
        return asdict(self)


def _state(reminder: ScheduledMessage, message: OutboxMessage | None) -> tuple[str, str | None]:
    """The delivery state and a plain explanation."""
    if reminder.status in ("planned", "skipped", "blocked"):
        return reminder.status, _REASONS.get(reminder.reason or "")
    if message is None:
        return "done", "delivery details are kept for 30 days"
    if message.status in ("pending", "sending"):
        detail = f"retrying: {message.last_error}" if message.attempts else None
        return "queued", detail
    if message.status == "sent":
        return "sent", None
    if message.status == "expired":
        return "failed", "not delivered before it stopped being useful"
    if message.status == "cancelled":
        return "skipped", "the event moved before it could be sent"
    if message.status == "blocked":
        return "blocked", _REASONS["unreachable"]
    return "failed", message.last_error


async def reminders_on(
    session: AsyncSession, cohort_id: int, day: date, tz: ZoneInfo
) -> list[ReminderState]:
    """Reminders due on a local date for a group's patients, in time order."""
    begin, end = at(day, time(0), tz), at(day + timedelta(days=1), time(0), tz)
    found = await session.execute(
        select(ScheduledMessage, CohortEvent, OutboxMessage, Person)
        .join(Person, Person.id == ScheduledMessage.person_id)
        .join(CohortEvent, CohortEvent.id == ScheduledMessage.event_id)
        .outerjoin(OutboxMessage, OutboxMessage.scheduled_id == ScheduledMessage.id)
        .where(
            # The group's own patients, and visitors booked onto one of its reviews.
            or_(Person.cohort_id == cohort_id, CohortEvent.cohort_id == cohort_id),
            ScheduledMessage.due_at >= begin,
            ScheduledMessage.due_at < end,
        )
        .order_by(ScheduledMessage.due_at, ScheduledMessage.person_id, ScheduledMessage.id)
        # Only what the states are read from: not the messages' text, nor the whole person.
        .options(
            load_only(OutboxMessage.status, OutboxMessage.attempts, OutboxMessage.last_error),
            load_only(Person.id, Person.paused_at, Person.paused_until),
        )
    )
    result = []
    for reminder, event, message, person in found:
        state, detail = _state(reminder, message)
        waits_on_a_pause = reminder.slot not in KEPT_WHILE_PAUSED and paused(
            person, reminder.due_at
        )
        if state == "planned" and waits_on_a_pause:
            detail = "will be skipped: the patient has paused reminders"
        result.append(
            ReminderState(
                reference=f"P{reminder.person_id}",
                event=describe(event),
                slot=reminder.slot,
                due_local=f"{reminder.due_at.astimezone(tz):%Y-%m-%d %H:%M}",
                due_utc=f"{reminder.due_at.astimezone(UTC):%Y-%m-%d %H:%M}",
                state=state,
                detail=detail,
                attempts=message.attempts if message is not None else 0,
            )
        )
    return result
