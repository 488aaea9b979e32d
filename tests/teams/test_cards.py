"""Replies as Teams activities, and card presses read back."""

from __future__ import annotations

import json

from bot.app.channels.teams_cards import (
    CARD_VERSION,
    MAX_TEXT_CHARACTERS,
    CardWords,
    Press,
    activity,
    invoke_message,
    read_press,
)
from bot.messages import Button, Reply

WORDS = CardWords("Outcome note, to resolve", "What was done, briefly", "Cut here.")


def _actions(card: dict) -> list[dict]:
    return [a for el in card["body"] if el["type"] == "ActionSet" for a in el["actions"]]


def test_a_reply_without_buttons_is_plain_text_so_nothing_becomes_markup() -> None:
    sent = activity(Reply("See [my site](https://x.example) **now**"), WORDS)
    assert sent == {
        "type": "message",
        "text": "See [my site](https://x.example) **now**",
        "textFormat": "plain",
    }


def test_buttons_become_action_execute_with_the_payload_in_the_data() -> None:
    reply = Reply("How bad?", ((Button("Mild", "d:4:mild"), Button("Severe", "d:4:bad")),))
    card = activity(reply, WORDS)["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    content = card["content"]
    assert content["version"] == CARD_VERSION == "1.5"
    actions = _actions(content)
    assert [(a["type"], a["title"], a["data"]) for a in actions] == [
        ("Action.Execute", "Mild", {"p": "d:4:mild"}),
        ("Action.Execute", "Severe", {"p": "d:4:bad"}),
    ]
    assert all(a["associatedInputs"] == "none" for a in actions)
    assert not any(el["type"].startswith("Input.") for el in content["body"])


def test_typed_markdown_in_a_card_is_shown_as_typed() -> None:
    reply = Reply("Your words: [click](https://evil.example)", ((Button("OK", "m:menu"),),))
    text = json.dumps(activity(reply, WORDS))
    assert "\\\\[click\\\\]\\\\(https://evil.example\\\\)" in text


def test_a_staff_alert_has_its_facts_and_a_note_box_beside_resolve() -> None:
    reply = Reply(
        "URGENT RISK: risk language\nReference: P5\nHow bad: 9 out of 10",
        (
            (Button("Acknowledge", "e:ack:12"), Button("Resolve", "e:res:12")),
            (Button("Show details", "e:det:12"),),
        ),
    )
    content = activity(reply, WORDS)["attachments"][0]["content"]
    title = content["body"][0]
    assert title["text"] == "URGENT RISK: risk language" and title["color"] == "Attention"
    facts = next(el for el in content["body"] if el["type"] == "FactSet")["facts"]
    assert {"title": "Reference", "value": "P5"} in facts
    note = next(el for el in content["body"] if el["type"] == "Input.Text")
    assert note["id"] == "note" and note["label"] == WORDS.note_label
    by_title = {a["title"]: a for a in _actions(content)}
    assert by_title["Resolve"]["associatedInputs"] == "auto"
    assert by_title["Acknowledge"]["associatedInputs"] == "none"
    # The Workflows card's "act in Telegram" hint is not on a card that has buttons.
    assert "pmp escalations" not in json.dumps(content)


def test_a_very_long_text_is_cut_and_says_so() -> None:
    sent = activity(Reply("a" * (MAX_TEXT_CHARACTERS + 500)), WORDS)
    assert len(sent["text"]) < MAX_TEXT_CHARACTERS + 50
    assert sent["text"].endswith("Cut here.")


def test_a_press_is_read_with_its_note() -> None:
    value = {
        "action": {
            "type": "Action.Execute",
            "verb": "press",
            "data": {"p": "e:res:3", "note": "Rang her"},
        }
    }
    assert read_press(value) == Press("e:res:3", "Rang her")


def test_forged_or_missing_card_data_is_not_a_press() -> None:
    for value in (
        None,
        "e:ack:1",
        {},
        {"action": None},
        {"action": {"verb": "other", "data": {"p": "e:ack:1"}}},
        {"action": {"verb": "press"}},
        {"action": {"verb": "press", "data": {"p": 12}}},
        {"action": {"verb": "press", "data": {"p": ""}}},
        {"action": {"verb": "press", "data": {"p": "x" * 65}}},
        {"action": {"verb": "press", "data": ["e:ack:1"]}},
    ):
        assert read_press(value) is None, value
    odd_note = {"action": {"verb": "press", "data": {"p": "e:res:3", "note": {"x": 1}}}}
    assert read_press(odd_note) == Press("e:res:3", "")


def test_an_invoke_answer_shows_a_message_and_leaves_the_card() -> None:
    assert invoke_message("Acknowledged") == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "Acknowledged",
    }


def test_the_first_name_is_found_in_a_teams_display_name() -> None:
    from bot.app.channels.teams_reading import first_name

    assert first_name("Robin Example") == "Robin"
    assert first_name("EXAMPLE, Robin (PAIN CLINIC NHS TRUST)") == "Robin"
    assert first_name("(Guest) Sam") == "Sam"
    assert first_name("") == "" and first_name("  ") == ""
