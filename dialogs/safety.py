"""Risk language in anything a patient writes: crisis signposting at once, or a gentle check."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.channels.types import Button
from bot.db.models import Escalation
from bot.safety.screening import Screening
from bot.services.escalations import Actor, audit, shorten
from dialogs.turn import Turn

log = logging.getLogger(__name__)

CHECK_PREFIX = "k"
YES, NO = "y", "n"


def screen(turn: Turn, is_staff: bool) -> Screening | None:
    """Screen the free text of this event; staff are not screened.

    Staff write outcome notes that quote risk language on purpose. Forwarded text is screened:
    it may be someone else's words, but someone may be at risk.
    """
    incoming = turn.incoming
    # "unsupported" carries a photo's or file's caption: screened, though not otherwise read.
    if incoming.kind not in ("text", "command", "unsupported") or not incoming.text:
        return None
    if is_staff:
        return None
    turn.screening = turn.lexicon.screen(incoming.text)
    if turn.screening.verdict != "none":
        # The entry's id only: which words matched would repeat what they wrote.
        log.info(
            "risk language",
            extra={"verdict": turn.screening.verdict, "entry": turn.screening.matched},
        )
    return turn.screening


def _team_told(turn: Turn) -> None:
    """Say the team knows, and, out of hours, when they will see it: never imply someone is
    reading now when nobody is."""
    hours = turn.escalator.hours
    turn.say(
        "safety/team_told", open_now=hours.is_open(turn.now), opening=hours.next_opening(turn.now)
    )


def _patient(turn: Turn) -> Actor:
    return Actor(f"{turn.incoming.channel}:{turn.incoming.user_id}", "patient")


async def crisis(
    turn: Turn,
    escalation: Escalation | None,
    prepare: Callable[[Escalation], None] | None = None,
) -> None:
    """Crisis signposting (unless the adapter already sent it) and an urgent staff alert.

    `escalation` is the report in progress, if it has opened one, and `prepare` copies the
    report's answers so far: staff see one escalation with everything the patient said.
    """
    screening = turn.screening
    turn.urgent = True
    if not turn.incoming.crisis_sent:
        turn.say("safety/crisis")
    person = turn.person
    if person is None or person.role != "patient":
        return  # someone not (yet) enrolled: signposting is all we can give
    words = turn.incoming.text
    if escalation is None:
        escalation = await turn.escalator.open(
            turn.session, person, turn.now, _patient(turn), source="risk", category="risk"
        )
    if prepare is not None:
        prepare(escalation)
    if words not in (escalation.details or ""):
        escalation.details = shorten(
            "\n\n".join(part for part in (escalation.details, words) if part)
        )
    escalation.risk = "crisis"
    escalation.risk_entry = screening.matched if screening else None
    escalation.lexicon_version = turn.lexicon.version
    escalation.urgent = True
    kind = "new" if escalation.status == "reported" else "updated"
    turn.queue(turn.escalator.alert(turn.session, escalation, person, turn.now, kind))
    _team_told(turn)


async def check(turn: Turn) -> None:
    """An ambiguous phrase ("this pain is killing me"): ask, and keep a note for staff."""
    person = turn.person
    screening = turn.screening
    if screening is None:
        return
    if person is None or person.role != "patient":
        # A guest, or someone still joining: no record to open, but never silence on words
        # like these.
        turn.say("safety/check_stranger")
        return
    escalation = await turn.escalator.open(
        turn.session,
        person,
        turn.now,
        _patient(turn),
        source="risk",
        category="risk",
        details=turn.incoming.text,
        risk="check",
        risk_entry=screening.matched,
        lexicon_version=turn.lexicon.version,
    )
    # Unanswered, it still reaches staff once the wait is over.
    turn.escalator.wait_for_patient(escalation, turn.now)
    ask(turn, escalation)


def ask(turn: Turn, escalation: Escalation) -> None:
    """The check question, with buttons naming the escalation they answer."""
    buttons = (
        (
            Button(turn.content.label("check_yes"), f"{CHECK_PREFIX}:{escalation.id}:{YES}"),
            Button(turn.content.label("check_no"), f"{CHECK_PREFIX}:{escalation.id}:{NO}"),
        ),
    )
    turn.say("safety/check", buttons)
    audit(turn.session, escalation, "check_asked", _patient(turn), turn.now)


async def answer(turn: Turn, payload: str) -> None:
    """Yes is a crisis; no goes on, but staff still see a note. Neither closes anything."""
    _prefix, _, rest = payload.partition(":")
    number, _, choice = rest.partition(":")
    person = turn.person
    escalation = await turn.session.get(Escalation, int(number)) if number.isdigit() else None
    if (
        escalation is None
        or person is None
        or escalation.person_id != person.id
        or choice not in (YES, NO)
    ):
        turn.say("common/old_button")
        return
    if escalation.check_answer is not None:
        turn.say("safety/check_answered")
        return
    escalation.check_answer = "yes" if choice == YES else "no"
    audit(turn.session, escalation, f"check_{escalation.check_answer}", _patient(turn), turn.now)
    kind = "new" if escalation.status == "reported" else "updated"
    if choice == YES:
        escalation.urgent = True
        turn.urgent = True
        turn.say("safety/crisis")
        turn.queue(turn.escalator.alert(turn.session, escalation, person, turn.now, kind))
        _team_told(turn)
        return
    turn.say("safety/check_no")
    if escalation.status == "reported" and not escalation.complete:
        return  # a report still being filled in sends it when it ends, or when the wait is over
    if escalation.status != "resolved":
        turn.queue(turn.escalator.alert(turn.session, escalation, person, turn.now, kind))
