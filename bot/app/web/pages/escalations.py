"""Escalations: list and filter, one with its timeline, acknowledge, resolve, the patient's words.

Acknowledge and Resolve call the same Escalator as the Telegram buttons, so the staff group's
message is edited and the patient told exactly as a press there does.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app.web.ids import MAX_ID, record_id
from bot.app.web.security import Visit, problem, redirect, staff_page
from bot.services import escalation_views, staff_accounts
from bot.services.cohorts import list_cohorts
from bot.services.escalations import OUTCOME_MAX_LENGTH, Actor, Result, audit


def actor_of(visit: Visit) -> Actor:
    """The signed-in account as the escalation's audit trail names it."""
    return Actor(f"web:{visit.account.id}", visit.account.name)


def _escalation_id(request: Request) -> int | None:
    value = request.path_params["escalation_id"]
    return value if isinstance(value, int) and 0 < value <= MAX_ID else None


@staff_page()
async def index(request: Request, visit: Visit) -> Response:
    """The list, by filter and group."""
    which = request.query_params.get("show", "open")
    if which not in escalation_views.FILTERS:
        which = "open"
    group = request.query_params.get("group", "")
    cohort_id = record_id(group)
    now = visit.console.clock.now()
    found = await escalation_views.listed(visit.db, now, which, actor_of(visit).key, cohort_id)
    return visit.page(
        request,
        "escalations",
        items=found.items,
        total=found.total,
        which=which,
        cohort_id=cohort_id,
        groups=await list_cohorts(visit.db),
    )


async def _detail(
    request: Request,
    visit: Visit,
    escalation_id: int,
    status: int = 200,
    notice: str = "",
    words: str | None = None,
    error: str = "",
    note: str = "",
) -> Response:
    now = visit.console.clock.now()
    item = await escalation_views.one(visit.db, escalation_id, now)
    if item is None:
        return problem(visit.console, request, 404, "gone")
    fragment = request.headers.get("HX-Request") == "true"
    events = await escalation_views.timeline(visit.db, escalation_id)
    return visit.page(
        request,
        "escalation_panel" if fragment else "escalation",
        status=status,
        item=item,
        events=events,
        who=await escalation_views.actor_names(visit.db, [event.actor for event in events]),
        notice=notice,
        words=words,
        error=error,
        note=note,
        note_limit=OUTCOME_MAX_LENGTH,
    )


@staff_page()
async def show(request: Request, visit: Visit) -> Response:
    """One escalation and its timeline; the patient's words only on request."""
    escalation_id = _escalation_id(request)
    if escalation_id is None:
        return problem(visit.console, request, 404, "gone")
    return await _detail(request, visit, escalation_id)


@staff_page()
async def acknowledge(request: Request, visit: Visit) -> Response:
    """Acknowledge: once, whoever is first; the staff group's message and the patient follow."""
    escalation_id = _escalation_id(request)
    if escalation_id is None:
        return problem(visit.console, request, 404, "gone")
    now = visit.console.clock.now()
    result, _ = await visit.console.escalator.acknowledge(
        visit.db, escalation_id, actor_of(visit), now
    )
    if result is Result.NOT_FOUND:
        return problem(visit.console, request, 404, "gone")
    visit.wrote_outbox = result is Result.DONE
    notice = "acknowledged" if result is Result.DONE else "already"
    return await _detail(request, visit, escalation_id, notice=notice)


@staff_page()
async def resolve(request: Request, visit: Visit) -> Response:
    """Resolve with an outcome note (acknowledging it too if nobody had)."""
    escalation_id = _escalation_id(request)
    if escalation_id is None:
        return problem(visit.console, request, 404, "gone")
    note = str(visit.form.get("outcome") or "")
    if not note.strip():
        return await _detail(request, visit, escalation_id, 400, error="empty")
    if len(note.strip()) > OUTCOME_MAX_LENGTH:
        return await _detail(request, visit, escalation_id, 400, error="long", note=note)
    now = visit.console.clock.now()
    result, _ = await visit.console.escalator.resolve(
        visit.db, escalation_id, actor_of(visit), note, now
    )
    if result is Result.NOT_FOUND:
        return problem(visit.console, request, 404, "gone")
    visit.wrote_outbox = result is Result.DONE
    notice = "resolved" if result is Result.DONE else "already_resolved"
    if request.headers.get("HX-Request") != "true" and result is Result.DONE:
        return redirect(f"/escalations/{escalation_id}?done=resolved")
    return await _detail(request, visit, escalation_id, notice=notice)


@staff_page()
async def words(request: Request, visit: Visit) -> Response:
    """The patient's own words, shown to this member of staff; the viewing is recorded."""
    escalation_id = _escalation_id(request)
    if escalation_id is None:
        return problem(visit.console, request, 404, "gone")
    now = visit.console.clock.now()
    item = await escalation_views.one(visit.db, escalation_id, now)
    if item is None:
        return problem(visit.console, request, 404, "gone")
    audit(visit.db, item.escalation, "details_shown", actor_of(visit), now, "in the console")
    staff_accounts.audit(
        visit.db, visit.account, "viewed_words", now, f"escalation:{escalation_id}"
    )
    return await _detail(request, visit, escalation_id, words=item.escalation.details or "")


routes = [
    Route("/escalations", index, methods=["GET"]),
    Route("/escalations/{escalation_id:int}", show, methods=["GET"]),
    Route("/escalations/{escalation_id:int}/acknowledge", acknowledge, methods=["POST"]),
    Route("/escalations/{escalation_id:int}/resolve", resolve, methods=["POST"]),
    Route("/escalations/{escalation_id:int}/words", words, methods=["POST"]),
]
