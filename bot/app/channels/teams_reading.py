"""Teams activities read as neutral events: messages, card presses, installations."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any

from microsoft_agents.activity import Activity, ChannelAccount, ConversationAccount

from bot.app.channels.teams_cards import INVOKE_NAME, read_press
from bot.app.channels.teams_conversations import Reference, channel_of
from bot.messages import Incoming
from dialogs.flows import STAFF_COMMANDS

CHANNEL = "msteams"


def first_name(display_name: str) -> str:
    """The first name in a Teams display name: "Robin Example", and the directory's
    "EXAMPLE, Robin (PAIN CLINIC)" too; only offered back as "Call me ..."."""
    name = re.sub(r"\([^)]*\)", " ", display_name)
    if "," in name:
        name = name.split(",", 1)[1]
    words = name.split()
    return words[0].strip(".,;:") if words else ""


def _update_id(activity: Activity) -> str:
    """A key unique to this activity: Teams' ids are unique only within a conversation, and an
    edit keeps its message's id (so each edit's words make it an update of its own, while the
    same edit delivered twice is still one)."""
    conversation = activity.conversation.id if activity.conversation else ""
    key = f"{conversation}\n{activity.id}"
    if activity.type == "messageUpdate":
        key += f"\nedit\n{activity.text or ''}"
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def _command(text: str) -> tuple[str, str] | None:
    """('start', 'ABC') for '/start ABC'; None for plain text."""
    if not text.startswith("/") or len(text) < 2 or not text[1].isalpha():
        return None
    head, _, rest = text.partition(" ")
    return head[1:].lower(), rest.strip()


@dataclass(frozen=True)
class Read:
    """An activity as we take it: the event (if there is one to run) and its conversation."""

    incoming: Incoming | None
    reference: Reference | None
    object_id: str = ""
    invoke: bool = False
    installed: bool = False
    # The name on their Teams account: used only to name a member of staff listed in
    # STAFF_TEAMS_IDS (who has no console account) in the audit and on the card.
    name: str = ""


def read_activity(activity: Activity, staff_conversation: str) -> Read:
    """Translate an activity; the event is None for what we deliberately leave alone."""
    sender = activity.from_property
    return replace(_read(activity, staff_conversation), name=(sender.name if sender else "") or "")


def _read(activity: Activity, staff_conversation: str) -> Read:
    """The activity as an event and its conversation (the sender's name added by the caller)."""
    conversation = activity.conversation or ConversationAccount(id="")
    sender = activity.from_property or ChannelAccount(id="")
    kind = conversation.conversation_type or "personal"
    chat_id = channel_of(conversation.id or "")
    tenant = conversation.tenant_id
    if tenant is None and isinstance(activity.channel_data, dict):
        tenant_data = activity.channel_data.get("tenant")
        tenant = tenant_data.get("id") if isinstance(tenant_data, dict) else None
    user_id = sender.id or ""
    reference = (
        Reference(
            chat_id, activity.service_url, tenant, kind, user_id if kind == "personal" else None
        )
        if activity.service_url and chat_id
        else None
    )
    object_id = (sender.aad_object_id or "").lower()
    if not chat_id or not user_id or not activity.id:
        return Read(None, reference, object_id)
    private = kind == "personal"
    base: dict[str, Any] = {
        "channel": CHANNEL,
        "user_id": user_id,
        "chat_id": chat_id,
        "update_id": _update_id(activity),
        "first_name": first_name(sender.name or "") if private else "",
        "private_chat": private,
        "sent_at": activity.timestamp.timestamp() if activity.timestamp else None,
        # Decided after the crisis reply, from the staff accounts (fail closed until then).
        "on_staff_list": False,
        # Teams gives each person their own conversation with the bot.
        "own_chat": private,
    }
    kind_of = activity.type
    if kind_of == "invoke":
        if activity.name != INVOKE_NAME:
            return Read(None, reference, object_id, invoke=True)
        press = read_press(activity.value)
        if press is None:
            return Read(None, reference, object_id, invoke=True)
        # Only the bot posts cards to the staff channel, and Teams says which card was pressed:
        # a press there is on a card with this button, even one whose id was not yet recorded
        # (pressed the moment it arrived), which the alert then adopts as Telegram's does.
        in_staff_channel = not private and chat_id == channel_of(staff_conversation)
        incoming = Incoming(
            kind="button",
            payload=press.payload,
            text=press.note,
            message_id=activity.reply_to_id or "",
            buttons_on_message=(press.payload,) if in_staff_channel else (),
            **base,
        )
        return Read(incoming, reference, object_id, invoke=True)
    if kind_of == "installationUpdate":
        added = activity.action in ("add", "add-upgrade")
        if not private:
            return Read(None, reference, object_id, installed=added)
        if added:
            return Read(Incoming(kind="command", command="start", **base), reference, object_id)
        return Read(Incoming(kind="blocked", **base), reference, object_id)
    if kind_of == "conversationUpdate":
        bot_id = activity.recipient.id if activity.recipient else None
        added = any(member.id == bot_id for member in activity.members_added or ())
        return Read(None, reference, object_id, installed=added and not private)
    if kind_of not in ("message", "messageUpdate"):
        return Read(None, reference, object_id)  # typing, reactions, deletions: nothing to say
    text = activity.text or ""
    if not private:
        # In a channel the bot answers only /id (whoever sets it up learns the channel's id)
        # and staff commands, and those only in the staff channel.
        # The SDK takes out the bot's own @mention, as its mention entity names it.
        mentioned = activity.remove_recipient_mention() if kind_of == "message" else ""
        parsed = _command(mentioned.strip()) if kind_of == "message" else None
        if parsed == ("id", ""):
            return Read(Incoming(kind="command", command="id", **base), reference, object_id)
        if chat_id != channel_of(staff_conversation) or parsed is None:
            return Read(None, reference, object_id)
        if parsed[0] not in STAFF_COMMANDS:
            return Read(None, reference, object_id)
        command, rest = parsed
        return Read(
            Incoming(kind="command", command=command, text=rest, **base), reference, object_id
        )
    edited = kind_of == "messageUpdate"
    text = text.strip()
    if not text:
        # A picture or file (or a card submitted from elsewhere): not read, said so kindly.
        return Read(Incoming(kind="unsupported", edited=edited, **base), reference, object_id)
    if not edited and (parsed := _command(text)) is not None:
        command, rest = parsed
        return Read(
            Incoming(kind="command", command=command, text=rest, **base), reference, object_id
        )
    return Read(Incoming(kind="text", text=text, edited=edited, **base), reference, object_id)
