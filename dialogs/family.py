"""The friends-and-family day: patients invite guests by personal links; guests answer.

A guest is someone not on the programme who opened a patient's link (`/start g_<token>`).
They see who invited them (first name only), the day, and what it is for, and nothing else
about the patient. Their turns are taken by `intercept`, before the router's own routing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.db.models import FamilyGuest, Person
from bot.messages import Button, Payload
from bot.services import family, people
from bot.services.family import ACCESS_MAX_LENGTH, QUESTION_MAX_LENGTH, FamilyDay
from dialogs import code_checks, engine
from dialogs.engine import Form, Option, Step
from dialogs.flow import Flow
from dialogs.turn import Turn

log = logging.getLogger(__name__)

PREFIX = "f"
INVITE = f"{PREFIX}:new"
WITHDRAW = f"{PREFIX}:w"
CHANGE = f"{PREFIX}:change"
GUEST_FORM_NAME = "family_guest"
# What a guest may still do by command; anything else is for patients.
GUEST_COMMANDS = ("start", "menu", "help", "privacy", "cancel")
NO_USERNAME = "YOUR_BOT_USERNAME"


# --- Patients ----------------------------------------------------------------------------------


async def begin(turn: Turn) -> None:
    """The day, the patient's invitations and what they can do about them."""
    person = turn.person
    if person is None or person.role != "patient":
        turn.say("common/old_button")
        return
    day = await family.family_day(turn.session, turn.content, turn.settings.tz, person.cohort_id)
    if day is None:
        turn.say("family/no_day")
        return
    await _overview(turn, person, day)


async def _overview(turn: Turn, person: Person, day: FamilyDay) -> None:
    """The day's details and each invitation's state, with buttons to invite or withdraw."""
    guests = await family.guests_of(turn.session, person.id)
    closed = day.closed(turn.now)
    limit = turn.settings.family_max_guests
    buttons: list[tuple[Button, ...]] = []
    if not closed and len(guests) < limit:
        # The button carries how many invitations there were, so a second tap on the same
        # message (or an old one) does not make another link.
        buttons.append((Button(turn.content.label("fam_invite"), f"{INVITE}:{len(guests)}"),))
    for number, guest in enumerate(guests, start=1):
        if not closed and guest.opened_at is None:
            label = turn.content.label("fam_withdraw").format(value=number)
            buttons.append((Button(label, f"{WITHDRAW}:{guest.id}"),))
    turn.say(
        "family/overview",
        tuple(buttons),
        on_date=day.on_date,
        sessions=day.sessions,
        cohort=day.cohort,
        guests=[
            {"number": n, "name": g.first_name, "status": family.status(g)}
            for n, g in enumerate(guests, start=1)
        ],
        max_guests=limit,
        closed=closed,
    )


async def press(turn: Turn, payload: str) -> None:
    """A patient's "Invite someone" or "Withdraw invitation N", from any message."""
    person = turn.person
    if person is None or person.role != "patient":
        turn.say("common/old_button")
        return
    read = Payload.read(payload)
    action = read.text(0)
    day = await family.family_day(turn.session, turn.content, turn.settings.tz, person.cohort_id)
    if day is None:
        turn.say("family/no_day")
    elif action == "new":
        await _invite(turn, person, day, read.number(1, whole=True))
    elif action == "w" and (number := read.number(1, whole=True)) is not None:
        await _withdraw(turn, person, day, number)
    else:
        turn.say("common/old_button")


async def _invite(turn: Turn, person: Person, day: FamilyDay, shown: int | None) -> None:
    """A personal link for one guest, in a message the patient can forward as it is."""
    if day.closed(turn.now):
        turn.say("family/invite_closed", on_date=day.on_date)
        return
    limit = turn.settings.family_max_guests
    made = len(await family.guests_of(turn.session, person.id))
    if made < limit and shown != made:
        # Pressed twice, or on an older message: show where things are instead.
        turn.say("family/invite_again")
        await _overview(turn, person, day)
        return
    guest = await family.invite(turn.session, person, day.cohort.id, turn.now, limit)
    if guest is None:
        turn.say("family/invite_limit", max_guests=limit)
        return
    log.info("family invitation made", extra={"guest": guest.id, "person": person.id})
    username = turn.settings.telegram_bot_username or NO_USERNAME
    turn.say("family/invite_made")
    turn.say(
        "family/invite_link",
        patient=person.display_name,
        on_date=day.on_date,
        link=family.guest_link(username, guest.token),
    )


async def _withdraw(turn: Turn, person: Person, day: FamilyDay, guest_id: int) -> None:
    """Withdraw an invitation nobody has opened: its link stops working."""
    if day.closed(turn.now):
        turn.say("family/invite_closed", on_date=day.on_date)
        return
    if await family.withdraw(turn.session, person.id, guest_id):
        log.info("family invitation withdrawn", extra={"guest": guest_id, "person": person.id})
        turn.say("family/withdrawn")
        await _overview(turn, person, day)
        return
    guest = await turn.session.get(FamilyGuest, guest_id)
    opened = guest is not None and guest.person_id == person.id
    turn.say("family/withdraw_refused", opened=opened, guest=guest.first_name if guest else None)


