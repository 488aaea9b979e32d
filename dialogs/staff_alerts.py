"""Staff buttons on alerts (acknowledge, resolve, show details) and the outcome note."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from bot.db.models import Escalation, Person
from bot.services import escalation_views
from bot.services.escalations import (
    ACK,
    DETAILS,
    OUTCOME_MAX_LENGTH,
    Actor,
    Result,
    audit,
    parse_payload,
)
from bot.services.outbox import Priority, outbox_row
from bot.services.people import reference
from dialogs.engine import Form, Step
from dialogs.flow import Flow
from dialogs.turn import Turn

log = logging.getLogger(__name__)

RESOLVE_FORM_NAME = "resolve"
# Open escalations listed by /escalations; the console lists them all.
LIST_LIMIT = 20


async def staff_person(turn: Turn) -> Person | None:
    """The enrolled staff member behind this account, if there is one."""
    incoming = turn.incoming
    if turn.person is not None:
        return turn.person if turn.person.role == "staff" else None
    return await turn.session.scalar(
        select(Person).where(
            Person.channel == incoming.channel,
            Person.channel_user_id == incoming.user_id,
            Person.role == "staff",
        )
    )


async def staff_actor(turn: Turn) -> Actor | None:
    """The member of staff pressing or writing, or None if this account is not staff.

    On Telegram the staff list in the settings decides, on every press (someone taken off
    the list loses access at once, enrolled or not); elsewhere, an enrolled staff member.
    """
    incoming = turn.incoming
    person = await staff_person(turn)
    if not turn.staff_allowed(person is not None):
        return None
    name = person.display_name if person is not None else incoming.first_name
    return Actor(f"{incoming.channel}:{incoming.user_id}", name or "a member of staff")


def _private_chat(turn: Turn, person: Person | None) -> str:
    """Where to write to this member of staff privately (on Telegram: their user id)."""
    return person.chat_id if person is not None else turn.incoming.user_id


async def press(turn: Turn) -> None:
    """A staff button: checked against the staff list and against the alert it was on."""
    incoming = turn.incoming
    parsed = parse_payload(incoming.payload)
    if parsed is None:
        turn.alert = turn.text("common/old_button")
        return
    action, escalation_id = parsed
    escalation = await turn.session.get(Escalation, escalation_id)
    actor = await staff_actor(turn)
    someone = Actor(f"{incoming.channel}:{incoming.user_id}", "")
    if actor is None:
        log.warning(
            "staff button refused: not staff",
            extra={"user": incoming.user_id, "escalation": escalation_id, "action": action},
        )
        if escalation is not None:
            audit(turn.session, escalation, "refused", someone, turn.now, action)
        turn.alert = turn.text("escalation/refused")
        return
    if escalation is None or not await _its_own_alert(turn, escalation_id):
        # A forged callback, or a button copied from another alert: change nothing.
        log.warning(
            "staff button refused: not on this alert",
            extra={"user": incoming.user_id, "escalation": escalation_id, "action": action},
        )
        if escalation is not None:
            audit(turn.session, escalation, "refused", actor, turn.now, f"{action}: wrong message")
        turn.alert = turn.text("escalation/wrong_message")
        return
    if action == ACK:
        await _acknowledge(turn, escalation_id, actor)
    elif action == DETAILS:
        await _details(turn, escalation, actor)
    else:
        await _ask_for_outcome(turn, escalation, actor)


async def _its_own_alert(turn: Turn, escalation_id: int) -> bool:
    """Whether the pressed message is an alert of this escalation: one recorded as sent, or a
    copy sent but never recorded whose own buttons (as the channel keeps them) are this
    alert's."""
    incoming = turn.incoming
    escalator = turn.escalator
    if await escalator.pressed_its_own_alert(
        turn.session, escalation_id, incoming.channel, incoming.chat_id, incoming.message_id
    ):
        return True
    return incoming.payload in incoming.buttons_on_message and await escalator.adopted_copy(
        turn.session,
        escalation_id,
        incoming.channel,
        incoming.chat_id,
        incoming.message_id,
        turn.now,
    )


async def _acknowledge(turn: Turn, escalation_id: int, actor: Actor) -> None:
    result, escalation = await turn.escalator.acknowledge(
        turn.session, escalation_id, actor, turn.now
    )
    _tell_presser(turn, result, escalation)


def _tell_presser(turn: Turn, result: Result, escalation: Escalation | None) -> None:
    """The presser sees the alert's new state, or who had already done it."""
    assert escalation is not None  # it was found a moment ago, in this transaction
    status = turn.escalator.status_line(escalation)
    if result is Result.DONE:
        turn.queue()
        turn.alert = status
    else:
        turn.alert = turn.text("escalation/already", state_line=status)


