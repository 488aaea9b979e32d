"""Thanks, greetings and goodbyes get a short, warm answer and the menu, not the fallback."""

from __future__ import annotations

import pytest

from bot.app.runtime import Runtime
from tests.escalation_support import Team, escalations
from tests.helpers import Chat

FALLBACK = "can't read messages like that"
CRISIS_LINE = "Samaritans: call 116 123"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Thanks", "You're welcome, Robin."),
        ("thank you so much!", "You're welcome, Robin."),
        ("ok thanks x", "You're welcome, Robin."),
        ("🙏", "You're welcome, Robin."),
        ("See you tomorrow", "Take care, Robin."),
        ("night night", "Take care, Robin."),
        ("Morning!", "Hello, Robin."),
        ("hiya, how are you?", "Hello, Robin."),
        ("👍", "All right, Robin."),
        ("OK", "All right, Robin."),
    ],
)
async def test_small_talk_gets_a_warm_word_and_the_menu(
    patient: Chat, text: str, answer: str
) -> None:
    await patient.say(text)
    assert patient.text.startswith(answer)
    assert FALLBACK not in patient.text
    assert CRISIS_LINE not in patient.text  # not the crisis list for a thank-you
    assert "More pain or distress" in patient.labels  # the menu, report first
    assert "Today" in " ".join(patient.labels)


@pytest.mark.parametrize(
    "text",
    ["thanks, but my back is much worse today", "hello can I change my group", "😭"],
)
async def test_anything_more_than_small_talk_is_not_taken_for_it(patient: Chat, text: str) -> None:
    await patient.say(text)
    assert not patient.text.startswith(("You're welcome", "Hello,", "Take care", "All right"))


async def test_risk_language_with_thanks_is_still_a_crisis(
    patient: Chat, team: Team, runtime: Runtime
) -> None:
    await patient.say("thanks for everything. goodbye, I won't be here tomorrow")
    assert CRISIS_LINE in patient.text
    assert "You're welcome" not in patient.text
    (escalation,) = await escalations(runtime)
    assert escalation.urgent
