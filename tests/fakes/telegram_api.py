"""In-process fake of the Telegram Bot API that the real PTB Bot/Application can talk to.

Wire it into PTB through ``HTTPXRequest(httpx_kwargs={"transport": api.transport})`` and
``ApplicationBuilder().base_url(api.base_url)``; or serve ``api.asgi_app`` with uvicorn on
127.0.0.1 (run ``uvicorn.Server.serve()`` in the SAME event loop: the fake uses asyncio
primitives and is not thread-safe).

Behaviour notes (deliberate simplifications of the real API):

* parse_mode "HTML" is parsed like Telegram does (tags stripped, entities produced, malformed
  markup rejected with "can't parse entities"); "Markdown"/"MarkdownV2" text is stored verbatim.
* Text is trimmed of leading/trailing whitespace like Telegram; length limits count code points.
* In polling mode an update is "processed" once getUpdates is called with a higher offset;
  with PTB's own Updater that happens before handlers finish, so pass ``expect=`` to ask/tap
  or use ``wait_for`` there.
* A redelivered copy (``redeliver``) is always handed out once before an offset can confirm it,
  otherwise it would be dropped by the next getUpdates and the redelivery could never be seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import re
import socket
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl, unquote

import httpx

from .fake_user import FakeCallbackAnswer, FakeDocument, FakeGroup, FakeMessage, FakeUser

if TYPE_CHECKING:
    from telegram.ext import Application
    from telegram.request import HTTPXRequest

__all__ = [
    "SECRET_HEADER",
    "FakeCallbackAnswer",
    "FakeDocument",
    "FakeGroup",
    "FakeMessage",
    "FakeTelegramAPI",
    "FakeTelegramASGI",
    "FakeTelegramTransport",
    "FakeUser",
    "UploadedFile",
    "WebhookAttempt",
    "polling_loop",
]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64

# Form values arrive as strings; these keys carry JSON (PTB json-dumps non-str values).
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "link_preview_options",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "allowed_updates",
        "reply_parameters",
        "menu_button",
    }
)
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "reply_to_message_id",
        "cache_time",
        "max_connections",
        "message_thread_id",
        "user_id",
        "until_date",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "show_alert",
        "drop_pending_updates",
        "disable_notification",
        "protect_content",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "allow_paid_broadcast",
    }
)
# Flood control applies to messages, not edits/answers (kept simple on purpose).
_RATE_LIMITED = frozenset({"sendmessage", "senddocument", "sendphoto", "copymessage"})
# Methods addressed to a chat that a user who blocked the bot makes fail with 403.
_BLOCKABLE_PREFIXES = ("send", "edit", "deletemessage", "copymessage", "forwardmessage")

_PATH_RE = re.compile(r"^(?:.*/)?bot([^/]+)/([A-Za-z0-9_]+)/?$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class WebhookAttempt(NamedTuple):
    """One webhook POST attempt; status is None when the connection failed or the app raised."""

    update_id: int
    status: int | None


class UploadedFile(NamedTuple):
    """A file part of a multipart request."""

    filename: str
    data: bytes
    mime_type: str


class _ApiError(Exception):
    """Raised by method handlers; becomes a Bot API error response."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


@dataclass(slots=True, eq=False)
class _Queued:
    """An update waiting in the queue (one per enqueue; redeliveries get their own)."""

    update_id: int
    payload: dict[str, Any]
    protected: bool = False  # redelivered copy not yet handed out: offsets must not drop it
    done: bool = False
    waiters: list[asyncio.Future[None]] | None = None


@dataclass(slots=True)
class _Fault:
    method: str
    status: int
    description: str
    retry_after: int | None
    remaining: int
    chat_id: int | str | None


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


# ---------------------------------------------------------------------------------------------
# Request decoding


def _decode_value(key: str, value: str) -> Any:
    if key in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value  # handlers report unparsable JSON like Telegram does
    if key in _INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            return value  # e.g. chat_id="@channelname"
    if key in _BOOL_FIELDS:
        return value.lower() in ("true", "1")
    return value


