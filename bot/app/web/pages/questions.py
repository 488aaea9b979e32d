"""Questions for the doctor: the groups with open questions, one group's list (near-duplicates
together, late ones apart), marking them answered, and the list as CSV or Markdown.

Marking answered calls the same service as `pmp questions answered`, so each patient is told
once, out of their quiet hours.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app.web.ids import MAX_ID
from bot.app.web.security import Visit, first_send, problem, redirect, staff_page
from bot.db.models import Cohort
from bot.numbers import whole_number
from bot.services import question_view, questions, staff_accounts
from bot.services.cohorts import list_cohorts
from bot.services.planner import Planner

# The files staff download; the service writes both (and keeps patients' words inert in each).
FORMATS = {"csv": "text/csv; charset=utf-8", "md": "text/markdown; charset=utf-8"}


async def _cohort(request: Request, visit: Visit) -> Cohort | None:
    """The group the path names, if there is one."""
    value = request.path_params["group_id"]
    if not isinstance(value, int) or not 0 < value <= MAX_ID:
        return None
    return await visit.db.get(Cohort, value)


@staff_page()
async def index(request: Request, visit: Visit) -> Response:
    """Groups with questions waiting, and every group."""
    return visit.page(
        request,
        "questions",
        waiting=await questions.groups_with_open_questions(visit.db),
        groups=await list_cohorts(visit.db),
    )


async def _group_page(
    request: Request, visit: Visit, cohort: Cohort, status: int = 200, error: str = ""
) -> Response:
    console = visit.console
    times = Planner.of(console.content, console.settings).times
    window = await questions.window_of(
        visit.db, console.content, cohort, times, console.settings.tz
    )
    now = console.clock.now()
    staff_accounts.audit(visit.db, visit.account, "viewed_questions", now, f"cohort:{cohort.id}")
    return visit.page(
        request,
        "question_group",
        status=status,
        cohort=cohort,
        window=window,
        phase=window.phase(now) if window else "",
        found=await question_view.group_questions(visit.db, cohort.id),
        marked=whole_number(request.query_params.get("marked", "")),
        told=whole_number(request.query_params.get("told", "")) or 0,
        error=error,
    )


@staff_page()
async def group(request: Request, visit: Visit) -> Response:
    """One group's questions; viewing them is recorded."""
    cohort = await _cohort(request, visit)
    if cohort is None:
        return problem(visit.console, request, 404, "not_found")
    return await _group_page(request, visit, cohort)


@staff_page()
async def answered(request: Request, visit: Visit) -> Response:
    """Mark one question, or all the group's open ones, answered: once, however often sent."""
    cohort = await _cohort(request, visit)
    if cohort is None:
        return problem(visit.console, request, 404, "not_found")
    chosen: list[int] | None = None
    if visit.form.get("all") != "yes":
        sent = [str(value) for value in visit.form.getlist("question")]
        chosen = question_view.chosen_ids(sent) if sent else None
        if not chosen:
            return await _group_page(request, visit, cohort, 400, error="none_chosen")
    use = await first_send(visit, request)
    if isinstance(use, Response):
        return use  # a double click: the first send did the work
    console = visit.console
    now = console.clock.now()
    done = await questions.mark_answered(
        visit.db, console.content, console.settings.tz, cohort.id, chosen, now
    )
    if done.marked:
        what = "all open" if chosen is None else ", ".join(f"#{n}" for n in chosen)
        staff_accounts.audit(
            visit.db,
            visit.account,
            "marked_answered",
            now,
            f"cohort:{cohort.id}",
            f"{done.marked} marked ({what})",
        )
    visit.wrote_outbox = done.patients_told > 0
    path = f"/questions/{cohort.id}?marked={done.marked}&told={done.patients_told}"
    use.result_path = path
    return redirect(path)


async def _download(request: Request, visit: Visit, suffix: str) -> Response:
    cohort = await _cohort(request, visit)
    if cohort is None:
        return problem(visit.console, request, 404, "not_found")
    console = visit.console
    tz = console.settings.tz
    now = console.clock.now()
    listed = await questions.doctor_list(visit.db, cohort.id)
    if suffix == "csv":
        # With a byte-order mark, Excel reads the file as UTF-8 (names, right-to-left words).
        text = "\ufeff" + questions.as_csv(listed, tz)
    else:
        times = Planner.of(console.content, console.settings).times
        window = await questions.window_of(visit.db, console.content, cohort, times, tz)
        text = questions.as_markdown(console.content, cohort, window, listed)
    staff_accounts.audit(
        visit.db,
        visit.account,
        "downloaded_questions",
        now,
        f"cohort:{cohort.id}",
        f"{suffix}, {len(listed)} questions",
    )
    name = questions.document_name(cohort, now, tz, suffix)
    return Response(
        text,
        media_type=FORMATS[suffix],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@staff_page()
async def as_csv(request: Request, visit: Visit) -> Response:
    """The doctor's list as CSV (a file to save)."""
    return await _download(request, visit, "csv")


@staff_page()
async def as_markdown(request: Request, visit: Visit) -> Response:
    """The doctor's list as Markdown (a file to save)."""
    return await _download(request, visit, "md")


routes = [
    Route("/questions", index, methods=["GET"]),
    Route("/questions/{group_id:int}", group, methods=["GET"]),
    Route("/questions/{group_id:int}.csv", as_csv, methods=["GET"]),
    Route("/questions/{group_id:int}.md", as_markdown, methods=["GET"]),
    Route("/questions/{group_id:int}/answered", answered, methods=["POST"]),
]
