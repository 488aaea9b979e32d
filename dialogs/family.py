"""The friends-and-family day (being built: see issue 5)."""

from __future__ import annotations

from dialogs.flow import Flow
from dialogs.turn import Turn


async def begin(turn: Turn) -> None:
    """Start the flow."""
    turn.say("common/coming_soon")


FLOW = Flow("family", begin)
