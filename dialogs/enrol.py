"""Joining a group: code, welcome, privacy notice and consent, the name to be called by."""

from __future__ import annotations

from typing import Any

from bot.db.models import Cohort, Invite
from bot.services import cohorts, invites, people
from bot.services.events import day_dates, events_of
from bot.services.invites import InviteState
from bot.services.planner import Planner
from dialogs import code_checks, engine, menu
from dialogs.engine import Form, Option, Step
from dialogs.flow import Flow
from dialogs.turn import Turn

_CODE_PROBLEMS = {
    InviteState.NOT_FOUND: "enrol/code_not_found",
    InviteState.USED: "enrol/code_used",
    InviteState.EXPIRED: "enrol/code_expired",
}


def is_staff_account(turn: Turn) -> bool:
    """Whether the sender is on the channel's staff list."""
    return turn.on_staff_list


async def begin(turn: Turn, typed: str) -> None:
    """Someone brought a code (deep link, `/start CODE` or typed): check it and welcome them."""
    person = turn.person
    if person is not None:
        cohort = await turn.session.get(Cohort, person.cohort_id) if person.cohort_id else None
        turn.say(
            "enrol/already_enrolled",
            name=person.display_name,
            cohort_name=cohort.name if cohort else None,
        )
        await menu.show(turn)
        return
    code = invites.normalise_code(typed)
    if code is None:
        turn.say("enrol/code_not_found")
        return
    if await code_checks.paused(turn):
        return  # a right code too: otherwise guessing only needs patience
    check = await invites.check_code(turn.session, code, turn.now)
    if check.state is InviteState.NOT_FOUND:
        await code_checks.wrong(turn, "invite")
    if check.state is not InviteState.VALID or check.invite is None:
        turn.say(_CODE_PROBLEMS[check.state])
        return
    invite = check.invite
    staff_account = is_staff_account(turn)
    if invite.role == "staff" and not staff_account:
        turn.say("enrol/code_for_staff")
        return
    if invite.role == "patient" and staff_account:
        turn.say("enrol/code_for_patients")
        return
    if invite.role == "staff":
        await engine.start(turn, STAFF_FORM, {"invite_id": invite.id})
        return
    turn.say("enrol/welcome", cohort=await cohorts.get_cohort(turn.session, invite.cohort_id))
    await engine.start(turn, PATIENT_FORM, {"invite_id": invite.id})


async def _finish_patient(turn: Turn, data: dict[str, Any]) -> None:
    """Consent given and a name chosen: enrol; or record a decline and forget them."""
    invite_id = int(data["invite_id"])
    if data.get("consent") != "yes":
        await invites.record_decline(turn.session, invite_id, turn.now)
        await turn.forget_state()
        turn.say("enrol/declined")
        return
    await _enrol(turn, invite_id, "patient", str(data["name"]))


async def _finish_staff(turn: Turn, data: dict[str, Any]) -> None:
    """A member of staff linked their account."""
    await _enrol(turn, int(data["invite_id"]), "staff", str(data["name"]))


async def _enrol(turn: Turn, invite_id: int, role: str, name: str) -> None:
    """Claim the invite and store the person; a code used or expired meanwhile is explained."""
    incoming = turn.incoming
    invite = await turn.session.get(Invite, invite_id)
    if invite is None:
        await turn.forget_state()
        turn.say("enrol/code_not_found")
        return
    person = await people.enrol(
        turn.session,
        role=role,
        cohort_id=invite.cohort_id if role == "patient" else None,
        display_name=name,
        channel=incoming.channel,
        user_id=incoming.user_id,
        chat_id=incoming.chat_id,
        now=turn.now,
    )
    # The conditional claim is the only judge: it fails if the code was used by someone
    # else or expired while they were answering, even on another instance at the same moment.
    if not await invites.claim(turn.session, invite.id, person.id, turn.now):
        await turn.session.delete(person)
        await turn.forget_state()
        state = (await invites.check_code(turn.session, invite.code, turn.now)).state
        turn.say(_CODE_PROBLEMS.get(state, "enrol/code_used"))
        return
    turn.person = person
    if role == "staff":
        turn.say("enrol/staff_done", name=name)
        return
    cohort = await cohorts.get_cohort(turn.session, invite.cohort_id)
    # Reminders for every programme day and review are planned as soon as they join.
    await Planner.of(turn.content, turn.settings).plan(turn.session, turn.now, [person.id])
    first_day = min(day_dates(await events_of(turn.session, cohort)))
    turn.say("enrol/done", name=name, cohort=cohort, first_day=first_day)
    reference = people.reference(person)
    turn.tell_staff("patient_joined", "staff/patient_joined", reference=reference, cohort=cohort)
    await menu.show(turn)


PATIENT_FORM = Form(
    name="enrol",
    steps=(
        Step(
            "consent",
            "enrol/consent",
            "choice",
            options=(Option("yes", "consent_yes"), Option("no", "consent_no")),
            invalid="enrol/consent_invalid",
        ),
        Step(
            "name",
            "enrol/ask_name",
            "text",
            max_length=people.NAME_MAX_LENGTH,
            clean=people.clean_name,
            invalid="enrol/name_invalid",
            suggest_label="use_name",
        ),
    ),
    finish=_finish_patient,
    branch=lambda step, value: "" if step == "consent" and value == "no" else None,
)

STAFF_FORM = Form(
    name="enrol_staff",
    steps=(
        Step(
            "name",
            "enrol/staff_ask_name",
            "text",
            max_length=people.NAME_MAX_LENGTH,
            clean=people.clean_name,
            invalid="enrol/name_invalid",
            suggest_label="use_name",
        ),
    ),
    finish=_finish_staff,
)


# Joining has no command or menu action of its own: a code, a link or /start begins it.
FLOW = Flow("enrol", forms=(PATIENT_FORM, STAFF_FORM))
