"""Your own account: change your password (required after the first one an admin gave)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app.web.security import Visit, redirect, staff_page
from bot.services import staff_accounts, staff_sessions


@staff_page()
async def password_form(request: Request, visit: Visit) -> Response:
    """The form: current password, and the new one twice."""
    return visit.page(request, "account_password", error="", first=_first(visit))


def _first(visit: Visit) -> bool:
    """Whether they still have the password an admin gave them."""
    return visit.account.password_changed_at is None


@staff_page()
async def change_password(request: Request, visit: Visit) -> Response:
    """Change it; every other session of theirs ends (a stolen one among them)."""
    if visit.account.password_hash is None:
        return visit.page(request, "account_password", 400, error="microsoft", first=False)
    current = str(visit.form.get("current") or "")
    new = str(visit.form.get("new") or "")
    if new != str(visit.form.get("again") or ""):
        return visit.page(request, "account_password", 400, error="again", first=_first(visit))
    now = visit.console.clock.now()
    problem = await staff_accounts.change_password(visit.db, visit.account, current, new, now)
    if problem is not None:
        return visit.page(request, "account_password", 400, error=problem, first=_first(visit))
    await staff_sessions.end_others(visit.db, visit.account.id, visit.staff_session.id)
    return redirect("/?done=password")


routes = [
    Route("/account/password", password_form, methods=["GET"]),
    Route("/account/password", change_password, methods=["POST"]),
]
