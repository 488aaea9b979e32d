"""Each chat's events take their turns in the order they arrived, whatever happens between."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Place:
    """One event's place in its chat's queue."""

    queue: ChatQueues
    chat_id: str
    before: asyncio.Future[None] | None
    done: asyncio.Future[None]

    async def reached(self) -> None:
        """Wait until every earlier event of this chat has left the queue."""
        if self.before is not None:
            # Shielded: an earlier event's place is left by that event, never cancelled here.
            await asyncio.shield(self.before)

    def leave(self) -> None:
        """Let the next event of this chat go on (safe to call twice)."""
        if not self.done.done():
            self.done.set_result(None)
        if self.queue.last.get(self.chat_id) is self.done:
            del self.queue.last[self.chat_id]


@dataclass
class ChatQueues:
    """One queue per chat, forgotten when empty.

    A place is taken the moment an event arrives, before anything can wait: a crisis
    message whose reply is still being sent keeps its place ahead of the next message.
    """

    last: dict[str, asyncio.Future[None]] = field(default_factory=dict)

    def take(self, chat_id: str) -> Place:
        """A place at the back of this chat's queue."""
        before = self.last.get(chat_id)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.last[chat_id] = done
        return Place(self, chat_id, before, done)
