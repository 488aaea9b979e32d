"""Helpers for reminder tests: enrol patients, record what is sent, run time forward."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Cohort, OutboxMessage, Person, ScheduledMessage
from bot.messages import Reply
from bot.services import people
from bot.services.planner import REMINDER_SLOTS, Planner
from dialogs.flows import NUDGE_RENDERERS
from scheduler.dispatcher import Dispatcher
from scheduler.failures import FailureReporter
from scheduler.reminders import ReminderReleaser

STAFF = "staff"


@dataclass
class Recorder:
    """A console channel that records each message with the (test) time it was sent."""

    clock: ManualClock
    channel: str = "console"
    sent: list[tuple[str, Reply, datetime]] = field(default_factory=list)

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Record it."""
        self.sent.append((chat_id, reply, self.clock.now()))

    def to(self, chat_id: str) -> list[tuple[Reply, datetime]]:
        """What one chat received, in order."""
        return [(reply, at) for chat, reply, at in self.sent if chat == chat_id]


async def enrol(
    runtime: Runtime, cohort: Cohort, user_id: str, name: str = "Robin", **prefs: str | None
) -> int:
    """Enrol a patient directly (as the enrolment dialog does) and plan their reminders."""
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        person = await people.enrol(
            session,
            role="patient",
            cohort_id=cohort.id,
            display_name=name,
            channel="console",
            user_id=user_id,
            chat_id=user_id,
            now=now,
        )
        for key, value in prefs.items():
            setattr(person, key, value)
        await Planner(runtime.content, runtime.settings.tz).plan(session, now, [person.id])
        return person.id


def dispatcher(runtime: Runtime, sender: object) -> Dispatcher:
    """A dispatcher that releases reminders and reports failures to the staff chat."""
    return Dispatcher(
        runtime.sessions,
        {"console": sender},  # type: ignore[dict-item]
        runtime.clock,
        ReminderReleaser(runtime.sessions, runtime.content, runtime.settings.tz, NUDGE_RENDERERS),
        FailureReporter(runtime.sessions, runtime.content, {"console": STAFF}),
    )


async def next_due(runtime: Runtime) -> datetime | None:
    """The earliest moment anything is due: a planned reminder or a waiting outbox row."""
    async with runtime.sessions() as session:
        planned = await session.scalar(
            select(func.min(ScheduledMessage.due_at)).where(ScheduledMessage.status == "planned")
        )
        waiting = await session.scalar(
            select(func.min(OutboxMessage.not_before)).where(OutboxMessage.status == "pending")
        )
    found = [moment for moment in (planned, waiting) if moment is not None]
    return min(found) if found else None


async def run_until(
    runtime: Runtime, clock: ManualClock, worker: Dispatcher, until: datetime, plan: bool = False
) -> int:
    """Jump the clock from one due moment to the next, dispatching each, up to `until`."""
    rounds = 0
    planner = Planner(runtime.content, runtime.settings.tz)
    while (moment := await next_due(runtime)) is not None and moment <= until:
        if moment <= clock.now():
            # Due already but not sent (the dispatcher is waiting out a "slow down"): the
            # APScheduler tick would come back a few seconds later.
            clock.advance(timedelta(seconds=5))
        else:
            clock.set(moment)
        if plan:  # the hourly safety-net planning pass, which must never duplicate anything
            async with runtime.sessions() as session, session.begin():
                await planner.plan(session, clock.now())
        await worker.drain()
        rounds += 1
        assert rounds < 100_000, "time is not moving on"
    clock.set(max(until, clock.now()))
    await worker.drain()
    return rounds


async def scheduled(
    runtime: Runtime,
    person_id: int | None = None,
    slots: Collection[str] | None = REMINDER_SLOTS,
) -> list[ScheduledMessage]:
    """Scheduled messages (the calendar's reminders unless `slots` says otherwise; None: all),
    optionally of one person, by due time."""
    query = select(ScheduledMessage).order_by(ScheduledMessage.due_at, ScheduledMessage.id)
    if slots is not None:
        query = query.where(ScheduledMessage.slot.in_(slots))
    if person_id is not None:
        query = query.where(ScheduledMessage.person_id == person_id)
    async with runtime.sessions() as session:
        return list(await session.scalars(query))


async def person(runtime: Runtime, person_id: int) -> Person:
    """A person as stored."""
    async with runtime.sessions() as session:
        found = await session.get(Person, person_id)
        assert found is not None
        return found


def local(moment: datetime, runtime: Runtime) -> datetime:
    """A moment in Europe/London."""
    return moment.astimezone(runtime.settings.tz)


def on(day: date, hour: int, minute: int, runtime: Runtime) -> datetime:
    """A local time in Europe/London, as an aware datetime."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=runtime.settings.tz)
