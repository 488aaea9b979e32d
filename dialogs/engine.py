"""A small engine for form-like dialogs: a sequence of prompts, each validated, then a finish."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.messages import Button, ButtonRows, Payload
from bot.numbers import whole_number
from dialogs.turn import Turn

StepKind = Literal["choice", "text", "scale"]
DIALOG_BUTTON_PREFIX = "d"


@dataclass(frozen=True)
class Option:
    """One choice: the value stored and the key of its label in `content/labels.toml`."""

    value: str
    label: str


@dataclass(frozen=True)
class Step:
    """One prompt of a form."""

    name: str
    prompt: str  # template name
    kind: StepKind
    options: tuple[Option, ...] = ()
    max_length: int = 1000
    low: int = 0
    high: int = 10
    invalid: str = "common/choose_button"  # template for a kind re-prompt
    # Optional: tidy and check a free-text answer; None means "not acceptable".
    clean: Callable[[str], str | None] | None = None
    # Optional, for a choice: options that depend on the person (replacing `options`).
    options_for: Callable[[Turn], tuple[Option, ...]] | None = None
    # Optional, for free text: a label key like "Call me {value}" offering the person's
    # first name from their messaging account as a one-tap answer.
    suggest_label: str | None = None
    # Optional, for free text: the label of a button (or typed word) that answers "nothing".
    skip_label: str | None = None
    # Optional: given the answers so far, whether this step does not apply and is passed over.
    skip_if: Callable[[dict[str, Any]], bool] | None = None
    # Optional, for free text: common answers offered as buttons (a rating of 75, "Tomorrow
    # morning"); a press, or typing the label, counts as typing the value.
    answers_for: Callable[[Turn], tuple[Option, ...]] | None = None
    # Optional, for a choice: reads typed words other than a label as one of its values (None
    # when they say none of them).
    typed: Callable[[str], str | None] | None = None


Finish = Callable[[Turn, dict[str, Any]], Awaitable[None]]
# Called after each accepted answer with (turn, step name, answers so far); it may add to them.
OnAnswer = Callable[[Turn, str, dict[str, Any]], Awaitable[None]]
SKIP_VALUE = "-"
PromptVars = Callable[[Turn, dict[str, Any]], Mapping[str, Any]]


def _no_vars(_turn: Turn, _data: dict[str, Any]) -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True)
class Form:
    """A dialog as data: steps in order, an optional branch rule and a finishing function."""

    name: str
    steps: tuple[Step, ...]
    finish: Finish
    prompt_vars: PromptVars = _no_vars
    # Given (step name, answer), say which step comes next; "" finishes the form now.
    branch: Callable[[str, Any], str | None] = field(default=lambda _step, _value: None)
    on_answer: OnAnswer | None = None

    def step(self, name: str) -> Step:
        """The step called `name`."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def after(self, name: str, value: Any, data: dict[str, Any] | None = None) -> str:
        """The next step's name, or "" when the form is complete."""
        chosen = self.branch(name, value)
        if chosen is not None:
            return chosen
        names = [step.name for step in self.steps]
        index = names.index(name) + 1
        following = names[index] if index < len(names) else ""
        step = self.step(following) if following else None
        if step is not None and step.skip_if is not None and step.skip_if(data or {}):
            return self.after(following, None, data)
        return following


def options(turn: Turn, step: Step) -> tuple[Option, ...]:
    """The choices a step offers this person."""
    return step.options_for(turn) if step.options_for is not None else step.options


def button_payload(version: int, value: str) -> str:
    """Payload of a dialog button, tied to the prompt version that showed it."""
    return f"{DIALOG_BUTTON_PREFIX}:{version}:{value}"


def parse_button_payload(payload: str) -> tuple[int, str] | None:
    """(version, value) from a dialog button payload, or None if it is not one."""
    read = Payload.read(payload)
    number = read.number(0)
    value = read.rest(1)
    if read.prefix != DIALOG_BUTTON_PREFIX or number is None or not value:
        return None
    return number, value


async def start(turn: Turn, form: Form, data: dict[str, Any] | None = None) -> None:
    """Begin a form at its first step."""
    state = turn.state()
    state.dialog = form.name
    state.data = dict(data or {})
    first = form.steps[0]
    if first.skip_if is not None and first.skip_if(state.data):
        following = form.after(first.name, None, state.data)
        first = form.step(following) if following else first
    await _enter(turn, form, first)


async def _enter(turn: Turn, form: Form, step: Step) -> None:
    """Move to a step and show its prompt; a new version retires buttons shown before."""
    state = turn.state()
    state.step = step.name
    state.version += 1
    state.updated_at = turn.now
    show_prompt(turn, form)


