"""Telling the team about more pain or distress: what, how bad, red flags, own words, contact."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.db.models import Escalation, Person
from bot.safety.answers import classify
from bot.services.escalations import CATEGORIES
from dialogs import safety
from dialogs.engine import Form, Option, Step, start
from dialogs.flow import Flow
from dialogs.turn import Turn

NAME = safety.REPORT_FORM
# A severity this high reaches staff even if the patient stops before the end.
SEVERE = 8
DETAILS_MAX_LENGTH = 2000
PAIN_CATEGORIES = ("pain", "both", "new_worry")
# Reports of distress at SEVERE or more are asked the safety question.
DISTRESS = ("distress", "both")


# Typed words that answer the red-flag question with a yes: the symptoms it lists, or doubt.
_SYMPTOMS = re.compile(
    r"\b(?:numb|numbness|tingl\w*|pins and needles|weak|weakness|giving way|gave way|can'?t feel"
    r"|cannot feel|no feeling|lost feeling|bladder|bowels?|pee|wee|urine|pass water|toilet|loo"
    r"|wet myself|accident|incontinen\w*|saddle|groin|back passage|fever|feverish|temperature"
    r"|shiver\w*|sweats|chest|breath\w*|foot drop|not sure|unsure|don'?t know|maybe|think so)\b",
    re.IGNORECASE,
)


def red_flag_typed(text: str) -> str | None:
    """A typed answer to the red-flag question: a clear no is no; a yes, a symptom it lists or
    doubt is yes (advice now is the safe side), even after a no; anything else is asked
    again."""
    if _SYMPTOMS.search(text.replace("’", "'")):
        return "yes"  # "no, but my legs have gone numb": the symptom counts, not the no
    answer = classify(text)
    if answer == "no":
        return "no"
    return "yes" if answer == "yes" else None


async def begin(turn: Turn) -> None:
    """Start a report from the first question."""
    await start(turn, FORM)


async def _on_answer(turn: Turn, step: str, data: dict[str, Any]) -> None:
    """A severe score opens the escalation at once, so stopping here still reaches staff; severe
    distress is asked the safety question (the report goes on once it is answered)."""
    if step == "red_flags" and data["red_flags"] == "yes" and turn.incoming.kind == "text":
        data["details"] = turn.incoming.text  # the symptoms they typed, for staff
    person = turn.person
    if person is None or step != "severity" or data["severity"] < SEVERE:
        return
    escalation = await _open_early(turn, person, data)
    escalation.severity = data["severity"]
    if escalation.status == "reported":
        turn.escalator.wait_for_patient(escalation, turn.now)
    if data.get("what") in DISTRESS and escalation.check_reason is None:
        escalation.check_reason = "distress"
        escalation.concern = escalation.concern or "self"
        safety.ask(turn, escalation, safety.CHECK)


async def _open_early(turn: Turn, person: Person, data: dict[str, Any]) -> Escalation:
    """This report's escalation, opened (unfinished) if it was not yet: staff will see it."""
    escalation = await current_escalation(turn, data)
    if escalation is None:
        escalation = await turn.escalator.open(
            turn.session,
            person,
            turn.now,
            safety.patient_actor(turn),
            source="report",
            category=data.get("what", "risk"),
            complete=False,
        )
        data["escalation_id"] = escalation.id
    return escalation


async def current_escalation(turn: Turn, data: dict[str, Any]) -> Escalation | None:
    """The escalation this report already opened, if any (the crisis path takes it over)."""
    escalation_id = data.get("escalation_id")
    if escalation_id is None:
        return None
    return await turn.session.get(Escalation, escalation_id)


def _fill(escalation: Escalation, data: dict[str, Any]) -> None:
    """Copy the answers given so far onto the escalation."""
    if data.get("what") in CATEGORIES:
        escalation.category = data["what"]
    if "severity" in data:
        escalation.severity = data["severity"]
    escalation.red_flag = data.get("red_flags") == "yes"
    if escalation.red_flag:
        escalation.urgent = True
    safety.add_words(escalation, data.get("details"))
    if "contact" in data:
        escalation.contact_wanted = data["contact"] == "yes"


