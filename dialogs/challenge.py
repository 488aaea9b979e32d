"""The thought challenge: plan a practical to test a thought, get nudged, reflect, share a card."""

# Planning and reflecting are small engine forms chained together. A belief rating and the
# nudge time are one-step forms of their own, so their buttons (0 to 100, "This evening") sit
# beside a typed answer ("70%", "tomorrow 4pm") and a time can be checked against the clock.
# Buttons on nudges, cards and lists are stateless (`c:<action>:<id>`): they name the challenge,
# work from any old message, and only for the challenge's owner.

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

from bot.db.models import ThoughtChallenge
from bot.messages import Button, ButtonRows, Payload, Reply
from bot.numbers import whole_number
from bot.services import challenges, people
from bot.services.challenges import NUDGE_USEFUL_FOR, PLANNED, REFLECT_SLOT, Plan, Reflection
from bot.services.planner import CHALLENGE_NUDGE
from bot.time.times import at, parse_clock
from dialogs.engine import Form, Option, Step, start
from dialogs.flow import Flow, busy_elsewhere
from dialogs.turn import Turn
from scheduler.nudges import NudgeContext
from scheduler.reminders import paused

NAME = "challenge"
PREFIX = "c"
# Aside actions: reflect, view the card, share (ask), share (yes), keep private, new, list.
REFLECT, CARD, SHARE, SHARE_YES, KEEP, NEW, LIST = "r", "v", "s", "y", "k", "n", "l"
SHORT_MAX = 500
LONG_MAX = 1000
BELIEF_MAX = 20
WHEN_MAX = 60
LISTED_BUTTONS = 5
TEXT_INVALID = "challenge/text_invalid"
BELIEF_CHOICES = tuple((str(n), f"ch_belief_{n}") for n in (0, 25, 50, 75, 100))
EVENING, MORNING, TOMORROW_EVENING, NO_NUDGE = "evening", "morning", "tomorrow_evening", "none"
WHEN_LABELS = {
    EVENING: "ch_when_evening",
    MORNING: "ch_when_morning",
    TOMORROW_EVENING: "ch_when_tomorrow_evening",
    NO_NUDGE: "ch_when_none",
}
_WHEN_WORDS = {
    "this evening": EVENING,
    "tonight": EVENING,
    "evening": EVENING,
    "tomorrow morning": MORNING,
    "morning": MORNING,
    "tomorrow evening": TOMORROW_EVENING,
    "tomorrow night": TOMORROW_EVENING,
    "no reminder": NO_NUDGE,
    "no reminders": NO_NUDGE,
    "none": NO_NUDGE,
    "no": NO_NUDGE,
    "no thanks": NO_NUDGE,
    "no thank you": NO_NUDGE,
}
SMALL_HOURS_END = time(5, 0)
_DAYS = {
    "today": "today",
    "tonight": "today",
    "tomorrow": "tomorrow",
    "tomorow": "tomorrow",
    "tmrw": "tomorrow",
    "tmr": "tomorrow",
}
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_FILLER = {"at", "on", "this", "next", "by", "around", "about"}
_PERCENT = re.compile(r"^(\d{1,3})\s*(?:%|percent|per cent)?$")


# --- reading answers -------------------------------------------------------------------------


def percent(text: str) -> str | None:
    """'70', '70%', '70 percent' → '70'; None unless a whole number from 0 to 100."""
    match = _PERCENT.match(text.strip().lower())
    number = whole_number(match.group(1)) if match else None
    return str(number) if number is not None and 0 <= number <= 100 else None


def _weekday(word: str) -> str | None:
    """'sat', 'Saturday', 'tues' → 'sat'."""
    if len(word) < 3:
        return None
    for short, full in zip(_WEEKDAYS, _WEEKDAY_NAMES, strict=True):
        if full.startswith(word):
            return short
    return None


