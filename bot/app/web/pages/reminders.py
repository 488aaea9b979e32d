"""Reminders: what is due on a day for a group and what happened to each (the `pmp reminders`
view, from the same query)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app.web.security import Visit, staff_page
from bot.db.models import Cohort
from bot.numbers import whole_number
from bot.services import reminder_view
from bot.services.cohorts import list_cohorts
from scheduler.delivery import reminders_on

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Dates far outside any programme are refused: at the ends of the calendar the day's bounds
# in UTC cannot even be worked out.
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)
# How delivery words a message that was never sent before it stopped being useful.
EXPIRED = "not delivered before it stopped being useful"


def _date(text: str) -> date | None:
    """A YYYY-MM-DD date this century, or None for anything else (2026-02-30 included)."""
    if not DATE.fullmatch(text):
        return None
    try:
        found = date.fromisoformat(text)
    except ValueError:
        return None
    return found if EARLIEST <= found <= LATEST else None


@staff_page()
async def index(request: Request, visit: Visit) -> Response:
    """A group's reminders on a date (today if none is given); a chooser without a group."""
    console = visit.console
    today = console.clock.now().astimezone(console.settings.tz).date()
    group_text = request.query_params.get("group", "").strip()
    date_text = request.query_params.get("date", "").strip()
    on = _date(date_text) if date_text else today
    cohort = None
    error = ""
    if group_text:
        group_id = whole_number(group_text)
        cohort = await visit.db.get(Cohort, group_id) if group_id else None
        if cohort is None:
            error = "group"
    if on is None:
        error = error or "date"
    found = []
    if cohort is not None and on is not None and not error:
        found = await reminders_on(visit.db, cohort.id, on, console.settings.tz)
    names = await reminder_view.first_names(visit.db, (r.reference for r in found))
    counts: dict[str, int] = {}
    for item in found:
        state = _state(item.state, item.detail)
        counts[state] = counts.get(state, 0) + 1
    return visit.page(
        request,
        "reminders",
        status={"group": 404, "date": 400}.get(error, 200),
        groups=await list_cohorts(visit.db),
        cohort=cohort,
        on=on,
        today=today,
        asked_date=date_text,
        asked_group=group_text,
        error=error,
        items=[
            (item, names.get(item.reference, ""), _state(item.state, item.detail)) for item in found
        ],
        counts=counts,
        slot_words=reminder_view.slot_words,
        day_before=on - timedelta(days=1) if on and on > EARLIEST else None,
        day_after=on + timedelta(days=1) if on and on < LATEST else None,
    )


def _state(state: str, detail: str | None) -> str:
    """The state to show: delivery's, with a message that ran out of time called expired."""
    return "expired" if state == "failed" and detail == EXPIRED else state


routes = [Route("/reminders", index, methods=["GET"])]