def filler(data: dict[str, Any]) -> Callable[[Escalation], None]:
    """Copies this report's answers onto an escalation (for the crisis path to keep them)."""
    return lambda escalation: _fill(escalation, data)


async def _finish(turn: Turn, data: dict[str, Any]) -> None:
    """Send the report to staff and tell the patient what happens next."""
    person = turn.person
    if person is None:
        return
    escalation = await current_escalation(turn, data)
    if escalation is None:
        escalation = await turn.escalator.open(
            turn.session,
            person,
            turn.now,
            safety.patient_actor(turn),
            source="report",
            category=data["what"],
        )
    _fill(escalation, data)
    escalation.complete = True
    safety.send_alert(turn, escalation, person)
    if escalation.red_flag:
        turn.urgent = True
        turn.say("report/red_flag_advice")
    else:
        now = turn.now
        hours = turn.escalator.hours
        turn.say(
            "report/sent",
            open_now=hours.is_open(now),
            opening=hours.next_opening(now),
            contact_wanted=escalation.contact_wanted,
            category=escalation.category,
            discharged=person.discharged_at is not None,
        )


async def check(turn: Turn) -> None:
    """Words like "this pain is killing me" while reporting: the report asks, and carries it.

    The report's escalation is opened now if it was not yet, so the question, its answer and
    the report reach staff as one alert (even if the patient stops here).
    """
    person = turn.person
    screening = turn.screening
    if person is None or screening is None:
        return
    state = turn.state()
    data = dict(state.data)
    escalation = await _open_early(turn, person, data)
    state.data = data  # a new dict, so the escalation's id is saved with the answers
    _fill(escalation, data)
    safety.add_words(escalation, turn.incoming.text)
    escalation.risk = "check"
    escalation.risk_entry = screening.matched
    escalation.lexicon_version = turn.screener.version
    escalation.concern = escalation.concern or screening.concern or "self"
    escalation.check_reason = escalation.check_reason or "words"
    if escalation.status == "reported":
        turn.escalator.wait_for_patient(escalation, turn.now)
    else:
        # Staff already have this report (it was severe): they hear of the words now.
        safety.send_alert(turn, escalation, person)
    if escalation.check_answer is None:
        safety.ask(turn, escalation, safety.CHECK)


async def abandon(turn: Turn, data: dict[str, Any]) -> bool:
    """The patient left the report: what they said reaches staff if it was serious. True
    when it was sent."""
    person = turn.person
    escalation = await current_escalation(turn, data)
    if person is None or escalation is None or escalation.status != "reported":
        return False
    _fill(escalation, data)
    safety.send_alert(turn, escalation, person)
    return True


FORM = Form(
    name=NAME,
    steps=(
        Step(
            "what",
            "report/what",
            "choice",
            options=tuple(Option(value, f"report_{value}") for value in CATEGORIES),
        ),
        Step("severity", "report/severity", "scale", invalid="report/severity_invalid"),
        Step(
            "red_flags",
            "report/red_flags",
            "choice",
            options=(Option("yes", "red_flag_yes"), Option("no", "red_flag_no")),
            skip_if=lambda data: data.get("what") not in PAIN_CATEGORIES,
            typed=red_flag_typed,
        ),
        Step(
            "details",
            "report/details",
            "text",
            max_length=DETAILS_MAX_LENGTH,
            invalid="report/details_invalid",
            skip_label="skip",
        ),
        Step(
            "contact",
            "report/contact",
            "choice",
            options=(Option("yes", "contact_yes"), Option("no", "contact_no")),
        ),
    ),
    finish=_finish,
    prompt_vars=lambda _turn, data: {
        "category": data.get("what", ""),
        "limit": DETAILS_MAX_LENGTH,
        "wrote": bool(data.get("details")),
    },
    # A red flag needs help now, not more questions.
    branch=lambda step, value: "" if step == "red_flags" and value == "yes" else None,
    on_answer=_on_answer,
)


FLOW = Flow(NAME, begin, forms=(FORM,))
