"""The day's sessions: the group's home-practice check-ins for the 09:30 review and the
thought-challenge cards patients chose to share for the 09:45 feedback, on one page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app.web.security import Visit, redirect, staff_page
from bot.db.models import Cohort
from bot.numbers import whole_number
from bot.services import day_view, staff_accounts
from bot.services.cohorts import list_cohorts


@staff_page()
async def day(request: Request, visit: Visit) -> Response:
    """One group's programme day; without one, the group meeting today or a chooser."""
    console = visit.console
    now = console.clock.now()
    today = now.astimezone(console.settings.tz).date()
    group_text = request.query_params.get("group", "").strip()
    day_text = request.query_params.get("day", "").strip()
    if not group_text:
        meeting = await day_view.meeting_on(visit.db, today)
        if len(meeting) == 1 and not day_text:
            only = meeting[0]
            return redirect(f"/days?group={only.cohort.id}&day={only.event.number}")
        return await _chooser(request, visit, meeting=meeting)
    group_id = whole_number(group_text)
    cohort = await visit.db.get(Cohort, group_id) if group_id else None
    if cohort is None:
        return await _chooser(request, visit, 404, error="group")
    days = await day_view.programme_days(visit.db, cohort)
    if not day_text:
        # The group's day today if it meets today; else the staff member picks one.
        here = next((e for e in days if e.on_date == today), None)
        if here is not None:
            return redirect(f"/days?group={cohort.id}&day={here.number}")
        return await _chooser(request, visit, cohort=cohort, days=days)
    number = whole_number(day_text)
    found = (
        await day_view.day_of(visit.db, console.content, console.settings.tz, cohort, number)
        if number is not None
        else None
    )
    if found is None:
        return await _chooser(request, visit, 404, cohort=cohort, days=days, error="day")
    # The page shows patients' own words: each viewing is on the audit log.
    target, detail = f"cohort:{cohort.id}", f"day {found.event.number}"
    staff_accounts.audit(visit.db, visit.account, "viewed_day", now, target, detail)
    return visit.page(request, "day", item=found, days=days, today=today)


async def _chooser(
    request: Request,
    visit: Visit,
    status: int = 200,
    **variables: object,
) -> Response:
    """Pick a group and a day (with why, when what was asked for was not found)."""
    values: dict[str, object] = {"meeting": [], "cohort": None, "days": [], "error": ""}
    values.update(variables)
    return visit.page(
        request,
        "day_choose",
        status=status,
        groups=await list_cohorts(visit.db),
        asked_group=request.query_params.get("group", ""),
        asked_day=request.query_params.get("day", ""),
        **values,
    )


routes = [Route("/days", day, methods=["GET"])]
