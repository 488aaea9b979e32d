"""The turn runner's guarantees: order per chat after a failed send, no names in errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Person
from bot.messages import DeliveryError, Reply
from scheduler.dispatcher import Dispatcher
from tests.helpers import Chat, RecordingSender, enrol_patient


@dataclass
class FailingOnce:
    """A channel whose first send fails with a network error."""

    channel: str = "console"
    fail: bool = True
    sent: list[tuple[str, Reply]] = field(default_factory=list)

    async def send(self, chat_id: str, reply: Reply) -> None:
        if self.fail:
            self.fail = False
            raise DeliveryError("NetworkError")
        self.sent.append((chat_id, reply))


async def test_replies_after_a_failed_send_wait_their_turn(
    runtime: Runtime, clock: ManualClock
) -> None:
    chat = await enrol_patient(runtime)
    await Dispatcher(runtime.sessions, {"console": RecordingSender()}, clock).drain()  # staff
    flaky = FailingOnce()
    chat.sender = flaky  # type: ignore[assignment]
    await chat.command("help")  # its reply fails and is left for a retry
    assert flaky.sent == []
    await chat.command("privacy")  # must not overtake the help text
    assert flaky.sent == []
    assert chat.last_outcome is not None and chat.last_outcome.queued == 1

    dispatcher = Dispatcher(runtime.sessions, {"console": flaky}, clock)
    assert await dispatcher.drain() == 0  # the failed one is backing off; the newer waits
    clock.advance(timedelta(seconds=3))
    await dispatcher.drain()
    texts = [reply.text for _chat, reply in flaky.sent]
    assert texts[0].startswith("Here is what I can do") and texts[1].startswith("Your privacy")


async def test_database_errors_do_not_carry_names(runtime: Runtime) -> None:
    await enrol_patient(runtime, user_id="same-account", name="Wilhelmina")
    with pytest.raises(IntegrityError) as caught:
        async with runtime.sessions() as session, session.begin():
            session.add(
                Person(
                    role="patient",
                    cohort_id=None,
                    display_name="Wilhelmina",
                    channel="console",
                    channel_user_id="same-account",
                    chat_id="same-account",
                    created_at=runtime.clock.now(),
                )
            )
    assert "Wilhelmina" not in str(caught.value)


async def test_a_button_in_a_group_is_answered_privately(runtime: Runtime) -> None:
    chat = Chat(runtime, user_id="5001")
    replies = await chat.event(
        kind="button", payload="m:today", chat_id="-100777", private_chat=False
    )
    assert replies == []
    assert chat.last_outcome is not None
    assert chat.last_outcome.alert == "Sorry, this button is for someone else."