_DISPOSITION_PARAM_RE = re.compile(r';\s*([A-Za-z*]+)="((?:[^"\\]|\\.)*)"')


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Minimal exact multipart/form-data parser (keeps file bytes untouched)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise _bad("invalid multipart boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    params: dict[str, Any] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break  # closing delimiter
        part = part.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = {
            k.lower(): v.replace("%22", '"').replace("\\\\", "\\")
            for k, v in _DISPOSITION_PARAM_RE.findall(headers.get("content-disposition", ""))
        }
        name = disposition.get("name")
        if name is None:
            continue
        if "filename" in disposition:
            mime = headers.get("content-type", "application/octet-stream")
            params[name] = UploadedFile(disposition["filename"], content, mime)
        else:
            params[name] = _decode_value(name, content.decode("utf-8"))
    return params


def _decode_params(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    params: dict[str, Any] = {k: _decode_value(k, v) for k, v in parse_qsl(query)} if query else {}
    ctype = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return params
    if ctype == "application/x-www-form-urlencoded":
        for key, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
            params[key] = _decode_value(key, value)
    elif ctype == "multipart/form-data":
        params.update(_parse_multipart(content_type, body))
    elif ctype == "application/json":
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            raise _bad("can't parse JSON request body") from exc
        if isinstance(decoded, dict):
            params.update(decoded)
    return params


def _dumps(obj: Any) -> bytes:
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (half an emoji) travels as the escape "\ud83d", as Telegram sends it.
        return json.dumps(obj, separators=(",", ":")).encode("ascii")


# ---------------------------------------------------------------------------------------------
# Telegram-style HTML parsing (parse_mode="HTML")

_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_TAG_RE = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[A-Za-z_:][-A-Za-z0-9_:.]*"
    r"(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*)\s*>"
)
_ATTR_RE = re.compile(
    r"([A-Za-z_:][-A-Za-z0-9_:.]*)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'=<>`]+)))?"
)
_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z]+);")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _u16(text: str) -> int:
    """Length in UTF-16 code units (Telegram entity offsets use them)."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _byte_offset(src: str, index: int) -> int:
    return len(src[:index].encode("utf-8"))


def _parse_html(src: str) -> tuple[str, list[dict[str, Any]]]:
    """Strip Telegram HTML into (plain text, entities), rejecting malformed markup."""
    out: list[str] = []
    pos16 = 0
    stack: list[tuple[str, int, dict[str, Any]]] = []
    entities: list[dict[str, Any]] = []
    i, n = 0, len(src)
    while i < n:
        lt, amp = src.find("<", i), src.find("&", i)
        j = min(x for x in (lt, amp, n) if x != -1)
        if j > i:
            out.append(src[i:j])
            pos16 += _u16(src[i:j])
            i = j
            continue
        if src[i] == "&":
            m = _ENTITY_RE.match(src, i)
            char = "&"
            if m:
                ref = m.group(1)
                if ref.startswith(("#x", "#X")):
                    char = chr(int(ref[2:], 16))
                elif ref.startswith("#"):
                    char = chr(int(ref[1:]))
                else:
                    char = _NAMED_ENTITIES.get(ref.lower(), m.group(0))
                i = m.end()
            else:
                i += 1  # Telegram tolerates a bare ampersand
            out.append(char)
            pos16 += _u16(char)
            continue
        m = _TAG_RE.match(src, i)
        if not m:
            word = re.match(r"</?([^\s>]*)", src[i:])
            name = word.group(1) if word else ""
            raise _bad(
                f'can\'t parse entities: Unsupported start tag "{name}" at byte offset '
                f"{_byte_offset(src, i)}"
            )
        closing, name = m.group(1) == "/", m.group(2).lower()
        if closing:
            if not stack:
                raise _bad(
                    f"can't parse entities: Unexpected end tag at byte offset "
                    f"{_byte_offset(src, i)}"
                )
            open_name, start, extra = stack.pop()
            if open_name != name:
                raise _bad(
                    f"can't parse entities: Unmatched end tag at byte offset "
                    f'{_byte_offset(src, i)}, expected "</{open_name}>", found "</{name}>"'
                )
            if extra.get("type") and pos16 > start:
                entities.append({**extra, "offset": start, "length": pos16 - start})
        else:
            if name not in _TAG_TYPES:
                raise _bad(
                    f'can\'t parse entities: Unsupported start tag "{name}" at byte offset '
                    f"{_byte_offset(src, i)}"
                )
            attrs = {
                a.group(1).lower(): a.group(2) or a.group(3) or a.group(4) or ""
                for a in _ATTR_RE.finditer(m.group(3))
            }
            extra: dict[str, Any] = {"type": _TAG_TYPES[name]}
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise _bad(
                    f'can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte '
                    f"offset {_byte_offset(src, i)}"
                )
            if name == "a":
                href = attrs.get("href", "")
                if href.startswith("tg://user?id="):
                    extra = {"type": "text_mention", "user": {"id": int(href[13:] or 0)}}
                elif href:
                    extra["url"] = href
                else:
                    extra = {}  # an anchor without href is plain text
            elif name == "tg-emoji":
                extra["custom_emoji_id"] = attrs.get("emoji-id", "")
            elif name == "blockquote" and "expandable" in attrs:
                extra["type"] = "expandable_blockquote"
            elif name == "code" and stack and stack[-1][0] == "pre":
                # <pre><code class="language-x"> is one pre entity with a language.
                lang = attrs.get("class", "")
                if lang.startswith("language-"):
                    stack[-1][2]["language"] = lang[len("language-") :]
                    extra = {}
            stack.append((name, pos16, extra))
        i = m.end()
    if stack:
        raise _bad(
            "can't parse entities: Can't find end tag corresponding to start tag "
            f'"{stack[-1][0]}"'
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim surrounding whitespace like Telegram, shifting/clipping entities accordingly."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = _u16(text[: len(text) - len(text.lstrip())])
    total = _u16(stripped)
    shifted: list[dict[str, Any]] = []
    for ent in entities:
        start = max(0, ent["offset"] - lead)
        end = min(total, ent["offset"] + ent["length"] - lead)
        if end > start:
            shifted.append({**ent, "offset": start, "length": end - start})
    return stripped, shifted


# ---------------------------------------------------------------------------------------------
# HTTP plumbing


class FakeTelegramTransport(httpx.AsyncBaseTransport):
    """httpx transport that answers Bot API requests from a FakeTelegramAPI in-process."""

    def __init__(self, api: FakeTelegramAPI) -> None:
        self._api = api

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Decode the request, run the fake method and return its JSON response."""
        body = await request.aread()
        status, payload = await self._api.handle_http(
            request.url.path,
            request.headers.get("content-type", ""),
            body,
            request.url.query.decode("ascii", "replace"),
        )
        return httpx.Response(status, headers={"content-type": "application/json"}, content=payload)


