"""Home practice: set tonight's and tomorrow morning's practice after a programme day, say
how it went before the next day's review, and a short guided relaxation at any time."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any

from bot.db.models import Cohort, CohortEvent, Person, PracticePlan
from bot.messages import Button, ButtonRows, Payload, Reply
from bot.services import practice
from bot.services.planner import PRACTICE_CHECK, PRACTICE_PLAN, PRACTICE_WEEKEND, sessions_of
from bot.services.practice import AREAS, OBSTACLES_MAX_LENGTH, OUTCOMES, TARGET_MAX_LENGTH, Item
from bot.time.times import at, parse_clock
from dialogs import engine
from dialogs.engine import Form, Option, Step
from dialogs.flow import Flow, busy_elsewhere
from dialogs.turn import Turn
from scheduler.nudges import NudgeContext
from scheduler.reminders import paused

log = logging.getLogger(__name__)

PLAN_FORM_NAME = "practice_plan"
REVIEW_FORM_NAME = "practice_review"
PREFIX = "p"  # p:set:<event id>, p:review:<plan id>
RELAX_PREFIX = "x"  # x:<script>
SCRIPTS = ("breathing", "body_scan")
NOTHING = "none"


def _items_json(items: list[Item]) -> list[dict[str, Any]]:
    return [item.to_json() for item in items]


def _button(turn: Turn, label: str, payload: str) -> Button:
    return Button(turn.content.label(label), payload)


def relax_buttons(turn: Turn) -> ButtonRows:
    """One button per relaxation script."""
    return tuple((_button(turn, f"relax_{name}", f"{RELAX_PREFIX}:{name}"),) for name in SCRIPTS)


# The programme day's self-directed relaxation, and how near it /relax counts as "now".
RELAX_SESSION = time(13, 30)
RELAX_WINDOW = timedelta(minutes=30)


def _local_today(turn: Turn) -> date:
    return turn.now.astimezone(turn.settings.tz).date()


async def begin(turn: Turn) -> None:
    """/plan: look back on the last plan if it is waiting, else set (or see) tonight's."""
    person = turn.person
    if person is None:
        return
    days = await practice.programme_days(turn.session, person)
    today = _local_today(turn)
    if not days or today < days[0].on_date:
        turn.say("practice/not_yet", first_day=days[0].on_date if days else None)
        return
    waiting = await practice.waiting_for_review(turn.session, person, days, today)
    if waiting is not None:
        await _start_review(turn, waiting)
        return
    event = practice.day_to_plan_after(days, today)
    if event is None:
        turn.say("practice/after_programme", relax_buttons(turn))
        return
    existing = await practice.plan_for(turn.session, person.id, event.id)
    if existing is not None and practice.items_of(existing):
        reviewed = existing.reviewed_at is not None
        # Once looked back on, a plan is kept as it was: changing it would lose the answers.
        change = (
            () if reviewed else ((_button(turn, "practice_change", f"{PREFIX}:set:{event.id}"),),)
        )
        turn.say(
            "practice/current",
            change,
            items=_items_json(practice.items_of(existing)),
            number=event.number,
            reviewed=reviewed,
            **_when_asked(turn, person, days, event),
        )
        return
    if event.on_date == today and turn.now < await _finished(turn, event):
        turn.say("practice/after_today", relax_buttons(turn))
        return
    await engine.start(turn, PLAN_FORM, {"event_id": event.id, "number": event.number})


async def _finished(turn: Turn, event: CohortEvent) -> datetime:
    """When a programme day's last session begins (its "Finish"), as a moment."""
    cohort = await turn.session.get(Cohort, event.cohort_id)
    sessions = sessions_of(turn.content, event, cohort)
    finish = parse_clock(sessions[-1]["time"]) if sessions else None
    return at(event.on_date, finish or time(15, 0), turn.settings.tz)


def _when_asked(
    turn: Turn, person: Person, days: list[CohortEvent], event: CohortEvent
) -> dict[str, Any]:
    """The next programme day, and whether its check-in will come (not while paused)."""
    following = practice.next_day_after(days, event)
    checked = following is not None and not paused(
        person, at(following.on_date, time(8), turn.settings.tz)
    )
    return {"next_day": following.on_date if following else None, "checked": checked}


async def _start_review(turn: Turn, plan: PracticePlan) -> None:
    items = practice.items_of(plan)
    event = await turn.session.get(CohortEvent, plan.event_id)
    data = {
        "plan_id": plan.id,
        "items": _items_json(items),
        "number": event.number if event is not None else 0,
        "has_tonight": any(i.when == "tonight" for i in items),
        "has_morning": any(i.when == "morning" for i in items),
    }
    await engine.start(turn, REVIEW_FORM, data)