def when_text(text: str) -> str | None:
    """'This evening' → 'evening', 'tomorrow 4pm' → 'tomorrow@16:00', '18:30' → '@18:30'."""
    # Read without the clock (the engine's check); whether it has gone is seen on finishing.
    words = " ".join(text.strip().lower().rstrip(".!").split())
    if words in WHEN_LABELS:  # a button's value
        return words
    if words in _WHEN_WORDS:
        return _WHEN_WORDS[words]
    day = ""
    rest = []
    for word in words.replace(",", " ").split():
        found = _DAYS.get(word) or _weekday(word)
        if found and not day:
            day = found
        elif word not in _FILLER:
            rest.append(word)
    clock = parse_clock(" ".join(rest)) if rest else None
    return f"{day}@{clock:%H:%M}" if clock is not None else None


def when_moment(value: str, turn: Turn) -> datetime | None:
    """The moment a canonical nudge time means now, for this person; None for no nudge."""
    person = turn.person
    assert person is not None
    tz = turn.settings.tz
    today = turn.now.astimezone(tz).date()
    evening = parse_clock(person.evening_time) or time(18, 0)
    morning = parse_clock(person.morning_time) or time(7, 45)
    tomorrow = today + timedelta(days=1)
    if value == NO_NUDGE:
        return None
    if value == EVENING:
        return at(today, evening, tz)
    if value == MORNING:
        # Said in the small hours, "tomorrow morning" is the morning a few hours away.
        small_hours = turn.now.astimezone(tz).time() < SMALL_HOURS_END
        return at(today if small_hours else tomorrow, morning, tz)
    if value == TOMORROW_EVENING:
        return at(tomorrow, evening, tz)
    day, _, clock_text = value.partition("@")
    clock = parse_clock(clock_text) or evening
    if day == "tomorrow":
        return at(tomorrow, clock, tz)
    if day in _WEEKDAYS:
        ahead = (_WEEKDAYS.index(day) - today.weekday()) % 7
        if ahead == 0 and at(today, clock, tz) <= turn.now:
            ahead = 7  # "Thu 10:00" said on a Thursday afternoon: next week's
        return at(today + timedelta(days=ahead), clock, tz)
    return at(today, clock, tz)


# --- asking ----------------------------------------------------------------------------------


def _prompt_vars(turn: Turn, data: dict[str, Any]) -> Mapping[str, Any]:
    """The thought (kept in view) and the current step's length limit."""
    form = engine_form(turn)
    step = form.step(turn.state().step or form.steps[0].name) if form else None
    return {
        "thought": data.get("thought", ""),
        "belief": data.get("belief", 0),
        "limit": step.max_length if step else SHORT_MAX,
    }


def engine_form(turn: Turn) -> Form | None:
    """The challenge form under way, if any."""
    state = turn.conversation
    return FORMS.get(state.dialog or "") if state is not None else None


async def _ask_belief(turn: Turn, form: Form, data: dict[str, Any]) -> None:
    await start(turn, form, data)


async def _ask_when(turn: Turn, data: dict[str, Any]) -> None:
    await start(turn, WHEN_FORM, data)


def _belief_answers(_turn: Turn) -> tuple[Option, ...]:
    """0, 25, 50, 75 and 100% as buttons; any whole number typed is taken too."""
    return tuple(Option(value, label) for value, label in BELIEF_CHOICES)


def _when_answers(turn: Turn) -> tuple[Option, ...]:
    """The nudge times still ahead, as buttons; a typed day and time is taken too."""
    choices = [Option(value, label) for value, label in WHEN_LABELS.items()]
    moment = when_moment(EVENING, turn)
    if moment is not None and moment <= turn.now + timedelta(minutes=10):
        choices = choices[1:]  # this evening's time has gone
    return tuple(choices)


def _text_step(name: str, limit: int = SHORT_MAX, **extra: Any) -> Step:
    return Step(
        name, f"challenge/ask_{name}", "text", max_length=limit, invalid=TEXT_INVALID, **extra
    )


def _percent_step(name: str) -> Step:
    return Step(
        name,
        f"challenge/ask_{name}",
        "text",
        max_length=BELIEF_MAX,
        invalid="challenge/belief_invalid",
        clean=percent,
        answers_for=_belief_answers,
    )


