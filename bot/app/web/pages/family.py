"""Friends and family day: each group's day, and for one group the guests each patient invited,
their replies, access needs and questions (the `pmp family` view)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app.web.ids import MAX_ID
from bot.app.web.security import Visit, problem, staff_page
from bot.db.models import Cohort
from bot.services import family_view, staff_accounts
from bot.services.family import family_day


@staff_page()
async def index(request: Request, visit: Visit) -> Response:
    """Every group's family day and how many are coming."""
    console = visit.console
    return visit.page(
        request,
        "family",
        groups=await family_view.summaries(visit.db, console.content, console.settings.tz),
    )


@staff_page()
async def group(request: Request, visit: Visit) -> Response:
    """One group's family day and guests; the viewing is recorded."""
    value = request.path_params["group_id"]
    cohort = (
        await visit.db.get(Cohort, value)
        if isinstance(value, int) and 0 < value <= MAX_ID
        else None
    )
    if cohort is None:
        return problem(visit.console, request, 404, "not_found")
    console = visit.console
    now = console.clock.now()
    day = await family_day(visit.db, console.content, console.settings.tz, cohort.id)
    patients = await family_view.guests_by_patient(visit.db, cohort.id)
    # Guests' names, access needs and questions are personal: each viewing is on the log.
    staff_accounts.audit(visit.db, visit.account, "viewed_family", now, f"cohort:{cohort.id}")
    guests = [guest for patient in patients for guest in patient.guests]
    return visit.page(
        request,
        "family_group",
        cohort=cohort,
        day=day,
        closed=day.closed(now) if day else False,
        patients=patients,
        invited=len(guests),
        coming=sum(guest.status == "coming" for guest in guests),
        not_coming=sum(guest.status == "not_coming" for guest in guests),
    )


routes = [
    Route("/family", index, methods=["GET"]),
    Route("/family/{group_id:int}", group, methods=["GET"]),
]
