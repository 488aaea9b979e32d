"""Risk language in anything someone writes, and the safety questions that follow.

A crisis gets the reply that fits its concern (the writer, someone they might hurt, abuse, or
someone else at risk) and an alert; an ambiguous phrase gets a safety question. Every answer
counts, tapped or typed: anything that is not a clear no is taken as yes, and a yes is followed
by one more question, after the Columbia screener: have they thought how, or started to get
ready.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from bot.db.models import Cohort, Conversation, Escalation, Invite, Person
from bot.messages import Button, Payload
from bot.safety.answers import classify, leans_yes
from bot.safety.screening import Screening
from bot.safety.signposting import concerns_of, crisis_text
from bot.services.escalations import Actor, audit, shorten
from dialogs.engine import leave
from dialogs.flow import Flow
from dialogs.turn import Turn

log = logging.getLogger(__name__)

CHECK_PREFIX = "k"
YES, NO, UNSURE = "y", "n", "u"
CHECK, PLAN = "c", "p"  # which question a button answers
_QUESTIONS = {CHECK: "check", PLAN: "plan"}
_ANSWERS = {"yes": YES, "no": NO, "unsure": UNSURE}
_SAID = {YES: "yes", NO: "no", UNSURE: "not sure, taken as yes"}
_AGAIN = "-again"  # on the waiting question: it has been asked twice
REPORT_FORM = "report"  # the report's form name (dialogs.report imports this module)
# A new crisis message from someone with a risk alert this recent and still open is added to it.
SAME_CRISIS_HOURS = 12


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
    turn.screening = turn.screener.screen(incoming.text)
    if turn.screening.verdict != "none":
        # The entry's id only: which words matched would repeat what they wrote.
        log.info(
            "risk language",
            extra={
                "verdict": turn.screening.verdict,
                "concern": turn.screening.concern,
                "entry": turn.screening.matched,
            },
        )
    return turn.screening


def _team_told(turn: Turn, concerns: list[str], person: Person) -> None:
    """Say the team knows, and, out of hours, when they will see it: never imply someone is
    reading now when nobody is."""
    hours = turn.escalator.hours
    turn.say(
        "safety/team_told",
        open_now=hours.is_open(turn.now),
        opening=hours.next_opening(turn.now),
        concern=_leading(concerns),
        check_safe="safeguarding" in concerns,
        discharged=person.discharged_at is not None,
    )


def patient_actor(turn: Turn) -> Actor:
    """The patient writing, as the audit names them."""
    return Actor(f"{turn.incoming.channel}:{turn.incoming.user_id}", "patient")


def _leading(concerns: list[str]) -> str:
    """The concern an answer leads with: the writer's own life first."""
    return "self" if "self" in concerns else concerns[0]


def send_alert(turn: Turn, escalation: Escalation, person: Person) -> None:
    """Alert staff now: a first alert, or an update if they already saw part of it."""
    kind = "new" if escalation.status == "reported" else "updated"
    turn.queue(turn.escalator.alert(turn.session, escalation, person, turn.now, kind))


async def crisis(
    turn: Turn,
    escalation: Escalation | None,
    prepare: Callable[[Escalation], None] | None = None,
) -> None:
    """The crisis reply (unless the adapter already sent it) and an alert.

    `escalation` is the report in progress, if it has opened one, and `prepare` copies the
    report's answers so far: staff see one escalation with everything the patient said.
    """
    screening = turn.screening
    turn.urgent = True
    if not turn.incoming.crisis_sent:
        turn.say_text(crisis_text(turn.content, screening))
    person = turn.person
    if person is None or person.role != "patient":
        await _someone_joining(turn)
        return
    found = concerns_of(screening)
    # The writer's own life first: "my husband hits me and I want to die" is about them.
    concern = _leading(found)
    asked_now = waiting(turn)
    if escalation is None and asked_now is not None:
        # Crisis words in answer to a safety question belong with the escalation it asked about.
        asked = await _own_escalation(turn, str(asked_now[0]))
        escalation = asked if asked is not None and asked.status != "resolved" else None
    if escalation is None:
        escalation = await _recent_risk(turn, person)
    if escalation is None:
        escalation = await turn.escalator.open(
            turn.session, person, turn.now, patient_actor(turn), source="risk", category="risk"
        )
    if prepare is not None:
        prepare(escalation)
    add_words(escalation, turn.incoming.text)
    escalation.risk = "crisis"
    escalation.risk_entry = screening.matched if screening else None
    escalation.lexicon_version = turn.screener.version
    _set_concerns(escalation, concern, found)
    escalation.urgent = escalation.urgent or any(c != "someone-else" for c in found)
    if asked_now is not None and asked_now[0] == escalation.id and escalation.concern in found:
        # Crisis words in answer to a safety question about the same person are a yes to it.
        _set_answer(turn, escalation, asked_now[1], YES, "in their own words")
    send_alert(turn, escalation, person)
    _team_told(turn, found, person)
    if "self" in found and escalation.plan_answer is None:
        ask(turn, escalation, PLAN)


