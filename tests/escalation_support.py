"""Helpers for escalation tests: a staff group that numbers and edits messages, staff presses."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Escalation, EscalationEvent
from bot.messages import DeliveryError, Reply
from bot.services import people
from scheduler.dispatcher import Dispatcher
from scheduler.escalations import EscalationWatchdog
from tests.helpers import Chat

STAFF_GROUP = "staff"


@dataclass
class Desk:
    """The console channel as staff see it: numbered messages per chat, edited in place."""

    clock: ManualClock
    channel: str = "console"
    chats: dict[str, list[Reply]] = field(default_factory=dict)
    log: list[tuple[str, Reply]] = field(default_factory=list)
    # Chats that cannot be reached just now ("*": the whole channel is down).
    failing: set[str] = field(default_factory=set)
    attempts: int = 0

    def _check(self, chat_id: str) -> None:
        self.attempts += 1
        if chat_id in self.failing or "*" in self.failing:
            raise DeliveryError("down")

    async def send(self, chat_id: str, reply: Reply) -> str:
        """Keep it; its number in the chat is its message id."""
        self._check(chat_id)
        messages = self.chats.setdefault(chat_id, [])
        messages.append(reply)
        self.log.append((chat_id, reply))
        return str(len(messages))

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        """Replace a message."""
        self._check(chat_id)
        self.chats[chat_id][int(message_id) - 1] = reply

    def texts(self, chat_id: str) -> list[str]:
        """The texts a chat shows now."""
        return [reply.text for reply in self.chats.get(chat_id, [])]

    def alerts(self) -> list[Reply]:
        """Messages in the staff group that carry staff buttons."""
        return [
            reply
            for reply in self.chats.get(STAFF_GROUP, [])
            if any(b.payload.startswith("e:") for row in reply.buttons for b in row)
        ]


@dataclass
class Team:
    """Patients, a member of staff and the staff group, with the dispatcher and watchdog."""

    runtime: Runtime
    desk: Desk
    staff: Chat
    dispatcher: Dispatcher
    watchdog: EscalationWatchdog

    async def deliver(self) -> None:
        """What a running bot does between turns: watch, then send everything due."""
        await self.watchdog.run(self.runtime.clock.now())
        await self.dispatcher.drain()

    async def press(self, message_number: int, label: str, who: Chat | None = None) -> Chat:
        """Press a button on staff-group message N as a member of staff (or `who`)."""
        chat = who or self.staff
        reply = self.desk.chats[STAFF_GROUP][message_number - 1]
        for row in reply.buttons:
            for button in row:
                if button.label == label:
                    await chat.event(
                        kind="button",
                        payload=button.payload,
                        chat_id=STAFF_GROUP,
                        private_chat=False,
                        message_id=str(message_number),
                    )
                    return chat
        raise AssertionError(f"no button {label!r} on staff message {message_number}")


async def make_team(runtime: Runtime, clock: ManualClock, staff_name: str = "Sam") -> Team:
    """A member of staff enrolled on the console channel, and the machinery around them."""
    desk = Desk(clock)
    async with runtime.sessions() as session, session.begin():
        await people.enrol(
            session,
            role="staff",
            cohort_id=None,
            display_name=staff_name,
            channel="console",
            user_id="staff-1",
            chat_id="staff-1",
            now=clock.now(),
        )
    staff = Chat(runtime, user_id="staff-1")
    dispatcher = Dispatcher(runtime.sessions, {"console": desk}, clock)
    watchdog = EscalationWatchdog(runtime.sessions, staff.runner.escalator)
    return Team(runtime, desk, staff, dispatcher, watchdog)


async def escalations(runtime: Runtime) -> list[Escalation]:
    """Every escalation, oldest first."""
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Escalation).order_by(Escalation.id)))


async def audit_actions(runtime: Runtime, escalation_id: int) -> list[str]:
    """The audit trail's actions, in order."""
    async with runtime.sessions() as session:
        return list(
            await session.scalars(
                select(EscalationEvent.action)
                .where(EscalationEvent.escalation_id == escalation_id)
                .order_by(EscalationEvent.id)
            )
        )
