"""Questions for the doctor: patients send, see, change and withdraw theirs until the
deadline, then may pass a late one to the team; staff get the list as a document."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.db.models import Cohort, DoctorQuestion, Person
from bot.messages import Button, ButtonRows, Payload, Reply
from bot.numbers import whole_number
from bot.services import questions
from bot.services.people import staff_reference
from bot.services.planner import QA_INVITE, QA_REMINDER, FlowTimes, Planner
from bot.services.questions import CLOSED, MAX_LENGTH, OPEN_NOW, Window
from dialogs import engine
from dialogs.engine import Form, Option, Step
from dialogs.flow import Flow, busy_elsewhere
from dialogs.menu import MENU_PREFIX
from dialogs.turn import Turn
from scheduler.nudges import NudgeContext

log = logging.getLogger(__name__)

NAME = "question"
PREFIX = "q"
LATE_FORM_NAME = "question_late"
PASS_FORM_NAME = "question_pass"


def _button(turn: Turn, label: str, *parts: object) -> Button:
    return Button(turn.content.label(label), ":".join([PREFIX, *map(str, parts)]))


@dataclass(frozen=True)
class Place:
    """A patient, their group and its doctor's session (None when the group has none)."""

    person: Person
    cohort: Cohort
    window: Window | None


def _times(turn: Turn) -> FlowTimes:
    return Planner.of(turn.content, turn.settings).times


async def _place(turn: Turn) -> Place | None:
    """The patient's place; None (and a kind word) for anyone who is not a patient."""
    person = turn.person
    cohort = None
    if person is not None and person.role == "patient" and person.cohort_id is not None:
        cohort = await turn.session.get(Cohort, person.cohort_id)
    if person is None or cohort is None:
        turn.say("questions/patients_only")
        return None
    window = await questions.window_of(
        turn.session, turn.content, cohort, _times(turn), turn.settings.tz
    )
    return Place(person, cohort, window)


def _phase(turn: Turn, place: Place) -> str:
    return place.window.phase(turn.now) if place.window is not None else questions.OVER


def _overview_buttons(turn: Turn, count: int) -> ButtonRows:
    rows: list[tuple[Button, ...]] = []
    if count < questions.MAX_OPEN_PER_PATIENT:
        rows.append((_button(turn, "q_ask_another" if count else "q_ask", "ask"),))
    if count:
        rows.append((_button(turn, "q_list", "list"),))
    return tuple(rows)


async def begin(turn: Turn) -> None:
    """What questions for the doctor mean for this patient right now."""
    place = await _place(turn)
    if place is None:
        return
    phase = _phase(turn, place)
    window = place.window
    if window is None or phase == questions.OVER:
        turn.say("questions/no_session", ((_button(turn, "q_late", "late"),),))
        return
    mine = await questions.own_questions(turn.session, place.person)
    if phase == CLOSED:
        _say_closed(turn, window, len(mine))
        return
    turn.say(
        "questions/intro_open",
        _overview_buttons(turn, len(mine)),
        qa_at=window.qa_at,
        deadline=window.deadline,
        count=len(mine),
        limit=questions.MAX_OPEN_PER_PATIENT,
    )


def _say_closed(turn: Turn, window: Window, count: int) -> None:
    """Questions are closed: say so politely and offer to pass a late one to the team."""
    turn.say(
        "questions/closed",
        ((_button(turn, "q_late", "late"),),),
        deadline=window.deadline,
        qa_at=window.qa_at,
        count=count,
    )


async def press(turn: Turn, payload: str) -> None:
    """A questions button: ask, list, late, edit:ID, wd:ID (asks first), wdy:ID (withdraws)."""
    read = Payload.read(payload)
    action = read.text(0)
    number = read.number(1) if read.size == 2 else None
    if read.size > 2 or (action not in ("ask", "list", "late") and number is None):
        turn.say("common/old_button")
        return
    place = await _place(turn)
    if place is None:
        return
    if action == "late":
        await _offer_late(turn, place)
        return
    phase = _phase(turn, place)
    if phase != OPEN_NOW:
        # Pressed after the deadline (or on an invitation before they open): nothing changes.
        await begin(turn)
        return
    if action == "ask":
        await _ask(turn, place)
    elif action == "list":
        await show_list(turn, place)
    elif number is not None and action in ("edit", "wd", "wdy"):
        await _one(turn, place, action, number)
    else:
        turn.say("common/old_button")


async def _ask(turn: Turn, place: Place) -> None:
    mine = await questions.own_questions(turn.session, place.person)
    if len(mine) >= questions.MAX_OPEN_PER_PATIENT:
        turn.say(
            "questions/too_many",
            _overview_buttons(turn, len(mine)),
            limit=questions.MAX_OPEN_PER_PATIENT,
        )
        return
    if busy_elsewhere(turn):
        return
    await engine.start(turn, FORM, {"mode": "ask"})