class FakeTelegramASGI:
    """ASGI 3 wrapper; a class with an async __call__ so uvicorn does not assume ASGI 2."""

    def __init__(self, api: FakeTelegramAPI) -> None:
        self._api = api

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        """Serve one ASGI connection (http or lifespan)."""
        await self._api.serve_asgi(scope, receive, send)


class FakeTelegramAPI:
    """Fake Bot API server: state, method implementations, update queue and webhook pusher."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        bot_username: str = "pmp_test_bot",
        *,
        bot_first_name: str = "PMP Companion",
        base_url: str = "https://api.telegram.test/bot",
        first_update_id: int = 100_000,
        global_rate: float | None = None,
        per_chat_rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
        webhook_retry_delay: float = 0.05,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        strict_chats: bool = True,
        record_calls: bool = True,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.base_url = base_url
        id_part = token.split(":", 1)[0]
        self.bot_id = int(id_part) if id_part.isdigit() else 123456
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.global_rate = global_rate
        self.per_chat_rate = per_chat_rate
        self.clock = clock
        self._now = now
        self.webhook_retry_delay = webhook_retry_delay
        # Seconds each call of a method (lower case: "sendmessage") takes before it is handled.
        self.latency: dict[str, float] = {}
        self.webhook_transport = webhook_transport
        # Unknown chat ids are rejected ("chat not found") unless strict_chats is False.
        self.strict_chats = strict_chats
        self.record_calls = record_calls

        # Observable state.
        self.sent: list[FakeMessage] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.stats: Counter[str] = Counter()
        self.callback_answers: list[FakeCallbackAnswer] = []
        self.webhook_attempts: list[WebhookAttempt] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.blocked: set[int] = set()
        self.users: dict[int, FakeUser] = {}
        self.groups: dict[int, FakeGroup] = {}
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_last_error: str | None = None
        self.webhook_last_error_date: int | None = None

        self._chats: dict[int, dict[str, Any]] = {}
        self._by_chat: dict[int, list[FakeMessage]] = {}
        self._messages: dict[tuple[int, int], FakeMessage] = {}
        self._user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._next_mid: dict[int, int] = {}
        self._next_update_id = first_update_id
        self._queue: deque[_Queued] = deque()
        self._protected_count = 0
        self._latest: dict[int, _Queued] = {}
        self._callbacks: dict[str, FakeUser] = {}
        self._answered: set[str] = set()
        self._next_callback = 4_200_000_000_000_000_000
        self._documents: dict[str, FakeDocument] = {}
        self._next_file = 1
        self._faults: list[_Fault] = []
        self._buckets: dict[int, _Bucket] = {}
        self._global_bucket: _Bucket | None = None
        self.last_offset: int | None = None

        self._poll_waiter: asyncio.Future[str] | None = None
        self._poll_started = asyncio.Event()
        self._changed = asyncio.Condition()
        self._webhook_wakeup = asyncio.Event()
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_client: httpx.AsyncClient | None = None
        self._closed = False

        self.transport = FakeTelegramTransport(self)
        self._asgi = FakeTelegramASGI(self)
        self._methods: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "senddocument": self._send_document,
            "deletemessage": self._delete_message,
            "setmycommands": self._set_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getmycommands": self._get_my_commands,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getchat": self._get_chat,
            "sendchataction": self._true,
            "setmydescription": self._true,
            "setmyshortdescription": self._true,
            "setchatmenubutton": self._true,
            "close": self._true,
            "logout": self._true,
        }

    # ---- public helpers --------------------------------------------------------------------

    def now(self) -> int:
        """Current Telegram timestamp (unix seconds) from the injected wall clock."""
        return int(self._now())

    def httpx_request(self, **kwargs: Any) -> HTTPXRequest:
        """A PTB HTTPXRequest routed to this fake (extra kwargs go to HTTPXRequest)."""
        from telegram.request import HTTPXRequest

        return HTTPXRequest(httpx_kwargs={"transport": self.transport}, **kwargs)

    def user(
        self,
        user_id: int,
        first_name: str = "Alex",
        username: str | None = None,
        language_code: str | None = "en-GB",
        last_name: str | None = None,
    ) -> FakeUser:
        """Create (or return the existing) user; their private chat id equals user_id."""
        existing = self.users.get(user_id)
        if existing is not None:
            return existing
        fake = FakeUser(self, user_id, first_name, username, language_code, last_name)
        self.users[user_id] = fake
        self._chats[user_id] = fake.chat_api()
        return fake

    def group(self, chat_id: int, title: str) -> FakeGroup:
        """Create (or return the existing) group chat; chat_id must be negative."""
        existing = self.groups.get(chat_id)
        if existing is not None:
            return existing
        fake = FakeGroup(self, chat_id, title)
        self.groups[chat_id] = fake
        self._chats[chat_id] = fake.to_api()
        return fake

    def messages_in(self, chat_id: int) -> list[FakeMessage]:
        """All bot messages ever sent to chat_id (including deleted ones), oldest first."""
        return self._by_chat.get(chat_id, [])

    def message_dict(self, message: FakeMessage, *, with_reply: bool = True) -> dict[str, Any]:
        """Current Bot API Message object for a bot message."""
        data: dict[str, Any] = {
            "message_id": message.message_id,
            "from": self.bot_user,
            "chat": self._chat_obj(message.chat_id),
            "date": message.date,
        }
        if message.text is not None:
            data["text"] = message.text
            if message.entities:
                data["entities"] = message.entities
        if message.document is not None:
            doc = message.document
            data["document"] = {
                "file_id": doc.file_id,
                "file_unique_id": doc.file_unique_id,
                "file_name": doc.filename,
                "mime_type": doc.mime_type,
                "file_size": len(doc.data),
            }
        if message.caption is not None:
            data["caption"] = message.caption
            if message.caption_entities:
                data["caption_entities"] = message.caption_entities
        # Telegram only echoes inline keyboards back in Message objects.
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            data["reply_markup"] = message.reply_markup
        if message.link_preview_options:
            data["link_preview_options"] = message.link_preview_options
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        if with_reply and message.reply_to_message_id is not None:
            replied = self._find_any_message(message.chat_id, message.reply_to_message_id)
            if replied is not None:
                data["reply_to_message"] = replied
        return data

    # ---- updates ---------------------------------------------------------------------------

    def inject_update(self, update: dict[str, Any]) -> int:
        """Enqueue a raw update (update_id assigned if missing) and return its update_id."""
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        update_id = int(update["update_id"])
        self._next_update_id = max(self._next_update_id, update_id + 1)
        self._enqueue(_Queued(update_id, update))
        return update_id

    def redeliver(self, update_id: int) -> int:
        """Re-enqueue an identical copy of an earlier update (same update_id), even if confirmed."""
        entry = self._latest.get(update_id)
        if entry is None:
            raise AssertionError(f"update {update_id} was never enqueued")
        self._protected_count += 1
        self._enqueue(_Queued(update_id, copy.deepcopy(entry.payload), protected=True))
        return update_id

    def _enqueue(self, entry: _Queued) -> None:
        self._queue.append(entry)
        self._latest[entry.update_id] = entry
        self.stats["updates"] += 1
        if self._poll_waiter is not None and not self._poll_waiter.done():
            self._poll_waiter.set_result("update")
        self._webhook_wakeup.set()

    def _mark_done(self, entry: _Queued) -> None:
        if entry.protected:
            entry.protected = False
            self._protected_count -= 1
        entry.done = True
        if entry.waiters:
            for fut in entry.waiters:
                if not fut.done():
                    fut.set_result(None)
            entry.waiters = None

    def user_message(self, user: FakeUser, chat_id: int, fields: dict[str, Any]) -> int:
        """Enqueue a `message` update from `user` in `chat_id` with the given content fields."""
        message_id = self._take_message_id(chat_id)
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": user.to_api(),
            "chat": self._chat_obj(chat_id),
            "date": self.now(),
            **fields,
        }
        self._user_messages[(chat_id, message_id)] = message
        return self.inject_update({"update_id": self._next_update_id, "message": message})

    def callback_query(self, user: FakeUser, message: FakeMessage, data: str) -> int:
        """Enqueue a callback_query update for `user` pressing `data` on a bot `message`."""
        self._next_callback += 1
        query_id = str(self._next_callback)
        self._callbacks[query_id] = user
        query = {
            "id": query_id,
            "from": user.to_api(),
            "message": self.message_dict(message),
            "chat_instance": str(abs(message.chat_id) * 31 + 7),
            "data": data,
        }
        return self.inject_update({"update_id": self._next_update_id, "callback_query": query})

    def block(self, user_id: int) -> int:
        """The user blocks the bot: later sends get 403; returns the my_chat_member update_id."""
        self.blocked.add(user_id)
        return self._member_update(user_id, "member", "kicked")

    def unblock(self, user_id: int) -> int:
        """The user unblocks the bot; returns the my_chat_member update_id."""
        self.blocked.discard(user_id)
        return self._member_update(user_id, "kicked", "member")

    def _member_update(self, user_id: int, old: str, new: str) -> int:
        user = self.users.get(user_id) or self.user(user_id)

        def member(status: str) -> dict[str, Any]:
            # A "kicked" member always carries until_date (0: for ever), as Telegram sends it.
            found: dict[str, Any] = {"status": status, "user": self.bot_user}
            if status == "kicked":
                found["until_date"] = 0
            return found

        update = {
            "my_chat_member": {
                "chat": self._chat_obj(user_id),
                "from": user.to_api(),
                "date": self.now(),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            }
        }
        return self.inject_update(update)

    # ---- synchronisation -------------------------------------------------------------------

    def _recent_texts(self, count: int = 5) -> list[str]:
        return [
            f"{m.chat_id}: {(m.text if m.text is not None else m.caption or '')[:120]!r}"
            for m in self.sent[-count:]
        ]

    async def wait_processed(
        self,
        update_id: int,
        timeout: float = 5.0,
    ) -> None:
        """Return once update_id is confirmed (polling) or acknowledged with 2xx (webhook)."""
        entry = self._latest.get(update_id)
        if entry is None:
            raise AssertionError(f"update {update_id} was never enqueued")
        if entry.done:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if entry.waiters is None:
            entry.waiters = []
        entry.waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            mode = f"webhook {self.webhook_url}" if self.webhook_url else "polling"
            raise AssertionError(
                f"update {update_id} not processed within {timeout}s ({mode}; "
                f"last getUpdates offset={self.last_offset}; queued={len(self._queue)}; "
                f"last webhook attempts={self.webhook_attempts[-3:]}); "
                f"recent bot messages: {self._recent_texts()}"
            ) from None

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,
    ) -> None:
        """Wait until predicate() is true; re-checked whenever the bot sends/edits/deletes."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"condition not met within {timeout}s; "
                    f"recent bot messages: {self._recent_texts()}"
                ) from None

    @property
    def long_polling(self) -> bool:
        """Whether a getUpdates call is currently parked waiting for updates."""
        return self._poll_waiter is not None and not self._poll_waiter.done()

    async def wait_until_polling(
        self,
        timeout: float = 5.0,
    ) -> None:
        """Wait until the bot has a getUpdates long poll parked (i.e. it is idle and listening)."""
        try:
            await asyncio.wait_for(self._poll_started.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no getUpdates long poll within {timeout}s") from None

    async def collect_new(
        self,
        update_id: int,
        chat_id: int,
        mark: int,
        *,
        timeout: float = 5.0,
        expect: int = 0,
    ) -> list[FakeMessage]:
        """Wait for update_id, then return bot messages in chat_id sent after index `mark`."""
        await self.wait_processed(update_id, timeout)

        def fresh() -> list[FakeMessage]:
            return [m for m in self.sent[mark:] if m.chat_id == chat_id and not m.deleted]

        if expect and len(fresh()) < expect:
            await self.wait_for(lambda: len(fresh()) >= expect, timeout)
        return fresh()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---- faults ----------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Make the next `times` calls of `method` (optionally only for chat_id) fail."""
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = {
                400: "Bad Request: injected failure",
                401: "Unauthorized",
                403: "Forbidden: bot was blocked by the user",
                409: "Conflict: injected failure",
                429: f"Too Many Requests: retry after {retry_after}",
                500: "Internal Server Error",
                502: "Bad Gateway",
            }.get(status, "Injected failure")
        self._faults.append(
            _Fault(method.lower(), status, description, retry_after, times, chat_id)
        )

    def _check_faults(self, method: str, params: dict[str, Any]) -> None:
        for fault in self._faults:
            if fault.method != method:
                continue
            if fault.chat_id is not None and str(params.get("chat_id")) != str(fault.chat_id):
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            raise _ApiError(fault.status, fault.description, fault.retry_after)

    def _check_rate(self, chat_id: Any) -> None:
        now = self.clock()
        buckets: list[tuple[_Bucket, float]] = []
        if self.global_rate:
            if self._global_bucket is None:
                self._global_bucket = _Bucket(max(1.0, self.global_rate), now)
            buckets.append((self._global_bucket, self.global_rate))
        if self.per_chat_rate and isinstance(chat_id, int):
            bucket = self._buckets.get(chat_id)
            if bucket is None:
                bucket = self._buckets[chat_id] = _Bucket(max(1.0, self.per_chat_rate), now)
            buckets.append((bucket, self.per_chat_rate))
        wait = 0.0
        for bucket, rate in buckets:
            # Token bucket: capacity max(1, rate), refilled continuously at `rate` per second.
            bucket.tokens = min(max(1.0, rate), bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens < 1.0:
                wait = max(wait, (1.0 - bucket.tokens) / rate)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise _ApiError(429, f"Too Many Requests: retry after {retry}", retry)
        for bucket, _ in buckets:
            bucket.tokens -= 1.0

    # ---- HTTP entry points -----------------------------------------------------------------

    async def handle_http(
        self, path: str, content_type: str, body: bytes, query: str = ""
    ) -> tuple[int, bytes]:
        """Handle one HTTP request to the Bot API; returns (status, JSON body bytes)."""
        status, obj = await self._handle(unquote(path), content_type, body, query)
        return status, _dumps(obj)

    async def _handle(
        self, path: str, content_type: str, body: bytes, query: str
    ) -> tuple[int, dict[str, Any]]:
        match = _PATH_RE.match(path)
        if match is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        if match.group(1) != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method_name = match.group(2)
        method = method_name.lower()  # Telegram method names are case-insensitive
        handler = self._methods.get(method)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        self.stats["calls"] += 1
        try:
            params = _decode_params(content_type, body, query)
            if self.record_calls:
                self.calls.append((method_name, params))
            if self._faults:
                self._check_faults(method, params)
            chat_id = params.get("chat_id")
            if (
                isinstance(chat_id, int)
                and chat_id in self.blocked
                and method.startswith(_BLOCKABLE_PREFIXES)
            ):
                raise _ApiError(403, "Forbidden: bot was blocked by the user")
            if method in _RATE_LIMITED and (self.global_rate or self.per_chat_rate):
                self._check_rate(chat_id)
            if method in self.latency:
                await asyncio.sleep(self.latency[method])  # a slow network, per method
            result = await handler(params)
        except _ApiError as err:
            self.stats[str(err.status)] += 1
            return err.status, err.body()
        return 200, {"ok": True, "result": result}

    @property
    def asgi_app(self) -> FakeTelegramASGI:
        """Plain ASGI 3 app serving the same Bot API (for uvicorn on 127.0.0.1)."""
        return self._asgi

    async def serve_asgi(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        """ASGI entry point (use `asgi_app`, whose type uvicorn detects as ASGI 3)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        content_type = ""
        for key, value in scope.get("headers", []):
            if key == b"content-type":
                content_type = value.decode("latin-1")
        status, payload = await self.handle_http(
            scope["path"], content_type, b"".join(chunks), scope.get("query_string", b"").decode()
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    # ---- chats and messages ----------------------------------------------------------------

    def _chat_obj(self, chat_id: int) -> dict[str, Any]:
        chat = self._chats.get(chat_id)
        if chat is None:
            # Only reachable with strict_chats=False: synthesise a plausible chat.
            if chat_id > 0:
                chat = {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"}
            else:
                chat = {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}
            self._chats[chat_id] = chat
        return chat

    def _resolve_chat(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        if isinstance(chat_id, str):
            for cid, chat in self._chats.items():
                if chat.get("username") and "@" + chat["username"] == chat_id:
                    return cid
            raise _bad("chat not found")
        if chat_id not in self._chats and self.strict_chats:
            raise _bad("chat not found")
        return int(chat_id)

    def _take_message_id(self, chat_id: int) -> int:
        # Message ids are per chat and shared by the user's and the bot's messages.
        mid = self._next_mid.get(chat_id, 1)
        self._next_mid[chat_id] = mid + 1
        return mid

    def _find_any_message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        bot_message = self._messages.get((chat_id, message_id))
        if bot_message is not None and not bot_message.deleted:
            return self.message_dict(bot_message, with_reply=False)
        return self._user_messages.get((chat_id, message_id))

    def _text_and_entities(
        self, params: dict[str, Any], text_key: str, entities_key: str
    ) -> tuple[str, list[dict[str, Any]]]:
        raw = params.get(text_key) or ""
        parse_mode = str(params.get("parse_mode") or "").lower()
        if parse_mode == "html":
            text, entities = _parse_html(raw)
        else:
            text = raw
            given = params.get(entities_key)
            entities = given if isinstance(given, list) else []
        return _trim(text, entities)

    def _validate_markup(self, raw: Any) -> dict[str, Any] | None:
        if raw is None or raw == "":
            return None
        if not isinstance(raw, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        keyboard = raw.get("inline_keyboard")
        if keyboard is None:
            return raw  # reply keyboard / remove keyboard / force reply: stored as is
        if not isinstance(keyboard, list) or not all(isinstance(r, list) for r in keyboard):
            raise _bad(
                'can\'t parse inline keyboard button: field "inline_keyboard" of the '
                "InlineKeyboardMarkup must be an Array of Arrays"
            )
        for row in keyboard:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise _bad(
                        "can't parse inline keyboard button: Text buttons are unallowed in "
                        "the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None:
                    size = len(str(data).encode("utf-8"))
                    if size == 0 or size > MAX_CALLBACK_DATA:
                        raise _bad("BUTTON_DATA_INVALID")
                elif len(button) == 1:
                    raise _bad(
                        "can't parse inline keyboard button: Text buttons are unallowed in "
                        "the inline keyboard"
                    )
        return raw

    def _reply_target(self, chat_id: int, params: dict[str, Any]) -> int | None:
        reply = params.get("reply_parameters")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        if isinstance(reply, dict):
            target = reply.get("message_id")
            allow_missing = allow_missing or bool(reply.get("allow_sending_without_reply"))
        else:
            target = params.get("reply_to_message_id")
        if target is None:
            return None
        if self._find_any_message(chat_id, int(target)) is None:
            if allow_missing:
                return None
            raise _bad("message to be replied not found")
        return int(target)

    async def _store(self, message: FakeMessage) -> dict[str, Any]:
        self._messages[(message.chat_id, message.message_id)] = message
        self._by_chat.setdefault(message.chat_id, []).append(message)
        self.sent.append(message)
        self.stats["sent"] += 1
        await self._notify()
        return self.message_dict(message)

    def _existing_bot_message(self, params: dict[str, Any], action: str) -> FakeMessage:
        if params.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")  # inline messages are not modelled
        chat_id = self._resolve_chat(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise _bad(f"message to {action} not found")
        message = self._messages.get((chat_id, message_id))
        if message is None or message.deleted:
            if (chat_id, message_id) in self._user_messages:
                raise _bad(f"message can't be {action}ed")
            raise _bad(f"message to {action} not found")
        return message

    # ---- Bot API methods -------------------------------------------------------------------

    async def _true(self, params: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._resolve_chat(params)
        text, entities = self._text_and_entities(params, "text", "entities")
        if not text:
            raise _bad("message text is empty")
        if len(text) > MAX_TEXT:
            raise _bad("message is too long")
        markup = self._validate_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat_id, params)
        preview = params.get("link_preview_options")
        message = FakeMessage(
            message_id=self._take_message_id(chat_id),
            chat_id=chat_id,
            date=self.now(),
            text=text,
            source_text=params.get("text"),
            parse_mode=params.get("parse_mode"),
            entities=entities,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            link_preview_options=preview if isinstance(preview, dict) else None,
        )
        return await self._store(message)

    def _resolve_document(self, params: dict[str, Any]) -> FakeDocument:
        raw = params.get("document")
        if isinstance(raw, str) and raw.startswith("attach://"):
            raw = params.get(raw[len("attach://") :])
        if isinstance(raw, UploadedFile):
            if not raw.data:
                raise _bad("file must be non-empty")
            file_no = self._next_file
            self._next_file += 1
            doc = FakeDocument(
                filename=raw.filename,
                data=raw.data,
                mime_type=raw.mime_type,
                file_id=f"BQACAgFAKE{file_no:08d}",
                file_unique_id=f"AgADFAKE{file_no:06d}",
            )
            self._documents[doc.file_id] = doc
            return doc
        if isinstance(raw, str) and raw in self._documents:
            return self._documents[raw]
        if isinstance(raw, str) and raw.startswith(("http://", "https://")):
            name = raw.rstrip("/").rsplit("/", 1)[-1] or "file"
            return FakeDocument(name, b"", "application/octet-stream", f"URL-{name}", f"U-{name}")
        raise _bad("wrong file identifier/HTTP URL specified")

    async def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._resolve_chat(params)
        document = self._resolve_document(params)
        caption: str | None = None
        caption_entities: list[dict[str, Any]] = []
        if params.get("caption"):
            caption, caption_entities = self._text_and_entities(
                params, "caption", "caption_entities"
            )
            if len(caption) > MAX_CAPTION:
                raise _bad("message caption is too long")
        markup = self._validate_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat_id, params)
        message = FakeMessage(
            message_id=self._take_message_id(chat_id),
            chat_id=chat_id,
            date=self.now(),
            caption=caption or None,
            caption_entities=caption_entities,
            parse_mode=params.get("parse_mode"),
            reply_markup=markup,
            reply_to_message_id=reply_to,
            document=document,
        )
        return await self._store(message)

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._existing_bot_message(params, "edit")
        if message.text is None:
            raise _bad("there is no text in the message to edit")
        text, entities = self._text_and_entities(params, "text", "entities")
        if not text:
            raise _bad("message text is empty")
        if len(text) > MAX_TEXT:
            raise _bad("message is too long")
        # Like Telegram, omitting reply_markup in an edit removes the inline keyboard.
        markup = self._validate_markup(params.get("reply_markup"))
        if text == message.text and entities == message.entities and markup == message.reply_markup:
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message.text = text
        message.entities = entities
        message.source_text = params.get("text")
        message.parse_mode = params.get("parse_mode")
        message.reply_markup = markup
        preview = params.get("link_preview_options")
        if isinstance(preview, dict):
            message.link_preview_options = preview
        return await self._apply_edit(message)

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._existing_bot_message(params, "edit")
        markup = self._validate_markup(params.get("reply_markup"))
        if markup == message.reply_markup:
            raise _bad(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message.reply_markup = markup
        return await self._apply_edit(message)

    async def _apply_edit(self, message: FakeMessage) -> dict[str, Any]:
        message.edited = True
        message.edit_count += 1
        message.edit_date = self.now()
        self.stats["edits"] += 1
        await self._notify()
        return self.message_dict(message)

    async def _delete_message(self, params: dict[str, Any]) -> bool:
        chat_id = self._resolve_chat(params)
        key = (chat_id, params.get("message_id"))
        message = self._messages.get(key)  # type: ignore[arg-type]
        if message is not None and not message.deleted:
            message.deleted = True
            await self._notify()
            return True
        if key in self._user_messages:
            del self._user_messages[key]  # type: ignore[arg-type]
            return True
        raise _bad("message to delete not found")

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        user = self._callbacks.get(query_id)
        if user is None or query_id in self._answered:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self._answered.add(query_id)
        answer = FakeCallbackAnswer(
            callback_query_id=query_id,
            user_id=user.user_id,
            text=params.get("text"),
            show_alert=bool(params.get("show_alert", False)),
            url=params.get("url"),
            cache_time=int(params.get("cache_time") or 0),
        )
        user.callback_answers.append(answer)
        self.callback_answers.append(answer)
        await self._notify()
        return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        for cmd in commands:
            name = cmd.get("command", "") if isinstance(cmd, dict) else ""
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(cmd.get("description", "")) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = commands
        return True

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands.get(self._commands_key(params), [])

    async def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._resolve_chat(params)
        # ChatFullInfo additionally requires accent_color_id and max_reaction_count.
        return {**self._chat_obj(chat_id), "accent_color_id": 0, "max_reaction_count": 11}

    # ---- getUpdates ------------------------------------------------------------------------

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            # Negative offset: keep only the last -offset updates, forget everything older.
            keep = -offset
            while len(self._queue) > keep:
                self._mark_done(self._queue.popleft())
            return
        queue = self._queue
        while queue and queue[0].update_id < offset and not queue[0].protected:
            self._mark_done(queue.popleft())
        if self._protected_count and any(q.update_id < offset for q in queue):
            # Rare path (redeliveries pending): rebuild, sparing protected copies.
            kept: deque[_Queued] = deque()
            for entry in queue:
                if entry.update_id < offset and not entry.protected:
                    self._mark_done(entry)
                else:
                    kept.append(entry)
            self._queue = kept

    def _take_batch(self, limit: int) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        for entry in self._queue:
            if len(batch) >= limit:
                break
            if entry.protected:
                # Handed out now, so the next higher offset may confirm it.
                entry.protected = False
                self._protected_count -= 1
            batch.append(entry.payload)
        return batch

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        if self._poll_waiter is not None and not self._poll_waiter.done():
            self._poll_waiter.set_result("conflict")  # only one long poll at a time
        offset = params.get("offset")
        if isinstance(offset, int):
            self.last_offset = offset
            self._confirm(offset)
        limit = params.get("limit")
        limit = min(100, max(1, limit)) if isinstance(limit, int) else 100
        if self._queue or self._closed:
            return self._take_batch(limit)
        timeout = params.get("timeout")
        if not isinstance(timeout, int | float) or timeout <= 0:
            return []
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._poll_waiter = waiter
        self._poll_started.set()
        try:
            reason = await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return []
        finally:
            if self._poll_waiter is waiter:
                self._poll_waiter = None
                self._poll_started.clear()
        if reason == "conflict":
            raise _ApiError(
                409,
                "Conflict: terminated by other getUpdates request; make sure that only one bot "
                "instance is running",
            )
        if reason == "webhook":
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        return self._take_batch(limit)

    # ---- webhook ---------------------------------------------------------------------------

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if not url:
            return await self._delete_webhook(params)
        if not str(url).startswith(("http://", "https://")):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token") or None
        if secret is not None and not _SECRET_RE.match(secret):
            raise _bad("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._drop_pending()
        self.webhook_url = str(url)
        self.webhook_secret = secret
        if self._poll_waiter is not None and not self._poll_waiter.done():
            self._poll_waiter.set_result("webhook")
        self._ensure_webhook_task()
        self._webhook_wakeup.set()
        return True

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._drop_pending()
        self.webhook_url = None
        self.webhook_secret = None
        self._webhook_wakeup.set()  # the delivery loop notices and exits
        return True

    def _drop_pending(self) -> None:
        while self._queue:
            self._mark_done(self._queue.popleft())

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook_url:
            info["max_connections"] = 40
            if self.webhook_last_error_date is not None:
                info["last_error_date"] = self.webhook_last_error_date
                info["last_error_message"] = self.webhook_last_error
        return info

    def _ensure_webhook_task(self) -> None:
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(
                self._webhook_loop(), name="fake-telegram-webhook-delivery"
            )

    def _client(self) -> httpx.AsyncClient:
        if self._webhook_client is None:
            # trust_env=False: proxy variables must not hijack loopback deliveries.
            self._webhook_client = httpx.AsyncClient(
                transport=self.webhook_transport, timeout=30.0, trust_env=False
            )
        return self._webhook_client

    async def _webhook_loop(self) -> None:
        # One update at a time, strictly in order, retrying the head until it gets a 2xx.
        while not self._closed and self.webhook_url:
            if not self._queue:
                self._webhook_wakeup.clear()
                await self._webhook_wakeup.wait()
                continue
            entry = self._queue[0]
            status = await self._post(self.webhook_url, entry.payload, self.webhook_secret)
            self.webhook_attempts.append(WebhookAttempt(entry.update_id, status))
            if status is not None and 200 <= status < 300:
                if self._queue and self._queue[0] is entry:
                    self._queue.popleft()
                elif entry in self._queue:
                    self._queue.remove(entry)
                self._mark_done(entry)
                continue
            self.webhook_last_error_date = self.now()
            if status is not None:
                self.webhook_last_error = f"Wrong response from the webhook: {status}"
            await asyncio.sleep(self.webhook_retry_delay)

    async def _post(self, url: str, update: dict[str, Any], secret: str | None) -> int | None:
        headers = {"content-type": "application/json"}
        if secret:
            headers[SECRET_HEADER] = secret
        try:
            response = await self._client().post(url, content=_dumps(update), headers=headers)
        except Exception as exc:
            # Connection errors, and app exceptions re-raised by httpx.ASGITransport, are
            # treated like Telegram treats an unreachable webhook: remember and retry.
            self.webhook_last_error = f"{type(exc).__name__}: {exc}"
            return None
        self.stats["webhook_posts"] += 1
        return response.status_code

    async def post_webhook_raw(
        self,
        update: dict[str, Any],
        secret: str | None = "",
        url: str | None = None,
    ) -> int:
        """POST `update` to the webhook directly; secret "" = configured, None = no header."""
        target = url or self.webhook_url
        if not target:
            raise AssertionError("no webhook url set (call setWebhook first or pass url=)")
        header = self.webhook_secret if secret == "" else secret
        status = await self._post(target, update, header)
        if status is None:
            raise AssertionError(f"webhook POST failed: {self.webhook_last_error}")
        return status

    # ---- lifecycle -------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop background delivery, wake long polls and close the webhook HTTP client."""
        self._closed = True
        if self._poll_waiter is not None and not self._poll_waiter.done():
            self._poll_waiter.set_result("closed")
        self._webhook_wakeup.set()
        task = self._webhook_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._webhook_client is not None:
            await self._webhook_client.aclose()
            self._webhook_client = None

    async def __aenter__(self) -> FakeTelegramAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def polling_loop(
    app: Application[Any, Any, Any, Any, Any, Any],
    *,
    poll_timeout: int = 10,
    allowed_updates: Iterable[str] | None = None,
) -> None:
    """Minimal getUpdates loop: fetch, process each update in order, confirm via offset.

    Run it as a task next to an initialised Application built with ``.updater(None)``; cancel it
    to stop. Processing finishes before the next getUpdates, so wait_processed/ask are exact.
    """
    offset: int | None = None
    while True:
        updates = await app.bot.get_updates(
            offset=offset,
            timeout=poll_timeout,
            allowed_updates=list(allowed_updates) if allowed_updates is not None else None,
        )
        for update in updates:
            await app.process_update(update)
            offset = update.update_id + 1 if offset is None else max(offset, update.update_id + 1)


@contextlib.asynccontextmanager
async def serve_on_loopback(api: FakeTelegramAPI) -> AsyncIterator[str]:
    """Serve the fake with uvicorn on 127.0.0.1 (same event loop); yields its Bot API base URL."""
    import uvicorn

    # A pre-bound listening socket: no waiting for uvicorn's start-up before the first call.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(api.asgi_app, log_level="warning", lifespan="off", loop="asyncio")
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}/bot"
    finally:
        # A client that went away may leave a long poll open on the fake: do not wait for it.
        server.should_exit = server.force_exit = True
        await serving
        sock.close()
