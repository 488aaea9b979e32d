"""Reading Telegram updates one at a time, so one that cannot be read stops nobody else's."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

from telegram import Bot, Update
from telegram.error import NetworkError
from telegram.warnings import PTBUserWarning

log = logging.getLogger(__name__)

# A long poll's answer may take this long beyond its own timeout before we call it lost.
READ_MARGIN_SECONDS = 10.0
# What our adapter reads of a message and of a button press: enough to answer the person.
_MESSAGE_KEYS = ("message_id", "date", "text", "caption")
_CHAT_KEYS = ("id", "type")
_USER_KEYS = ("id", "is_bot", "first_name")
_ENTITY_KEYS = ("type", "offset", "length")
_QUERY_KEYS = ("id", "data", "chat_instance")


async def get_updates(
    bot: Bot, offset: int | None, wait_seconds: int, allowed_updates: Sequence[str]
) -> list[tuple[int, Update | None]]:
    """getUpdates, each update read on its own: (update id, the update, or None if unreadable).

    PTB's own get_updates reads the whole batch at once: one update it cannot read (a poll
    from an older Bot API server, say) fails the batch every time, and its log line prints
    every message in it.
    """
    with warnings.catch_warnings():
        # PTB suggests Bot.get_updates for this endpoint; that is what we must not use here.
        warnings.simplefilter("ignore", PTBUserWarning)
        raw = await bot.do_api_request(
            "get_updates",
            api_kwargs={
                "offset": offset,
                "timeout": wait_seconds,
                "allowed_updates": list(allowed_updates),
            },
            read_timeout=wait_seconds + READ_MARGIN_SECONDS,
        )
    if not isinstance(raw, list):
        raise NetworkError("getUpdates answered something other than a list")
    fetched: list[tuple[int, Update | None]] = []
    for data in raw:
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int):
            log.error("an update without an id was passed over")
            continue
        fetched.append((update_id, read_update(data, bot)))
    return fetched


def read_update(data: dict[str, Any], bot: Bot) -> Update | None:
    """The update; if PTB cannot read it whole, the parts we use; None if not even those.

    Logged by id only: never the update, which holds what someone wrote.
    """
    update_id = data.get("update_id")
    try:
        return Update.de_json(data, bot)
    except Exception as error:
        failure = type(error).__name__
    try:
        trimmed = _trimmed(data)
        update = Update.de_json(trimmed, bot) if trimmed is not None else None
    except Exception:
        update = None
    if update is None:
        log.error(
            "an update could not be read and was passed over",
            extra={"update_id": update_id, "error": failure},
        )
    else:
        log.warning(
            "an update could be read only in part", extra={"update_id": update_id, "error": failure}
        )
    return update


def _trimmed(data: dict[str, Any]) -> dict[str, Any] | None:
    """The update with only the fields our adapter reads (a message or a button press)."""
    for key in ("message", "edited_message"):
        message = data.get(key)
        if isinstance(message, dict):
            return {"update_id": data["update_id"], key: _message(message)}
    query = data.get("callback_query")
    if isinstance(query, dict):
        kept = _picked(query, _QUERY_KEYS)
        kept["from"] = _picked(query["from"], _USER_KEYS)
        if isinstance(query.get("message"), dict):
            kept["message"] = _message(query["message"])
        return {"update_id": data["update_id"], "callback_query": kept}
    return None


def _message(message: dict[str, Any]) -> dict[str, Any]:
    """A message's id, date, chat, sender, words and the entities that mark a command."""
    kept = _picked(message, _MESSAGE_KEYS)
    kept["chat"] = _picked(message["chat"], _CHAT_KEYS)
    if isinstance(message.get("from"), dict):
        kept["from"] = _picked(message["from"], _USER_KEYS)
    entities = message.get("entities")
    if isinstance(entities, list):
        kept["entities"] = [
            _picked(entity, _ENTITY_KEYS)
            for entity in entities
            if isinstance(entity, dict)
            and isinstance(entity.get("type"), str)
            and isinstance(entity.get("offset"), int)
            and isinstance(entity.get("length"), int)
        ]
    return kept


def _picked(data: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """Only these keys of `data`."""
    return {key: data[key] for key in keys if key in data}
