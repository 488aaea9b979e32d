"""Microsoft Teams sender: staff alerts posted to a channel through a Workflows webhook."""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from bot.messages import DeliveryError, PermanentDeliveryError, Reply

log = logging.getLogger(__name__)

CHANNEL = "teams"
# Buttons cannot work from a Workflows card, so the card says where to act instead.
ACKNOWLEDGE_HINT = "Acknowledge and resolve in the staff Telegram group or with `pmp escalations`."
# Teams refuses messages over about 28 KB; the whole posted body stays under this.
MAX_PAYLOAD_BYTES = 28_000
# An alert is a dozen lines; anything far longer is cut rather than flooding the channel.
MAX_BODY_LINES = 40
DEFAULT_RETRY_AFTER = 30.0
MAX_RETRY_AFTER = 900.0
ELLIPSIS = "…"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

# Upper-case words the alert texts use for what needs a human now.
_ATTENTION = re.compile(r"\b(?:URGENT|UNACKNOWLEDGED|RISK)\b")
# "Label: value": a short label without a colon, then a colon and a space.
_FACT = re.compile(r"^([^:]{1,40}):\s+(\S.*)$")
# Teams renders a Markdown subset in TextBlocks AND in Fact titles and values, links included.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")
# Line starts that would turn plain text into a list or a rule ("+", "*", "#" are escaped above).
_LEADING_DASH = re.compile(r"^(\s*)-")
_LEADING_NUMBER = re.compile(r"^(\s*\d+)\.")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def escape_markdown(text: str) -> str:
    """Backslash-escape Markdown so patient or staff text is shown as typed, never as a link."""
    escaped = _MARKDOWN.sub(r"\\\1", text)
    escaped = _LEADING_DASH.sub(r"\1\\-", escaped)
    return _LEADING_NUMBER.sub(r"\1\\.", escaped)


@dataclass
class _Field:
    """One piece of alert text, cut to `limit` characters (ending in "…") when too long."""

    original: str
    limit: int | None = None

    @property
    def text(self) -> str:
        """The text as it goes on the card, before escaping."""
        if self.limit is None or len(self.original) <= self.limit:
            return self.original
        return self.original[: max(self.limit - 1, 0)] + ELLIPSIS

    def shrink(self, by: int) -> None:
        """Cut at least `by` more characters."""
        self.limit = max(len(self.text) - max(by, 1), 1)


@dataclass
class _Line:
    """A body line: a fact when it has a label, otherwise free text."""

    value: _Field
    label: _Field | None = None


