"""The main menu and what it offers: today, the programme dates, help and privacy."""

from __future__ import annotations

from datetime import date

from bot.channels.types import Button, ButtonRows
from bot.db.models import Cohort
from dialogs.turn import Turn
from scheduler.calendar import programme_days, status_on

MENU_PREFIX = "m"


MENU_LAYOUT = (("today", "programme"), ("help", "privacy"))
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
        turn.say("staff/menu", name=person.display_name)
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
    """What today means for this patient's group."""
    cohort = await _cohort(turn)
    if cohort is None:
        await show(turn)
        return
    days = programme_days(cohort.start_date)
    status = status_on(days, local_today(turn))
    turn.say(
        f"menu/today_{status.phase}",
        menu_buttons(turn),
        cohort=cohort,
        status=status,
        sessions=turn.content.timetable(),
        last_day=days[-1],
    )


async def programme(turn: Turn) -> None:
    """The group's twelve programme dates."""
    cohort = await _cohort(turn)
    if cohort is None:
        await show(turn)
        return
    days = programme_days(cohort.start_date)
    turn.say(
        "menu/programme",
        menu_buttons(turn),
        cohort=cohort,
        days=list(enumerate(days, start=1)),
        today=local_today(turn),
    )


async def run_action(turn: Turn, action: str) -> None:
    """Carry out a menu button's action."""
    if action == "today":
        await today(turn)
    elif action == "programme":
        await programme(turn)
    elif action == "help":
        turn.say("common/help", is_patient=True)
    elif action == "privacy":
        turn.say("common/privacy")