async def press(turn: Turn, payload: str) -> None:
    """A home-practice button from a nudge: set the plan for a day, or say how it went."""
    person = turn.person
    read = Payload.read(payload)
    number = read.number(1) if read.size == 2 else None
    if person is None or number is None or read.text(0) not in ("set", "review"):
        turn.say("common/old_button")
        return
    if busy_elsewhere(turn, (PLAN_FORM_NAME, REVIEW_FORM_NAME)):
        return
    if read.text(0) == "set":
        await _press_set(turn, person, number)
    else:
        await _press_review(turn, person, number)


async def _press_set(turn: Turn, person: Person, event_id: int) -> None:
    days = await practice.programme_days(turn.session, person)
    event = next((d for d in days if d.id == event_id), None)
    if event is None:
        turn.say("common/old_button")
        return
    following = practice.next_day_after(days, event)
    today = _local_today(turn)
    if event.on_date > today or (following is not None and following.on_date <= today):
        # A plan for a night that has not come, or is long past: start from where they are.
        turn.say("practice/moved_on")
        await begin(turn)
        return
    existing = await practice.plan_for(turn.session, person.id, event.id)
    if existing is not None and existing.reviewed_at is not None:
        await _press_review(turn, person, existing.id)  # shows it, with how it went
        return
    await engine.start(turn, PLAN_FORM, {"event_id": event.id, "number": event.number})


async def _press_review(turn: Turn, person: Person, plan_id: int) -> None:
    plan = await turn.session.get(PracticePlan, plan_id)
    if plan is None or plan.person_id != person.id:
        turn.say("common/old_button")
        return
    if plan.reviewed_at is not None:
        turn.say(
            "practice/reviewed",
            items=_items_json(practice.items_of(plan)),
            obstacles=plan.obstacles,
            already=True,
        )
        return
    await _start_review(turn, plan)


async def _finish_plan(turn: Turn, data: dict[str, Any]) -> None:
    """Save the plan and read it back."""
    person = turn.person
    event = await turn.session.get(CohortEvent, data["event_id"])
    if person is None or event is None:
        return
    items = [
        Item(when, data[when], data[f"{when}_target"])
        for when in practice.WHEN
        if data.get(when) not in (None, NOTHING) and data.get(f"{when}_target")
    ]
    if not items:
        if await practice.plan_for(turn.session, person.id, event.id) is not None:
            # Changed to nothing at all: no check-in about practice they let go.
            await practice.save_plan(turn.session, person, event, [], turn.now)
        turn.say("practice/nothing_planned", relax_buttons(turn))
        return
    await practice.save_plan(turn.session, person, event, items, turn.now)
    days = await practice.programme_days(turn.session, person)
    # While reminders are paused the check-in will not come: /plan still asks, so say that.
    turn.say("practice/saved", items=_items_json(items), **_when_asked(turn, person, days, event))
    log.info("practice plan saved", extra={"person_id": person.id, "event_id": event.id})


async def _finish_review(turn: Turn, data: dict[str, Any]) -> None:
    """Keep how it went, and show the plan and answers together for the review."""
    person = turn.person
    plan = await turn.session.get(PracticePlan, data["plan_id"])
    if person is None or plan is None or plan.person_id != person.id:
        return
    outcomes = {
        when: data[f"{when}_outcome"] for when in practice.WHEN if f"{when}_outcome" in data
    }
    items = practice.record_review(plan, outcomes, data.get("obstacles") or None, turn.now)
    turn.say(
        "practice/reviewed",
        items=_items_json(items),
        obstacles=plan.obstacles,
        already=False,
    )
    log.info("practice reviewed", extra={"person_id": person.id, "plan_id": plan.id})


def _area_options(when: str) -> tuple[Option, ...]:
    return (
        *(Option(area, f"practice_area_{area}") for area in AREAS),
        Option(NOTHING, f"practice_nothing_{when}"),
    )


def _all_done(data: dict[str, Any]) -> bool:
    answers = [data.get(f"{when}_outcome") for when in practice.WHEN]
    return all(answer in (None, "done") for answer in answers)


