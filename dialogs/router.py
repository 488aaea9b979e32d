"""Decide what an incoming event means: global commands win over the active dialog."""

from __future__ import annotations

from bot.messages import Button, Payload, Reply
from bot.services import escalations
from bot.services.invites import InviteState, check_code, normalise_code
from dialogs import (
    attendance,
    engine,
    enrol,
    flows,
    menu,
    report,
    safety,
    small_talk,
    staff_alerts,
)
from dialogs.engine import Form
from dialogs.flow import Flow
from dialogs.turn import Turn

ENROLMENT_FORMS = {enrol.PATIENT_FORM.name, enrol.STAFF_FORM.name}


def active_form(turn: Turn) -> Form | None:
    """The form this person is part way through, if any."""
    state = turn.conversation
    if state is None or state.dialog is None:
        return None
    return flows.FORMS.get(state.dialog)


async def route(turn: Turn) -> None:
    """Handle one event; every path says something, none is silent (but an edit that
    says nothing about risk: it was answered when first sent).

    Risk language comes first: crisis signposting and an urgent alert win over everything,
    whatever dialog the person is in. An ambiguous phrase is handled as usual, then checked.
    """
    incoming = turn.incoming
    form = active_form(turn)
    if incoming.kind in ("blocked", "unblocked"):
        _membership(turn)
        return
    if not incoming.private_chat and incoming.kind == "command" and incoming.command != "id":
        await _group_command(turn)
        return
    if turn.person is not None and turn.person.unreachable_at is not None:
        # They are writing to us, so they can be reached again (they unblocked the bot).
        turn.person.unreachable_at = None
        turn.person.unreachable_reported = False
    if incoming.kind == "button" and incoming.payload.startswith(f"{escalations.PREFIX}:"):
        # Staff alerts live in the staff group: checked against the staff list, not the chat.
        await staff_alerts.press(turn)
        return
    staff = _is_staff(turn) or (form is not None and form.name == staff_alerts.RESOLVE_FORM_NAME)
    screening = safety.screen(turn, staff)
    if screening is not None and screening.is_crisis:
        await _crisis(turn, form)
        return
    if incoming.edited:
        # A changed message is read for risk as if sent now; otherwise it was answered when
        # it was first sent, and running it through a form again would confuse.
        if screening is not None and screening.needs_check and _is_patient(turn):
            await safety.check(turn)
        return
    if incoming.kind == "command" or (
        incoming.kind == "button" and not incoming.payload.startswith(f"{safety.CHECK_PREFIX}:")
    ):
        # They have moved on: the question's buttons still answer it, but their next typed
        # words belong to what they chose now.
        safety.moved_on(turn)
    question = safety.waiting(turn) if incoming.kind == "text" and _is_patient(turn) else None
    if question is not None:
        # Typed words after a safety question are its answer, whatever else they say: only a
        # clear no is a no. A form that was waiting for it goes on.
        await safety.answer_typed(turn, question)
        if active_form(turn) is not None and safety.waiting(turn) is None:
            _prompt_again(turn, active_form(turn))
        return
    # "/start" goes on to joining, which still looks the code up; the gentle words for a
    # stranger follow once, after it (below).
    starting = incoming.kind == "command" and incoming.command == "start"
    if (
        screening is not None
        and screening.needs_check
        and turn.person is None
        and form is None
        and not starting
    ):
        turn.say("safety/check_stranger")  # the numbers once, not twice
        return
    if screening is not None and screening.needs_check and _only_a_check(turn, form):
        # "This pain is killing me" on its own: the gentle question is the whole answer, not
        # "sorry, I can't read messages like that" first.
        await safety.check(turn)
        return
    asking = screening is not None and screening.needs_check and _is_patient(turn)
    # The form's next question waits until the safety question is answered.
    turn.hold_prompts = asking
    await _route(turn, form)
    turn.hold_prompts = False
    if screening is not None and screening.needs_check:
        still = active_form(turn)
        if still is not None and still.name == report.NAME and _is_patient(turn):
            await report.check(turn)
        else:
            await safety.check(turn)


async def _group_command(turn: Turn) -> None:
    """In a group the bot answers only staff, and only in the staff group: nothing about a
    patient or their dialog is ever said where others can read it."""
    staff_chat = turn.settings.staff_chats().get(turn.incoming.channel)
    command = turn.incoming.command
    if not _is_staff(turn) or command not in flows.STAFF_COMMANDS:
        return  # not for this bot to answer in a shared chat
    if staff_chat is None or turn.incoming.chat_id != staff_chat:
        turn.say("common/staff_group_only")
        return
    await flows.STAFF_COMMANDS[command](turn)


def _only_a_check(turn: Turn, form: Form | None) -> bool:
    """A patient's text that nothing else would act on (no dialog, not a report)."""
    return (
        turn.incoming.kind == "text"
        and form is None
        and _is_patient(turn)
        and not turn.screener.wants_to_report(turn.incoming.text)
        # "I can't come tomorrow, I can't go on like this": the team hears of both.
        and attendance.typed_choice(turn.content, turn.incoming.text) is None
    )


