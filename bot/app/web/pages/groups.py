"""Groups: the list, a new group with its calendar worked out as staff type, one group's
calendar and patients, moving an event, and a patient's moves, reviews and discharge.

Every change calls the same services as the `pmp cohort …` and `pmp patient …` commands, so
the console and the command line do exactly the same to reminders and to patients' messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app.web.ids import number_in, record_id
from bot.app.web.security import Visit, first_send, problem, redirect, staff_page
from bot.db.models import Cohort, CohortEvent, Invite, Person
from bot.services import calendar_changes, cohorts, discharge, events, group_admin, people
from bot.services.cohorts import MODES, CohortError, CohortRequest
from bot.services.events import EventError
from bot.services.planner import Planner
from bot.services.staff_accounts import audit
from bot.time.calendar import DEFAULT_FAMILY_DAY, DEFAULT_QA_DAY, PROGRAMME_DAYS, WEEK_TWO
from bot.time.times import hhmm, parse_clock
from scheduler.reminders import paused

NAME_LIMIT = 80
LOCATION_LIMIT = 200
LINK_LIMIT = 500
# Notices a page may show after a change; anything else in ?done= is ignored.
NOTICES = {
    "created": "The group has been created.",
    "moved": "The change has been made. Reminders have been planned again.",
    "review": "The review has been booked. Their reminders follow it.",
    "discharged": "They have been discharged. Their reminders have stopped.",
    "transferred": "They have moved to this group. Their reminders follow its calendar.",
}


def _number(text: object) -> int | None:
    """A database id from a URL or a form; None for anything else (so: a 404, not a 500)."""
    return record_id(text)


def _today(visit: Visit) -> date:
    return visit.console.clock.now().astimezone(visit.console.settings.tz).date()


def _notice(request: Request) -> str:
    return NOTICES.get(request.query_params.get("done", ""), "")


async def _cohort(request: Request, visit: Visit) -> Cohort | None:
    cohort_id = _number(request.path_params.get("cohort_id"))
    return await visit.db.get(Cohort, cohort_id) if cohort_id is not None else None


def _gone(request: Request, visit: Visit) -> Response:
    return problem(visit.console, request, 404, "not_found")


# The list ----------------------------------------------------------------------------------


@staff_page()
async def index(request: Request, visit: Visit) -> Response:
    """Every group, newest start first, with how many patients have joined."""
    found = await cohorts.list_cohorts(visit.db)
    counts = dict(
        (
            await visit.db.execute(
                select(Person.cohort_id, func.count())
                .where(Person.role == "patient")
                .group_by(Person.cohort_id)
            )
        ).all()
    )
    by_cohort = await events.events_for_cohorts(visit.db, [c.id for c in found])
    first_days = {
        cohort_id: events.day_dates(found_events)[0] if found_events else None
        for cohort_id, found_events in by_cohort.items()
    }
    rows = [
        {
            "cohort": c,
            "patients": counts.get(c.id, 0),
            "first_day": first_days.get(c.id) or c.start_date,
        }
        for c in found
    ]
    return visit.page(request, "groups", rows=rows)


# A new group -------------------------------------------------------------------------------


def _form_values(source: Any) -> dict[str, str]:
    """What staff typed, as typed (shown back after an error)."""
    names = ("name", "start_date", "mode", "location", "video_link", "qa_day", "family_day")
    values = {name: str(source.get(name) or "") for name in names}
    values["allow_past"] = "yes" if source.get("allow_past") == "yes" else ""
    return values


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _day_number(text: str, allowed: range) -> int | None:
    return number_in(text, allowed)


def _preview(visit: Visit, values: dict[str, str]) -> dict[str, Any]:
    """The calendar a group would have, and why there is none yet if the date is not usable."""
    start = _date(values["start_date"])
    qa_day = _day_number(values["qa_day"], range(1, PROGRAMME_DAYS + 1)) or DEFAULT_QA_DAY
    family_day = _day_number(values["family_day"], WEEK_TWO) or DEFAULT_FAMILY_DAY
    if start is None:
        return {"calendar": None, "why": "no_date"}
    if start.weekday() != 0:
        return {"calendar": None, "why": "not_monday", "start": start}
    calendar = group_admin.preview_calendar(
        visit.console.content, start, qa_day, family_day, _today(visit)
    )
    return {"calendar": calendar, "why": "", "start": start}


def _check_new(values: dict[str, str], today: date) -> tuple[dict[str, str], CohortRequest | None]:
    """Errors by field (in the order of the form), or the request to make."""
    errors: dict[str, str] = {}
    name = values["name"].strip()
    if not name:
        errors["name"] = "Enter a name for the group"
    elif len(name) > NAME_LIMIT:
        errors["name"] = f"The name must be {NAME_LIMIT} characters or fewer"
    start = _date(values["start_date"])
    if not values["start_date"].strip():
        errors["start_date"] = "Enter the date of the first day"
    elif start is None:
        errors["start_date"] = "Enter the first day as a real date"
    elif start.weekday() != 0:
        errors["start_date"] = (
            f"The first day must be a Monday. {start.day} {start:%B %Y} is a {start:%A}"
        )
    elif start < today and values["allow_past"] != "yes":
        errors["start_date"] = (
            "The first day is in the past. Check the date. If the group has already started,"
            " tick the box to record it anyway"
        )
    mode = values["mode"]
    if mode not in MODES:
        errors["mode"] = "Choose in person or online"
    location = values["location"].strip()
    link = values["video_link"].strip()
    if mode == "in-person":
        if not location:
            errors["location"] = "Enter where the group meets"
        elif len(location) > LOCATION_LIMIT:
            errors["location"] = f"The place must be {LOCATION_LIMIT} characters or fewer"
    if mode == "online":
        if not link:
            errors["video_link"] = "Enter the video link"
        elif len(link) > LINK_LIMIT or not _https(link):
            errors["video_link"] = "Enter the full video link, starting with https://"
    qa_day = _day_number(values["qa_day"], range(1, PROGRAMME_DAYS + 1))
    if qa_day is None:
        errors["qa_day"] = "Choose the day of the doctor's session, from 1 to 12"
    family_day = _day_number(values["family_day"], WEEK_TWO)
    if family_day is None:
        errors["family_day"] = "Choose the family day, from day 5 to day 8"
    if errors or start is None or qa_day is None or family_day is None:
        return errors, None
    request = CohortRequest(name, start, mode, location, link, qa_day, family_day)
    try:
        return {}, cohorts.validate(request)
    except CohortError as error:  # a rule of the service this form does not know yet
        return {"name": str(error)}, None


def _https(link: str) -> bool:
    parsed = urlparse(link)
    return parsed.scheme == "https" and bool(parsed.netloc)


def _new_page(
    request: Request, visit: Visit, values: dict[str, str], errors: dict[str, str]
) -> Response:
    return visit.page(
        request,
        "group_new",
        status=400 if errors else 200,
        values=values,
        errors=errors,
        modes=MODES,
        qa_days=range(1, PROGRAMME_DAYS + 1),
        family_days=WEEK_TWO,
        **_preview(visit, values),
    )


@staff_page()
async def new(request: Request, visit: Visit) -> Response:
    """The form, with the model's usual days chosen."""
    values = _form_values({"qa_day": DEFAULT_QA_DAY, "family_day": DEFAULT_FAMILY_DAY})
    values["mode"] = "in-person"
    return _new_page(request, visit, values, {})


