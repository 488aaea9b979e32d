"""Joining codes and guest links checked with guessing in mind: a paused account is told to
wait, and the wrong code that pauses it tells staff."""

from __future__ import annotations

from bot.services import guessing
from dialogs.turn import Turn

_MINUTES = int(guessing.WINDOW.total_seconds() // 60)


async def paused(turn: Turn) -> bool:
    """If this account has had too many wrong codes lately, say so: True means stop here."""
    incoming = turn.incoming
    if not await guessing.paused(turn.session, incoming.channel, incoming.user_id, turn.now):
        return False
    turn.say("common/code_wait", minutes=_MINUTES)
    return True


async def wrong(turn: Turn, kind: str) -> None:
    """Count a code that does not exist; the one that pauses the account is told to staff."""
    incoming = turn.incoming
    count = await guessing.wrong(turn.session, incoming.channel, incoming.user_id, kind, turn.now)
    if count == guessing.WRONG_LIMIT:
        turn.tell_staff(
            "code_guessing",
            "staff/code_guessing",
            account=incoming.user_id,
            count=count,
            minutes=_MINUTES,
        )