def _set_concerns(escalation: Escalation, concern: str, found: list[str]) -> None:
    """The escalation's leading concern (the writer's own safety outranks anyone else's) and
    every other one it has been about, so staff see them all (abuse and a wish to die)."""
    before = escalation.concern
    if before in (None, "someone-else") or concern == "self":
        escalation.concern = concern
    known = escalation.other_concerns.split(",") if escalation.other_concerns else []
    every = dict.fromkeys((*known, *((before,) if before else ()), *found))
    others = [c for c in every if c != escalation.concern]
    escalation.other_concerns = ",".join(others) or None


async def _recent_risk(turn: Turn, person: Person) -> Escalation | None:
    """A risk alert (or safety question) of this person from the last hours that is still open:
    crisis words are added to it (staff are told of the update) rather than opening another."""
    since = turn.now - timedelta(hours=SAME_CRISIS_HOURS)
    found = await turn.session.scalar(
        select(Escalation)
        .where(
            Escalation.person_id == person.id,
            Escalation.risk.in_(("crisis", "check")),
            Escalation.status != "resolved",
            Escalation.created_at >= since,
        )
        .order_by(Escalation.id.desc())
        .limit(1)
    )
    return found


async def _someone_joining(turn: Turn) -> None:
    """Someone who opened an invite but has not agreed to join: staff are told to check on the
    person they invited (a risk to safety is the exception the privacy notice gives)."""
    conversation = turn.conversation
    invite_id = (conversation.data or {}).get("invite_id") if conversation is not None else None
    if conversation is None or invite_id is None or conversation.dialog != "enrol":
        return  # a stranger: the crisis reply is all there is to give
    invite = await turn.session.get(Invite, int(invite_id))
    if invite is None or invite.cohort_id is None:
        return
    cohort = await turn.session.get(Cohort, invite.cohort_id)
    turn.tell_staff(
        "joining_risk",
        "staff/joining_risk",
        urgent=True,
        code=invite.code,
        cohort_id=invite.cohort_id,
        cohort_name=cohort.name if cohort else "",
    )
    log.warning("risk language from someone joining", extra={"invite": invite.id})


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
        patient_actor(turn),
        source="risk",
        category="risk",
        details=turn.incoming.text,
        risk="check",
        risk_entry=screening.matched,
        lexicon_version=turn.screener.version,
        concern=screening.concern or "self",
        check_reason="words",
    )
    # Unanswered, it still reaches staff once the wait is over.
    turn.escalator.wait_for_patient(escalation, turn.now)
    ask(turn, escalation, CHECK)


def ask(turn: Turn, escalation: Escalation, question: str = CHECK, again: bool = False) -> None:
    """A safety question with buttons naming the escalation it is about; the next typed
    message is read as its answer too. A form under way waits until it is answered. `again`:
    asked a second time after an answer that was not one (only once)."""
    buttons = (
        tuple(
            Button(turn.content.label(label), f"{CHECK_PREFIX}:{escalation.id}:{question}:{code}")
            for label, code in (("check_yes", YES), ("check_no", NO), ("check_unsure", UNSURE))
        ),
    )
    if again:
        turn.say("safety/answer_again", buttons)
    elif question == CHECK:
        turn.say(
            "safety/check",
            buttons,
            reason=escalation.check_reason,
            concern=escalation.concern,
        )
    else:
        turn.say("safety/plan", buttons)
    state = turn.state()
    state.safety_escalation_id = escalation.id
    state.safety_question = _QUESTIONS[question] + (_AGAIN if again else "")
    state.safety_asked_at = turn.now
    action = f"{_QUESTIONS[question]}_asked" + ("_again" if again else "")
    audit(turn.session, escalation, action, patient_actor(turn), turn.now)


def waiting(turn: Turn) -> tuple[int, str] | None:
    """(escalation id, question) of a safety question this person has still to answer."""
    state: Conversation | None = turn.conversation
    if state is None or state.safety_escalation_id is None or not turn.safety_question_waiting():
        return None
    question = CHECK if (state.safety_question or "").startswith("check") else PLAN
    return state.safety_escalation_id, question


def _asked_again(turn: Turn) -> bool:
    """Whether the waiting question has already been asked a second time."""
    state = turn.conversation
    return state is not None and (state.safety_question or "").endswith(_AGAIN)


def moved_on(turn: Turn) -> None:
    """No safety question is waiting any more: answered, or the person chose something else
    (a command or another button), so their typed words are not read as its answer; its
    own buttons still answer it."""
    state = turn.conversation
    if state is not None:
        state.safety_escalation_id = None
        state.safety_question = None
        state.safety_asked_at = None