# --- planning --------------------------------------------------------------------------------


async def begin(turn: Turn) -> None:
    """`/challenge`: reflect on one awaiting, or plan a new one."""
    person = turn.person
    if person is None or person.role != "patient":
        turn.say("challenge/patients_only")
        return
    waiting = await challenges.awaiting(turn.session, person)
    if waiting is None:
        await _plan_new(turn)
        return
    buttons = (
        (_aside(turn, "ch_reflect_now", REFLECT, waiting.id),),
        (_aside(turn, "ch_new", NEW),),
        (_aside(turn, "ch_past", LIST),),
    )
    turn.say("challenge/awaiting", buttons, challenge=waiting)


async def _plan_new(turn: Turn) -> None:
    turn.say("challenge/intro")
    await start(turn, THOUGHT_FORM)


async def _thought_given(turn: Turn, data: dict[str, Any]) -> None:
    await _ask_belief(turn, BELIEF_FORM, data)


async def _belief_given(turn: Turn, data: dict[str, Any]) -> None:
    data["belief"] = int(data["belief"])
    await start(turn, PLAN_FORM, data)


async def _plan_given(turn: Turn, data: dict[str, Any]) -> None:
    await _ask_when(turn, data)


async def _when_given(turn: Turn, data: dict[str, Any]) -> None:
    """Check the time against the clock, then save the challenge and its nudges."""
    person = turn.person
    if person is None:
        return
    value = data.pop("when")
    asked = when_moment(value, turn)
    if asked is not None and asked <= turn.now:
        turn.say("challenge/when_past", asked=asked)
        await _ask_when(turn, data)
        return
    tz = turn.settings.tz
    nudge = None
    quiet_night = False
    if asked is not None:
        due = challenges.nudge_time(person, asked, tz, turn.now)
        nudge = (due, asked + NUDGE_USEFUL_FOR) if due is not None else None
        quiet_night = due is None
    reflect_at = await challenges.reflect_time(
        turn.session, turn.content, person, asked or turn.now, tz
    )
    plan = Plan(
        thought=data["thought"],
        belief=data["belief"],
        practical=data["practical"],
        expected=data["expected"],
        obstacles=data.get("obstacles") or None,
    )
    challenge = await challenges.create(turn.session, person, plan, nudge, reflect_at, turn.now, tz)
    # Reminders do not go to someone discharged, nor while paused: say so, promise nothing.
    held = None
    if person.discharged_at is not None:
        held = "finished"
    elif paused(person, nudge[0] if nudge else reflect_at):
        held = "paused"
    turn.say(
        "challenge/saved",
        ((_aside(turn, "ch_reflect_now", REFLECT, challenge.id),),),
        asked=asked,
        nudge_at=nudge[0] if nudge else None,
        reflect_at=reflect_at,
        quiet_night=quiet_night,
        held=held,
    )


# --- reflecting ------------------------------------------------------------------------------


async def _reflect(turn: Turn, challenge: ThoughtChallenge) -> None:
    data = {
        "challenge_id": challenge.id,
        "thought": challenge.thought,
        "belief": challenge.belief_before,
    }
    await start(turn, REFLECT_FORM, data)


async def _words_given(turn: Turn, data: dict[str, Any]) -> None:
    await _ask_belief(turn, BELIEF_AFTER_FORM, data)


async def _reflection_given(turn: Turn, data: dict[str, Any]) -> None:
    """Save the reflection (all of it at once) and show the card."""
    person = turn.person
    if person is None:
        return
    challenge = await challenges.owned(turn.session, person, int(data["challenge_id"]))
    if challenge is None:
        turn.say("challenge/not_found")
        return
    reflection = Reflection(
        happened=data["happened"],
        came_true=data["came_true"],
        learned=data["learned"],
        balanced=data["balanced"],
        belief_after=int(data["belief_after"]),
    )
    if not challenges.reflect(challenge, reflection, turn.now):
        turn.say("challenge/already_reflected")
    _card(turn, challenge, fresh=True)


