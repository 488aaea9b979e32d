"""Every console request passes here: who is signed in, their role, the CSRF token, the size of
what they sent, safe redirects and the browser's security headers."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.app.channels.bodies import body_within_limit
from bot.app.web.console import Console
from bot.db.models import AuditEvent, FormUse, StaffAccount, StaffSession
from bot.services import staff_sessions
from bot.services.staff_sessions import SEEN_EVERY

log = logging.getLogger(__name__)

SESSION_COOKIE = "pmp_session"
# No form of the console needs more; a bigger body is refused before it is read in full.
MAX_BODY = 64 * 1024
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
FORM_KEY = "form_key"

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """Adds the headers above to every response, and `no-store` to every page (a shared
    hospital PC's back button must not show a patient's details after signing out)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                for name, value in HEADERS.items():
                    headers.append((name.lower().encode(), value.encode()))
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                if scope.get("scheme") == "https":
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def safe_next(target: str | None) -> str:
    """A path on this site to go to after signing in; anything else (another site, a scheme,
    `//host`, backslashes) goes to the front page."""
    if not target or len(target) > 500 or "\\" in target or any(ord(c) < 32 for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


class BodyTooLarge(Exception):
    """What was sent is over MAX_BODY."""


async def read_form(request: Request) -> FormData:
    """The urlencoded form, read up to MAX_BODY (a larger one raises BodyTooLarge)."""
    body = await body_within_limit(request, MAX_BODY)
    if body is None:
        raise BodyTooLarge
    text = body.decode("utf-8", errors="replace")
    try:
        fields: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(text, keep_blank_values=True, max_num_fields=500)
        )
    except ValueError as error:  # more fields than any form of ours has
        raise BodyTooLarge from error
    return FormData(fields)


@dataclass
class Visit:
    """One signed-in request: who, their session, the database transaction, the form sent."""

    console: Console
    db: AsyncSession
    account: StaffAccount
    staff_session: StaffSession
    form: FormData = field(default_factory=FormData)
    # Outbox rows were written: wake the sender once the transaction commits.
    wrote_outbox: bool = False

    @property
    def csrf(self) -> str:
        """The token every form of this session carries."""
        return self.staff_session.csrf_token

    @property
    def is_admin(self) -> bool:
        """Whether the account may manage accounts and read the audit log."""
        return self.account.role == "admin"

    def page(self, request: Request, name: str, status: int = 200, **variables: Any) -> Response:
        """A page or fragment of `content/web/`, rendered once the transaction has committed."""
        variables |= {
            "request": request,
            "me": self.account,
            "csrf": self.csrf,
            "form_key": staff_sessions.new_token(),
        }
        return PageResponse(lambda: self.console.render(name, **variables), status)


class PageResponse(HTMLResponse):
    """A page whose template is rendered after the request's transaction ends: no database
    lock (SQLite's single writer above all) waits while the HTML is put together. The rows it
    shows stay readable: sessions do not expire them on commit."""

    def __init__(self, render: Callable[[], str], status_code: int) -> None:
        super().__init__(b"", status_code=status_code)
        self._render: Callable[[], str] | None = render

    def finish(self) -> None:
        """Render the template into the body, and say its length."""
        if self._render is None:
            return
        self.body = self.render(self._render())
        self._render = None
        self.raw_headers = [
            (name, str(len(self.body)).encode() if name == b"content-length" else value)
            for name, value in self.raw_headers
        ]


Handler = Callable[[Request, Visit], Awaitable[Response]]


def problem(console: Console, request: Request, status: int, kind: str) -> HTMLResponse:
    """A kind error page: what happened, and what to do next."""
    html = console.render("problem", request=request, me=None, csrf="", kind=kind)
    return HTMLResponse(html, status_code=status)


def staff_page(role: str = "clinician") -> Callable[[Handler], Callable[[Request], Any]]:
    """Wrap a page: signed in, the role checked, a POST's CSRF token checked, one transaction.

    Checked on every request, so a disabled account, a timed-out session or a changed role
    takes effect on the next click, not the next sign-in.
    """

    def wrap(handler: Handler) -> Callable[[Request], Any]:
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            console: Console = request.app.state.console
            post = request.method == "POST"
            form = FormData()
            if post:
                try:
                    form = await read_form(request)
                except BodyTooLarge:
                    return problem(console, request, 413, "too_large")
            key = request.cookies.get(SESSION_COOKIE, "")
            async with console.sessions() as db:
                async with db.begin():
                    if post:
                        await staff_sessions.write_first(db, key)
                    now = console.clock.now()
                    found = await staff_sessions.find(db, key, now, console.lifetime)
                    if found is None:
                        response: Response = _to_sign_in(request)
                        if key:
                            response.delete_cookie(SESSION_COOKIE, path="/")
                        return response
                    session_row, account = found
                    if role == "admin" and account.role != "admin":
                        log.warning("an admin page was refused", extra={"account": account.id})
                        return problem(console, request, 403, "admins_only")
                    if _must_choose_password(account) and request.url.path not in OWN_PASSWORD:
                        return redirect("/account/password")
                    if post and not _csrf_ok(request, form, session_row):
                        log.warning("a form without the right CSRF token was refused")
                        return problem(console, request, 403, "csrf")
                    visit = Visit(console, db, account, session_row, form)
                    _keep_notices_only_if_ours(request, session_row)
                    if post:
                        response = await handler(request, visit)
                        await staff_sessions.touch(db, session_row, now)
                        viewed: list[AuditEvent] = []
                    else:
                        # A page only reads; what it records (who viewed a patient's details)
                        # is written after, in a short write of its own, so no write lock is
                        # held while the page's queries run.
                        with db.no_autoflush:
                            response = await handler(request, visit)
                        viewed = [row for row in db.new if isinstance(row, AuditEvent)]
                        for row in viewed:
                            db.expunge(row)
                if not post and (viewed or now - session_row.last_seen_at > SEEN_EVERY):
                    # Before the page is shown: a viewing that cannot be recorded is not shown.
                    async with db.begin():
                        db.add_all(viewed)
                        await staff_sessions.touch(db, session_row, now)
            if isinstance(response, PageResponse):
                response.finish()
            _sign_notices(response, session_row)
            if visit.wrote_outbox:
                console.wake()
            return response

        return endpoint

    return wrap


