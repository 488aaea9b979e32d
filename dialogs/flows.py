"""Every feature, gathered: the one place the router, the menu and the reminder releaser look
up commands, menu actions, forms, stateless buttons, nudges and staff commands.

Checked when imported: two features claiming one command, form name or button prefix would
otherwise silently take each other's presses.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from bot.services.escalations import PREFIX as STAFF_ALERT_PREFIX
from dialogs import (
    attendance,
    challenge,
    enrol,
    family,
    menu,
    practice,
    questions,
    report,
    safety,
    settings,
    staff_alerts,
)
from dialogs.engine import DIALOG_BUTTON_PREFIX, Form
from dialogs.flow import Aside, Flow, Handler

T = TypeVar("T")

# The programme's own flows: in their forms, pain words are usually the answer to the
# question ("what got in the way?", a question for the doctor), not a new report.
PROGRAMME: tuple[Flow, ...] = (
    questions.FLOW,
    challenge.FLOW,
    practice.FLOW,
    practice.RELAX_FLOW,
    family.FLOW,
)
FLOWS: tuple[Flow, ...] = (
    *menu.FLOWS,
    report.FLOW,
    settings.FLOW,
    *PROGRAMME,
    enrol.FLOW,
    attendance.FLOW,
    safety.FLOW,
    staff_alerts.FLOW,
)
# Commands and button prefixes the router answers itself.
ROUTER_COMMANDS = ("start", "menu", "cancel", "id")
ROUTER_PREFIXES = (menu.MENU_PREFIX, DIALOG_BUTTON_PREFIX, STAFF_ALERT_PREFIX)


def _unique(pairs: Iterable[tuple[str, T]], what: str, taken: Iterable[str] = ()) -> dict[str, T]:
    """A lookup table, refusing any key given twice (or already taken by the router)."""
    table: dict[str, T] = {}
    reserved = set(taken)
    for key, value in pairs:
        if key in table or key in reserved:
            raise RuntimeError(f"dialogs: the {what} {key!r} is claimed twice")
        table[key] = value
    return table


COMMANDS: dict[str, Flow] = _unique(
    ((command, flow) for flow in FLOWS if flow.begin for command in (flow.name, *flow.aliases)),
    "command",
    ROUTER_COMMANDS,
)
MENU: dict[str, Flow] = {action: COMMANDS[action] for action in menu.MENU_ACTIONS}
FORMS: dict[str, Form] = _unique(((f.name, f) for flow in FLOWS for f in flow.forms), "form")
PROGRAMME_FORMS = frozenset(form.name for flow in PROGRAMME for form in flow.forms)
BUTTONS: dict[str, Aside] = _unique(
    (pair for flow in FLOWS for pair in flow.asides.items()), "button prefix", ROUTER_PREFIXES
)
NUDGE_RENDERERS = _unique((pair for flow in FLOWS for pair in flow.nudges.items()), "nudge")
STAFF_COMMANDS: dict[str, Handler] = _unique(
    (pair for flow in FLOWS for pair in flow.staff_commands.items()),
    "staff command",
    (*COMMANDS, *ROUTER_COMMANDS),
)
INTERCEPTS = tuple(flow.intercept for flow in FLOWS if flow.intercept is not None)