@dataclass
class _Alert:
    """The alert text split into a title and body lines."""

    title: _Field
    lines: list[_Line]

    @classmethod
    def parse(cls, text: str) -> _Alert:
        """Title from the first non-empty line; "Label: value" lines become facts."""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        title = _Field(lines[0] if lines else "PMP alert")
        rest = lines[1:]
        body: list[_Line] = []
        for line in rest[:MAX_BODY_LINES]:
            if match := _FACT.match(line):
                body.append(_Line(_Field(match.group(2)), _Field(match.group(1).strip())))
            else:
                body.append(_Line(_Field(line)))
        if len(rest) > MAX_BODY_LINES:
            body.append(_Line(_Field(f"{ELLIPSIS} {len(rest) - MAX_BODY_LINES} more lines")))
        return cls(title, body)

    def fields(self) -> list[_Field]:
        """Every piece of text that may be cut."""
        found = [self.title]
        for line in self.lines:
            found.append(line.value)
            if line.label is not None:
                found.append(line.label)
        return found

    def card(self, hint: bool = True) -> dict[str, Any]:
        """The Adaptive Card; consecutive facts share one FactSet. `hint`: say where to act
        (a Workflows card has no buttons)."""
        title: dict[str, Any] = {
            "type": "TextBlock",
            "text": escape_markdown(self.title.text),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        }
        if _ATTENTION.search(self.title.original):
            title["color"] = "Attention"
        body: list[dict[str, Any]] = [title]
        for line in self.lines:
            text = escape_markdown(line.value.text)
            if line.label is None:
                body.append({"type": "TextBlock", "text": text, "wrap": True})
                continue
            fact = {"title": escape_markdown(line.label.text), "value": text}
            if body[-1]["type"] == "FactSet":
                body[-1]["facts"].append(fact)
            else:
                body.append({"type": "FactSet", "facts": [fact]})
        if hint:
            # Our own sentence, not escaped: its back-ticks show the command as code.
            body.append(
                {
                    "type": "TextBlock",
                    "text": ACKNOWLEDGE_HINT,
                    "size": "Small",
                    "isSubtle": True,
                    "wrap": True,
                }
            )
        return {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4", "body": body}


def alert_body(text: str) -> list[dict[str, Any]]:
    """An alert's title and facts as Adaptive Card elements, for a card that has buttons."""
    body: list[dict[str, Any]] = _Alert.parse(text).card(hint=False)["body"]
    return body


def payload(card: dict[str, Any]) -> dict[str, Any]:
    """The message a Workflows "post to a channel" flow expects."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def _encode(body: dict[str, Any]) -> bytes:
    """The exact bytes posted, so the size check measures what Teams receives."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def build_body(text: str) -> bytes:
    """The posted JSON for an alert text, its longest pieces cut until it fits Teams' limit."""
    alert = _Alert.parse(text)
    encoded = _encode(payload(alert.card()))
    while len(encoded) > MAX_PAYLOAD_BYTES:
        longest = max(alert.fields(), key=lambda field: len(field.text))
        if len(longest.text) <= 1:
            break  # cannot happen with MAX_BODY_LINES lines; never loop for ever
        # Each character is at least one byte, so cutting the excess (plus the "…") converges.
        longest.shrink(len(encoded) - MAX_PAYLOAD_BYTES + len(ELLIPSIS.encode()))
        encoded = _encode(payload(alert.card()))
    return encoded


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float:
    """Seconds from a Retry-After header (seconds or an HTTP date); 30 when absent or unreadable."""
    if not value:
        return DEFAULT_RETRY_AFTER
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return DEFAULT_RETRY_AFTER
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return DEFAULT_RETRY_AFTER
    # However long Teams asks for, alerts are tried again within a quarter of an hour.
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class _Redact(logging.Filter):
    """Masks webhook URLs and signatures in httpx's request log line (it prints the full URL)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite, never drop: the status line is still useful."""
        if not self.secrets:
            return True
        message = record.getMessage()
        # Longest first: the whole URL before the signature inside it.
        secrets = sorted(self.secrets, key=len, reverse=True)
        if any(secret in message for secret in secrets):
            for secret in secrets:
                message = message.replace(secret, "[teams webhook]")
            record.msg, record.args = message, ()
        return True


_REDACT = _Redact()


def _protect(url: httpx.URL) -> None:
    """Make sure httpx's own INFO log line cannot print this URL."""
    _REDACT.secrets.update(s for s in (str(url), *url.params.get_list("sig")) if s)
    httpx_log = logging.getLogger("httpx")
    if _REDACT not in httpx_log.filters:
        httpx_log.addFilter(_REDACT)


class TeamsSender:
    """Posts neutral alert texts as Adaptive Cards to one Teams channel; raises DeliveryError."""

    channel = CHANNEL

    def __init__(
        self, webhook_url: str, client: httpx.AsyncClient | None = None, timeout: float = 10.0
    ) -> None:
        # Error messages here never quote the URL: it carries the signature.
        try:
            url = httpx.URL(webhook_url)
        except (httpx.InvalidURL, TypeError):
            raise ValueError("the Teams webhook URL is not a valid URL") from None
        local = url.scheme == "http" and url.host in _LOOPBACK_HOSTS
        if not (url.scheme == "https" or local) or not url.host:
            raise ValueError("the Teams webhook URL must be https (the signature is a secret)")
        _protect(url)
        self._url = url
        self._timeout = timeout
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout)

    def __repr__(self) -> str:
        """Only the host: the rest of the URL is a credential."""
        return f"TeamsSender(host={self._url.host!r})"

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Post one alert; `chat_id` is ignored (one channel) and buttons are left out."""
        body = build_body(reply.text)
        try:
            response = await self._client.post(
                self._url,
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError as error:
            # `from None`: httpx errors hold the request, and with it the signed URL.
            log.warning("teams alert not delivered", extra={"error": type(error).__name__})
            raise DeliveryError("teams_unreachable") from None
        status = response.status_code
        if 200 <= status < 300:
            log.info("teams alert posted", extra={"status": status})
            return None
        log.warning("teams alert refused", extra={"status": status})
        if status == 429:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise DeliveryError("retry_after", retry_after=wait)
        if status >= 500 or status == 408:
            raise DeliveryError(f"teams_{status}")
        # Other 4xx (and unexpected 1xx/3xx): a bad URL, a disabled flow or a rejected card.
        raise PermanentDeliveryError(f"teams_{status}")

    async def aclose(self) -> None:
        """Close the HTTP client if this sender created it."""
        if self._owns_client:
            await self._client.aclose()
