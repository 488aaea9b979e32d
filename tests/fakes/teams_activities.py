"""Builders of incoming Teams Activity JSON (camelCase dicts) to POST to the bot's /api/messages.

Every id, name and tenant here is invented. The default serviceUrl is a closed loopback port
(http://127.0.0.1:9/), so a test that forgets to pass ``service_url=fake.service_url`` fails fast
instead of reaching the internet. The default personal conversation id is the one
FakeBotConnector gives the same user on create_conversation, as Teams does.
"""

from __future__ import annotations

import datetime as dtm
import itertools
from typing import Any, Literal

from .bot_connector import ADAPTIVE_CARD, personal_conversation_id

__all__ = [
    "ADAPTIVE_CARD",
    "BOT_APP_ID",
    "BOT_ID",
    "BOT_NAME",
    "CHANNEL_ID",
    "DEFAULT_SERVICE_URL",
    "TEAM_ID",
    "TENANT_ID",
    "USER_AAD_ID",
    "USER_ID",
    "USER_NAME",
    "adaptive_card_attachment",
    "card_action",
    "channel_conversation_id",
    "channel_message",
    "conversation_update_bot_added",
    "installation_update",
    "personal_message",
]

# Invented identities (GUID-shaped, not anyone's real ids).
BOT_APP_ID = "00000000-1111-4222-8333-444444444444"
BOT_ID = f"28:{BOT_APP_ID}"
BOT_NAME = "PMP Companion"
TENANT_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
USER_ID = "29:1FakeUserIdForPmpCompanionTests-AbCdEf0123456789"
USER_AAD_ID = "11111111-2222-4333-8444-555555555555"
USER_NAME = "Sam Sample"
TEAM_ID = "19:FakePainTeam0123456789abcdef@thread.tacv2"
CHANNEL_ID = "19:FakeGeneralChannel0123456789ab@thread.tacv2"
DEFAULT_SERVICE_URL = "http://127.0.0.1:9/"

ConversationType = Literal["personal", "channel", "groupChat"]

_message_ids = itertools.count(1_600_000_000_001)
_invoke_ids = itertools.count(1)


def _new_message_id() -> str:
    """A unique incoming message id (Teams style: millisecond-like digits)."""
    return str(next(_message_ids))


def _new_invoke_id() -> str:
    """A unique incoming invoke id (Teams style: "f:" and digits)."""
    return f"f:{next(_invoke_ids):019d}"


