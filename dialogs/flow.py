"""What a feature declares: its menu action and commands, forms, buttons and nudges.

Every feature is a `Flow`, gathered in `dialogs/flows.py`: the router looks commands, menu
actions, forms and buttons up there and nowhere else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field

from dialogs.engine import Form
from dialogs.turn import Turn
from scheduler.nudges import NudgeRenderer

Handler = Callable[[Turn], Awaitable[None]]
# A stateless button's handler: (turn, payload).
Aside = Callable[[Turn, str], Awaitable[None]]
# Given the turn and the form under way, handle it and return True, or return False to let
# routing go on (the friends-and-family flow takes the turns of guests this way).
Intercept = Callable[[Turn, Form | None], Awaitable[bool]]


def busy_elsewhere(turn: Turn, own: Collection[str] = ()) -> bool:
    """Part way through another form: a flow's button asks them to finish or /cancel it first,
    so nothing under way (a pain report) is dropped, and the router does not show the prompt
    of a form no longer under way."""
    state = turn.conversation
    if state is None or state.dialog is None or state.dialog in own:
        return False
    turn.say("common/finish_first")
    return True


@dataclass(frozen=True)
class Flow:
    """One feature. With `begin`, `name` is its menu action and command (`aliases` are more
    commands); a patient who starts it leaves the form under way, unless it is shown `in_place`
    (help, privacy: for anyone, and the form's question is asked again after it)."""

    name: str
    begin: Handler | None = None
    aliases: tuple[str, ...] = ()
    in_place: bool = False
    forms: tuple[Form, ...] = ()
    asides: Mapping[str, Aside] = field(default_factory=dict)
    nudges: Mapping[str, NudgeRenderer] = field(default_factory=dict)
    staff_commands: Mapping[str, Handler] = field(default_factory=dict)
    intercept: Intercept | None = None