def _is_staff(turn: Turn) -> bool:
    """A staff account (its outcome notes are not screened)."""
    if turn.person is not None:
        return turn.person.role == "staff"
    return turn.on_staff_list


async def _crisis(turn: Turn, form: Form | None) -> None:
    """Crisis: signposting and an urgent alert; a report under way becomes part of it."""
    existing = None
    prepare = None
    if form is not None and form.name == report.NAME:
        answers = dict(turn.state().data)
        existing = await report.current_escalation(turn, answers)
        prepare = report.filler(answers)
    if form is not None and (turn.person is not None or form.name not in ENROLMENT_FORMS):
        # They are not asked the next question after this; what was saved stays saved. (Someone
        # part way through joining keeps their place, so they can still finish joining.)
        await _leave_form(turn)
    await safety.crisis(turn, existing, prepare)


async def _route(turn: Turn, form: Form | None) -> None:
    """Everything but risk language."""
    incoming = turn.incoming
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
    for intercept in flows.INTERCEPTS:
        if await intercept(turn, form):
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
    if _wants_to_report(turn, form):
        if form is not None and form.name in flows.PROGRAMME_FORMS:
            await _answer_and_offer_report(turn, form)
            return
        await _end_form(turn, form)
        await report.begin(turn)
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
    if await attendance.typed(turn):
        return
    kind = small_talk.kind_of(turn.content, incoming.text)
    if kind is not None:
        small_talk.answer(turn, kind, turn.person.display_name)
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
    return not incoming.in_own_chat


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
    elif command == "cancel":
        await _cancel(turn, form)
    elif (flow := flows.COMMANDS.get(command)) is not None and flow.in_place:
        await _begin(flow, turn)
        _prompt_again(turn, form)
    elif flow is not None and _is_patient(turn):
        await _end_form(turn, form)
        await _begin(flow, turn)
    elif command in flows.STAFF_COMMANDS and _is_staff(turn):
        await flows.STAFF_COMMANDS[command](turn)
        _prompt_again(turn, form)
    elif command == "report" and turn.person is None and form is None:
        turn.say("report/not_enrolled")
    elif turn.person is None and form is None:
        turn.say("common/stranger")
    else:
        turn.say("common/unknown_command")
        _prompt_again(turn, form)


def _is_patient(turn: Turn) -> bool:
    return turn.is_patient


async def _begin(flow: Flow, turn: Turn) -> None:
    """Start a feature (flows.COMMANDS holds only those with a beginning)."""
    assert flow.begin is not None
    await flow.begin(turn)


def _wants_to_report(turn: Turn, form: Form | None) -> bool:
    """Plain words like "I'm in a lot of pain" start a report from anywhere but a report."""
    if turn.incoming.kind != "text" or not _is_patient(turn):
        return False
    if form is not None and form.name == report.NAME:
        return False  # their answer to a report question, not a new report
    return turn.screener.wants_to_report(turn.incoming.text)


async def _answer_and_offer_report(turn: Turn, form: Form) -> None:
    """In a programme flow, pain words are usually the answer ("what got in the way?", a
    question for the doctor, a prediction): keep it, and put the report one tap away."""
    before = len(turn.replies)
    await engine.handle(turn, form)
    offer = Reply(
        turn.text("common/report_offer"),
        ((Button(turn.content.label("menu_report"), f"{menu.MENU_PREFIX}:report"),),),
    )
    turn.replies.insert(before, offer)


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


async def _end_form(turn: Turn, form: Form | None) -> bool:
    """Leave the current form; anything it already saved stays saved.

    A report left part way still reaches staff if what was said is serious: True when it did.
    """
    if form is None:
        return False
    sent = form.name == report.NAME and await report.abandon(turn, turn.state().data)
    await _leave_form(turn)
    return sent


async def _leave_form(turn: Turn) -> None:
    """Clear the dialog state."""
    engine.leave(turn)


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
    sent = await _end_form(turn, form)
    # Say only what is true of this form: a report may still have gone to the team, a form
    # that saves each answer keeps them, and the rest are saved only when finished.
    if form.name == report.NAME:
        kept = "report_sent" if sent else "report"
    else:
        kept = "so_far" if form.on_answer is not None else "nothing"
    turn.say("common/cancelled", kept=kept)
    await menu.show(turn)


async def _button(turn: Turn, form: Form | None) -> None:
    """A button press: menu buttons always work; dialog buttons only on the current prompt."""
    payload = turn.incoming.payload
    read = Payload.read(payload)
    flow = flows.MENU.get(read.rest(0)) if read.prefix == menu.MENU_PREFIX else None
    if flow is not None:
        if turn.person is None:
            turn.say("common/stranger")
            return
        await _end_form(turn, form)
        await _begin(flow, turn)
        return
    aside = flows.BUTTONS.get(read.prefix)
    if aside is not None and turn.person is not None:
        step = turn.conversation.step if turn.conversation is not None else None
        await aside(turn, payload)
        # An aside may start a form of its own (a nudge's "reflect now"): then that form's
        # prompt stands, and the old one is not shown again.
        if form is not None and active_form(turn) is form and turn.state().step == step:
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
