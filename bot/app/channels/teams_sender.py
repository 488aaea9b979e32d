"""Replies and cards out to Teams through the SDK's Bot Connector client, inside Teams'
limits, with its answers read as the outbox's delivery outcomes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp
from microsoft_agents.activity import Activity, ChannelAccount, ConversationParameters
from microsoft_agents.hosting.core.connector.client import ConnectorClient

from bot.app.channels.teams_alerts import retry_after_seconds
from bot.app.channels.teams_auth import TokenSource
from bot.app.channels.teams_cards import CardWords, activity
from bot.app.channels.teams_conversations import Conversations, Reference
from bot.app.channels.teams_reading import CHANNEL
from bot.clock import Clock
from bot.config import Settings
from bot.content import Content
from bot.messages import ChatBusy, DeliveryError, PermanentDeliveryError, RecipientBlocked, Reply

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 10.0
# Teams' limits per conversation (a bot in one thread): 7 in a second, 60 in 30 seconds.
PACE = ((1.0, 7), (30.0, 60))
# A send that would wait longer than this for its moment is handed back to the outbox.
PACE_MAX_WAIT = 10.0
# Conversations remembered by the pace before those long quiet are forgotten.
PACE_CONVERSATIONS = 1_000


def card_words(content: Content) -> CardWords:
    """Our words on cards."""
    return CardWords(
        note_label=content.label("teams_note_label"),
        note_placeholder=content.label("teams_note_placeholder"),
        cut=content.render("common/cut_for_teams"),
    )


@dataclass
class _Pace:
    """Keeps each conversation inside Teams' limits by waiting rather than earning a 429:
    each send reserves the first moment the limits allow, in the order sends asked, so the
    channel shows alerts in the order they were raised."""

    sent: dict[str, deque[float]] = field(default_factory=dict)

    async def wait(self, conversation_id: str) -> None:
        """Wait for this send's moment; a moment too far off hands the row back instead (a
        row held that long could outlive its claim and be sent twice)."""
        now = time.monotonic()
        if len(self.sent) >= PACE_CONVERSATIONS:
            # Forget conversations quiet for longer than the longest window.
            quiet = now - PACE[-1][0]
            self.sent = {key: sent for key, sent in self.sent.items() if sent and sent[-1] > quiet}
        times = self.sent.setdefault(conversation_id, deque(maxlen=PACE[-1][1]))
        slot = max(now, times[-1]) if times else now
        for window, limit in PACE:
            if len(times) >= limit:
                slot = max(slot, times[-limit] + window)
        if slot - now > PACE_MAX_WAIT:
            raise ChatBusy("teams_paced", retry_after=slot - now)
        times.append(slot)
        if slot > now:
            await asyncio.sleep(slot - now)


@contextlib.contextmanager
def _delivery_errors(personal: bool) -> Iterator[None]:
    """Translate Bot Connector errors into our delivery errors; nothing quoted from them."""
    try:
        yield
    except aiohttp.ClientResponseError as error:
        status = error.status
        if status == 429:
            retry = error.headers.get("Retry-After") if error.headers else None
            raise DeliveryError("retry_after", retry_after=retry_after_seconds(retry)) from None
        if status == 403 and personal:
            # The person removed the app or blocked the bot: retrying will not help.
            raise RecipientBlocked("teams_403") from None
        if status >= 500 or status == 408:
            raise DeliveryError(f"teams_{status}") from None
        raise PermanentDeliveryError(f"teams_{status}") from None
    except (aiohttp.ClientError, TimeoutError) as error:
        raise DeliveryError(f"teams_{type(error).__name__}") from None


class TeamsBotSender:
    """Sends neutral replies to Teams conversations through the SDK's ConnectorClient, and
    edits sent cards (an acknowledged alert is updated for everyone)."""

    channel = CHANNEL

    def __init__(
        self,
        conversations: Conversations,
        tokens: TokenSource,
        words: CardWords,
        settings: Settings,
        clock: Clock,
        timeout: float = SEND_TIMEOUT_SECONDS,
    ) -> None:
        self.conversations = conversations
        self.tokens = tokens
        self.words = words
        self.settings = settings
        self.clock = clock
        # Every call's limit, kept by its HTTP session (ServiceUrls.session).
        self.timeout = timeout
        self._clients: dict[str, tuple[str, ConnectorClient]] = {}
        self._pace = _Pace()

    async def _client(self, service_url: str) -> ConnectorClient:
        """One client per service URL, made again when the token changes."""
        token = await self.tokens.token()
        known = self._clients.get(service_url)
        if known is not None and known[0] == token:
            return known[1]
        session = self.conversations.urls.session(service_url, self.timeout)
        client = ConnectorClient(service_url, token, session=session)
        self._clients[service_url] = (token, client)
        if known is not None:
            await known[1].close()
        return client

    async def _reference(self, chat_id: str) -> Reference:
        """Where to send: a known conversation, or a person's personal chat (made if need be)."""
        found = await self.conversations.find(chat_id)
        if found is not None:
            return found
        if chat_id.startswith(("29:", "8:orgid:")):
            return await self._open_personal(chat_id)
        raise PermanentDeliveryError("teams_unknown_conversation")

    async def _open_personal(self, user_id: str) -> Reference:
        """Start (or find again) the bot's personal chat with a member of staff."""
        staff = await self.conversations.find(self.settings.teams_staff_conversation_id)
        if staff is None:
            raise DeliveryError("teams_staff_channel_not_learnt")
        client = await self._client(staff.service_url)
        parameters = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=f"28:{self.settings.teams_app_id or 'bot'}"),
            members=[ChannelAccount(id=user_id)],
            tenant_id=staff.tenant_id or self.settings.teams_tenant_id,
            channel_data={"tenant": {"id": staff.tenant_id or self.settings.teams_tenant_id}},
        )
        with _delivery_errors(personal=True):
            made = await client.conversations.create_conversation(parameters)
        reference = Reference(made.id, staff.service_url, staff.tenant_id, "personal", user_id)
        await self.conversations.store(reference, self.clock.now())
        return reference

    def _activity(self, reply: Reply, reference: Reference, activity_id: str | None) -> Activity:
        body = activity(reply, self.words)
        body["conversation"] = {"id": reference.conversation_id}
        if activity_id is not None:
            body["id"] = activity_id
        return Activity.model_validate(body)

    async def _ready(self, chat_id: str) -> tuple[Reference, ConnectorClient]:
        """Where a message for this chat goes, the client to send it with, and its moment."""
        reference = await self._reference(chat_id)
        client = await self._client(reference.service_url)
        await self._pace.wait(reference.conversation_id)
        return reference, client

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Post one message or card; return the activity id Teams gave it."""
        reference, client = await self._ready(chat_id)
        with _delivery_errors(reference.kind == "personal"):
            sent = await client.conversations.send_to_conversation(
                reference.conversation_id, self._activity(reply, reference, None)
            )
        return sent.id

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        """Replace a card we posted, for everyone who sees it."""
        reference, client = await self._ready(chat_id)
        with _delivery_errors(reference.kind == "personal"):
            await client.conversations.update_activity(
                reference.conversation_id, message_id, self._activity(reply, reference, message_id)
            )

    async def member_email(self, reference: Reference, user_id: str) -> str | None:
        """A Teams member's email (or sign-in name) as Microsoft's directory has it."""
        try:
            client = await self._client(reference.service_url)
            member = await client.conversations.get_conversation_member(
                reference.conversation_id, user_id
            )
        except Exception as error:
            # A token that cannot be had, a connector down: nobody is staff by email now.
            log.info("teams member not looked up", extra={"error": type(error).__name__})
            return None
        extra = member.model_extra or {}
        if (getattr(member, "user_role", None) or extra.get("userRole")) == "guest":
            return None  # a guest's address is not the hospital's to vouch for
        # The sign-in name first: the directory's "mail" attribute can be set by an admin.
        name = getattr(member, "user_principal_name", None) or extra.get("userPrincipalName")
        name = name or getattr(member, "email", None) or extra.get("email")
        return name.lower() if isinstance(name, str) and name else None

    async def aclose(self) -> None:
        """Close every HTTP session."""
        for _token, client in self._clients.values():
            await client.close()
        self._clients.clear()