def show_prompt(turn: Turn, form: Form) -> None:
    """Say the current step's prompt again, with buttons for the current version; not while a
    safety question is about to be asked or waits for its answer (it comes after)."""
    if turn.hold_prompts or turn.safety_question_waiting():
        return
    state = turn.state()
    step = form.step(state.step or form.steps[0].name)
    variables = dict(form.prompt_vars(turn, state.data))
    buttons: ButtonRows = ()
    if step.kind == "choice":
        buttons = tuple(
            (Button(turn.content.label(option.label), button_payload(state.version, option.value)),)
            for option in options(turn, step)
        )
    elif step.kind == "scale":
        numbers = [
            Button(str(n), button_payload(state.version, str(n)))
            for n in range(step.low, step.high + 1)
        ]
        buttons = tuple(tuple(numbers[i : i + 6]) for i in range(0, len(numbers), 6))
    elif step.kind == "text" and step.answers_for is not None:
        buttons = tuple(
            (Button(turn.content.label(option.label), button_payload(state.version, option.value)),)
            for option in step.answers_for(turn)
        )
    elif (suggestion := _suggestion(turn, step)) is not None:
        label = turn.content.label(step.suggest_label or "").format(value=suggestion)
        buttons = ((Button(label, button_payload(state.version, suggestion)),),)
    elif step.kind == "text" and step.skip_label is not None:
        label = turn.content.label(step.skip_label)
        buttons = ((Button(label, button_payload(state.version, SKIP_VALUE)),),)
    turn.say(step.prompt, buttons, **variables)


def _suggestion(turn: Turn, step: Step) -> str | None:
    """The account's first name as an answer, if the step offers one and it fits a button."""
    if step.kind != "text" or step.suggest_label is None or not turn.incoming.first_name:
        return None
    value = _clean(step, turn.incoming.first_name)
    if value is None or len(button_payload(turn.state().version, value).encode()) > 64:
        return None
    return value


def _clean(step: Step, text: str) -> str | None:
    """A free-text answer tidied and checked, or None when it will not do."""
    text = text.strip()
    if len(text) > step.max_length:
        return None
    return step.clean(text) if step.clean else (text or None)


def _answer(turn: Turn, step: Step) -> tuple[bool, Any]:
    """Read the person's answer to a step; (False, reason template) when it won't do."""
    incoming = turn.incoming
    state = turn.state()
    if incoming.kind == "button":
        parsed = parse_button_payload(incoming.payload)
        if parsed is None or parsed[0] != state.version:
            return False, "common/old_button"
        value = parsed[1]
        if step.kind == "choice" and value in {o.value for o in options(turn, step)}:
            return True, value
        number = whole_number(value)
        if step.kind == "scale" and number is not None and step.low <= number <= step.high:
            return True, number
        if step.kind == "text" and step.suggest_label and (cleaned := _clean(step, value)):
            return True, cleaned
        # An answer offered earlier (a time that has since passed) reads like typing it: the
        # form's own check says what is wrong with it, rather than "an old button".
        if step.kind == "text" and step.answers_for and (cleaned := _clean(step, value)):
            return True, cleaned
        if step.kind == "text" and step.skip_label and value == SKIP_VALUE:
            return True, ""
        return False, "common/old_button"
    text = incoming.text.strip()
    if step.skip_label and text.casefold() == turn.content.label(step.skip_label).casefold():
        return True, ""
    for option in step.answers_for(turn) if step.answers_for is not None else ():
        if text.casefold() == turn.content.label(option.label).casefold():
            text = option.value  # typed the button's words
            break
    if step.kind == "choice":
        # People often type the button's words instead of tapping: accept that.
        for option in options(turn, step):
            if text.casefold() == turn.content.label(option.label).casefold():
                return True, option.value
        if step.typed is not None and text and (read := step.typed(text)) is not None:
            return True, read
        return False, step.invalid
    if step.kind == "scale":
        number = whole_number(text)
        if number is not None and step.low <= number <= step.high:
            return True, number
        return False, step.invalid
    cleaned = _clean(step, text)
    if cleaned is None:
        return False, step.invalid
    return True, cleaned


async def handle(turn: Turn, form: Form) -> None:
    """Take the person's answer to the current step, then prompt the next or finish."""
    state = turn.state()
    step = form.step(state.step or form.steps[0].name)
    ok, value = _answer(turn, step)
    if not ok:
        choices = [turn.content.label(option.label) for option in options(turn, step)]
        turn.say(value, limit=step.max_length, low=step.low, high=step.high, choices=choices)
        show_prompt(turn, form)
        return
    data = dict(state.data)
    data[step.name] = value
    if form.on_answer is not None:
        await form.on_answer(turn, step.name, data)
    state.data = data  # a new dict, so SQLAlchemy sees the JSON change
    following = form.after(step.name, value, data)
    if following:
        await _enter(turn, form, form.step(following))
        return
    leave(turn)  # the answers now live in domain rows; no second copy in dialog state
    await form.finish(turn, data)


def leave(turn: Turn) -> None:
    """Clear the form state; a new version retires the buttons it showed."""
    state = turn.state()
    state.dialog = None
    state.step = None
    state.data = {}
    state.version += 1
    state.updated_at = turn.now
