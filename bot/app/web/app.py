"""The staff console as one ASGI app: its pages, its static files, its security headers."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.app.web.console import Console
from bot.app.web.pages import (
    account,
    auth,
    days,
    entra,
    escalations,
    family,
    groups,
    invites,
    questions,
    reminders,
    staff,
    today,
)
from bot.app.web.security import SecurityHeaders, problem

STATIC = Path(__file__).resolve().parent / "static"
# Each section of the console, in the order of the navigation.
PAGES = (
    auth,
    account,
    entra,
    today,
    escalations,
    groups,
    invites,
    days,
    questions,
    family,
    reminders,
    staff,
)


async def _health(_request: Request) -> Response:
    return PlainTextResponse("ok")


def create_app(console: Console, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    """The console; `extra_routes` (the Telegram webhook) share its server."""
    routes: list[BaseRoute] = [Route("/healthz", _health, methods=["GET"])]
    routes += extra_routes or []
    for page in PAGES:
        routes += page.routes
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))

    async def not_found(request: Request, _error: Exception) -> Response:
        return problem(console, request, 404, "not_found")

    async def refused_method(request: Request, _error: Exception) -> Response:
        return problem(console, request, 405, "not_found")

    async def failed(request: Request, _error: Exception) -> Response:
        return problem(console, request, 500, "failed")

    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={404: not_found, 405: refused_method, 500: failed},
    )
    app.state.console = console
    return app