@staff_page()
async def preview(request: Request, visit: Visit) -> Response:
    """The calendar for what is typed so far (an htmx fragment)."""
    values = _form_values(request.query_params)
    return visit.page(request, "group_preview", **_preview(visit, values))


@staff_page()
async def create(request: Request, visit: Visit) -> Response:
    """Make the group once, however many times the form is sent."""
    values = _form_values(visit.form)
    today = _today(visit)
    errors, checked = _check_new(values, today)
    if checked is None:
        return _new_page(request, visit, values, errors)
    use = await first_send(visit, request)
    if isinstance(use, Response):
        return use
    now = visit.console.clock.now()
    earliest = None if values["allow_past"] == "yes" else today
    try:
        made = await cohorts.create_cohort(visit.db, checked, now, earliest=earliest)
    except CohortError as error:
        return _new_page(request, visit, values, {"start_date": str(error)})
    audit(visit.db, visit.account, "created_group", now, f"cohort:{made.id}")
    use.result_path = f"/groups/{made.id}?done=created"
    return redirect(use.result_path)


# One group ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientRow:
    """A patient as the group page lists them."""

    person: Person
    reference: str
    states: tuple[str, ...]
    paused_until: datetime | None


def patient_row(person: Person, now: datetime) -> PatientRow:
    """Reference, and each of joined / paused / unreachable / discharged that applies."""
    states = ["joined"]
    if paused(person, now):
        states.append("paused")
    if person.unreachable_at is not None:
        states.append("unreachable")
    if person.discharged_at is not None:
        states = ["discharged"]
    until = person.paused_until if "paused" in states else None
    return PatientRow(person, people.reference(person), tuple(states), until)


