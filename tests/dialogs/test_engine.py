"""The form engine with a small form of its own: choices, a 0-10 scale and free text."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app.runtime import Runtime
from dialogs import engine, flows
from dialogs.engine import Form, Option, Step, button_payload, parse_button_payload
from dialogs.turn import Turn
from tests.helpers import Chat, enrol_patient

FINISHED: list[dict[str, Any]] = []


async def _finish(turn: Turn, data: dict[str, Any]) -> None:
    FINISHED.append(data)
    turn.say("common/cancelled", kept="nothing")


RATING = Form(
    name="test_rating",
    steps=(
        Step(
            "score",
            "enrol/consent_invalid",
            "scale",
            low=0,
            high=10,
            invalid="common/choose_button",
        ),
        Step(
            "more",
            "enrol/consent_invalid",
            "choice",
            options=(Option("yes", "consent_yes"), Option("no", "consent_no")),
        ),
        Step("note", "enrol/ask_name", "text", max_length=20, invalid="enrol/name_invalid"),
    ),
    finish=_finish,
    prompt_vars=lambda _turn, _data: {"choices": ["Yes, I agree", "No, thank you"]},
    branch=lambda step, value: "" if step == "more" and value == "no" else None,
)


@pytest.fixture
async def rating_chat(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Chat:
    """A patient part way into the test form (registered like any other form)."""
    monkeypatch.setitem(flows.FORMS, RATING.name, RATING)
    FINISHED.clear()
    chat = await enrol_patient(runtime)
    async with runtime.sessions() as session, session.begin():
        from sqlalchemy import select

        from bot.db.models import Conversation

        state = await session.scalar(select(Conversation))
        assert state is not None
        state.dialog, state.step, state.data = RATING.name, "score", {}
    return chat


def test_payloads_round_trip_and_reject_junk() -> None:
    assert parse_button_payload(button_payload(7, "yes")) == (7, "yes")
    for junk in ("", "d", "d:x:yes", "d:7:", "m:today", "d:-1:yes"):
        assert parse_button_payload(junk) is None


async def test_scale_accepts_buttons_and_typed_numbers_only_in_range(rating_chat: Chat) -> None:
    for bad in ("11", "-1", "seven", "3.5"):
        await rating_chat.say(bad)
        assert "Please choose one of the buttons below." in rating_chat.text
    assert rating_chat.labels == [str(n) for n in range(11)]
    await rating_chat.press("7")
    assert rating_chat.labels == ["Yes, I agree", "No, thank you"]
    await rating_chat.press("Yes, I agree")
    await rating_chat.say("x" * 21)
    assert "up to 20 characters" in rating_chat.text
    await rating_chat.say("fine")
    assert FINISHED == [{"score": 7, "more": "yes", "note": "fine"}]


async def test_branch_can_finish_early(rating_chat: Chat) -> None:
    await rating_chat.say("3")
    await rating_chat.press("No, thank you")
    assert FINISHED == [{"score": 3, "more": "no"}]


async def test_show_prompt_uses_the_current_version(rating_chat: Chat) -> None:
    await rating_chat.say("5")
    payloads = [b.payload for row in rating_chat.replies[-1].buttons for b in row]
    versions = {parse_button_payload(p)[0] for p in payloads}  # type: ignore[index]
    assert len(versions) == 1
    assert engine.DIALOG_BUTTON_PREFIX == "d"


NOTE = Form(
    name="test_note",
    steps=(
        Step(
            "note",
            "enrol/ask_name",
            "text",
            max_length=20,
            invalid="enrol/name_invalid",
            clean=lambda text: text.upper() if text.isalpha() else None,
            answers_for=lambda _turn: (Option("yes", "consent_yes"), Option("no", "consent_no")),
        ),
    ),
    finish=_finish,
)


async def test_offered_answers_are_buttons_typed_words_or_any_clean_text(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(flows.FORMS, NOTE.name, NOTE)
    for answer, expected in (
        (("press", "Yes, I agree"), "YES"),  # a button counts as typing its value
        (("say", "no, thank you"), "NO"),  # so does typing its label
        (("say", "maybe"), "MAYBE"),  # and any other acceptable text
    ):
        FINISHED.clear()
        chat = await enrol_patient(runtime, user_id=f"p-{expected}")
        async with runtime.sessions() as session, session.begin():
            from sqlalchemy import select

            from bot.db.models import Conversation

            state = await session.scalar(
                select(Conversation).where(Conversation.channel_user_id == chat.user_id)
            )
            assert state is not None
            state.dialog, state.step, state.data = NOTE.name, "note", {}
        await chat.command("help")  # shows the prompt again, with its buttons
        assert chat.labels == ["Yes, I agree", "No, thank you"]
        await chat.say("12 34")  # not acceptable: asked again, buttons kept
        assert "No, thank you" in chat.labels
        how, what = answer
        await (chat.press(what) if how == "press" else chat.say(what))
        assert [{"note": expected}] == FINISHED
