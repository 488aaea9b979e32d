"""Answers to reminders ("I'll be there", "Running late", "Can't make it") and review moves.

The buttons carry the event they are about, so they work from any old reminder; the event
must be one of the presser's own, and not in the past.
"""

from __future__ import annotations

import re
from functools import cache

from bot.content import Content
from bot.db.models import CohortEvent
from bot.messages import Button, Payload
from bot.numbers import whole_number
from bot.services import attendance, people
from bot.services.events import REVIEW
from bot.services.planner import Planner, first_session
from dialogs import menu
from dialogs.flow import Flow
from dialogs.turn import Turn
from scheduler.reminders import ANSWER_LABELS, ATTENDANCE_PREFIX

ANSWER_PREFIX = ATTENDANCE_PREFIX
REVIEW_PREFIX = "r"
NONE = "none"
# The second button of a typed answer's question: tell nobody.
KEEP = "keep"
# When several kinds are said, the first of these decides ("see you Tuesday, can't come Monday").
_TYPED_ORDER = ("no", "late", "yes")


async def answer(turn: Turn, payload: str) -> None:
    """A press on a reminder's button: record it, thank them, tell staff if late or absent."""
    person = turn.person
    event_part, choice = _parts(payload)
    event = await _own_event(turn, event_part)
    if choice == KEEP and person is not None and event is not None:
        turn.say("attendance/typed_kept", menu.menu_buttons(turn))
        return
    if person is None or event is None or choice not in ANSWER_LABELS:
        turn.say("common/old_button")
        await menu.show(turn)
        return
    if event.on_date < menu.local_today(turn):
        turn.say("attendance/past", event=event)
        return
    answered = await attendance.record_answer(turn.session, person, event, choice, turn.now)
    turn.say(f"attendance/{choice}", name=person.display_name, event=event)
    reference = people.staff_reference(person)
    if answered.tell_staff:
        template = {
            "late": "staff/attendance_late",
            "no": "staff/attendance_absent",
            "yes": "staff/attendance_coming",
        }[choice]
        turn.tell_staff(f"attendance_{choice}", template, reference=reference, event=event)
    if choice == "no" and event.kind == REVIEW:
        await offer_reviews(turn, event)


async def offer_reviews(turn: Turn, event: CohortEvent) -> None:
    """Offer other groups' reviews; with none to offer, staff are asked to arrange one."""
    person = turn.person
    assert person is not None
    options = await attendance.review_alternatives(
        turn.session, person, event, menu.local_today(turn)
    )
    if not options:
        turn.say("attendance/review_none_available", event=event)
        await _needs_a_date(turn, event)
        return
    shown = [
        {
            "on_date": other.on_date,
            "start": f"{first_session(turn.content, other, cohort):%H:%M}",
            "cohort": cohort,
        }
        for other, cohort in options
    ]
    label = turn.content.label("review_option")
    buttons = tuple(
        (
            Button(
                label.format(value=f"{other.on_date:%a} {other.on_date.day} {other.on_date:%b}"),
                f"{REVIEW_PREFIX}:{event.id}:{other.id}",
            ),
        )
        for other, _cohort in options
    )
    buttons += ((Button(turn.content.label("review_none"), f"{REVIEW_PREFIX}:{event.id}:{NONE}"),),)
    turn.say("attendance/review_options", buttons, event=event, options=shown)


