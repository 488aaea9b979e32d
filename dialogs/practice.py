"""Home practice (being built: see issue 5)."""

from __future__ import annotations

from bot.channels.types import Reply
from dialogs.flow import Flow
from dialogs.turn import Turn
from scheduler.nudges import NudgeContext
from scheduler.planner import PRACTICE_CHECK, PRACTICE_PLAN, PRACTICE_WEEKEND


async def begin(turn: Turn) -> None:
    """Start the flow."""
    turn.say("common/coming_soon")


async def _nothing(_context: NudgeContext) -> Reply | None:
    return None


FLOW = Flow(
    "plan",
    begin,
    nudges={PRACTICE_PLAN: _nothing, PRACTICE_CHECK: _nothing, PRACTICE_WEEKEND: _nothing},
)
RELAX_FLOW = Flow("relax", begin)