async def show_list(turn: Turn, place: Place) -> None:
    """Each of the patient's questions, with buttons to change or withdraw it."""
    mine = await questions.own_questions(turn.session, place.person)
    assert place.window is not None
    if not mine:
        turn.say("questions/none_yet", ((_button(turn, "q_ask", "ask"),),))
        return
    turn.say("questions/list_head", count=len(mine), deadline=place.window.deadline)
    for number, question in enumerate(mine, start=1):
        turn.say(
            "questions/one",
            (
                (
                    _button(turn, "q_edit", "edit", question.id),
                    _button(turn, "q_withdraw", "wd", question.id),
                ),
            ),
            number=number,
            text=question.text,
            share_name=question.share_name,
        )
    turn.say("questions/list_end", _overview_buttons(turn, len(mine)))


async def _one(turn: Turn, place: Place, action: str, question_id: int) -> None:
    question = await questions.own_question(turn.session, place.person, question_id)
    if question is None:
        # Withdrawn already, answered, or not theirs (a payload is never trusted).
        turn.say("questions/gone")
        await show_list(turn, place)
        return
    if action == "wd":
        turn.say(
            "questions/withdraw_confirm",
            (
                (
                    _button(turn, "q_withdraw_yes", "wdy", question.id),
                    _button(turn, "q_withdraw_no", "list"),
                ),
            ),
            text=question.text,
        )
    elif action == "wdy":
        question.status = questions.WITHDRAWN
        question.updated_at = turn.now
        remaining = len(await questions.own_questions(turn.session, place.person))
        turn.say("questions/withdrawn", _overview_buttons(turn, remaining), count=remaining)
    elif not busy_elsewhere(turn):
        await engine.start(
            turn,
            FORM,
            {"mode": "edit", "question_id": question.id, "current": question.text},
        )


async def _offer_late(turn: Turn, place: Place) -> None:
    """After the deadline: take a question for the team (before it, the usual way)."""
    if _phase(turn, place) == OPEN_NOW:
        await begin(turn)
        return
    if busy_elsewhere(turn):
        return
    await engine.start(turn, LATE_FORM)


async def _finish(turn: Turn, data: dict[str, Any]) -> None:
    """Save the new or changed question, if questions are still open."""
    place = await _place(turn)
    if place is None:
        return
    share = data["share"] == "name"
    text = data["text"]
    if _phase(turn, place) != OPEN_NOW or place.window is None:
        # The deadline passed while they were writing: offer to pass their words on instead.
        if data["mode"] == "edit":
            turn.say("questions/closed_while_editing")
        await engine.start(turn, PASS_FORM, {"text": text})
        return
    if data["mode"] == "edit":
        question = await questions.own_question(turn.session, place.person, data["question_id"])
        if question is None:
            turn.say("questions/gone")
            await show_list(turn, place)
            return
        question.text, question.share_name, question.updated_at = text, share, turn.now
        log.info("doctor question changed", extra={"question": question.id})
    else:
        questions.add_question(turn.session, place.person, place.cohort.id, text, share, turn.now)
        log.info("doctor question added", extra={"cohort": place.cohort.id})
    mine = await questions.own_questions(turn.session, place.person)  # autoflush: new row too
    turn.say(
        "questions/saved",
        _overview_buttons(turn, len(mine)),
        share_name=share,
        edited=data["mode"] == "edit",
        deadline=place.window.deadline,
    )


def _save_late(turn: Turn, place: Place, text: str) -> None:
    """A question after the deadline: kept for the team, who are told (without the words)."""
    questions.add_question(
        turn.session, place.person, place.cohort.id, text, False, turn.now, late=True
    )
    turn.tell_staff(
        "question_late",
        "questions/staff_late",
        reference=staff_reference(place.person),
        cohort=place.cohort,
    )
    turn.say("questions/late_sent")


async def _finish_late(turn: Turn, data: dict[str, Any]) -> None:
    place = await _place(turn)
    if place is not None:
        _save_late(turn, place, data["text"])


async def _finish_pass(turn: Turn, data: dict[str, Any]) -> None:
    place = await _place(turn)
    if place is None:
        return
    if data["pass"] == "yes":
        _save_late(turn, place, data["text"])
    else:
        turn.say("questions/late_not_sent")


def _prompt_vars(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "editing": data.get("mode") == "edit",
        "current": data.get("current", ""),
        "limit": MAX_LENGTH,
    }


def _text_step(prompt: str) -> Step:
    return Step(
        "text",
        prompt,
        "text",
        max_length=MAX_LENGTH,
        invalid="questions/text_invalid",
        clean=questions.clean_text,
    )


