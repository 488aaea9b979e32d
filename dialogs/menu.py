"""The main menu and what it offers: today, the programme dates, help and privacy."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from bot.db.models import Cohort, CohortEvent
from bot.messages import Button, ButtonRows
from bot.services import attendance
from bot.services.events import DAY, REVIEW, describe
from bot.services.planner import first_session, sessions_of
from bot.time.calendar import status_on
from bot.time.times import parse_clock
from dialogs.flow import Flow
from dialogs.turn import Turn
from scheduler.reminders import attendance_buttons

MENU_PREFIX = "m"


MENU_LAYOUT = (
    ("report",),
    ("today", "programme"),
    ("question", "challenge"),
    ("plan", "relax"),
    ("family", "settings"),
    ("help", "privacy"),
)
MENU_ACTIONS = tuple(action for row in MENU_LAYOUT for action in row)


def menu_buttons(turn: Turn) -> ButtonRows:
    """The menu's buttons; stateless, so they work from any old message."""
    return tuple(
        tuple(
            Button(turn.content.label(f"menu_{action}"), f"{MENU_PREFIX}:{action}")
            for action in row
        )
        for row in MENU_LAYOUT
    )


async def show(turn: Turn) -> None:
    """Show the menu suited to the person."""
    person = turn.person
    if person is None:
        return
    if person.role == "staff":
        # The list as it is now decides: someone taken off it is not told they are on it.
        listed = turn.staff_allowed(enrolled_staff=True)
        turn.say("staff/menu" if listed else "staff/not_listed", name=person.display_name)
        return
    turn.say("menu/menu", menu_buttons(turn), name=person.display_name)


async def _cohort(turn: Turn) -> Cohort | None:
    person = turn.person
    if person is None or person.cohort_id is None:
        return None
    return await turn.session.get(Cohort, person.cohort_id)


def local_today(turn: Turn) -> date:
    """Today's date in the programme's time zone."""
    return turn.now.astimezone(turn.settings.tz).date()


async def today(turn: Turn) -> None:
    """What today means for this patient: a programme day, a review, or what comes next."""
    cohort = await _cohort(turn)
    person = turn.person
    if cohort is None or person is None:
        await show(turn)
        return
    events = await attendance.patient_events(turn.session, person)
    days = [e for e in sorted(events, key=lambda e: e.number) if e.kind == DAY]
    today_date = local_today(turn)
    status = status_on([e.on_date for e in days], today_date)
    reviews = [e for e in events if e.kind == REVIEW and e.on_date >= today_date]
    next_review = reviews[0] if reviews else None
    phase = status.phase
    # The day the patient hears about: today's, else the next one (with any change of time).
    shown = next((e for e in days if e.on_date == (status.next_day or today_date)), days[0])
    place = cohort
    if next_review is not None and next_review.on_date == today_date:
        phase = "review"
        place = await turn.session.get(Cohort, next_review.cohort_id) or cohort
        shown = next_review
    sessions = sessions_of(turn.content, shown, place)
    # The next session or review still to come: its attendance buttons, as a reminder has.
    attend = await next_to_attend(turn, events)
    buttons = menu_buttons(turn)
    if attend is not None:
        buttons = attendance_buttons(turn.content, attend.id) + buttons
    turn.say(
        f"menu/today_{phase}",
        buttons,
        attend=attend,
        cohort=place,
        status=status,
        sessions=sessions,
        last_day=days[-1].on_date,
        next_review=next_review,
    )


async def programme(turn: Turn) -> None:
    """The patient's programme days and reviews, with their answers so far."""
    cohort = await _cohort(turn)
    person = turn.person
    if cohort is None or person is None:
        await show(turn)
        return
    events = await attendance.patient_events(turn.session, person)
    answers = await attendance.answers_of(turn.session, person)
    cohorts = {cohort.id: cohort}
    items = []
    for event in events:
        if event.cohort_id not in cohorts:
            cohorts[event.cohort_id] = await turn.session.get(Cohort, event.cohort_id) or cohort
        items.append(
            {
                "title": describe(event),
                "on_date": event.on_date,
                "start": f"{first_session(turn.content, event, cohorts[event.cohort_id]):%H:%M}",
                "answer": answers.get(event.id),
                "elsewhere": event.cohort_id != cohort.id,
                # Another group's review happens where that group meets.
                "place": cohorts[event.cohort_id],
            }
        )
    turn.say(
        "menu/programme", menu_buttons(turn), cohort=cohort, items=items, today=local_today(turn)
    )


async def help_text(turn: Turn) -> None:
    """What the bot can do (patients are told about their own commands too)."""
    turn.say("common/help", is_patient=turn.is_patient)


async def privacy(turn: Turn) -> None:
    """The privacy notice."""
    turn.say("common/privacy")


FLOWS = (
    Flow("today", today),
    Flow("programme", programme, aliases=("schedule",)),
    Flow("help", help_text, in_place=True),
    Flow("privacy", privacy, in_place=True),
)


async def next_to_attend(
    turn: Turn, events: list[CohortEvent], day: str | None = None
) -> CohortEvent | None:
    """Today's event until it ends, else tomorrow's (only the day named, when "today" or
    "tomorrow" is); None when neither has one."""
    today = local_today(turn)
    local_now = turn.now.astimezone(turn.settings.tz)
    for event in events:
        if event.on_date == today and day != "tomorrow" and local_now < await _ends(turn, event):
            return event
        if event.on_date == today + timedelta(days=1) and day != "today":
            return event
    return None


async def _ends(turn: Turn, event: CohortEvent) -> datetime:
    """When an event's last session ends, in the programme's time zone."""
    cohort = await turn.session.get(Cohort, event.cohort_id)
    last = parse_clock(sessions_of(turn.content, event, cohort)[-1]["time"])
    return datetime.combine(event.on_date, last or datetime.max.time(), turn.settings.tz)
