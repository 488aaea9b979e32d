"""The programme's own flows, gathered for the router, the menu and the reminder releaser."""

from __future__ import annotations

from dialogs import challenge, family, practice, questions
from dialogs.flow import Flow

FLOWS: tuple[Flow, ...] = (
    questions.FLOW,
    challenge.FLOW,
    practice.FLOW,
    practice.RELAX_FLOW,
    family.FLOW,
)
BY_NAME = {flow.name: flow for flow in FLOWS}
FORMS = {form.name: form for flow in FLOWS for form in flow.forms}
ASIDES = {prefix: aside for flow in FLOWS for prefix, aside in flow.asides.items()}
NUDGE_RENDERERS = {slot: render for flow in FLOWS for slot, render in flow.nudges.items()}
STAFF_COMMANDS = {name: run for flow in FLOWS for name, run in flow.staff_commands.items()}
INTERCEPTS = tuple(flow.intercept for flow in FLOWS if flow.intercept is not None)
