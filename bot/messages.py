"""Neutral events and replies: what dialogs see instead of Telegram or console objects."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, fields
from typing import Literal, Protocol, runtime_checkable

from bot.numbers import whole_number

# "blocked" / "unblocked": the person stopped or restarted the bot (nothing to answer).
IncomingKind = Literal["text", "command", "button", "unsupported", "blocked", "unblocked"]
# Control characters no person types (tab and newline stay), and the direction overrides and
# isolates that make a name or a quote read differently from what it holds.
_UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str) -> str:
    """Text as every channel hands it on: storable in any database, and shown as it reads.

    A lone UTF-16 surrogate cannot be stored (both databases) and a NUL cannot be stored in
    PostgreSQL: either once made a crisis message's turn fail every time, so no alert.
    """
    if text.isascii() and text.isprintable():
        return text  # the usual case, at no cost
    text = text.encode("utf-8", "ignore").decode("utf-8")  # a lone surrogate is dropped
    return unicodedata.normalize("NFC", _UNWANTED.sub("", text))


# Channels whose staff list decides who is staff (STAFF_TELEGRAM_IDS; on Teams, the console's
# accounts and STAFF_TEAMS_IDS).
CHANNELS_WITH_STAFF_LISTS = frozenset({"telegram", "msteams"})


@dataclass(frozen=True)
class Incoming:
    """One thing a person did: typed text, a command, a button press, or sent something else."""

    channel: str
    user_id: str
    chat_id: str
    update_id: str
    kind: IncomingKind
    text: str = ""
    command: str = ""
    payload: str = ""
    forwarded: bool = False
    private_chat: bool = True
    # The first name on their account: only ever offered back to them, never stored unasked.
    first_name: str = ""
    # For a button: the channel's id of the message it was on (staff alerts check it).
    message_id: str = ""
    # Crisis signposting was already sent by the channel adapter, before any database work.
    crisis_sent: bool = False
    # An earlier message changed by its sender: screened as if sent, otherwise not answered.
    edited: bool = False
    # When the person sent it (Unix seconds, the channel's own clock), if the channel says.
    sent_at: float | None = None
    # For a button: the payloads of every button on the message it was on, as the channel
    # keeps that message (not as the presser's app says).
    buttons_on_message: tuple[str, ...] = ()
    # Whether the sender is on the channel's staff list, decided by the adapter on every
    # message; None where the channel keeps no list (then an enrolled staff role decides).
    on_staff_list: bool | None = None
    # For a private chat: whether it is the sender's own chat with the bot. None: it is when
    # its id is the sender's (Telegram); a Teams personal chat has an id of its own.
    own_chat: bool | None = None

    @property
    def in_own_chat(self) -> bool:
        """Whether this happened in the sender's own private chat with the bot."""
        if self.own_chat is not None:
            return self.private_chat and self.own_chat
        return self.private_chat and self.chat_id == self.user_id

    def __post_init__(self) -> None:
        if self.channel in CHANNELS_WITH_STAFF_LISTS and self.on_staff_list is None:
            # Fail closed: a Telegram event read without asking the list is nobody's staff.
            object.__setattr__(self, "on_staff_list", False)
        # Here, so no channel (Telegram, its webhook, the demo, Teams) can forget it.
        for each in fields(self):
            value = getattr(self, each.name)
            if isinstance(value, str) and not (value.isascii() and value.isprintable()):
                object.__setattr__(self, each.name, clean_text(value))


@dataclass(frozen=True)
class Button:
    """A button with a word label; `payload` comes back when it is pressed (at most 64 bytes)."""

    label: str
    payload: str

    def __post_init__(self) -> None:
        if not 1 <= len(self.payload.encode()) <= 64:
            raise ValueError("button payloads are 1 to 64 bytes (Telegram's callback_data limit)")


ButtonRows = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True)
class Payload:
    """A button's data, 'prefix:part:part...', read safely: a part that is missing is ''.
    Every button handler reads its payload with this, so a forged one cannot crash a turn."""

    prefix: str
    parts: tuple[str, ...]

    @classmethod
    def read(cls, data: str) -> Payload:
        """The payload split at each ':'."""
        prefix, *parts = data.split(":")
        return cls(prefix, tuple(parts))

    @property
    def size(self) -> int:
        """How many parts follow the prefix."""
        return len(self.parts)

    def text(self, index: int) -> str:
        """One part, or '' if there is none."""
        return self.parts[index] if index < len(self.parts) else ""

    def rest(self, index: int) -> str:
        """This part and all that follow, as sent ('' if none)."""
        return ":".join(self.parts[index:])

    def number(self, index: int, whole: bool = False) -> int | None:
        """One part as a whole number (ASCII digits, at most nine), else None. `whole`: the
        rest of the payload from this part must be that number."""
        return whole_number(self.rest(index) if whole else self.text(index))


def payload(prefix: str, *parts: str | int) -> str:
    """A button's data from its prefix and parts."""
    return ":".join((prefix, *(str(part) for part in parts)))


@dataclass(frozen=True)
class Reply:
    """A text for a person, optionally with rows of buttons; with `document_name`, the text
    is sent as a file of that name instead (the doctor's list of questions)."""

    text: str
    buttons: ButtonRows = field(default_factory=tuple)
    document_name: str | None = None

    def to_json(self) -> dict[str, list[list[list[str]]]] | None:
        """The buttons as stored in the outbox."""
        if not self.buttons:
            return None
        return {"rows": [[[b.label, b.payload] for b in row] for row in self.buttons]}


def buttons_from_json(
    data: dict[str, list[list[list[str]]]] | None,
) -> ButtonRows:
    """Rebuild buttons stored by `Reply.to_json`."""
    if not data:
        return ()
    return tuple(tuple(Button(label, payload) for label, payload in row) for row in data["rows"])


class DeliveryError(Exception):
    """A send failed; `retry_after` is set when the channel said when to try again."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class ChatBusy(DeliveryError):
    """This one chat must wait a moment (the channel's limit for a single conversation):
    only its messages wait, and the wait is not a failed try."""


class PermanentDeliveryError(DeliveryError):
    """The channel refused the message for good (for example a bad request): do not retry."""


class RecipientBlocked(PermanentDeliveryError):
    """The person blocked the bot or left: retrying will not help."""


class Sender(Protocol):
    """Sends one reply to one chat on a channel; raises DeliveryError on failure."""

    channel: str

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Deliver the reply; return the channel's id for the message, if it has one."""
        ...


@runtime_checkable
class Editor(Protocol):
    """A sender that can also change a message it sent (staff alerts marked acknowledged)."""

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        """Replace the message's text and buttons."""
        ...