FORM = Form(
    name=NAME,
    steps=(
        _text_step("questions/ask_text"),
        Step(
            "share",
            "questions/ask_share",
            "choice",
            options=(Option("name", "q_share_name"), Option("anonymous", "q_anonymous")),
        ),
    ),
    finish=_finish,
    prompt_vars=_prompt_vars,
)
LATE_FORM = Form(
    name=LATE_FORM_NAME,
    steps=(_text_step("questions/late_ask"),),
    finish=_finish_late,
    prompt_vars=_prompt_vars,
)
PASS_FORM = Form(
    name=PASS_FORM_NAME,
    steps=(
        Step(
            "pass",
            "questions/pass_offer",
            "choice",
            options=(Option("yes", "q_pass_yes"), Option("no", "q_pass_no")),
        ),
    ),
    finish=_finish_pass,
)


# --- Scheduled nudges ---------------------------------------------------------------------


def _nudge_window(context: NudgeContext) -> Window | None:
    """The session a nudge is about; its deadline is the reminder's `send_until`, which the
    planner set from the configured times (the releaser has no settings to ask)."""
    if context.event is None or context.cohort is None:
        return None
    window = questions.window_for_event(
        context.content, context.cohort, context.event, FlowTimes(), context.tz
    )
    if window is None:
        return None
    return Window(
        window.cohort, window.event, window.qa_at, window.opens, context.reminder.send_until
    )


def _nudge_buttons(context: NudgeContext) -> ButtonRows:
    label = context.content.label
    return (
        (Button(label("q_ask"), f"{PREFIX}:ask"),),
        (Button(label("menu_question"), f"{MENU_PREFIX}:{NAME}"),),
    )


async def render_invite(context: NudgeContext) -> Reply | None:
    """Questions are open: the invitation, unless they have closed already."""
    window = _nudge_window(context)
    if window is None or context.now >= window.deadline:
        return None
    text = context.content.render(
        "questions/invite",
        name=context.person.display_name,
        qa_at=window.qa_at,
        deadline=window.deadline,
    )
    return Reply(text, _nudge_buttons(context))


async def render_reminder(context: NudgeContext) -> Reply | None:
    """Two days before the deadline, to those who have sent no question (else skipped)."""
    window = _nudge_window(context)
    if window is None or context.now >= window.deadline:
        return None
    sent = await context.session.scalar(
        select(DoctorQuestion.id)
        .where(
            DoctorQuestion.person_id == context.person.id,
            DoctorQuestion.status == questions.OPEN,
            DoctorQuestion.late.is_(False),
        )
        .limit(1)
    )
    if sent is not None:
        return None
    text = context.content.render(
        "questions/reminder", name=context.person.display_name, deadline=window.deadline
    )
    return Reply(text, _nudge_buttons(context))


# --- Staff: the list as a document ----------------------------------------------------------


def _staff_allowed(turn: Turn) -> bool:
    """Checked on every use: the staff list decides, where the channel keeps one."""
    return turn.staff_allowed(turn.person is not None and turn.person.role == "staff")


async def staff_questions(turn: Turn) -> None:
    """`/questions [group id]`: the doctor's list of one group, sent as a file to this chat."""
    if not _staff_allowed(turn):
        turn.say("questions/staff_only")
        return
    waiting = await questions.groups_with_open_questions(turn.session)
    asked = turn.incoming.text.strip()
    cohort: Cohort | None = None
    if asked:
        cohort_id = whole_number(asked.removeprefix("#"))
        cohort = await turn.session.get(Cohort, cohort_id) if cohort_id is not None else None
        if cohort is None:
            turn.say("questions/staff_unknown_group", asked=asked[:20], waiting=waiting)
            return
    elif len(waiting) == 1:
        cohort = waiting[0][0]
    else:
        # None waiting, or several: say which groups have questions and how to ask for one.
        turn.say("questions/staff_choose", waiting=waiting)
        return
    await _send_list(turn, cohort)


async def _send_list(turn: Turn, cohort: Cohort) -> None:
    listed = await questions.doctor_list(turn.session, cohort.id)
    window = await questions.window_of(
        turn.session, turn.content, cohort, _times(turn), turn.settings.tz
    )
    text = questions.as_markdown(turn.content, cohort, window, listed)
    name = questions.document_name(cohort, turn.now, turn.settings.tz)
    row = questions.document_row(turn.incoming.channel, turn.incoming.chat_id, name, text, turn.now)
    turn.session.add(row)
    turn.queue([row])
    log.info("doctor's list requested", extra={"cohort": cohort.id, "n": len(listed)})
    turn.say("questions/staff_sending", cohort=cohort, count=len(listed))


FLOW = Flow(
    NAME,
    begin,
    forms=(FORM, LATE_FORM, PASS_FORM),
    asides={PREFIX: press},
    nudges={QA_INVITE: render_invite, QA_REMINDER: render_reminder},
    staff_commands={"questions": staff_questions},
)
