"""Crisis signposting sent the moment risk language arrives, before any database work.

The adapter calls this before the turn runs. It needs only the lexicon, the wording and a
sender: a database, scheduler or rate-limit queue in trouble cannot delay it. The turn then
records the crisis and alerts staff; if this send failed, the turn sends the signposting itself
as an urgent reply.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from bot.content import Content
from bot.messages import Incoming, Reply, Sender
from bot.safety.screening import Screen
from bot.safety.signposting import crisis_text

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 10
# A message this much older than its arrival, or any message in a process's first minute, may be
# a copy Telegram sends again after a restart: the database is asked, briefly, whether it was
# answered before. Otherwise new messages' numbers never wait for the database.
FRESH_SECONDS = 30
RESTART_SECONDS = 60
ASK_SECONDS = 0.5
# Updates already answered, so one fetched again after a failed turn is not answered twice.
_REMEMBERED = 1000


class FirstResponder:
    """Screens an incoming event and, for crisis language, sends signposting at once."""

    def __init__(
        self,
        screener: Screen,
        content: Content,
        sender: Sender,
        is_staff: Callable[[Incoming], bool],
        answered: Callable[[Incoming], Awaitable[bool]] | None = None,
        sent: Callable[[Incoming], Awaitable[None]] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.screener = screener
        self.content = content
        self.sender = sender
        self.is_staff = is_staff
        # Whether an event was answered before (in the database); None: never asked.
        self.answered = answered
        # Notes in the database that an event's numbers went out.
        self.sent = sent
        # Unix seconds, as the channel dates its messages.
        self.wall_clock = wall_clock
        self.started = wall_clock()
        self._answered: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def respond(self, incoming: Incoming) -> Incoming:
        """The event, marked `crisis_sent` if signposting went out now."""
        if (
            incoming.kind not in ("text", "command", "unsupported")  # captions too
            or not incoming.text
            or not incoming.private_chat
            or self.is_staff(incoming)
        ):
            return incoming
        screening = self.screener.screen(incoming.text)
        if not screening.is_crisis:
            return incoming
        key = (incoming.channel, incoming.update_id)
        answered = dataclasses.replace(incoming, crisis_sent=True)
        if key in self._answered:
            return answered
        # Marked before any wait: a copy arriving meanwhile (webhook calls sent together) is
        # not answered a second time.
        self._answered[key] = None
        while len(self._answered) > _REMEMBERED:
            self._answered.popitem(last=False)
        if await self._answered_before(incoming):
            log.info("crisis reply already sent for this update", extra=_ids(incoming))
            return answered
        try:
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                await self.sender.send(
                    incoming.chat_id, Reply(crisis_text(self.content, screening))
                )
        except Exception as error:
            # The turn sends it instead, as an urgent reply through the outbox.
            self._answered.pop(key, None)
            log.warning("crisis reply failed", extra={"error": type(error).__name__})
            return incoming
        log.info("crisis reply sent before the turn", extra=_ids(incoming))
        await self._note_sent(incoming)
        return answered

    async def _note_sent(self, incoming: Incoming) -> None:
        """Note, after the numbers went out, that they did: best effort, and brief."""
        if self.sent is None:
            return
        try:
            async with asyncio.timeout(ASK_SECONDS):
                await self.sent(incoming)
        except Exception as error:
            log.info("crisis reply not noted", extra={"error": type(error).__name__})

    async def _answered_before(self, incoming: Incoming) -> bool:
        """Whether a message that may be a copy from before a restart was answered then.

        Asked only of messages older than FRESH_SECONDS, or in this process's first
        RESTART_SECONDS, and only briefly: a database that does not answer means send.
        """
        if self.answered is None:
            return False
        now = self.wall_clock()
        old = incoming.sent_at is not None and now - incoming.sent_at >= FRESH_SECONDS
        if not old and now - self.started >= RESTART_SECONDS:
            return False
        try:
            async with asyncio.timeout(ASK_SECONDS):
                return await self.answered(incoming)
        except Exception:
            return False


def _ids(incoming: Incoming) -> dict[str, str]:
    """What a log line may say of an event."""
    return {"update_id": incoming.update_id}
