"""Neutral replies as Teams activities (Adaptive Cards 1.5 for buttons), and card presses read
back: nothing here depends on Telegram's inline keyboards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.app.channels.teams_alerts import (
    CARD_CONTENT_TYPE,
    CARD_SCHEMA,
    alert_body,
    escape_markdown,
)
from bot.messages import Button, Reply
from bot.services.escalations import PREFIX as ALERT_PREFIX
from bot.services.escalations import RESOLVE, parse_payload

CARD_VERSION = "1.5"
# The one verb every button sends: what was pressed is in the data, as on Telegram.
VERB = "press"
PAYLOAD_KEY = "p"
NOTE_INPUT = "note"
INVOKE_NAME = "adaptiveCard/action"
MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"
# Teams refuses activities over about 28 KB; a longer text is cut (with a note) to fit.
MAX_TEXT_CHARACTERS = 20_000
ELLIPSIS = "…"


@dataclass(frozen=True)
class CardWords:
    """Our own words on cards (from content/labels.toml)."""

    note_label: str
    note_placeholder: str
    cut: str


@dataclass(frozen=True)
class Press:
    """A card button pressed: its payload, and the outcome note typed beside it, if any."""

    payload: str
    note: str = ""


def _cut(text: str, words: CardWords) -> str:
    """The text, cut to what Teams accepts, saying so."""
    if len(text) <= MAX_TEXT_CHARACTERS:
        return text
    return text[: MAX_TEXT_CHARACTERS - 1] + ELLIPSIS + "\n\n" + words.cut


def _text_blocks(text: str) -> list[dict[str, Any]]:
    """Each line a TextBlock, Markdown escaped so what someone typed shows as typed."""
    blocks: list[dict[str, Any]] = []
    gap = False
    for line in text.splitlines():
        if not line.strip():
            gap = True
            continue
        block: dict[str, Any] = {"type": "TextBlock", "text": escape_markdown(line), "wrap": True}
        if gap and blocks:
            block["spacing"] = "Medium"
        blocks.append(block)
        gap = False
    return blocks or [{"type": "TextBlock", "text": " ", "wrap": True}]


def _is_alert(reply: Reply) -> bool:
    """A staff alert: its buttons act on an escalation."""
    return any(
        button.payload.startswith(f"{ALERT_PREFIX}:") for row in reply.buttons for button in row
    )


def _action(button: Button, with_note: bool = False) -> dict[str, Any]:
    """One button as Action.Execute; the payload comes back in the data, as on Telegram."""
    action: dict[str, Any] = {
        "type": "Action.Execute",
        "title": button.label,
        "verb": VERB,
        "data": {PAYLOAD_KEY: button.payload},
        # Only Resolve sends the note typed beside it; other buttons send nothing typed.
        "associatedInputs": "auto" if with_note else "none",
    }
    return action


def _resolves(button: Button) -> bool:
    parsed = parse_payload(button.payload)
    return parsed is not None and parsed[0] == RESOLVE


def card(reply: Reply, words: CardWords) -> dict[str, Any]:
    """The Adaptive Card for a reply with buttons: each row of buttons an ActionSet."""
    text = _cut(reply.text, words)
    body = alert_body(text) if _is_alert(reply) else _text_blocks(text)
    for row in reply.buttons:
        if any(_resolves(button) for button in row):
            body.append(
                {
                    "type": "Input.Text",
                    "id": NOTE_INPUT,
                    "label": words.note_label,
                    "placeholder": words.note_placeholder,
                    "isMultiline": True,
                    "maxLength": 500,
                }
            )
        body.append(
            {
                "type": "ActionSet",
                "actions": [_action(button, _resolves(button)) for button in row],
            }
        )
    return {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION, "body": body}


def activity(reply: Reply, words: CardWords) -> dict[str, Any]:
    """The message activity for a reply: plain text, or a card when it has buttons."""
    if not reply.buttons:
        # Plain text: nothing a patient typed (or a name) can become a link or markup.
        return {"type": "message", "text": _cut(reply.text, words), "textFormat": "plain"}
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card(reply, words)}],
    }


def read_press(value: object) -> Press | None:
    """The press an `adaptiveCard/action` invoke carries, or None if it is not one of ours."""
    if not isinstance(value, dict):
        return None
    action = value.get("action")
    if not isinstance(action, dict) or action.get("verb") != VERB:
        return None
    data = action.get("data")
    if not isinstance(data, dict):
        return None
    payload = data.get(PAYLOAD_KEY)
    if not isinstance(payload, str) or not 1 <= len(payload.encode()) <= 64:
        return None
    note = data.get(NOTE_INPUT, "")
    return Press(payload, note if isinstance(note, str) else "")


def invoke_message(text: str) -> dict[str, Any]:
    """An invoke's answer that shows a short message to the presser only; the card stays."""
    return {"statusCode": 200, "type": MESSAGE_RESPONSE, "value": text}


def invoke_card(content: dict[str, Any]) -> dict[str, Any]:
    """An invoke's answer that replaces the card the presser sees."""
    return {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": content}