async def choose_review(turn: Turn, payload: str) -> None:
    """The patient picked another group's review, or none of them."""
    person = turn.person
    from_part, to_part = _parts(payload)
    missed_id = whole_number(from_part)
    missed = (
        await attendance.review_they_missed(turn.session, person, missed_id)
        if person is not None and person.role == "patient" and missed_id is not None
        else None
    )
    if person is None or missed is None:
        turn.say("common/old_button")
        await menu.show(turn)
        return
    if to_part == NONE:
        turn.say("attendance/review_none_chosen")
        await _needs_a_date(turn, missed)
        return
    today = menu.local_today(turn)
    options = await attendance.review_alternatives(turn.session, person, missed, today)
    chosen = next(((e, c) for e, c in options if str(e.id) == to_part), None)
    if chosen is None:
        turn.say("attendance/review_gone")
        await offer_reviews(turn, missed)
        return
    event, cohort = chosen
    await attendance.book_review(turn.session, person, event, turn.now)
    # The reminders follow the new date at once.
    await Planner.of(turn.content, turn.settings).plan(turn.session, turn.now, [person.id])
    start = f"{first_session(turn.content, event, cohort):%H:%M}"
    turn.say(
        "attendance/review_booked",
        on_date=event.on_date,
        start=start,
        months=event.number,
        cohort=cohort,
        elsewhere=event.cohort_id != person.cohort_id,
    )
    turn.tell_staff(
        "review_moved",
        "staff/review_moved",
        reference=people.staff_reference(person),
        months=event.number,
        on_date=event.on_date,
        cohort=cohort,
    )


async def _needs_a_date(turn: Turn, event: CohortEvent) -> None:
    """Ask staff, once, to arrange a review by hand."""
    person = turn.person
    assert person is not None
    if not await attendance.ask_for_a_date(turn.session, person, event, turn.now):
        return
    turn.tell_staff(
        "review_needs_date",
        "staff/review_needs_date",
        reference=people.staff_reference(person),
        months=event.number,
    )


async def _own_event(turn: Turn, event_part: str) -> CohortEvent | None:
    """The event a button names, if it is one of the presser's own (else None)."""
    person = turn.person
    event_id = whole_number(event_part)
    if person is None or person.role != "patient" or event_id is None:
        return None
    mine = await attendance.patient_events(turn.session, person)
    return next((e for e in mine if e.id == event_id), None)


def _parts(payload: str) -> tuple[str, str]:
    """'a:12:yes' → ('12', 'yes'); missing parts are empty."""
    read = Payload.read(payload)
    return read.text(0), read.rest(1)


async def typed(turn: Turn) -> bool:
    """A patient's own words about coming ("I can't come tomorrow", "running late", "see you
    tomorrow"): near a session, one tap tells the team, as the reminder's buttons do. True
    when answered; False for words that are not about coming, or "see you" with nothing near."""
    person = turn.person
    if person is None or person.role != "patient" or person.cohort_id is None:
        return False
    choice = typed_choice(turn.content, turn.incoming.text)
    if choice is None:
        return False
    plain = _plain(turn.incoming.text)
    day = "today" if re.search(r"\btoday\b", plain) else None
    day = "tomorrow" if re.search(r"\btomorrow\b", plain) else day
    events = await attendance.patient_events(turn.session, person)
    event = await menu.next_to_attend(turn, events, day)
    if event is None:
        if choice == "yes":
            return False  # "see you" with nothing near is a goodbye
        today = menu.local_today(turn)
        later = next((e for e in events if e.on_date > today), None)
        turn.say("attendance/typed_none", menu.menu_buttons(turn), event=later, day=day)
        return True
    buttons = (
        (
            Button(turn.content.label("attend_typed_tell"), f"{ANSWER_PREFIX}:{event.id}:{choice}"),
            Button(turn.content.label("attend_typed_keep"), f"{ANSWER_PREFIX}:{event.id}:{KEEP}"),
        ),
    )
    turn.say("attendance/typed_confirm", buttons, choice=choice, event=event)
    return True


def typed_choice(content: Content, text: str) -> str | None:
    """'no', 'late' or 'yes' when the words say so, else None."""
    plain = _plain(text)
    for choice, pattern in _typed_patterns(content):
        if pattern.search(plain):
            return choice
    return None


@cache
def _typed_patterns(content: Content) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """One pattern per kind of answer, in the order that decides."""
    phrases = content.attendance_phrases()
    return tuple(
        (choice, re.compile(r"\b(?:" + "|".join(map(re.escape, phrases[choice])) + r")\b"))
        for choice in _TYPED_ORDER
    )


def _plain(text: str) -> str:
    """Lower case, no apostrophes, other punctuation a space."""
    lowered = text.lower().replace("'", "").replace("\u2019", "")
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", lowered).split())


FLOW = Flow("attendance", asides={ANSWER_PREFIX: answer, REVIEW_PREFIX: choose_review})
