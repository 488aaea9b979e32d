"""Invites: a group's joining codes by state, making new ones, a printable letter with a QR
code for each, and revoking one that has not been used."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import segno
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app.web.ids import number_in, record_id
from bot.app.web.security import Visit, first_send, problem, redirect, staff_page
from bot.db.models import Cohort, Invite
from bot.services import events, invite_admin, invites
from bot.services.cohorts import list_cohorts
from bot.services.invite_admin import Revoked
from bot.services.planner import first_session
from bot.services.staff_accounts import audit

# Enough for the biggest group; a bigger number is more likely a slip of the keyboard.
MAX_COUNT = 50
QR_LABEL = "QR code. Scan it with a phone's camera to open the link to the bot."


def _number(text: object) -> int | None:
    """An id from a URL or a form; None for anything else (so: a 404, not a 500)."""
    return record_id(text)


def qr_svg(link: str) -> Markup:
    """The link as an inline SVG QR code: no style attribute (the CSP forbids them), and a
    name a screen reader says. Our own markup, from our own link: safe to insert."""
    svg = segno.make(link, error="m").svg_inline(
        scale=4, title=QR_LABEL, svgclass="pmp-qr-code", lineclass=None
    )
    assert "style=" not in svg
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{escape(QR_LABEL)}" ', 1))


@dataclass(frozen=True)
class InviteLine:
    """An invite as staff see it."""

    invite: Invite
    state: str
    pretty: str
    link: str | None  # None when the bot's username is not configured
    qr: Markup | None
    until: str


def until(moment: datetime, tz: ZoneInfo) -> str:
    """'the end of Monday 14 December 2026' for midnight, which is easily read as the wrong
    day (as `pmp invite create` says it); otherwise the date and the time."""
    local = moment.astimezone(tz)
    if local.time() == time(0):
        day = local.date() - timedelta(days=1)
        return f"the end of {day:%A} {day.day} {day:%B %Y}"
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M}"


def _line(visit: Visit, invite: Invite, state: str) -> InviteLine:
    username = visit.console.settings.telegram_bot_username
    link = invites.deep_link(username, invite.code) if username else None
    usable = state in ("unused", "declined")
    # A code that can no longer be used needs no picture to scan.
    qr = qr_svg(link) if link and usable else None
    ends = until(invite.expires_at, visit.console.settings.tz)
    return InviteLine(invite, state, invites.pretty_code(invite.code), link, qr, ends)


async def _lines(visit: Visit, cohort_id: int) -> list[InviteLine]:
    found = await invites.invites_for_cohort(visit.db, cohort_id)
    # A staff code gives staff powers in the bot: only admins see (and can revoke) them.
    found = [invite for invite in found if invite.role == "patient" or visit.is_admin]
    revoked = await invite_admin.revoked_ids(visit.db, found)
    now = visit.console.clock.now()
    return [_line(visit, i, invite_admin.state(i, now, revoked)) for i in found]


def _today(visit: Visit) -> date:
    return visit.console.clock.now().astimezone(visit.console.settings.tz).date()


async def _page(
    request: Request,
    visit: Visit,
    cohort: Cohort | None,
    status: int = 200,
    error: str = "",
    count: str = "1",
) -> Response:
    lines = await _lines(visit, cohort.id) if cohort is not None else []
    finished = False
    if cohort is not None:
        days = events.day_dates(await events.events_of(visit.db, cohort))
        finished = days[-1] < _today(visit)
    done = request.query_params.get("done", "")
    made = _number(request.query_params.get("made"))
    return visit.page(
        request,
        "invites",
        status=status,
        groups=await list_cohorts(visit.db),
        cohort=cohort,
        by_state={s: [x for x in lines if x.state == s] for s in invite_admin.STATES},
        finished=finished,
        error=error,
        count=count,
        max_count=MAX_COUNT,
        made=made if made is not None and made <= MAX_COUNT else None,
        done=done if done in ("revoked", "ended") else "",
        has_username=bool(visit.console.settings.telegram_bot_username),
    )


@staff_page()
async def index(request: Request, visit: Visit) -> Response:
    """Pick a group; its invites by state, and the form to make more."""
    group = request.query_params.get("group")
    cohort_id = _number(group)
    cohort = await visit.db.get(Cohort, cohort_id) if cohort_id is not None else None
    if group and cohort is None:
        return problem(visit.console, request, 404, "not_found")
    return await _page(request, visit, cohort)


@staff_page()
async def create(request: Request, visit: Visit) -> Response:
    """Make 1 to 50 patient codes, once, however many times the form is sent."""
    cohort_id = _number(visit.form.get("group"))
    cohort = await visit.db.get(Cohort, cohort_id) if cohort_id is not None else None
    if cohort is None:
        return problem(visit.console, request, 404, "not_found")
    typed = str(visit.form.get("count") or "").strip()
    count = number_in(typed, range(1, MAX_COUNT + 1))
    if count is None:
        return await _page(request, visit, cohort, 400, "count", typed[:20])
    use = await first_send(visit, request)
    if isinstance(use, Response):
        return use
    settings = visit.console.settings
    now = visit.console.clock.now()
    try:
        made = await invites.create_invites(
            visit.db, cohort.id, "patient", count, now, settings.invite_valid_days, settings.tz
        )
    except invites.InviteError:
        use.result_path = f"/invites?group={cohort.id}"
        return await _page(request, visit, cohort, 400, "finished", typed)
    audit(visit.db, visit.account, "created_invites", now, f"cohort:{cohort.id}", f"{len(made)}")
    use.result_path = f"/invites?group={cohort.id}&made={len(made)}"
    return redirect(use.result_path)


async def _invite(request: Request, visit: Visit) -> tuple[Invite, Cohort] | None:
    invite_id = _number(request.path_params.get("invite_id"))
    invite = await visit.db.get(Invite, invite_id) if invite_id is not None else None
    if invite is None or (invite.role != "patient" and not visit.is_admin):
        return None
    cohort = await visit.db.get(Cohort, invite.cohort_id)
    return (invite, cohort) if cohort is not None else None


@staff_page()
async def letter(request: Request, visit: Visit) -> Response:
    """A one-page letter for the patient: the group, its first day, the code and how to join."""
    found = await _invite(request, visit)
    if found is None or found[0].role != "patient":
        return problem(visit.console, request, 404, "not_found")
    invite, cohort = found
    revoked = await invite_admin.revoked_ids(visit.db, [invite])
    line = _line(visit, invite, invite_admin.state(invite, visit.console.clock.now(), revoked))
    calendar = await events.events_of(visit.db, cohort)
    first = next(e for e in calendar if e.kind == events.DAY and e.number == 1)
    return visit.page(
        request,
        "invite_letter",
        line=line,
        cohort=cohort,
        first_day=first.on_date,
        first_start=f"{first_session(visit.console.content, first, cohort):%H:%M}",
        username=visit.console.settings.telegram_bot_username,
    )


@staff_page()
async def revoke_check(request: Request, visit: Visit) -> Response:
    """Ask before revoking; a used code is explained, not offered."""
    found = await _invite(request, visit)
    if found is None:
        return problem(visit.console, request, 404, "not_found")
    invite, cohort = found
    revoked = await invite_admin.revoked_ids(visit.db, [invite])
    line = _line(visit, invite, invite_admin.state(invite, visit.console.clock.now(), revoked))
    return visit.page(request, "invite_revoke", line=line, cohort=cohort, outcome="")


@staff_page()
async def revoke(request: Request, visit: Visit) -> Response:
    """End an unused code now; the bot then refuses it as it refuses an expired one."""
    found = await _invite(request, visit)
    if found is None:
        return problem(visit.console, request, 404, "not_found")
    invite, cohort = found
    now = visit.console.clock.now()
    outcome = await invite_admin.revoke(visit.db, visit.account, invite, now)
    if outcome is Revoked.USED:
        line = _line(visit, invite, "used")
        return visit.page(
            request, "invite_revoke", status=409, line=line, cohort=cohort, outcome="used"
        )
    done = "revoked" if outcome is Revoked.DONE else "ended"
    return redirect(f"/invites?group={cohort.id}&done={done}")


routes = [
    Route("/invites", index, methods=["GET"]),
    Route("/invites", create, methods=["POST"]),
    Route("/invites/{invite_id}/letter", letter, methods=["GET"]),
    Route("/invites/{invite_id}/revoke", revoke_check, methods=["GET"]),
    Route("/invites/{invite_id}/revoke", revoke, methods=["POST"]),
]