# Query parameters that make a page say what a form just did ("Resolved.", "3 codes made").
NOTICE_KEYS = frozenset({"done", "made", "marked", "told"})
NOTICE_SIGNATURE = "n"


def _notice_signature(session_row: StaffSession, path_and_query: str) -> str:
    """A short HMAC of where a form sent this session, keyed by the session's own token."""
    key = session_row.csrf_token.encode()
    return hmac.new(key, path_and_query.encode(), hashlib.sha256).hexdigest()[:20]


def _sign_notices(response: Response, session_row: StaffSession) -> None:
    """Sign a redirect that carries a notice, so that only this session is shown it."""
    location = response.headers.get("location", "")
    if not location.startswith("/") or "?" not in location:
        return
    path, _, query = location.partition("?")
    params = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "n"]
    if not any(k in NOTICE_KEYS for k, _ in params):
        return
    unsigned = f"{path}?{urlencode(params)}"
    signature = _notice_signature(session_row, unsigned)
    response.headers["location"] = f"{unsigned}&{NOTICE_SIGNATURE}={signature}"


def _keep_notices_only_if_ours(request: Request, session_row: StaffSession) -> None:
    """Drop notices from a link this session's own form did not make: a link someone sends
    ("?done=resolved") must not tell a nurse that something happened when it did not."""
    params = parse_qsl(request.url.query, keep_blank_values=True)
    if not any(k in NOTICE_KEYS for k, _ in params):
        return
    given = dict(params).get(NOTICE_SIGNATURE, "")
    rest = [(k, v) for k, v in params if k != NOTICE_SIGNATURE]
    expected = _notice_signature(session_row, f"{request.url.path}?{urlencode(rest)}")
    if hmac.compare_digest(given.encode(), expected.encode()):
        return
    kept = [(k, v) for k, v in rest if k not in NOTICE_KEYS]
    request.scope["query_string"] = urlencode(kept).encode()
    for cached in ("_query_params", "_url"):
        request.__dict__.pop(cached, None)


# Where someone who still has the first password an admin gave them may go: to change it.
OWN_PASSWORD = ("/account/password", "/logout")


def _must_choose_password(account: StaffAccount) -> bool:
    """Whether they still have the first password an admin gave them."""
    return account.password_hash is not None and account.password_changed_at is None


def _csrf_ok(request: Request, form: FormData, session_row: StaffSession) -> bool:
    """Whether a form (or an htmx request's header) carries this session's token."""
    given = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD) or ""
    return isinstance(given, str) and hmac.compare_digest(
        given.encode(), session_row.csrf_token.encode()
    )


def _to_sign_in(request: Request) -> Response:
    """Send someone not signed in to the sign-in page, and back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = f"/login?next={quote(here, safe='')}" if request.method == "GET" else "/login"
    if request.headers.get("HX-Request"):
        # htmx would swap the sign-in page into a fragment: ask it to go there instead.
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def signed_in(response: Response, request: Request, console: Console, key: str) -> Response:
    """Give the browser its session cookie (how every way of signing in ends)."""
    response.set_cookie(
        SESSION_COOKIE,
        key,
        httponly=True,
        samesite="lax",
        secure=console.settings.secure_cookies(request.url.scheme),
        path="/",
    )
    return response


def redirect(path: str) -> Response:
    """After a form: go to `path` (303, so reloading does not send it again)."""
    return RedirectResponse(safe_next(path), status_code=303)


async def first_send(visit: Visit, request: Request) -> FormUse | Response:
    """The use of this form (its hidden `form_key`), recorded; a second send of the same
    form (a double click, a reload) is sent where the first one went, and acts no more."""
    key = str(visit.form.get(FORM_KEY) or "")
    if not key or len(key) > 64:
        return problem(visit.console, request, 403, "csrf")
    now = visit.console.clock.now()
    use = await staff_sessions.first_use(visit.db, key, visit.account, now)
    if use is not None:
        return use
    earlier = await staff_sessions.earlier_use(visit.db, key)
    return redirect(earlier.result_path if earlier and earlier.result_path else "/")