def _card(turn: Turn, challenge: ThoughtChallenge, fresh: bool = False) -> None:
    """The summary card to bring to the feedback session."""
    rows: list[tuple[Button, ...]] = []
    if challenge.status == PLANNED:
        rows.append((_aside(turn, "ch_reflect_now", REFLECT, challenge.id),))
    elif challenge.shared_at is None:
        rows.append((_aside(turn, "ch_share", SHARE, challenge.id),))
    rows.append((_aside(turn, "ch_past", LIST),))
    turn.say("challenge/card", tuple(rows), challenge=challenge, fresh=fresh)


# --- stateless buttons -----------------------------------------------------------------------


def _aside(turn: Turn, label: str, action: str, challenge_id: int | None = None) -> Button:
    tail = f":{challenge_id}" if challenge_id is not None else ""
    return Button(turn.content.label(label), f"{PREFIX}:{action}{tail}")


def _past(turn: Turn) -> ButtonRows:
    """A button to the list of past challenges."""
    return ((_aside(turn, "ch_past", LIST),),)


async def aside(turn: Turn, payload: str) -> None:
    """A press on a challenge button from any message (the router re-prompts any form)."""
    person = turn.person
    read = Payload.read(payload)
    action = read.text(0)
    if person is None or person.role != "patient":
        turn.say("challenge/patients_only")
        return
    if action == LIST:
        await _list(turn)
        return
    if action == NEW:
        if busy_elsewhere(turn):
            return
        await _plan_new(turn)
        return
    number = read.number(1, whole=True)
    challenge = await challenges.owned(turn.session, person, number) if number else None
    if challenge is None or action not in (REFLECT, CARD, SHARE, SHARE_YES, KEEP):
        # Someone else's, or a button we never made: say nothing about whose it is.
        turn.say("challenge/not_found")
        return
    if action == REFLECT:
        if challenge.status != PLANNED:
            turn.say("challenge/already_reflected")
            _card(turn, challenge)
        elif not busy_elsewhere(turn):
            await _reflect(turn, challenge)
    elif action == CARD:
        _card(turn, challenge)
    elif action == SHARE:
        _ask_share(turn, challenge)
    elif action == SHARE_YES:
        _share(turn, challenge)
    else:
        turn.say("challenge/kept_private", _past(turn))


def _ask_share(turn: Turn, challenge: ThoughtChallenge) -> None:
    person = turn.person
    assert person is not None
    if challenge.shared_at is not None:
        turn.say("challenge/already_shared", _past(turn), shared_at=challenge.shared_at)
        return
    buttons = (
        (_aside(turn, "ch_share_yes", SHARE_YES, challenge.id),),
        (_aside(turn, "ch_share_no", KEEP, challenge.id),),
    )
    turn.say("challenge/share_ask", buttons, reference=people.reference(person))


def _share(turn: Turn, challenge: ThoughtChallenge) -> None:
    """Only now does the team see it: the card, with the patient's reference and first name."""
    person = turn.person
    assert person is not None
    if not challenges.share(challenge, turn.now):
        turn.say("challenge/already_shared", _past(turn), shared_at=challenge.shared_at)
        return
    turn.tell_staff(
        "challenge_shared",
        "challenge/staff_card",
        reference=people.staff_reference(person),
        first_name=person.display_name,
        challenge=challenge,
    )
    turn.say("challenge/shared", _past(turn))


async def _list(turn: Turn) -> None:
    """Past challenges, newest first, with buttons to reflect on or see the latest few."""
    person = turn.person
    assert person is not None
    found = await challenges.recent(turn.session, person)
    if not found:
        turn.say("challenge/list_empty", ((_aside(turn, "ch_new", NEW),),))
        return
    rows: list[tuple[Button, ...]] = []
    for number, challenge in enumerate(found[:LISTED_BUTTONS], start=1):
        planned = challenge.status == PLANNED
        label = turn.content.label("ch_list_reflect" if planned else "ch_list_card")
        action = REFLECT if planned else CARD
        rows.append((Button(label.format(value=number), f"{PREFIX}:{action}:{challenge.id}"),))
    rows.append((_aside(turn, "ch_new", NEW),))
    turn.say("challenge/list", tuple(rows), challenges=found)


