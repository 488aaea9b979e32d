"""The context a dialog step works in: the event, the person, the session, and what to say."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.content import Content
from bot.db.models import Conversation, OutboxMessage, Person
from bot.messages import ButtonRows, Incoming, Reply
from bot.safety.screening import Screen, Screening
from bot.services.escalations import Escalator
from bot.services.outbox import Priority

# A typed message is read as the answer to a safety question asked this recently.
SAFETY_ANSWER_MINUTES = 60


@dataclass(frozen=True)
class Notice:
    """A message for the staff chat, written to the outbox in the same transaction."""

    kind: str
    text: str
    priority: Priority = Priority.REPLY


@dataclass
class Turn:
    """One incoming event being handled; dialogs add replies and notices to it."""

    incoming: Incoming
    session: AsyncSession
    settings: Settings
    clock: Clock
    content: Content
    person: Person | None
    conversation: Conversation | None
    escalator: Escalator
    screener: Screen
    replies: list[Reply] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    # How many rows a service wrote for others (staff alerts, a private message to staff):
    # the dispatcher is woken for them as soon as the turn commits.
    queued: int = 0
    # Urgent rows a service wrote (staff alerts): the runner may send them straight away.
    urgent_rows: list[OutboxMessage] = field(default_factory=list)
    # A short notice shown only to whoever pressed a button (Telegram's callback answer).
    alert: str | None = None
    # The replies of this turn jump every queue (crisis signposting).
    urgent: bool = False
    # What the risk screen made of this turn's text, once it has looked.
    screening: Screening | None = None
    # Set while a safety question is about to be asked: a form's next prompt waits for it.
    hold_prompts: bool = False
    _now: datetime | None = None

    @property
    def is_patient(self) -> bool:
        """Whether the sender is an enrolled patient."""
        return self.person is not None and self.person.role == "patient"

    @property
    def on_staff_list(self) -> bool:
        """Whether the sender is on the channel's staff list (False where there is none)."""
        return self.incoming.on_staff_list is True

    def staff_allowed(self, enrolled_staff: bool) -> bool:
        """Staff access, checked on every use: the channel's staff list decides where it keeps
        one (someone taken off it loses access at once, enrolled or not); elsewhere, being
        enrolled as staff (`enrolled_staff`)."""
        listed = self.incoming.on_staff_list
        return listed if listed is not None else enrolled_staff

    @property
    def now(self) -> datetime:
        """The time of this turn: read once so every row of the turn agrees."""
        if self._now is None:
            self._now = self.clock.now()
        return self._now

    def text(self, template: str, /, **variables: Any) -> str:
        """Render a template; `carrier` (the app carrying this chat) is always there."""
        variables.setdefault("carrier", self.content.carrier(self.incoming.channel))
        return self.content.render(template, **variables)

    def say(
        self,
        template: str,
        buttons: ButtonRows = (),
        /,
        **variables: Any,
    ) -> None:
        """Queue a reply rendered from a template."""
        self.replies.append(Reply(self.text(template, **variables), buttons))

    def say_text(self, text: str, buttons: ButtonRows = ()) -> None:
        """Queue a reply already rendered (the crisis reply, which the adapter renders too)."""
        self.replies.append(Reply(text, buttons))

    def queue(self, rows: Sequence[OutboxMessage] = ()) -> None:
        """Note rows a service added to the session, so the dispatcher is woken for them."""
        self.queued += len(rows) or 1
        self.urgent_rows.extend(row for row in rows if row.priority == 0)

    def tell_staff(
        self, kind: str, template: str, /, urgent: bool = False, **variables: Any
    ) -> None:
        """Queue a message for the staff chat (urgent ones never wait behind others)."""
        self.notices.append(
            Notice(
                kind,
                self.text(template, **variables),
                Priority.URGENT if urgent else Priority.REPLY,
            )
        )

    def safety_question_waiting(self) -> bool:
        """Whether a safety question asked recently still waits for this person's answer."""
        state = self.conversation
        return (
            state is not None
            and state.safety_question is not None
            and state.safety_asked_at is not None
            and self.now - state.safety_asked_at <= timedelta(minutes=SAFETY_ANSWER_MINUTES)
        )

    def state(self) -> Conversation:
        """This person's conversation row, created on first need."""
        if self.conversation is None:
            self.conversation = Conversation(
                channel=self.incoming.channel,
                channel_user_id=self.incoming.user_id,
                dialog=None,
                step=None,
                data={},
                # A fresh row starts at a random version, so buttons from a conversation that
                # was deleted (a cancel, a decline) never match the new one.
                version=secrets.randbelow(1_000_000),
                updated_at=self.now,
            )
            self.session.add(self.conversation)
        return self.conversation

    async def forget_state(self) -> None:
        """Delete the conversation row: nothing is kept of someone who leaves before enrolling."""
        if self.conversation is None:
            return
        if self.conversation in self.session.new:
            self.session.expunge(self.conversation)
        else:
            await self.session.delete(self.conversation)
        self.conversation = None