# --- Guests ------------------------------------------------------------------------------------


async def intercept(turn: Turn, form: Form | None) -> bool:
    """Take guest links from anyone, and every turn of a guest; leave the rest to the router."""
    incoming = turn.incoming
    if not incoming.private_chat:
        return False
    token = family.token_of(incoming.text) if _is_start(turn) else None
    if token is not None:
        await _open_link(turn, form, token)
        return True
    if turn.person is not None:
        return False
    if form is not None and form.name != GUEST_FORM_NAME:
        return False  # part way through joining the programme: that goes on as usual
    if incoming.kind == "command" and incoming.command == "start" and incoming.text.strip():
        return False  # a joining code: the router handles it
    guest = await family.of_account(turn.session, incoming.channel, incoming.user_id)
    if guest is None:
        return False
    await _guest_turn(turn, form, guest)
    return True


def _staff_account(turn: Turn) -> bool:
    """A staff account not enrolled through a code: a link it opens would be used up."""
    return turn.on_staff_list


def _is_start(turn: Turn) -> bool:
    incoming = turn.incoming
    return incoming.kind == "command" and incoming.command == "start"


async def _open_link(turn: Turn, form: Form | None, token: str) -> None:
    """Someone opened a guest link: the first person to open it owns it."""
    incoming = turn.incoming
    stranger = turn.person is None and not _staff_account(turn)
    if stranger and await code_checks.paused(turn):
        return
    guest = await family.by_token(turn.session, token)
    if turn.person is not None or _staff_account(turn):
        # A patient (often checking their own link) or staff: links are for guests.
        turn.say("family/link_for_guests")
        engine_form = form if form is not None and form.name != GUEST_FORM_NAME else None
        if engine_form is not None:
            engine.show_prompt(turn, engine_form)
        return
    if guest is None:
        await code_checks.wrong(turn, "guest")
        turn.say("family/link_unknown")
        return
    if guest.channel_user_id is not None and (
        guest.channel != incoming.channel or guest.channel_user_id != incoming.user_id
    ):
        log.info("family link used by a second person", extra={"guest": guest.id})
        turn.say("family/link_taken")
        return
    day = await _day_of(turn, guest)
    if day is None or day.closed(turn.now):
        _leave_guest_form(turn, form)
        turn.say("family/guest_day_passed", on_date=day.on_date if day else None)
        return
    if guest.channel_user_id is None:
        other = await family.of_account(turn.session, incoming.channel, incoming.user_id)
        if other is not None:
            turn.say("family/link_one_per_account")
            return
        if not await family.claim(
            turn.session, guest, incoming.channel, incoming.user_id, incoming.chat_id, turn.now
        ):
            turn.say("family/link_taken")
            return
        log.info("family link opened", extra={"guest": guest.id})
    patient = await _patient(turn, guest)
    turn.say(
        "family/guest_welcome",
        patient=patient,
        on_date=day.on_date,
        sessions=day.sessions,
        cohort=day.cohort,
    )
    await _start_guest_form(turn, guest, patient)


async def _guest_turn(turn: Turn, form: Form | None, guest: FamilyGuest) -> None:
    """Anything a guest sends: answers, changes, and kind words for what is not for them."""
    incoming = turn.incoming
    day = await _day_of(turn, guest)
    if day is None or day.closed(turn.now):
        _leave_guest_form(turn, form)
        turn.say("family/guest_day_passed", on_date=day.on_date if day else None)
        return
    in_form = form is not None and form.name == GUEST_FORM_NAME
    if incoming.kind == "command":
        await _guest_command(turn, form, guest, day)
    elif incoming.kind == "button" and incoming.payload == CHANGE:
        await _start_guest_form(turn, guest, await _patient(turn, guest))
    elif incoming.forwarded or incoming.kind == "unsupported":
        turn.say("common/forwarded" if incoming.forwarded else "common/unsupported_media")
        _prompt_again(turn, form)
    elif in_form and form is not None:
        await engine.handle(turn, form)
    else:
        await _guest_overview(turn, guest, day)


async def _guest_command(turn: Turn, form: Form | None, guest: FamilyGuest, day: FamilyDay) -> None:
    """A guest's command: their own few work; patients' ones get a kind word instead."""
    command = turn.incoming.command
    in_form = form is not None and form.name == GUEST_FORM_NAME
    if command == "cancel":
        _leave_guest_form(turn, form)
        turn.say("family/guest_cancelled", stopped=in_form)
    elif command == "privacy":
        turn.say("family/guest_privacy", keep_days=turn.settings.family_keep_days)
        _prompt_again(turn, form)
    elif command in GUEST_COMMANDS:
        _leave_guest_form(turn, form)
        await _guest_overview(turn, guest, day)
    else:
        turn.say("family/guest_patients_only")
        _prompt_again(turn, form)


