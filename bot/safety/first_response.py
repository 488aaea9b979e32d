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
from collections import OrderedDict
from collections.abc import Callable

from bot.channels.types import Incoming, Reply, Sender
from bot.content import Content
from bot.safety.screening import Screen
from bot.safety.signposting import crisis_text

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 10
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
    ) -> None:
        self.screener = screener
        self.content = content
        self.sender = sender
        self.is_staff = is_staff
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
        if key not in self._answered:
            try:
                async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                    await self.sender.send(
                        incoming.chat_id, Reply(crisis_text(self.content, screening))
                    )
            except Exception as error:
                # The turn sends it instead, as an urgent reply through the outbox.
                log.warning("crisis reply failed", extra={"error": type(error).__name__})
                return incoming
            self._answered[key] = None
            while len(self._answered) > _REMEMBERED:
                self._answered.popitem(last=False)
            log.info("crisis reply sent before the turn", extra={"update_id": incoming.update_id})
        return dataclasses.replace(incoming, crisis_sent=True)