async def _details(turn: Turn, escalation: Escalation, actor: Actor) -> None:
    """Send the patient's words privately to the member of staff who asked."""
    person = await turn.session.get(Person, escalation.person_id)
    assert person is not None
    chat = _private_chat(turn, await staff_person(turn))
    row = turn.escalator.details_row(escalation, person, turn.incoming.channel, chat, turn.now)
    turn.session.add(row)
    turn.queue([row])
    audit(turn.session, escalation, "details_shown", actor, turn.now)
    turn.alert = turn.text("escalation/details_sent")


async def _ask_for_outcome(turn: Turn, escalation: Escalation, actor: Actor) -> None:
    """Resolving needs a short outcome note: taken from beside the button where the card has
    a box for it (Teams), otherwise asked for in the presser's private chat."""
    if escalation.status == "resolved":
        turn.alert = turn.text(
            "escalation/already", state_line=turn.escalator.status_line(escalation)
        )
        return
    note = turn.incoming.text.strip()
    if note:
        await _resolve_with(turn, escalation.id, actor, note)
        return
    person = await turn.session.get(Person, escalation.person_id)
    assert person is not None
    state = turn.state()
    state.dialog = RESOLVE_FORM_NAME
    state.step = "note"
    state.data = {"escalation_id": escalation.id, "reference": reference(person)}
    state.version += 1
    state.updated_at = turn.now
    chat = _private_chat(turn, await staff_person(turn))
    row = outbox_row(
        channel=turn.incoming.channel,
        chat_id=chat,
        kind="reply",
        priority=Priority.URGENT,
        text=turn.text(
            "escalation/resolve_prompt", reference=reference(person), limit=OUTCOME_MAX_LENGTH
        ),
        now=turn.now,
    )
    turn.session.add(row)
    turn.queue([row])
    audit(turn.session, escalation, "resolve_started", actor, turn.now)
    turn.alert = turn.text("escalation/resolve_asked")


async def _resolve_with(turn: Turn, escalation_id: int, actor: Actor, note: str) -> None:
    """Resolve from the button itself, with the note typed beside it."""
    if len(note) > OUTCOME_MAX_LENGTH:
        turn.alert = turn.text("escalation/resolve_invalid", limit=OUTCOME_MAX_LENGTH)
        return
    result, escalation = await turn.escalator.resolve(
        turn.session, escalation_id, actor, note, turn.now
    )
    _tell_presser(turn, result, escalation)


async def staff_escalations(turn: Turn) -> None:
    """`/escalations`: the open escalations, most pressing first, without anyone's words."""
    if await staff_actor(turn) is None:
        turn.say("escalation/refused")
        return
    found = await escalation_views.listed(turn.session, turn.now, "open", limit=LIST_LIMIT)
    turn.say(
        "escalation/open_list",
        items=[
            {
                "id": item.id,
                "reference": item.reference,
                "title": turn.escalator.alert_title(item.escalation),
                "status": item.escalation.status,
                "urgent": item.urgent,
                "minutes": int(item.waited.total_seconds() // 60),
            }
            for item in found.items
        ],
        total=found.total,
    )


async def _resolve(turn: Turn, data: dict[str, Any]) -> None:
    """The outcome note arrived: resolve, if this is still a member of staff."""
    actor = await staff_actor(turn)
    if actor is None:
        log.warning("outcome note refused: not staff", extra={"user": turn.incoming.user_id})
        turn.say("escalation/refused_note")
        return
    result, escalation = await turn.escalator.resolve(
        turn.session, data["escalation_id"], actor, data["note"], turn.now
    )
    if escalation is None:
        turn.say("common/old_button")
        return
    person = await turn.session.get(Person, escalation.person_id)
    assert person is not None
    if result is Result.DONE:
        turn.queue()
        turn.say("escalation/resolve_done", reference=reference(person))
    else:
        turn.say("escalation/already", state_line=turn.escalator.status_line(escalation))


RESOLVE_FORM = Form(
    name=RESOLVE_FORM_NAME,
    steps=(
        Step(
            "note",
            "escalation/resolve_prompt",
            "text",
            max_length=OUTCOME_MAX_LENGTH,
            invalid="escalation/resolve_invalid",
        ),
    ),
    finish=_resolve,
    prompt_vars=lambda _turn, data: {
        "reference": data.get("reference", ""),
        "limit": OUTCOME_MAX_LENGTH,
    },
)


FLOW = Flow(
    "staff_alerts", forms=(RESOLVE_FORM,), staff_commands={"escalations": staff_escalations}
)