@staff_page()
async def show(request: Request, visit: Visit) -> Response:
    """A group's calendar and patients; looking at the patients is recorded."""
    cohort = await _cohort(request, visit)
    if cohort is None:
        return _gone(request, visit)
    now = visit.console.clock.now()
    today = _today(visit)
    content = visit.console.content
    calendar = [
        (group_admin.event_line(content, e, cohort), e.on_date >= today)
        for e in await events.events_of(visit.db, cohort)
    ]
    patients = [patient_row(p, now) for p in await people.patients_of(visit.db, cohort.id)]
    found = list(await visit.db.scalars(select(Invite).where(Invite.cohort_id == cohort.id)))
    audit(visit.db, visit.account, "viewed_patients", now, f"cohort:{cohort.id}")
    return visit.page(
        request,
        "group",
        cohort=cohort,
        calendar=calendar,
        patients=patients,
        invites_total=len(found),
        invites_used=sum(1 for i in found if i.used_at is not None),
        notice=_notice(request),
    )


# Moving an event ---------------------------------------------------------------------------


async def _event(request: Request, visit: Visit, cohort: Cohort) -> CohortEvent | None:
    try:
        kind, number = events.parse_event_name(str(request.path_params.get("event", "")))
    except EventError:
        return None
    for event in await events.events_of(visit.db, cohort):
        if event.kind == kind and event.number == number:
            return event
    return None


def _move_values(source: Any) -> dict[str, str]:
    return {
        "new_date": str(source.get("new_date") or "")[:20],
        "start_time": str(source.get("start_time") or "")[:20],
    }


def _check_move(values: dict[str, str]) -> tuple[dict[str, str], date | None, str | None]:
    errors: dict[str, str] = {}
    new_date = _date(values["new_date"])
    if new_date is None:
        errors["new_date"] = (
            "Enter the new date" if not values["new_date"].strip() else "Enter a real date"
        )
    start: str | None = None
    if values["start_time"].strip():
        parsed = parse_clock(values["start_time"])
        if parsed is None:
            errors["start_time"] = "Enter a time like 09:30, or leave it empty"
        else:
            start = hhmm(parsed)
    return errors, new_date, start


