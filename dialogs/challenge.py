"""The thought challenge (being built: see issue 5)."""

from __future__ import annotations

from bot.channels.types import Reply
from dialogs.flow import Flow
from dialogs.turn import Turn
from scheduler.nudges import NudgeContext
from scheduler.planner import CHALLENGE_NUDGE, CHALLENGE_REFLECT


async def begin(turn: Turn) -> None:
    """Start the flow."""
    turn.say("common/coming_soon")


async def _nothing(_context: NudgeContext) -> Reply | None:
    return None


FLOW = Flow("challenge", begin, nudges={CHALLENGE_NUDGE: _nothing, CHALLENGE_REFLECT: _nothing})
