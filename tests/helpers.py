"""Test helpers: make groups and invites, and chat with the bot through neutral events."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import func, select, text

from bot.app.cli.common import CliContext
from bot.app.runtime import Runtime
from bot.app.turns import TurnOutcome
from bot.config import Settings
from bot.db.models import Cohort, Conversation, Invite
from bot.messages import Incoming, Reply
from bot.services import cohorts, invites
from bot.services.cohorts import CohortRequest
from dialogs.engine import Form

_update_ids = itertools.count(1)


async def make_cohort(
    runtime: Runtime, start: date = date(2026, 12, 7), mode: str = "in-person"
) -> Cohort:
    """A group starting on a Monday."""
    async with runtime.sessions() as session, session.begin():
        return await cohorts.create_cohort(
            session,
            CohortRequest(
                name="Tuesday Group A",
                start_date=start,
                mode=mode,
                location="Pain Clinic, Room 4" if mode == "in-person" else None,
                video_link="https://video.example.org/pmp-a" if mode == "online" else None,
            ),
            runtime.clock.now(),
        )


async def make_invites(
    runtime: Runtime, cohort: Cohort, count: int = 1, role: str = "patient"
) -> list[Invite]:
    """Fresh codes for a group."""
    async with runtime.sessions() as session, session.begin():
        return await invites.create_invites(
            session, cohort.id, role, count, runtime.clock.now(), 14, runtime.settings.tz
        )


@dataclass
class RecordingSender:
    """Collects what would have been sent, per chat."""

    channel: str = "console"
    sent: list[tuple[str, Reply]] = field(default_factory=list)

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Record the reply."""
        self.sent.append((chat_id, reply))


@dataclass
class Chat:
    """One person talking to the bot through neutral events, as the console channel does."""

    runtime: Runtime
    user_id: str = "patient-1"
    channel: str = "console"
    sender: RecordingSender = field(default_factory=RecordingSender)
    last_outcome: TurnOutcome | None = None
    replies: list[Reply] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sender.channel = self.channel
        self.runner = self.runtime.runner({self.channel: "staff"})

    async def event(self, update_id: str | None = None, **fields: str | bool) -> list[Reply]:
        """Send one event and return the replies to this chat."""
        if self.channel == "telegram" and "on_staff_list" not in fields:
            # As the Telegram adapter does: the staff list as it is now decides.
            fields["on_staff_list"] = self.user_id.isdigit() and self.runtime.settings.is_staff(
                int(self.user_id)
            )
        incoming = Incoming(
            channel=self.channel,
            user_id=self.user_id,
            chat_id=fields.pop("chat_id", self.user_id),  # type: ignore[arg-type]
            update_id=update_id or str(next(_update_ids)),
            **fields,  # type: ignore[arg-type]
        )
        before = len(self.sender.sent)
        self.last_outcome = await self.runner.run(incoming)
        await self.runner.deliver(self.last_outcome, {self.channel: self.sender})
        self.replies = [reply for _chat, reply in self.sender.sent[before:]]
        return self.replies

    async def say(self, text: str, **fields: str | bool) -> list[Reply]:
        """Type text."""
        return await self.event(kind="text", text=text, **fields)

    async def command(self, command: str, args: str = "") -> list[Reply]:
        """Send /command args."""
        return await self.event(kind="command", command=command, text=args)

    async def press(self, label: str, replies: list[Reply] | None = None) -> list[Reply]:
        """Press the button with this label on the latest replies (or the ones given)."""
        for reply in reversed(replies if replies is not None else self.replies):
            for row in reply.buttons:
                for button in row:
                    if button.label == label:
                        return await self.event(kind="button", payload=button.payload)
        raise AssertionError(f"no button {label!r} in {self.labels}")

    async def sticker(self) -> list[Reply]:
        """Send something that is not text."""
        return await self.event(kind="unsupported")

    @property
    def text(self) -> str:
        """All reply texts of the last event, joined."""
        return "\n".join(reply.text for reply in self.replies)

    @property
    def labels(self) -> list[str]:
        """Button labels on the last event's replies."""
        return [b.label for reply in self.replies for row in reply.buttons for b in row]


async def new_invite(runtime: Runtime, role: str = "patient") -> Invite:
    """One fresh code for a fresh group."""
    (invite,) = await make_invites(runtime, await make_cohort(runtime), role=role)
    return invite


async def at_name_step(runtime: Runtime, user_id: str = "patient-1") -> tuple[Chat, Invite]:
    """Someone who opened their link and agreed, now asked for their name."""
    invite = await new_invite(runtime)
    chat = Chat(runtime, user_id=user_id)
    await chat.command("start", invite.code)
    await chat.press("Yes, I agree")
    return chat, invite


async def count(runtime: Runtime, model: type) -> int:
    """How many rows a table has."""
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def enrol_patient(runtime: Runtime, user_id: str = "patient-1", name: str = "Robin") -> Chat:
    """A patient who has joined a fresh group."""
    cohort = await make_cohort(runtime)
    (invite,) = await make_invites(runtime, cohort)
    chat = Chat(runtime, user_id=user_id)
    await chat.command("start", invite.code)
    await chat.press("Yes, I agree")
    await chat.say(name)
    return chat


async def put_in_form(runtime: Runtime, channel: str, user_id: str, form: Form) -> None:
    """Leave someone part way through a form (at its first step), as a dialog would."""
    async with runtime.sessions() as session, session.begin():
        session.add(
            Conversation(
                channel=channel,
                channel_user_id=user_id,
                dialog=form.name,
                step=form.steps[0].name,
                data={},
                version=1,
                updated_at=runtime.clock.now(),
            )
        )


@contextlib.asynccontextmanager
async def inbox_unavailable(runtime: Runtime) -> AsyncIterator[None]:
    """Make every turn fail while the database itself stays up (the inbox table is away)."""
    async with runtime.engine.begin() as connection:
        await connection.execute(text("ALTER TABLE inbox_update RENAME TO inbox_away"))
    try:
        yield
    finally:
        async with runtime.engine.begin() as connection:
            await connection.execute(text("ALTER TABLE inbox_away RENAME TO inbox_update"))


class CliForTests(CliRunner):
    """A click runner whose commands open the runtime given (a test's clock, no migration),
    passed as `ctx.obj` the way `pmp` passes its own."""

    def __init__(self, open_with: Callable[[Settings], Awaitable[Runtime]]) -> None:
        super().__init__()
        self.context = CliContext(open_runtime=open_with)

    def invoke(self, cli: Any, args: Any = None, **kwargs: Any) -> Result:  # type: ignore[override]
        """As CliRunner.invoke, with the runtime opener as `obj`."""
        kwargs.setdefault("obj", self.context)
        return super().invoke(cli, args, **kwargs)
