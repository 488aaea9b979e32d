"""Release due reminders into the outbox: render them, or record why they are not sent.

A reminder moves from "planned" to "queued" (with its outbox row), "skipped" or "blocked" in
one transaction, by a conditional UPDATE: however many dispatchers run, each reminder is
released once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.content import Content
from bot.db.models import (
    Attendance,
    Cohort,
    CohortEvent,
    OutboxMessage,
    Person,
    ScheduledMessage,
)
from bot.messages import Button, Reply
from bot.services.outbox import Status, cancel_unsent, patient_message
from bot.services.planner import (
    DAY_BEFORE,
    DISCHARGE,
    EVENING,
    MORNING,
    QA_INVITE,
    QA_REMINDER,
    WEEK_BEFORE,
    sessions_of,
)
from bot.time.times import QuietHours
from scheduler.nudges import NudgeContext, NudgeRenderer

log = logging.getLogger(__name__)

DEFER = ("defer", None)
ATTENDANCE_PREFIX = "a"
# Each answer to a reminder and the key of its button label.
ANSWER_LABELS = {"yes": "attend_yes", "late": "attend_late", "no": "attend_no"}
_TEMPLATES = {
    EVENING: "reminders/day_evening",
    MORNING: "reminders/day_morning",
    WEEK_BEFORE: "reminders/review_week_before",
    DAY_BEFORE: "reminders/review_day_before",
    DISCHARGE: "reminders/discharge",
}
# Questions for the doctor are worth sending even on a day the patient can't come to.
_WHATEVER_THE_ANSWER = (QA_INVITE, QA_REMINDER)
# A review is an appointment: its reminders, and the goodbye, still come while a patient has
# paused reminders (the pause message says so).
KEPT_WHILE_PAUSED = (WEEK_BEFORE, DAY_BEFORE, DISCHARGE)


async def withhold_waiting(session: AsyncSession, person_id: int, now: datetime) -> int:
    """A pause made while reminders wait in the outbox: those not yet being sent are not sent
    (skipped, paused). Review reminders and the goodbye come anyway; a row a dispatcher has
    already started sending is left to go. How many were withheld."""
    waiting = list(
        await session.execute(
            select(OutboxMessage.id, OutboxMessage.scheduled_id)
            .join(ScheduledMessage, ScheduledMessage.id == OutboxMessage.scheduled_id)
            .where(
                ScheduledMessage.person_id == person_id,
                ScheduledMessage.slot.not_in(KEPT_WHILE_PAUSED),
                OutboxMessage.status == Status.PENDING,
            )
        )
    )
    cancelled = await cancel_unsent(session, [row_id for row_id, _ in waiting])
    if cancelled:
        await session.execute(
            update(ScheduledMessage)
            .where(ScheduledMessage.id.in_([s for row_id, s in waiting if row_id in cancelled]))
            .values(status="skipped", reason="paused", updated_at=now)
        )
    return len(cancelled)


def attendance_buttons(
    content: Content, event_id: int, late: bool = True
) -> tuple[tuple[Button, ...], ...]:
    """'I'll be there', 'Running late', 'Can't make it' for one event; they work any time.
    Without `late` when the event is days away: nobody is running late a week ahead."""
    return (
        tuple(
            Button(content.label(label), f"{ATTENDANCE_PREFIX}:{event_id}:{answer}")
            for answer, label in ANSWER_LABELS.items()
            if late or answer != "late"
        ),
    )


def paused(person: Person, moment: datetime) -> bool:
    """Whether the person has paused reminders at this moment."""
    if person.paused_at is None or moment < person.paused_at:
        return False
    return person.paused_until is None or moment < person.paused_until


class ReminderReleaser:
    """Turns due reminders into outbox messages."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        content: Content,
        tz: ZoneInfo,
        renderers: Mapping[str, NudgeRenderer],
    ) -> None:
        """`renderers`: the dialogs' own nudge wordings, by flow (dialogs.flows.NUDGE_RENDERERS,
        given by the app: the scheduler sits below the dialogs)."""
        self.sessions = sessions
        self.content = content
        self.tz = tz
        self.renderers = renderers

    async def release(self, now: datetime, limit: int = 500) -> int:
        """Release up to `limit` due reminders; returns how many were settled."""
        async with self.sessions() as session, session.begin():
            query = (
                select(ScheduledMessage)
                .where(ScheduledMessage.status == "planned", ScheduledMessage.due_at <= now)
                .order_by(ScheduledMessage.due_at, ScheduledMessage.id)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            due = list(await session.scalars(query))
            if not due:
                return 0
            people = await _by_id(session, Person, {r.person_id for r in due})
            events = await _by_id(
                session, CohortEvent, {r.event_id for r in due if r.event_id is not None}
            )
            cohorts = await _by_id(session, Cohort, {e.cohort_id for e in events.values()})
            answers = await _answers(session, due)
            decisions: defaultdict[tuple[str, str | None], list[int]] = defaultdict(list)
            deferred: list[tuple[int, datetime]] = []
            rows: list[OutboxMessage] = []
            for reminder in due:
                person = people[reminder.person_id]
                verdict = self._verdict(reminder, person, answers.get(reminder.id), now)
                if verdict == DEFER:
                    quiet = QuietHours.of(person.quiet_start, person.quiet_end)
                    assert quiet is not None
                    deferred.append((reminder.id, quiet.end_after(now, self.tz)))
                    continue
                if verdict is not None:
                    decisions[verdict].append(reminder.id)
                    continue
                event = events[reminder.event_id] if reminder.event_id is not None else None
                cohort = cohorts[event.cohort_id] if event is not None else None
                row = await self._message(session, reminder, person, event, cohort, now)
                if row is None:
                    decisions[("skipped", "not_needed")].append(reminder.id)
                    continue
                rows.append(row)
                decisions[("queued", None)].append(reminder.id)
            released: set[int] = set()
            for (status, reason), ids in decisions.items():
                # Conditional: a reminder another dispatcher released meanwhile is left alone.
                done = await session.scalars(
                    update(ScheduledMessage)
                    .where(ScheduledMessage.id.in_(ids), ScheduledMessage.status == "planned")
                    .values(status=status, reason=reason, updated_at=now)
                    .returning(ScheduledMessage.id)
                )
                released.update(done)
            for reminder_id, moment in deferred:
                await session.execute(
                    update(ScheduledMessage)
                    .where(ScheduledMessage.id == reminder_id, ScheduledMessage.status == "planned")
                    .values(due_at=moment, updated_at=now)
                )
            session.add_all([row for row in rows if row.scheduled_id in released])
            # The one-year review is over whether or not its message could go: discharge,
            # unless they missed the review (staff were asked to arrange another).
            held = set(decisions.get(("skipped", "review_missed"), []))
            discharged = [
                r.person_id
                for r in due
                if r.slot == DISCHARGE and r.id in released and r.id not in held
            ]
            if discharged:
                await self._discharge(session, discharged, now)
            log.info("reminders released", extra={"n": len(released), "deferred": len(deferred)})
            return len(released) + len(deferred)

    def _verdict(
        self,
        reminder: ScheduledMessage,
        person: Person,
        answer: Attendance | None,
        now: datetime,
    ) -> tuple[str, str | None] | None:
        """None to send now; DEFER in quiet hours; else the (status, reason) to record."""
        if person.discharged_at is not None:
            return ("skipped", "discharged")
        if (
            answer is not None
            and (answer.answer == "no" or answer.date_requested_at)
            and reminder.slot not in _WHATEVER_THE_ANSWER
        ):
            # They said they can't come (to the 12-month review: not discharged until staff
            # have seen them); reminding them, or saying goodbye, would be wrong.
            reason = "review_missed" if reminder.slot == DISCHARGE else "not_coming"
            return ("skipped", reason)
        if person.unreachable_at is not None:
            return ("blocked", "unreachable")
        if now >= reminder.send_until:
            return ("skipped", "too_late")
        if reminder.slot not in KEPT_WHILE_PAUSED and paused(person, now):
            return ("skipped", "paused")
        quiet = QuietHours.of(person.quiet_start, person.quiet_end)
        if quiet is not None and quiet.is_quiet(now, self.tz):
            # Late after downtime and now in quiet hours: wait for their end if still useful.
            if quiet.end_after(now, self.tz) < reminder.send_until:
                return DEFER
            return ("skipped", "quiet_hours")
        return None

    async def _message(
        self,
        session: AsyncSession,
        reminder: ScheduledMessage,
        person: Person,
        event: CohortEvent | None,
        cohort: Cohort | None,
        now: datetime,
    ) -> OutboxMessage | None:
        """The outbox row that delivers a reminder; None when a flow's nudge is not needed."""
        if reminder.slot in _TEMPLATES and event is not None and cohort is not None:
            reply: Reply | None = self.render(reminder.slot, person, event, cohort)
        else:
            context = NudgeContext(
                session, self.content, self.tz, reminder, person, event, cohort, now
            )
            reply = await self.renderers[reminder.slot](context)
        if reply is None:
            return None
        row = patient_message(person, "reminder", reply, now, now)
        row.expires_at = self._expiry(reminder, person, now)
        row.scheduled_id = reminder.id
        return row

    def _expiry(self, reminder: ScheduledMessage, person: Person, now: datetime) -> datetime:
        """Not after it stops being useful, nor once the person's quiet hours begin."""
        quiet = QuietHours.of(person.quiet_start, person.quiet_end)
        if quiet is None:
            return reminder.send_until
        return min(reminder.send_until, quiet.start_after(now, self.tz))

    def render(self, slot: str, person: Person, event: CohortEvent, cohort: Cohort) -> Reply:
        """A reminder's words and buttons."""
        if slot == DISCHARGE:
            # Planned for after the 12-month review: they have finished the programme.
            return Reply(
                self.content.render(_TEMPLATES[slot], name=person.display_name, finished=True)
            )
        sessions = sessions_of(self.content, event, cohort)
        common = {
            "name": person.display_name,
            "on_date": event.on_date,
            "sessions": sessions,
            "start": sessions[0]["time"],
            "cohort": cohort,
        }
        if event.kind == "day":
            text = self.content.render(
                _TEMPLATES[slot],
                number=event.number,
                family_day=cohort.family_day == event.number,
                qa_day=cohort.qa_day == event.number,
                **common,
            )
        else:
            text = self.content.render(_TEMPLATES[slot], months=event.number, **common)
        return Reply(text, attendance_buttons(self.content, event.id, late=slot != WEEK_BEFORE))

    async def _discharge(self, session: AsyncSession, ids: list[int], now: datetime) -> None:
        """After the one-year review: discharged, and nothing more is scheduled."""
        await session.execute(
            update(Person)
            .where(Person.id.in_(ids), Person.discharged_at.is_(None))
            .values(discharged_at=now)
        )
        await session.execute(
            delete(ScheduledMessage).where(
                ScheduledMessage.person_id.in_(ids), ScheduledMessage.status == "planned"
            )
        )


M = TypeVar("M", Person, CohortEvent, Cohort)


async def _answers(session: AsyncSession, due: list[ScheduledMessage]) -> dict[int, Attendance]:
    """The patient's answer about each reminder's event, by reminder id, in one query."""
    pairs = {(r.person_id, r.event_id) for r in due if r.event_id is not None}
    found = await session.scalars(
        select(Attendance).where(tuple_(Attendance.person_id, Attendance.event_id).in_(pairs))
    )
    by_pair = {(a.person_id, a.event_id): a for a in found}
    return {
        r.id: by_pair[(r.person_id, r.event_id)]
        for r in due
        if r.event_id is not None and (r.person_id, r.event_id) in by_pair
    }


async def _by_id(session: AsyncSession, model: type[M], ids: set[int]) -> dict[int, M]:
    """Rows of one model by id, in one query."""
    found = await session.scalars(select(model).where(model.id.in_(ids)))
    return {row.id: row for row in found}
