"""Today: open escalations first, today's sessions, who is late or away, delivery problems."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app.web.security import Visit, staff_page
from bot.services import escalation_views, today_view

# The landing page shows the most pressing few; the escalations page has the rest.
TODAY_SIZE = 20


@staff_page()
async def today(request: Request, visit: Visit) -> Response:
    """The landing page."""
    console = visit.console
    now = console.clock.now()
    day = now.astimezone(console.settings.tz).date()
    return visit.page(
        request,
        "today",
        day=day,
        escalations=await escalation_views.listed(visit.db, now, "waiting", limit=TODAY_SIZE),
        acknowledged=await escalation_views.count_acknowledged(visit.db),
        sessions=await today_view.sessions_on(visit.db, day),
        answers=await today_view.answers_on(visit.db, day),
        problems=await today_view.delivery_problems(visit.db, now),
    )


routes = [Route("/", today, methods=["GET"])]