async def _guest_overview(turn: Turn, guest: FamilyGuest, day: FamilyDay) -> None:
    """The day's details and the guest's answers so far, with a button to change them."""
    turn.say(
        "family/guest_overview",
        ((Button(turn.content.label("fam_change"), CHANGE),),),
        patient=await _patient(turn, guest),
        on_date=day.on_date,
        sessions=day.sessions,
        cohort=day.cohort,
        guest=guest.first_name,
        reply=guest.reply,
        access_needs=guest.access_needs,
        question=guest.question,
    )


async def _start_guest_form(turn: Turn, guest: FamilyGuest, patient: str) -> None:
    """Ask (again) whether they will come, their name if not known, access needs, a question."""
    data: dict[str, Any] = {"guest_id": guest.id, "patient": patient}
    if guest.first_name:
        data["name"] = guest.first_name
    await engine.start(turn, GUEST_FORM, data)


def _leave_guest_form(turn: Turn, form: Form | None) -> None:
    """Clear the guest's form state; what they already answered stays in their guest row."""
    if form is None or form.name != GUEST_FORM_NAME:
        return
    engine.leave(turn)


def _prompt_again(turn: Turn, form: Form | None) -> None:
    if form is not None and form.name == GUEST_FORM_NAME:
        engine.show_prompt(turn, form)


async def _day_of(turn: Turn, guest: FamilyGuest) -> FamilyDay | None:
    return await family.family_day(turn.session, turn.content, turn.settings.tz, guest.cohort_id)


async def _patient(turn: Turn, guest: FamilyGuest) -> str:
    """The inviting patient's first name: all a guest is told about them."""
    person = await turn.session.get(Person, guest.person_id)
    return person.display_name if person is not None else ""


def _guest_vars(_turn: Turn, data: dict[str, Any]) -> Mapping[str, Any]:
    return {"patient": data.get("patient", ""), "guest": data.get("name", "")}


async def _guest_answer(turn: Turn, step: str, data: dict[str, Any]) -> None:
    """Keep each answer as it comes, so stopping part way keeps what was said."""
    guest = await turn.session.get(FamilyGuest, data["guest_id"])
    if guest is None or guest.channel_user_id != turn.incoming.user_id:
        return  # purged meanwhile: the finish says so
    if step == "coming":
        guest.reply = data["coming"]
        guest.replied_at = turn.now
        if guest.reply != family.COMING:
            guest.access_needs = None  # not coming: nothing to arrange
    elif step == "name":
        guest.first_name = data["name"]
    elif step == "access":
        guest.access_needs = data["access"] or None
    elif step == "question":
        question = data["question"] or None
        if question is not None and question != guest.question:
            await _tell_team(turn, guest, question)
        guest.question = question


async def _tell_team(turn: Turn, guest: FamilyGuest, question: str) -> None:
    """A guest's question, for the staff chat: the patient named only by reference."""
    patient = await turn.session.get(Person, guest.person_id)
    day = await _day_of(turn, guest)
    turn.tell_staff(
        "family_question",
        "family/staff_question",
        reference=people.staff_reference(patient) if patient is not None else "?",
        guest=guest.first_name or "A guest",
        question=question,
        on_date=day.on_date if day is not None else None,
    )


async def _guest_finish(turn: Turn, data: dict[str, Any]) -> None:
    """Thank the guest and say what happens next."""
    guest = await turn.session.get(FamilyGuest, data["guest_id"])
    day = await _day_of(turn, guest) if guest is not None else None
    if guest is None or day is None or guest.channel_user_id != turn.incoming.user_id:
        turn.say("family/link_unknown")
        return
    log.info("family guest answered", extra={"guest": guest.id})
    turn.say(
        "family/guest_done",
        patient=data["patient"],
        guest=guest.first_name,
        reply=guest.reply,
        access_needs=guest.access_needs,
        question=guest.question,
        on_date=day.on_date,
    )


GUEST_FORM = Form(
    GUEST_FORM_NAME,
    steps=(
        Step(
            "coming",
            "family/guest_ask_coming",
            "choice",
            options=(Option(family.COMING, "fam_yes"), Option(family.NOT_COMING, "fam_no")),
        ),
        Step(
            "name",
            "family/guest_ask_name",
            "text",
            max_length=people.NAME_MAX_LENGTH,
            clean=people.clean_name,
            invalid="enrol/name_invalid",
            suggest_label="use_name",
            skip_if=lambda data: bool(data.get("name")),
        ),
        Step(
            "access",
            "family/guest_ask_access",
            "text",
            max_length=ACCESS_MAX_LENGTH,
            invalid="family/too_long",
            skip_label="fam_no_access",
            skip_if=lambda data: data.get("coming") != family.COMING,
        ),
        Step(
            "question",
            "family/guest_ask_question",
            "text",
            max_length=QUESTION_MAX_LENGTH,
            invalid="family/too_long",
            skip_label="fam_no_question",
        ),
    ),
    finish=_guest_finish,
    prompt_vars=_guest_vars,
    on_answer=_guest_answer,
)


FLOW = Flow(
    "family",
    begin,
    forms=(GUEST_FORM,),
    asides={PREFIX: press},
    intercept=intercept,
)
