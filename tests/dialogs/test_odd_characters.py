"""Characters no database stores, or that hide what a text says, in every free-text field:
nothing fails, nothing is lost, and what is stored reads as the person meant."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import DoctorQuestion, Escalation, Person
from tests.dialogs.test_questions import WHILE_OPEN, ask
from tests.helpers import Chat, enrol_patient, make_cohort, make_invites

ODD = {
    "lone-surrogate": "\ud83d",
    "nul": "\x00",
    "escape": "\x1b",
    "rtl-override": "\u202e",
    "isolate": "\u2067",
    "bell-and-backspace": "\x07\x08",
}


def clean(text: str) -> bool:
    """No surrogate, control character (but newline and tab) or direction override."""
    return not any(
        0xD800 <= ord(c) <= 0xDFFF
        or (ord(c) < 32 and c not in "\n\t")
        or c in "\x7f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
        for c in text
    )


@pytest.mark.parametrize("odd", ODD.values(), ids=ODD.keys())
async def test_a_name_with_odd_characters_is_stored_clean(runtime: Runtime, odd: str) -> None:
    (invite,) = await make_invites(runtime, await make_cohort(runtime))
    chat = Chat(runtime, user_id="odd-name")
    await chat.command("start", invite.code)
    await chat.press("Yes, I agree")
    await chat.say(f"Ro{odd}bin")
    async with runtime.sessions() as session:
        (person,) = await session.scalars(select(Person))
    assert person.display_name == "Robin"
    assert (await chat.command("menu"))[-1].buttons


@pytest.mark.parametrize("odd", ODD.values(), ids=ODD.keys())
async def test_a_question_for_the_doctor_with_odd_characters_is_kept_clean(
    runtime: Runtime, clock: ManualClock, odd: str
) -> None:
    patient = await enrol_patient(runtime)
    clock.set(WHILE_OPEN)
    await ask(patient, f"Will{odd} my pain go away?")
    async with runtime.sessions() as session:
        (question,) = await session.scalars(select(DoctorQuestion))
    assert question.text == "Will my pain go away?"
    assert (await patient.command("menu"))[-1].buttons


@pytest.mark.parametrize("odd", ODD.values(), ids=ODD.keys())
async def test_a_report_and_a_crisis_with_odd_characters_are_recorded(
    runtime: Runtime, odd: str
) -> None:
    patient = await enrol_patient(runtime)
    await patient.command("report")
    await patient.press("More pain than usual")
    await patient.press("7")
    await patient.press("No, none of these")
    await patient.say(f"Worse{odd} since the walk")
    await patient.press("Yes, please contact me")
    await patient.say(f"I want to end my life{odd}")
    async with runtime.sessions() as session:
        escalations = list(await session.scalars(select(Escalation).order_by(Escalation.id)))
    assert escalations and all(clean(e.details or "") for e in escalations)
    assert any(e.risk == "crisis" for e in escalations)
    assert (await patient.command("menu"))[-1].buttons