async def answer(turn: Turn, payload: str) -> None:
    """A tapped answer: 'k:<escalation>:<question>:<answer>' (older: 'k:<escalation>:<y|n>')."""
    read = Payload.read(payload)
    if read.size == 2:
        read = Payload(read.prefix, (read.text(0), CHECK, read.text(1)))
    escalation = await _own_escalation(turn, read.text(0) if read.size == 3 else "")
    question, answered = read.text(1), read.text(2)
    if escalation is None or question not in _QUESTIONS or answered not in (YES, NO, UNSURE):
        turn.say("common/old_button")
        return
    await _answered(turn, escalation, question, answered, "tapped")


async def answer_typed(turn: Turn, question_waiting: tuple[int, str]) -> None:
    """A typed answer to the safety question waiting: only a clear no is a no."""
    escalation_id, question = question_waiting
    escalation = await _own_escalation(turn, str(escalation_id))
    if escalation is None:
        moved_on(turn)
        return
    text = turn.incoming.text
    if (
        not any(char.isalpha() for char in text)
        and classify(text) == "unsure"
        and not _asked_again(turn)
    ):
        # "75" or "?" is not an answer to this question (perhaps to the one before): ask once
        # more, with the buttons, before taking it as a yes.
        ask(turn, escalation, question, again=True)
        return
    add_words(escalation, text)  # what they said goes to staff with the rest
    choice = _ANSWERS[classify(text)]
    if choice == NO and turn.screening is not None and turn.screening.entries:
        # A lexicon entry in the answer itself ("no, but I've stopped my tablets") outweighs
        # the no. (The classifier alone is not trusted on a few words like "not at all".)
        choice = UNSURE
    leaning = choice == UNSURE and leans_yes(text)
    await _answered(turn, escalation, question, choice, "typed", leaning)


async def _own_escalation(turn: Turn, number: str) -> Escalation | None:
    """The escalation with this id, if it is the person's own."""
    person = turn.person
    if person is None or not number.isdigit() or len(number) > 9:
        return None
    escalation = await turn.session.get(Escalation, int(number))
    if escalation is None or escalation.person_id != person.id:
        return None
    return escalation


async def _answered(
    turn: Turn,
    escalation: Escalation,
    question: str,
    choice: str,
    how: str,
    leaning: bool = False,
) -> None:
    """Record an answer and say what happens next. A yes (or anything not a clear no) may
    follow a no, and counts; a no after a yes changes nothing."""
    person = turn.person
    assert person is not None  # checked by _own_escalation
    already = escalation.check_answer if question == CHECK else escalation.plan_answer
    if already is not None and (already != "no" or choice == NO):
        if waiting(turn) == (escalation.id, question):
            moved_on(turn)
        turn.say("safety/check_answered")
        return
    _set_answer(turn, escalation, question, choice, how)
    if question == PLAN:
        turn.say({NO: "safety/plan_no", YES: "safety/plan_yes"}.get(choice, "safety/plan_unsure"))
        if escalation.status != "resolved" or choice != NO:
            send_alert(turn, escalation, person)
        return
    if choice != NO:
        escalation.urgent = True
        turn.urgent = True
        if choice == UNSURE:
            turn.say("safety/check_unsure")  # not a clear no: taken seriously, not as a yes
        concern = escalation.concern or "self"
        turn.say_text(crisis_text(turn.content, None, concern))
        _end_report(turn, escalation)
        send_alert(turn, escalation, person)
        _team_told(turn, [concern], person)
        if (choice == YES or leaning) and concern == "self" and escalation.plan_answer is None:
            ask(turn, escalation, PLAN)  # the Columbia screener's next question
        return
    turn.say("safety/check_no")
    if escalation.status == "reported" and not escalation.complete:
        return  # a report still being filled in sends it when it ends, or when the wait is over
    if escalation.status != "resolved":
        send_alert(turn, escalation, person)


def _end_report(turn: Turn, escalation: Escalation) -> None:
    """A report under way stops after a yes: no more questions about symptoms or a call back
    (the team will be in touch); what it had is already on the escalation."""
    state = turn.conversation
    if (
        state is not None
        and state.dialog == REPORT_FORM
        and (state.data or {}).get("escalation_id") == escalation.id
    ):
        escalation.complete = True
        leave(turn)


def _set_answer(turn: Turn, escalation: Escalation, question: str, choice: str, how: str) -> None:
    """Store an answer ("unsure" is taken as yes) and audit how it was given."""
    value = {NO: "no", YES: "yes"}.get(choice, "unsure")
    if question == CHECK:
        escalation.check_answer = value
    else:
        escalation.plan_answer = value
    name = _QUESTIONS[question]
    audit(
        turn.session,
        escalation,
        f"{name}_{'no' if value == 'no' else 'yes'}",
        patient_actor(turn),
        turn.now,
        f"{how}: {_SAID.get(choice, choice)}",
    )
    if waiting(turn) == (escalation.id, question):
        moved_on(turn)


def add_words(escalation: Escalation, words: str | None) -> None:
    """Add the patient's words to what the escalation keeps, once."""
    if words and words not in (escalation.details or ""):
        escalation.details = shorten(
            "\n\n".join(part for part in (escalation.details, words) if part)
        )


FLOW = Flow("safety", asides={CHECK_PREFIX: answer})