async def _move_page(
    request: Request,
    visit: Visit,
    cohort: Cohort,
    event: CohortEvent,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response:
    line = group_admin.event_line(visit.console.content, event, cohort)
    return visit.page(
        request,
        "group_move",
        status=400 if errors else 200,
        cohort=cohort,
        line=line,
        values=values,
        errors=errors,
    )


@staff_page()
async def move_form(request: Request, visit: Visit) -> Response:
    """Choose the new date and, if it changes, the start time."""
    cohort = await _cohort(request, visit)
    event = await _event(request, visit, cohort) if cohort else None
    if cohort is None or event is None:
        return _gone(request, visit)
    values = {"new_date": event.on_date.isoformat(), "start_time": ""}
    return await _move_page(request, visit, cohort, event, values, {})


@staff_page()
async def move_check(request: Request, visit: Visit) -> Response:
    """Show what the move will do, and the messages it will send, before doing it."""
    cohort = await _cohort(request, visit)
    event = await _event(request, visit, cohort) if cohort else None
    if cohort is None or event is None:
        return _gone(request, visit)
    values = _move_values(visit.form)
    errors, new_date, start = _check_move(values)
    if errors or new_date is None:
        return await _move_page(request, visit, cohort, event, values, errors)
    settings = visit.console.settings
    kind, number = event.kind, event.number
    try:
        seen = await group_admin.preview_move(
            visit.db,
            visit.console.content,
            settings.tz,
            cohort,
            kind,
            number,
            new_date,
            visit.console.clock.now(),
            start,
            Planner.of(visit.console.content, settings).times,
        )
    except (EventError, CohortError) as error:
        event = await _event(request, visit, cohort)  # read again after the rollback
        assert event is not None
        return await _move_page(request, visit, cohort, event, values, {"new_date": str(error)})
    event = await _event(request, visit, cohort)
    assert event is not None
    if not seen.changed:
        errors = {"new_date": "That is the date and time it has already. Choose another"}
        return await _move_page(request, visit, cohort, event, values, errors)
    return visit.page(
        request,
        "group_move_confirm",
        cohort=cohort,
        event_name=f"{kind}{number}",
        seen=seen,
        values={"new_date": new_date.isoformat(), "start_time": start or ""},
    )


@staff_page()
async def move_confirm(request: Request, visit: Visit) -> Response:
    """Move the event: reminders follow it and each patient it concerns is told."""
    cohort = await _cohort(request, visit)
    event = await _event(request, visit, cohort) if cohort else None
    if cohort is None or event is None:
        return _gone(request, visit)
    values = _move_values(visit.form)
    errors, new_date, start = _check_move(values)
    if errors or new_date is None:
        return await _move_page(request, visit, cohort, event, values, errors)
    use = await first_send(visit, request)
    if isinstance(use, Response):
        return use
    # A second send goes to the group, whatever became of the first.
    use.result_path = f"/groups/{cohort.id}?done=moved"
    settings = visit.console.settings
    now = visit.console.clock.now()
    name = f"{event.kind}{event.number}"
    try:
        move, told = await calendar_changes.move_and_tell(
            visit.db,
            visit.console.content,
            settings.tz,
            cohort,
            event.kind,
            event.number,
            new_date,
            now,
            start,
            Planner.of(visit.console.content, settings).times,
        )
    except (EventError, CohortError) as error:
        return await _move_page(request, visit, cohort, event, values, {"new_date": str(error)})
    if move.changed:
        detail = f"{name} {move.old_date.isoformat()} to {move.event.on_date.isoformat()}"
        detail += f" {start}" if start else ""
        audit(visit.db, visit.account, "moved_event", now, f"cohort:{cohort.id}", detail)
    visit.wrote_outbox = told > 0
    return redirect(use.result_path)


# One patient -------------------------------------------------------------------------------


async def _patient(request: Request, visit: Visit) -> tuple[Cohort, Person] | None:
    cohort = await _cohort(request, visit)
    person_id = _number(request.path_params.get("person_id"))
    if cohort is None or person_id is None:
        return None
    person = await visit.db.get(Person, person_id)
    if person is None or person.role != "patient" or person.cohort_id != cohort.id:
        return None
    return cohort, person


async def _patient_page(
    request: Request,
    visit: Visit,
    cohort: Cohort,
    person: Person,
    status: int = 200,
    error: str = "",
) -> Response:
    now = visit.console.clock.now()
    today = _today(visit)
    active = person.discharged_at is None
    return visit.page(
        request,
        "group_patient",
        status=status,
        cohort=cohort,
        row=patient_row(person, now),
        targets=await group_admin.transfer_targets(visit.db, person, today) if active else [],
        reviews=await group_admin.review_choices(visit.db, person, today),
        notice=_notice(request),
        error=error,
    )


@staff_page()
async def patient(request: Request, visit: Visit) -> Response:
    """One patient: status, settings, and what staff can change; looking is recorded."""
    found = await _patient(request, visit)
    if found is None:
        return _gone(request, visit)
    cohort, person = found
    now = visit.console.clock.now()
    audit(visit.db, visit.account, "viewed_patient", now, f"person:{person.id}")
    return await _patient_page(request, visit, cohort, person)


async def _target(visit: Visit, source: Any, person: Person) -> Cohort | None:
    target_id = _number(source.get("to"))
    if target_id is None:
        return None
    targets = await group_admin.transfer_targets(visit.db, person, _today(visit))
    return next((c for c in targets if c.id == target_id), None)


@staff_page()
async def transfer_check(request: Request, visit: Visit) -> Response:
    """What moving the patient to another group means, before it is done."""
    found = await _patient(request, visit)
    if found is None:
        return _gone(request, visit)
    cohort, person = found
    if person.discharged_at is not None:
        return await _patient_page(request, visit, cohort, person, 409, "discharged")
    target = await _target(visit, request.query_params, person)
    if target is None:
        return await _patient_page(request, visit, cohort, person, 400, "no_target")
    days = events.day_dates(await events.events_of(visit.db, target))
    return visit.page(
        request,
        "group_transfer_confirm",
        cohort=cohort,
        row=patient_row(person, visit.console.clock.now()),
        target=target,
        first_day=days[0],
        last_day=days[-1],
    )


@staff_page()
async def transfer(request: Request, visit: Visit) -> Response:
    """Move the patient: the new group's calendar, reminders planned again, the patient told."""
    found = await _patient(request, visit)
    if found is None:
        return _gone(request, visit)
    cohort, person = found
    target = await _target(visit, visit.form, person)
    if target is None or person.discharged_at is not None:
        error = "discharged" if person.discharged_at is not None else "no_target"
        return await _patient_page(request, visit, cohort, person, 400, error)
    use = await first_send(visit, request)
    if isinstance(use, Response):
        return use
    settings = visit.console.settings
    now = visit.console.clock.now()
    done = await group_admin.transfer(
        visit.db,
        visit.console.content,
        settings.tz,
        Planner.of(visit.console.content, settings).times,
        person,
        target,
        now,
    )
    audit(
        visit.db,
        visit.account,
        "moved_patient",
        now,
        f"person:{person.id}",
        f"cohort:{done.old_cohort_id} to cohort:{target.id}",
    )
    visit.wrote_outbox = done.told
    use.result_path = f"/groups/{target.id}/patients/{person.id}?done=transferred"
    return redirect(use.result_path)


@staff_page()
async def book_review(request: Request, visit: Visit) -> Response:
    """Book the patient on one of the reviews offered on their page."""
    found = await _patient(request, visit)
    if found is None:
        return _gone(request, visit)
    cohort, person = found
    event_id = _number(visit.form.get("event_id"))
    choices = await group_admin.review_choices(visit.db, person, _today(visit))
    offered = {c.event.id: c for options in choices.values() for c in options}
    choice = offered.get(event_id) if event_id is not None else None
    if choice is None:
        return await _patient_page(request, visit, cohort, person, 400, "no_review")
    use = await first_send(visit, request)
    if isinstance(use, Response):
        return use
    use.result_path = f"/groups/{cohort.id}/patients/{person.id}?done=review"
    if choice.current:
        return redirect(use.result_path)  # booked there already: nothing to send
    settings = visit.console.settings
    now = visit.console.clock.now()
    told = await group_admin.book_review_by_staff(
        visit.db,
        visit.console.content,
        settings.tz,
        Planner.of(visit.console.content, settings).times,
        person,
        choice.event,
        now,
    )
    detail = f"review{choice.event.number} cohort:{choice.cohort.id}"
    audit(visit.db, visit.account, "booked_review", now, f"person:{person.id}", detail)
    visit.wrote_outbox = told
    return redirect(use.result_path)


@staff_page()
async def discharge_check(request: Request, visit: Visit) -> Response:
    """Ask before discharging: it stops their reminders and sends the goodbye message."""
    found = await _patient(request, visit)
    if found is None:
        return _gone(request, visit)
    cohort, person = found
    if person.discharged_at is not None:
        return await _patient_page(request, visit, cohort, person, 409, "discharged")
    # The goodbye message thanks them for finishing: staff see it, and whether a review they
    # are booked on is still to come, before they send it to someone leaving early.
    reviews = await group_admin.review_choices(visit.db, person, _today(visit))
    booked = [(months, c) for months, choices in reviews.items() for c in choices if c.current]
    content = visit.console.content
    return visit.page(
        request,
        "group_discharge_confirm",
        cohort=cohort,
        row=patient_row(person, visit.console.clock.now()),
        last_review=max(booked, key=lambda found: found[0]) if booked else None,
        goodbye=await discharge.goodbye_text(
            visit.db, content, visit.console.settings.tz, person, visit.console.clock.now()
        ),
    )


@staff_page()
async def discharge_patient(request: Request, visit: Visit) -> Response:
    """Discharge now, as `pmp patient discharge` does."""
    found = await _patient(request, visit)
    if found is None:
        return _gone(request, visit)
    cohort, person = found
    use = await first_send(visit, request)
    if isinstance(use, Response):
        return use
    use.result_path = f"/groups/{cohort.id}/patients/{person.id}?done=discharged"
    settings = visit.console.settings
    now = visit.console.clock.now()
    done = await discharge.discharge(visit.db, visit.console.content, settings.tz, person, now)
    if done:
        audit(visit.db, visit.account, "discharged", now, f"person:{person.id}")
        visit.wrote_outbox = True
    return redirect(use.result_path)


GROUP = "/groups/{cohort_id}"
PATIENT = GROUP + "/patients/{person_id}"
routes = [
    Route("/groups", index, methods=["GET"]),
    Route("/groups/new", new, methods=["GET"]),
    Route("/groups/new", create, methods=["POST"]),
    Route("/groups/preview", preview, methods=["GET"]),
    Route(GROUP, show, methods=["GET"]),
    Route(GROUP + "/events/{event}/move", move_form, methods=["GET"]),
    Route(GROUP + "/events/{event}/move", move_check, methods=["POST"]),
    Route(GROUP + "/events/{event}/move/confirm", move_confirm, methods=["POST"]),
    Route(PATIENT, patient, methods=["GET"]),
    Route(PATIENT + "/transfer", transfer_check, methods=["GET"]),
    Route(PATIENT + "/transfer", transfer, methods=["POST"]),
    Route(PATIENT + "/review", book_review, methods=["POST"]),
    Route(PATIENT + "/discharge", discharge_check, methods=["GET"]),
    Route(PATIENT + "/discharge", discharge_patient, methods=["POST"]),
]