# --- words that would start a report ---------------------------------------------------------


# --- nudges ----------------------------------------------------------------------------------


async def _nudged(context: NudgeContext) -> ThoughtChallenge | None:
    """The challenge a nudge is about, while it still waits for its reflection."""
    challenge_id = context.reminder.challenge_id
    if challenge_id is None:
        return None
    challenge = await context.session.get(ThoughtChallenge, challenge_id)
    if challenge is None or challenge.person_id != context.person.id:
        return None
    return challenge if challenge.status == PLANNED else None


def _nudge_button(context: NudgeContext, label: str, challenge: ThoughtChallenge) -> ButtonRows:
    return ((Button(context.content.label(label), f"{PREFIX}:{REFLECT}:{challenge.id}"),),)


async def render_nudge(context: NudgeContext) -> Reply | None:
    """Time to do the practical (None once they have reflected)."""
    challenge = await _nudged(context)
    if challenge is None:
        return None
    text = context.content.render(
        "challenge/nudge", name=context.person.display_name, challenge=challenge
    )
    return Reply(text, _nudge_button(context, "ch_did_it", challenge))


async def render_reflect(context: NudgeContext) -> Reply | None:
    """Time to reflect, ready for the feedback session (None once they have)."""
    challenge = await _nudged(context)
    if challenge is None:
        return None
    text = context.content.render(
        "challenge/reflect_nudge", name=context.person.display_name, challenge=challenge
    )
    return Reply(text, _nudge_button(context, "ch_reflect_now", challenge))


# --- the forms -------------------------------------------------------------------------------

THOUGHT_FORM = Form(
    name="ch_thought",
    steps=(_text_step("thought"),),
    finish=_thought_given,
    prompt_vars=_prompt_vars,
)
BELIEF_FORM = Form(
    name="ch_belief",
    steps=(_percent_step("belief"),),
    finish=_belief_given,
    prompt_vars=_prompt_vars,
)
PLAN_FORM = Form(
    name="ch_plan",
    steps=(
        _text_step("practical"),
        _text_step("expected"),
        _text_step("obstacles", skip_label="skip"),
    ),
    finish=_plan_given,
    prompt_vars=_prompt_vars,
)
WHEN_FORM = Form(
    name="ch_when",
    steps=(
        Step(
            "when",
            "challenge/ask_when",
            "text",
            max_length=WHEN_MAX,
            invalid="challenge/when_invalid",
            clean=when_text,
            answers_for=_when_answers,
        ),
    ),
    finish=_when_given,
    prompt_vars=_prompt_vars,
)
REFLECT_FORM = Form(
    name="ch_reflect",
    steps=(
        _text_step("happened", LONG_MAX),
        Step(
            "came_true",
            "challenge/ask_came_true",
            "choice",
            options=(
                Option("yes", "ch_true_yes"),
                Option("partly", "ch_true_partly"),
                Option("no", "ch_true_no"),
            ),
        ),
        _text_step("learned", LONG_MAX),
        _text_step("balanced"),
    ),
    finish=_words_given,
    prompt_vars=_prompt_vars,
)
BELIEF_AFTER_FORM = Form(
    name="ch_belief_after",
    steps=(_percent_step("belief_after"),),
    finish=_reflection_given,
    prompt_vars=_prompt_vars,
)
FORMS = {
    form.name: form
    for form in (THOUGHT_FORM, BELIEF_FORM, PLAN_FORM, WHEN_FORM, REFLECT_FORM, BELIEF_AFTER_FORM)
}

FLOW = Flow(
    NAME,
    begin,
    forms=tuple(FORMS.values()),
    asides={PREFIX: aside},
    nudges={CHALLENGE_NUDGE: render_nudge, REFLECT_SLOT: render_reflect},
)