def _timestamp(when: dtm.datetime | None) -> str:
    """An ISO 8601 UTC timestamp with a Z, as Teams sends."""
    moment = (when or dtm.datetime.now(dtm.UTC)).astimezone(dtm.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def channel_conversation_id(
    channel_id: str = CHANNEL_ID, root_message_id: str | None = None
) -> str:
    """A channel thread's conversation id: "19:...@thread.tacv2;messageid=<root post id>"."""
    return f"{channel_id};messageid={root_message_id}" if root_message_id else channel_id


def adaptive_card_attachment(card: dict[str, Any]) -> dict[str, Any]:
    """An attachment carrying an Adaptive Card."""
    return {"contentType": ADAPTIVE_CARD, "content": card}


def _conversation(
    conversation_type: ConversationType, conversation_id: str, tenant_id: str
) -> dict[str, Any]:
    """The conversation account of an incoming activity."""
    conversation: dict[str, Any] = {
        "conversationType": conversation_type,
        "id": conversation_id,
        "tenantId": tenant_id,
    }
    if conversation_type != "personal":
        conversation["isGroup"] = True
    return conversation


def _channel_data(
    conversation_type: ConversationType,
    tenant_id: str,
    team_id: str,
    channel_id: str,
    **extra: Any,
) -> dict[str, Any]:
    """channelData: the tenant, plus team and channel for channel conversations."""
    data: dict[str, Any] = {"tenant": {"id": tenant_id}}
    if conversation_type == "channel":
        data.update(
            {
                "teamsChannelId": channel_id,
                "teamsTeamId": team_id,
                "channel": {"id": channel_id},
                "team": {"id": team_id},
            }
        )
    data.update(extra)
    return data


def _base(
    activity_type: str,
    *,
    activity_id: str,
    conversation: dict[str, Any],
    user_id: str,
    aad_object_id: str,
    name: str,
    service_url: str,
    channel_data: dict[str, Any],
    bot_id: str,
    bot_name: str,
    timestamp: dtm.datetime | None,
    locale: str,
) -> dict[str, Any]:
    """The fields every incoming Teams activity carries."""
    return {
        "type": activity_type,
        "id": activity_id,
        "timestamp": _timestamp(timestamp),
        "localTimestamp": _timestamp(timestamp),
        "localTimezone": "Europe/London",
        "locale": locale,
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": user_id, "name": name, "aadObjectId": aad_object_id},
        "conversation": conversation,
        "recipient": {"id": bot_id, "name": bot_name},
        "channelData": channel_data,
    }


def personal_message(
    text: str,
    user_id: str = USER_ID,
    aad_object_id: str = USER_AAD_ID,
    name: str = USER_NAME,
    conversation_id: str | None = None,
    service_url: str = DEFAULT_SERVICE_URL,
    tenant_id: str = TENANT_ID,
    activity_id: str | None = None,
    value: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    *,
    bot_id: str = BOT_ID,
    bot_name: str = BOT_NAME,
    timestamp: dtm.datetime | None = None,
    locale: str = "en-GB",
) -> dict[str, Any]:
    """A message a user sends the bot in a 1:1 chat (conversation id defaults per user)."""
    conversation_id = conversation_id or personal_conversation_id(user_id, tenant_id)
    activity = _base(
        "message",
        activity_id=activity_id or _new_message_id(),
        conversation=_conversation("personal", conversation_id, tenant_id),
        user_id=user_id,
        aad_object_id=aad_object_id,
        name=name,
        service_url=service_url,
        channel_data=_channel_data("personal", tenant_id, TEAM_ID, CHANNEL_ID),
        bot_id=bot_id,
        bot_name=bot_name,
        timestamp=timestamp,
        locale=locale,
    )
    activity["text"] = text
    activity["textFormat"] = "plain"
    activity["entities"] = [
        {"type": "clientInfo", "locale": locale, "country": "GB", "platform": "Web"}
    ]
    if value is not None:
        activity["value"] = value
    if attachments is not None:
        activity["attachments"] = attachments
    return activity


def channel_message(
    text: str,
    user_id: str = USER_ID,
    aad_object_id: str = USER_AAD_ID,
    name: str = USER_NAME,
    *,
    mention_bot: bool = True,
    team_id: str = TEAM_ID,
    channel_id: str = CHANNEL_ID,
    root_message_id: str | None = None,
    service_url: str = DEFAULT_SERVICE_URL,
    tenant_id: str = TENANT_ID,
    activity_id: str | None = None,
    value: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    bot_id: str = BOT_ID,
    bot_name: str = BOT_NAME,
    timestamp: dtm.datetime | None = None,
    locale: str = "en-GB",
) -> dict[str, Any]:
    """A post (or, with root_message_id, a thread reply) in a team channel, @mentioning the bot.

    A new post's conversation id ends in ";messageid=<its own id>", as Teams sends it.
    """
    activity_id = activity_id or _new_message_id()
    conversation_id = channel_conversation_id(channel_id, root_message_id or activity_id)
    activity = _base(
        "message",
        activity_id=activity_id,
        conversation=_conversation("channel", conversation_id, tenant_id),
        user_id=user_id,
        aad_object_id=aad_object_id,
        name=name,
        service_url=service_url,
        channel_data=_channel_data("channel", tenant_id, team_id, channel_id),
        bot_id=bot_id,
        bot_name=bot_name,
        timestamp=timestamp,
        locale=locale,
    )
    entities: list[dict[str, Any]] = []
    if mention_bot:
        mention = f"<at>{bot_name}</at>"
        text = f"{mention} {text}"
        entities.append(
            {"type": "mention", "text": mention, "mentioned": {"id": bot_id, "name": bot_name}}
        )
    entities.append({"type": "clientInfo", "locale": locale, "country": "GB", "platform": "Web"})
    activity["text"] = text
    activity["textFormat"] = "plain"
    activity["entities"] = entities
    if root_message_id:
        activity["replyToId"] = root_message_id
    if value is not None:
        activity["value"] = value
    if attachments is not None:
        activity["attachments"] = attachments
    return activity


def _event_conversation(
    conversation_type: ConversationType,
    conversation_id: str | None,
    user_id: str,
    tenant_id: str,
    channel_id: str,
) -> dict[str, Any]:
    """The conversation of an install or membership event."""
    if conversation_id is None:
        conversation_id = (
            personal_conversation_id(user_id, tenant_id)
            if conversation_type == "personal"
            else channel_id
            if conversation_type == "channel"
            else "19:FakeGroupChat0123456789abcdef@thread.v2"
        )
    return _conversation(conversation_type, conversation_id, tenant_id)


def installation_update(
    action: Literal["add", "remove", "add-upgrade", "remove-upgrade"] = "add",
    conversation_type: ConversationType = "channel",
    *,
    user_id: str = USER_ID,
    aad_object_id: str = USER_AAD_ID,
    name: str = USER_NAME,
    conversation_id: str | None = None,
    team_id: str = TEAM_ID,
    channel_id: str = CHANNEL_ID,
    service_url: str = DEFAULT_SERVICE_URL,
    tenant_id: str = TENANT_ID,
    activity_id: str | None = None,
    bot_id: str = BOT_ID,
    bot_name: str = BOT_NAME,
    timestamp: dtm.datetime | None = None,
    locale: str = "en-GB",
) -> dict[str, Any]:
    """The installationUpdate Teams sends when a user installs (or removes) the app."""
    activity = _base(
        "installationUpdate",
        activity_id=activity_id or _new_invoke_id(),
        conversation=_event_conversation(
            conversation_type, conversation_id, user_id, tenant_id, channel_id
        ),
        user_id=user_id,
        aad_object_id=aad_object_id,
        name=name,
        service_url=service_url,
        channel_data=_channel_data(
            conversation_type, tenant_id, team_id, channel_id, source={"name": "message"}
        ),
        bot_id=bot_id,
        bot_name=bot_name,
        timestamp=timestamp,
        locale=locale,
    )
    activity["action"] = action
    return activity


def conversation_update_bot_added(
    conversation_type: ConversationType = "channel",
    *,
    user_id: str = USER_ID,
    aad_object_id: str = USER_AAD_ID,
    name: str = USER_NAME,
    conversation_id: str | None = None,
    team_id: str = TEAM_ID,
    team_name: str = "Pain Programme Team",
    channel_id: str = CHANNEL_ID,
    service_url: str = DEFAULT_SERVICE_URL,
    tenant_id: str = TENANT_ID,
    activity_id: str | None = None,
    bot_id: str = BOT_ID,
    bot_name: str = BOT_NAME,
    timestamp: dtm.datetime | None = None,
    locale: str = "en-GB",
) -> dict[str, Any]:
    """The conversationUpdate whose membersAdded holds the bot (app added to a team or chat)."""
    extra: dict[str, Any] = {}
    if conversation_type == "channel":
        extra["eventType"] = "teamMemberAdded"
    activity = _base(
        "conversationUpdate",
        activity_id=activity_id or _new_invoke_id(),
        conversation=_event_conversation(
            conversation_type, conversation_id, user_id, tenant_id, channel_id
        ),
        user_id=user_id,
        aad_object_id=aad_object_id,
        name=name,
        service_url=service_url,
        channel_data=_channel_data(conversation_type, tenant_id, team_id, channel_id, **extra),
        bot_id=bot_id,
        bot_name=bot_name,
        timestamp=timestamp,
        locale=locale,
    )
    if conversation_type == "channel":
        activity["channelData"]["team"]["name"] = team_name
    activity["membersAdded"] = [{"id": bot_id}]
    return activity


def card_action(
    verb: str,
    data: dict[str, Any],
    reply_to_id: str,
    conversation_id: str | None = None,
    conversation_type: ConversationType = "personal",
    *,
    user_id: str = USER_ID,
    aad_object_id: str = USER_AAD_ID,
    name: str = USER_NAME,
    team_id: str = TEAM_ID,
    channel_id: str = CHANNEL_ID,
    service_url: str = DEFAULT_SERVICE_URL,
    tenant_id: str = TENANT_ID,
    activity_id: str | None = None,
    bot_id: str = BOT_ID,
    bot_name: str = BOT_NAME,
    timestamp: dtm.datetime | None = None,
    locale: str = "en-GB",
) -> dict[str, Any]:
    """An Action.Execute press on the card held by activity reply_to_id (an invoke)."""
    activity = _base(
        "invoke",
        activity_id=activity_id or _new_invoke_id(),
        conversation=_event_conversation(
            conversation_type, conversation_id, user_id, tenant_id, channel_id
        ),
        user_id=user_id,
        aad_object_id=aad_object_id,
        name=name,
        service_url=service_url,
        channel_data=_channel_data(
            conversation_type, tenant_id, team_id, channel_id, source={"name": "message"}
        ),
        bot_id=bot_id,
        bot_name=bot_name,
        timestamp=timestamp,
        locale=locale,
    )
    activity["name"] = "adaptiveCard/action"
    activity["replyToId"] = reply_to_id
    activity["value"] = {
        "action": {"type": "Action.Execute", "verb": verb, "data": dict(data)},
        "trigger": "manual",
    }
    return activity