def _plan_vars(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
    when = "morning" if turn.state().step == "morning_target" else "tonight"
    return {
        "number": data.get("number", 0),
        "area": data.get(when, ""),
        "when": when,
        "limit": TARGET_MAX_LENGTH,
    }


def _review_vars(_turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
    items = data.get("items", [])
    return {
        "number": data.get("number", 0),
        "tonight": next((i for i in items if i["when"] == "tonight"), None),
        "morning": next((i for i in items if i["when"] == "morning"), None),
        "limit": OBSTACLES_MAX_LENGTH,
    }


PLAN_FORM = Form(
    name=PLAN_FORM_NAME,
    steps=(
        Step("tonight", "practice/ask_tonight", "choice", options=_area_options("tonight")),
        Step(
            "tonight_target",
            "practice/ask_target",
            "text",
            max_length=TARGET_MAX_LENGTH,
            invalid="practice/target_invalid",
            skip_if=lambda data: data.get("tonight") == NOTHING,
        ),
        Step("morning", "practice/ask_morning", "choice", options=_area_options("morning")),
        Step(
            "morning_target",
            "practice/ask_target",
            "text",
            max_length=TARGET_MAX_LENGTH,
            invalid="practice/target_invalid",
            skip_if=lambda data: data.get("morning") == NOTHING,
        ),
    ),
    finish=_finish_plan,
    prompt_vars=_plan_vars,
)

_OUTCOME_OPTIONS = tuple(Option(value, f"practice_outcome_{value}") for value in OUTCOMES)
REVIEW_FORM = Form(
    name=REVIEW_FORM_NAME,
    steps=(
        Step(
            "tonight_outcome",
            "practice/ask_outcome_tonight",
            "choice",
            options=_OUTCOME_OPTIONS,
            skip_if=lambda data: not data.get("has_tonight"),
        ),
        Step(
            "morning_outcome",
            "practice/ask_outcome_morning",
            "choice",
            options=_OUTCOME_OPTIONS,
            skip_if=lambda data: not data.get("has_morning"),
        ),
        Step(
            "obstacles",
            "practice/ask_obstacles",
            "text",
            max_length=OBSTACLES_MAX_LENGTH,
            invalid="practice/obstacles_invalid",
            skip_label="skip",
            skip_if=_all_done,
        ),
    ),
    finish=_finish_review,
    prompt_vars=_review_vars,
)


# --- nudges -----------------------------------------------------------------------------


async def _plan_nudge(ctx: NudgeContext) -> Reply | None:
    """After a programme day: an invitation to set tonight's and tomorrow's practice."""
    event = ctx.event
    if event is None or await practice.plan_for(ctx.session, ctx.person.id, event.id):
        return None  # already set (they used /plan before the nudge came)
    text = ctx.content.render("practice/nudge_plan", name=ctx.person.display_name)
    label = ctx.content.label("practice_set")
    return Reply(text, ((Button(label, f"{PREFIX}:set:{event.id}"),),))


async def _unreviewed_before(ctx: NudgeContext, before: CohortEvent) -> PracticePlan | None:
    days = await practice.programme_days(ctx.session, ctx.person)
    return await practice.waiting_for_review(ctx.session, ctx.person, days, before.on_date)


async def _check_nudge(ctx: NudgeContext) -> Reply | None:
    """Before the next day's 09:30 review: how did last night's and this morning's go?"""
    event = ctx.event
    if event is None:
        return None
    plan = await _unreviewed_before(ctx, event)
    if plan is None:
        return None  # no plan was set, or they have already said how it went
    text = ctx.content.render(
        "practice/nudge_check",
        name=ctx.person.display_name,
        items=_items_json(practice.items_of(plan)),
    )
    label = ctx.content.label("practice_how_it_went")
    return Reply(text, ((Button(label, f"{PREFIX}:review:{plan.id}"),),))


async def _weekend_nudge(ctx: NudgeContext) -> Reply | None:
    """The lighter Saturday check-in: optional, with a relaxation on offer."""
    event = ctx.event
    if event is None:
        return None
    saturday = ctx.reminder.due_at.astimezone(ctx.tz).date()
    days = await practice.programme_days(ctx.session, ctx.person)
    plan = await practice.waiting_for_review(ctx.session, ctx.person, days, saturday)
    rows: list[tuple[Button, ...]] = []
    if plan is not None:
        label = ctx.content.label("practice_how_it_went")
        rows.append((Button(label, f"{PREFIX}:review:{plan.id}"),))
    rows.append((Button(ctx.content.label("practice_relax"), f"{RELAX_PREFIX}:menu"),))
    text = ctx.content.render(
        "practice/nudge_weekend", name=ctx.person.display_name, has_plan=plan is not None
    )
    return Reply(text, tuple(rows))


# --- relaxation -------------------------------------------------------------------------


async def relax(turn: Turn) -> None:
    """/relax: the scripts on offer; around 13:30 on a programme day, it is that session."""
    person = turn.person
    session_time = False
    if person is not None:
        days = await practice.programme_days(turn.session, person)
        today = _local_today(turn)
        if any(d.on_date == today for d in days):
            starts = at(today, RELAX_SESSION, turn.settings.tz)
            session_time = starts - RELAX_WINDOW <= turn.now <= starts + RELAX_WINDOW
    turn.say("practice/relax_menu", relax_buttons(turn), session_time=session_time)


async def relax_press(turn: Turn, payload: str) -> None:
    """A relaxation button: the chosen script, or the list of them."""
    name = Payload.read(payload).rest(0)
    if name == "menu":
        await relax(turn)
        return
    if name not in SCRIPTS:
        turn.say("common/old_button")
        return
    turn.say(f"practice/relax_{name}")


FLOW = Flow(
    "plan",
    begin,
    forms=(PLAN_FORM, REVIEW_FORM),
    asides={PREFIX: press},
    nudges={
        PRACTICE_PLAN: _plan_nudge,
        PRACTICE_CHECK: _check_nudge,
        PRACTICE_WEEKEND: _weekend_nudge,
    },
)
RELAX_FLOW = Flow("relax", relax, asides={RELAX_PREFIX: relax_press})
