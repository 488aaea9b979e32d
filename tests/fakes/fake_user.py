"""Client-side view of the fake Telegram API: users, groups and the messages they see."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .telegram_api import FakeTelegramAPI

# A leading bot command, optionally addressed to a bot ("/start@pmp_test_bot").
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{1,64})?")


@dataclass(slots=True)
class FakeDocument:
    """A document the bot sent (or a user uploaded), with its bytes kept for assertions."""

    filename: str
    data: bytes
    mime_type: str = "application/octet-stream"
    file_id: str = ""
    file_unique_id: str = ""


@dataclass(slots=True)
class FakeCallbackAnswer:
    """What the bot passed to answerCallbackQuery."""

    callback_query_id: str
    user_id: int
    text: str | None = None
    show_alert: bool = False
    url: str | None = None
    cache_time: int = 0


@dataclass(slots=True, eq=False)
class FakeMessage:
    """A message the bot sent; edits are applied in place so tests always see the current state."""

    message_id: int
    chat_id: int
    date: int
    text: str | None = None
    # Text exactly as the bot sent it (before HTML parsing/trimming), for markup assertions.
    source_text: str | None = None
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    reply_to_message_id: int | None = None
    link_preview_options: dict[str, Any] | None = None
    document: FakeDocument | None = None
    edited: bool = False
    edit_count: int = 0
    edit_date: int | None = None
    deleted: bool = False

    @property
    def buttons(self) -> list[list[tuple[str, str | None]]]:
        """Inline keyboard as rows of (label, callback_data); callback_data is None for URLs."""
        if not self.reply_markup or "inline_keyboard" not in self.reply_markup:
            return []
        return [
            [(b.get("text", ""), b.get("callback_data")) for b in row]
            for row in self.reply_markup["inline_keyboard"]
        ]

    @property
    def labels(self) -> list[str]:
        """Flat list of inline button labels, row by row."""
        return [label for row in self.buttons for label, _ in row]

    @property
    def keyboard(self) -> list[list[str]]:
        """Reply keyboard (ReplyKeyboardMarkup) button texts, or [] if none."""
        if not self.reply_markup or "keyboard" not in self.reply_markup:
            return []
        return [
            [b if isinstance(b, str) else b.get("text", "") for b in row]
            for row in self.reply_markup["keyboard"]
        ]

    def data_for(self, label: str) -> str | None:
        """callback_data of the first inline button labelled `label` (None if absent)."""
        for row in self.buttons:
            for text, data in row:
                if text == label:
                    return data
        return None

    def has_button(self, label: str) -> bool:
        """Whether an inline button with this exact label exists."""
        return any(text == label for row in self.buttons for text, _ in row)


class _ChatView:
    """Read side shared by private chats and groups: the bot messages visible in one chat."""

    api: FakeTelegramAPI
    chat_id: int

    @property
    def messages(self) -> list[FakeMessage]:
        """Bot messages in this chat, oldest first, excluding deleted ones."""
        return [m for m in self.api.messages_in(self.chat_id) if not m.deleted]

    @property
    def last(self) -> FakeMessage:
        """The latest (non-deleted) bot message in this chat."""
        msgs = self.messages
        if not msgs:
            raise AssertionError(f"the bot has sent no messages to chat {self.chat_id}")
        return msgs[-1]

    @property
    def texts(self) -> list[str]:
        """Text (or caption, or "") of every visible bot message, aligned with `messages`."""
        return [m.text if m.text is not None else (m.caption or "") for m in self.messages]


class FakeGroup(_ChatView):
    """A group chat in which several FakeUsers can post and press buttons."""

    def __init__(self, api: FakeTelegramAPI, chat_id: int, title: str) -> None:
        if chat_id >= 0:
            raise ValueError("group chat ids must be negative")
        self.api = api
        self.chat_id = chat_id
        self.title = title
        # Telegram gives supergroups ids of the form -100xxxxxxxxxx.
        self.type = "supergroup" if str(chat_id).startswith("-100") else "group"

    def to_api(self) -> dict[str, Any]:
        """Bot API Chat object."""
        return {"id": self.chat_id, "type": self.type, "title": self.title}

    async def post(self, user: FakeUser, text: str) -> int:
        """`user` posts `text` in this group; returns the update_id."""
        return await user.send(text, chat=self)

    def __repr__(self) -> str:
        return f"FakeGroup({self.chat_id}, {self.title!r})"


class FakeUser(_ChatView):
    """A Telegram user talking to the bot in a private chat (chat id == user id)."""

    def __init__(
        self,
        api: FakeTelegramAPI,
        user_id: int,
        first_name: str = "Alex",
        username: str | None = None,
        language_code: str | None = "en-GB",
        last_name: str | None = None,
    ) -> None:
        self.api = api
        self.user_id = user_id
        self.chat_id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.callback_answers: list[FakeCallbackAnswer] = []
        self._file_seq = 0

    # ---- Bot API objects -------------------------------------------------------------------

    def to_api(self) -> dict[str, Any]:
        """Bot API User object."""
        user: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def chat_api(self) -> dict[str, Any]:
        """Bot API Chat object of the private chat with the bot."""
        chat: dict[str, Any] = {
            "id": self.user_id,
            "type": "private",
            "first_name": self.first_name,
        }
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat

    def _chat_id(self, chat: FakeGroup | None) -> int:
        return self.chat_id if chat is None else chat.chat_id

    def _file(self, kind: str) -> tuple[str, str]:
        # Deterministic, unique-looking file ids so bots that store them can be asserted on.
        self._file_seq += 1
        uid = f"{kind}{self.user_id}x{self._file_seq}"
        return f"FAKE-{uid}-ID", f"U{uid}"

    # ---- write side: each returns the update_id ----------------------------------------------

    async def send(
        self, text: str, *, chat: FakeGroup | None = None, reply_to: FakeMessage | None = None
    ) -> int:
        """Send a text message; a leading "/cmd" gets a bot_command entity."""
        fields: dict[str, Any] = {"text": text}
        match = _COMMAND_RE.match(text)
        if match:
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": match.end()}]
        if reply_to is not None:
            fields["reply_to_message"] = self.api.message_dict(reply_to)
        return self.api.user_message(self, self._chat_id(chat), fields)

    async def send_sticker(self, emoji: str = "👍", *, chat: FakeGroup | None = None) -> int:
        """Send a (regular, static) sticker."""
        file_id, unique = self._file("sticker")
        sticker = {
            "file_id": file_id,
            "file_unique_id": unique,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self.api.user_message(self, self._chat_id(chat), {"sticker": sticker})

    async def send_photo(self, caption: str | None = None, *, chat: FakeGroup | None = None) -> int:
        """Send a photo (three PhotoSize variants, like Telegram)."""
        file_id, unique = self._file("photo")
        sizes = [
            {
                "file_id": f"{file_id}-{w}",
                "file_unique_id": f"{unique}-{w}",
                "width": w,
                "height": w * 3 // 4,
                "file_size": w * 40,
            }
            for w in (90, 320, 1280)
        ]
        fields: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            fields["caption"] = caption
        return self.api.user_message(self, self._chat_id(chat), fields)

    async def send_voice(self, duration: int = 3, *, chat: FakeGroup | None = None) -> int:
        """Send a voice note."""
        file_id, unique = self._file("voice")
        voice = {
            "file_id": file_id,
            "file_unique_id": unique,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": duration * 4000,
        }
        return self.api.user_message(self, self._chat_id(chat), {"voice": voice})

    async def send_document(
        self,
        filename: str = "pain-diary.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        *,
        chat: FakeGroup | None = None,
    ) -> int:
        """Send a document (file upload)."""
        file_id, unique = self._file("doc")
        document = {
            "file_id": file_id,
            "file_unique_id": unique,
            "file_name": filename,
            "mime_type": mime_type,
            "file_size": 2048,
        }
        fields: dict[str, Any] = {"document": document}
        if caption is not None:
            fields["caption"] = caption
        return self.api.user_message(self, self._chat_id(chat), fields)

    async def send_forwarded(
        self,
        text: str,
        *,
        origin_name: str = "Morgan Fieldfare",
        origin_id: int = 777_000_123,
        chat: FakeGroup | None = None,
    ) -> int:
        """Forward a text message originally written by another (invented) user."""
        origin = {
            "type": "user",
            "date": self.api.now() - 3600,
            "sender_user": {"id": origin_id, "is_bot": False, "first_name": origin_name},
        }
        fields = {"text": text, "forward_origin": origin}
        return self.api.user_message(self, self._chat_id(chat), fields)

    def _find_button_message(self, label: str, message: FakeMessage | None) -> FakeMessage:
        if message is not None:
            if not message.has_button(label):
                raise AssertionError(
                    f"no button {label!r} on message {message.message_id}; "
                    f"available labels: {message.labels}"
                )
            return message
        for candidate in reversed(self.messages):
            if candidate.has_button(label):
                return candidate
        available = [m.labels for m in self.messages if m.labels][-5:]
        raise AssertionError(
            f"no bot message to {self.first_name} ({self.user_id}) has a button {label!r}; "
            f"labels on recent messages: {available}"
        )

    async def press(self, label: str, message: FakeMessage | None = None) -> int:
        """Press the inline button labelled `label` (default: latest bot message that has it)."""
        target = self._find_button_message(label, message)
        data = target.data_for(label)
        if data is None:
            raise AssertionError(f"button {label!r} has no callback_data (URL button?)")
        return self.api.callback_query(self, target, data)

    async def press_data(self, data: str, message: FakeMessage | None = None) -> int:
        """Send a callback query with arbitrary (possibly forged) data for `message`."""
        target = message if message is not None else self.last
        return self.api.callback_query(self, target, data)

    # ---- synchronous conversation helpers ----------------------------------------------------

    async def ask(
        self,
        text: str,
        *,
        chat: FakeGroup | None = None,
        timeout: float = 5.0,
        expect: int = 0,
    ) -> list[FakeMessage]:
        """Send `text`, wait until the bot processed it and return its NEW messages in that chat.

        Edits made to older messages are not returned (inspect `messages`/`edited` for those).
        `expect` additionally waits until at least that many new messages exist, for bots whose
        processing is decoupled from update confirmation (e.g. PTB's own Updater).
        """
        chat_id = self._chat_id(chat)
        mark = len(self.api.sent)
        update_id = await self.send(text, chat=chat)
        return await self.api.collect_new(update_id, chat_id, mark, timeout=timeout, expect=expect)

    async def tap(
        self,
        label: str,
        message: FakeMessage | None = None,
        *,
        timeout: float = 5.0,
        expect: int = 0,
    ) -> list[FakeMessage]:
        """Press a button, wait until processed and return NEW bot messages in that chat."""
        target = self._find_button_message(label, message)
        mark = len(self.api.sent)
        update_id = await self.press(label, target)
        return await self.api.collect_new(
            update_id, target.chat_id, mark, timeout=timeout, expect=expect
        )

    def __repr__(self) -> str:
        return f"FakeUser({self.user_id}, {self.first_name!r})"
