"""Decide what an incoming event means: global commands win over the active dialog."""

from __future__ import annotations

from bot.services.invites import InviteState, check_code, normalise_code
from dialogs import attendance, engine, enrol, menu, settings
from dialogs.engine import Form
from dialogs.turn import Turn

FORMS: dict[str, Form] = {
    form.name: form for form in (enrol.PATIENT_FORM, enrol.STAFF_FORM, settings.SETTINGS_FORM)
}
# Stateless buttons that work from any old message: they name what they are about.
ASIDE_BUTTONS = {
    attendance.ANSWER_PREFIX: attendance.answer,
    attendance.REVIEW_PREFIX: attendance.choose_review,
}
ENROLMENT_FORMS = {enrol.PATIENT_FORM.name, enrol.STAFF_FORM.name}


def active_form(turn: Turn) -> Form | None:
    """The form this person is part way through, if any."""
    state = turn.conversation
    if state is None or state.dialog is None:
        return None
    return FORMS.get(state.dialog)


async def route(turn: Turn) -> None:
    """Handle one event; every path says something, none is silent."""
    incoming = turn.incoming
    form = active_form(turn)
    if incoming.kind in ("blocked", "unblocked"):
        _membership(turn)
        return
    if turn.person is not None and turn.person.unreachable_at is not None:
        # They are writing to us, so they can be reached again (they unblocked the bot).
        turn.person.unreachable_at = None
        turn.person.unreachable_reported = False
    if incoming.kind == "command" and incoming.command == "id":
        # For setting up: the account's id (for STAFF_TELEGRAM_IDS) and, in a group, its id.
        turn.say(
            "common/ids",
            user_id=incoming.user_id,
            chat_id=incoming.chat_id,
            group=not incoming.private_chat,
        )
        _prompt_again(turn, form)
        return
    if incoming.kind == "button" and _not_for_the_presser(turn):
        # Only the presser sees this: nothing is posted in a chat that is not theirs.
        turn.alert = turn.text("common/not_your_button")
        return
    if (incoming.forwarded or incoming.kind == "unsupported") and _stranger(turn, form):
        turn.say("common/stranger")
        return
    if incoming.forwarded:
        turn.say("common/forwarded")
        _prompt_again(turn, form)
        return
    if incoming.kind == "unsupported":
        turn.say("common/unsupported_media")
        _prompt_again(turn, form)
        return
    if incoming.kind == "command":
        await _command(turn, form)
        return
    if incoming.kind == "button":
        await _button(turn, form)
        return
    if form is not None:
        await engine.handle(turn, form)
        return
    if await _looks_like_an_invite(turn):
        await enrol.begin(turn, incoming.text)
        return
    if turn.person is None:
        turn.say("common/stranger")
        return
    turn.say("common/not_understood", name=turn.person.display_name)
    await menu.show(turn)


def _membership(turn: Turn) -> None:
    """They blocked the bot (so nothing is sent until they return) or unblocked it."""
    person = turn.person
    if person is None:
        return  # nobody we know: nothing to keep
    if turn.incoming.kind == "blocked":
        if person.unreachable_at is None:
            person.unreachable_at = turn.now
            person.unreachable_reported = False  # the dispatcher's report tells staff once
    else:
        person.unreachable_at = None
        person.unreachable_reported = False


def _not_for_the_presser(turn: Turn) -> bool:
    """A button in a group, or on someone else's private message (its chat is not theirs)."""
    incoming = turn.incoming
    return not incoming.private_chat or incoming.chat_id != incoming.user_id


def _stranger(turn: Turn, form: Form | None) -> bool:
    """Someone not enrolled and not part way through joining."""
    return turn.person is None and form is None


async def _looks_like_an_invite(turn: Turn) -> bool:
    """Typed text that is a code: anyone not enrolled, or an enrolled person's real invite."""
    code = normalise_code(turn.incoming.text)
    if code is None:
        return False
    if turn.person is None:
        return True
    check = await check_code(turn.session, code, turn.now)
    return check.state is not InviteState.NOT_FOUND


def _prompt_again(turn: Turn, form: Form | None) -> None:
    """After an aside (help, a sticker), remind the person where they were."""
    if form is not None:
        engine.show_prompt(turn, form)


async def _command(turn: Turn, form: Form | None) -> None:
    """`/start`, `/menu`, `/help`, `/cancel`, `/privacy`, `/today` from anywhere."""
    incoming = turn.incoming
    command = incoming.command
    if command == "start" and incoming.text.strip():
        await enrol.begin(turn, incoming.text)
    elif command in ("start", "menu"):
        await _menu(turn, form, welcome_back=command == "start")
    elif command == "help":
        turn.say("common/help", is_patient=_is_patient(turn))
        _prompt_again(turn, form)
    elif command == "privacy":
        turn.say("common/privacy")
        _prompt_again(turn, form)
    elif command == "cancel":
        await _cancel(turn, form)
    elif command in ("today", "programme", "schedule") and _is_patient(turn):
        await _end_form(turn, form)
        await menu.run_action(turn, "programme" if command == "schedule" else command)
    elif command == "settings" and _is_patient(turn):
        await _end_form(turn, form)
        await settings.start(turn)
    elif turn.person is None and form is None:
        turn.say("common/stranger")
    else:
        turn.say("common/unknown_command")
        _prompt_again(turn, form)


def _is_patient(turn: Turn) -> bool:
    return turn.person is not None and turn.person.role == "patient"


async def _menu(turn: Turn, form: Form | None, welcome_back: bool) -> None:
    """Show the menu; someone not yet enrolled is reminded where they are instead."""
    if turn.person is None:
        if form is not None:
            turn.say("enrol/finish_first")
            _prompt_again(turn, form)
        else:
            turn.say("common/stranger")
        return
    await _end_form(turn, form)
    if welcome_back:
        turn.say("common/welcome_back", name=turn.person.display_name)
    await menu.show(turn)


async def _end_form(turn: Turn, form: Form | None) -> None:
    """Leave the current form; anything it already saved stays saved."""
    if form is None:
        return
    state = turn.state()
    state.dialog = None
    state.step = None
    state.data = {}
    state.version += 1
    state.updated_at = turn.now


async def _cancel(turn: Turn, form: Form | None) -> None:
    """Stop what is under way; someone not yet enrolled leaves no trace."""
    if _stranger(turn, form):
        turn.say("common/stranger")
        return
    if form is None:
        turn.say("common/nothing_to_cancel")
        await menu.show(turn)
        return
    if form.name in ENROLMENT_FORMS and turn.person is None:
        await turn.forget_state()
        turn.say("enrol/cancelled")
        return
    await _end_form(turn, form)
    turn.say("common/cancelled")
    await menu.show(turn)


async def _button(turn: Turn, form: Form | None) -> None:
    """A button press: menu buttons always work; dialog buttons only on the current prompt."""
    payload = turn.incoming.payload
    prefix, _, action = payload.partition(":")
    if prefix == menu.MENU_PREFIX and action in menu.MENU_ACTIONS:
        if turn.person is None:
            turn.say("common/stranger")
            return
        await _end_form(turn, form)
        if action == "settings":
            await settings.start(turn)
        else:
            await menu.run_action(turn, action)
        return
    if prefix in ASIDE_BUTTONS and turn.person is not None:
        await ASIDE_BUTTONS[prefix](turn, payload)
        _prompt_again(turn, form)
        return
    if form is not None:
        await engine.handle(turn, form)
        return
    if turn.person is None:
        turn.say("common/stranger")
        return
    turn.say("common/old_button")
    await menu.show(turn)
