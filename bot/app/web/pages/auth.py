"""Signing in and out."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot.app.web.console import Console
from bot.app.web.security import (
    SESSION_COOKIE,
    BodyTooLarge,
    Visit,
    problem,
    read_form,
    redirect,
    safe_next,
    signed_in,
    staff_page,
)
from bot.services import staff_accounts, staff_sessions
from bot.services.staff_accounts import SignIn

# A signed-out browser's CSRF token for the sign-in form: the same random value in a cookie
# and in the form (another site can set neither).
LOGIN_COOKIE = "pmp_login"


def _login_page(
    console: Console, request: Request, status: int = 200, error: str = "", email: str = ""
) -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or staff_sessions.new_token()
    html = console.render(
        "login",
        request=request,
        me=None,
        csrf=token,
        error=error,
        email=email,
        next=safe_next(request.query_params.get("next")),
        signed_out="signed_out" in request.query_params,
        lock_minutes=console.settings.web_lockout_minutes,
        entra=console.settings.entra_configured,
    )
    response = HTMLResponse(html, status_code=status)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=console.settings.secure_cookies(request.url.scheme),
        path="/login",
    )
    return response


async def login_form(request: Request) -> Response:
    """The sign-in page."""
    return _login_page(request.app.state.console, request)


async def login(request: Request) -> Response:
    """Check the email and password; a new session on success."""
    console: Console = request.app.state.console
    try:
        form = await read_form(request)
    except BodyTooLarge:
        return problem(console, request, 413, "too_large")
    expected = request.cookies.get(LOGIN_COOKIE, "")
    given = str(form.get("csrf") or "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return problem(console, request, 403, "csrf")
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    if not email.strip() or not password:
        return _login_page(console, request, 400, "missing", email)
    address = request.client.host if request.client else "unknown"
    async with console.sessions() as db, db.begin():
        now = console.clock.now()
        result, account = await staff_accounts.sign_in(
            db, email, password, address, now, console.throttle
        )
        key = await staff_sessions.start(db, account, now) if account is not None else ""
    if result is SignIn.LOCKED:
        return _login_page(console, request, 429, "locked", email)
    if result is SignIn.WRONG:
        return _login_page(console, request, 400, "wrong", email)
    response = signed_in(redirect(str(form.get("next") or "/")), request, console, key)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@staff_page()
async def logout(request: Request, visit: Visit) -> Response:
    """End the session on the server, and forget the cookie."""
    await staff_sessions.end(visit.db, request.cookies.get(SESSION_COOKIE, ""))
    staff_accounts.audit(visit.db, visit.account, "signed_out", visit.console.clock.now())
    response = redirect("/login?signed_out=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


routes = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
