"""Teams adapter (Microsoft 365 Agents SDK): activities in at /api/messages, neutral events to
the turn runner, replies and staff alerts out through the Bot Connector."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from microsoft_agents.activity import (
    Activity,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
)
from microsoft_agents.hosting.core import AgentAuthConfiguration
from microsoft_agents.hosting.core.authorization import AuthTypes
from microsoft_agents.hosting.core.connector.client import ConnectorClient
from microsoft_agents.hosting.fastapi import JwtAuthorizationMiddleware
from pydantic import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app.channels.bodies import body_within_limit
from bot.app.channels.chat_order import ChatQueues
from bot.app.channels.teams_alerts import retry_after_seconds
from bot.app.channels.teams_cards import (
    INVOKE_NAME,
    CardWords,
    activity,
    invoke_message,
    read_press,
)
from bot.app.channels.teams_conversations import (
    Conversations,
    Reference,
    channel_of,
)
from bot.app.turns import TurnBatcher, TurnOutcome, TurnRunner
from bot.clock import Clock
from bot.config import Settings
from bot.content import Content
from bot.db.models import OutboxMessage, StaffAccount
from bot.messages import (
    ChatBusy,
    DeliveryError,
    Incoming,
    PermanentDeliveryError,
    RecipientBlocked,
    Reply,
    Sender,
)
from bot.safety.first_response import FirstResponder
from dialogs.flows import STAFF_COMMANDS

log = logging.getLogger(__name__)

CHANNEL = "msteams"
PATH = "/api/messages"
# An activity is a few kilobytes; Teams' own limit on a message is about 28 KB.
MAX_BODY = 256 * 1024
# The Bot Connector's resource, for the bot's own access token.
BOT_RESOURCE = "https://api.botframework.com"
BOT_SCOPE = "https://api.botframework.com/.default"
BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
SEND_TIMEOUT_SECONDS = 10.0
# Teams' limits per conversation (a bot in one thread): 7 in a second, 60 in 30 seconds.
PACE = ((1.0, 7), (30.0, 60))
# A send that would wait longer than this for its moment is handed back to the outbox.
PACE_MAX_WAIT = 10.0
# Conversations remembered by the pace before those long quiet are forgotten.
PACE_CONVERSATIONS = 1_000
# How long an email looked up for a Teams account is trusted before asking again.
EMAIL_CACHE_SECONDS = 600
EMAIL_CACHE_SIZE = 10_000
_MENTION = re.compile(r"<at>[^<]*</at>", re.IGNORECASE)


class TokenSource(Protocol):
    """Gives the bot's access token for the Bot Connector ("" where none is needed)."""

    async def token(self) -> str:
        """The current token (cached by whoever issues it)."""
        ...


class NoToken:
    """Anonymous mode (local testing): calls carry no token."""

    async def token(self) -> str:
        """No token."""
        return ""


class MsalToken:
    """The bot's token from Entra ID through the SDK's MSAL provider (cached by MSAL)."""

    def __init__(self, settings: Settings) -> None:
        from microsoft_agents.authentication.msal import MsalAuth

        self._auth = MsalAuth(auth_configuration(settings))

    async def token(self) -> str:
        """A token for the Bot Connector, refreshed by MSAL when it nears its end."""
        return await self._auth.get_access_token(BOT_RESOURCE, [BOT_SCOPE])


# Only the Bot Framework (and Microsoft's own first-party tenants, which the SDK always adds)
# may call us: left to its default, the SDK would also take any token the hospital's own
# tenant issues for this app id, which anyone allowed to register an app there can get.
_ONLY_THE_BOT_FRAMEWORK: dict[str, Any] = {
    "validate_issuer": True,
    "issuers": [BOT_FRAMEWORK_ISSUER],
}


def auth_configuration(settings: Settings) -> AgentAuthConfiguration:
    """The SDK's configuration: who may call /api/messages, and who the bot is."""
    if settings.teams_allow_anonymous:
        return AgentAuthConfiguration(anonymous_allowed=True)
    credential: dict[str, Any] = (
        {"auth_type": AuthTypes.client_secret, "client_secret": settings.teams_app_password}
        if settings.teams_app_password
        else {"auth_type": AuthTypes.certificate, "cert_pfx_file": settings.teams_certificate_file}
    )
    return AgentAuthConfiguration(
        client_id=settings.teams_app_id,
        tenant_id=settings.teams_tenant_id,
        anonymous_allowed=False,
        **credential,
        **_ONLY_THE_BOT_FRAMEWORK,
    )


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
            async with asyncio.timeout(self.timeout):
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

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Post one message or card; return the activity id Teams gave it."""
        reference = await self._reference(chat_id)
        client = await self._client(reference.service_url)
        await self._pace.wait(reference.conversation_id)
        with _delivery_errors(reference.kind == "personal"):
            async with asyncio.timeout(self.timeout):
                sent = await client.conversations.send_to_conversation(
                    reference.conversation_id, self._activity(reply, reference, None)
                )
        return sent.id

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        """Replace a card we posted, for everyone who sees it."""
        reference = await self._reference(chat_id)
        client = await self._client(reference.service_url)
        await self._pace.wait(reference.conversation_id)
        with _delivery_errors(reference.kind == "personal"):
            async with asyncio.timeout(self.timeout):
                await client.conversations.update_activity(
                    reference.conversation_id,
                    message_id,
                    self._activity(reply, reference, message_id),
                )

    async def member_email(self, reference: Reference, user_id: str) -> str | None:
        """A Teams member's email (or sign-in name) as Microsoft's directory has it."""
        try:
            client = await self._client(reference.service_url)
            async with asyncio.timeout(self.timeout):
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


@dataclass(frozen=True)
class StaffMember:
    """Someone in Teams who may act on alerts, as the staff list has them now."""

    name: str


class TeamsStaff:
    """Decides, on every activity, whether a Teams account is staff: by Entra object id (a
    console account linked by Microsoft sign-in, or STAFF_TEAMS_IDS), or by the email
    Microsoft's directory gives for it matching a console account."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        lookup: Callable[[Reference, str], Awaitable[str | None]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.listed = {object_id.lower() for object_id in settings.staff_teams_ids}
        self.lookup = lookup
        self._emails: dict[str, tuple[float, str | None]] = {}

    async def _email(self, reference: Reference, user_id: str, object_id: str) -> str | None:
        cached = self._emails.get(object_id)
        if cached is not None and time.monotonic() - cached[0] < EMAIL_CACHE_SECONDS:
            return cached[1]
        email = await self.lookup(reference, user_id) if self.lookup is not None else None
        if len(self._emails) >= EMAIL_CACHE_SIZE:
            self._emails.clear()  # rarely reached: one entry per person who writes
        self._emails[object_id] = (time.monotonic(), email)
        return email

    async def find(
        self, object_id: str, user_id: str, reference: Reference | None, name: str
    ) -> StaffMember | None:
        """The member of staff behind this account, or None."""
        object_id = object_id.lower()
        async with self.sessions() as session:
            if object_id:
                account = await session.scalar(
                    select(StaffAccount).where(
                        func.lower(StaffAccount.entra_object_id) == object_id
                    )
                )
                if account is not None:
                    # A disabled account is not staff, whatever else lists them.
                    return StaffMember(account.name) if account.disabled_at is None else None
            if object_id and object_id in self.listed:
                return StaffMember(name)
            if not object_id or reference is None:
                return None
            email = await self._email(reference, user_id, object_id)
            if email is None:
                return None
            # An account already linked to another Microsoft identity is not this person's.
            account = await session.scalar(
                select(StaffAccount).where(
                    StaffAccount.email == email,
                    StaffAccount.disabled_at.is_(None),
                    or_(
                        StaffAccount.entra_object_id.is_(None),
                        func.lower(StaffAccount.entra_object_id) == object_id,
                    ),
                )
            )
        return StaffMember(account.name) if account is not None else None


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
        parsed = _command(_MENTION.sub("", text).strip()) if kind_of == "message" else None
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


@dataclass
class TeamsBridge:
    """Receives activities at /api/messages (behind the SDK's JWT check), runs their turns in
    each chat's order, and answers only after the turn has committed."""

    runner: TurnRunner
    senders: Mapping[str, Sender]
    conversations: Conversations
    staff: TeamsStaff
    settings: Settings
    clock: Clock
    first_responder: FirstResponder | None = None
    on_outbox_work: asyncio.Event | None = None
    urgent_senders: Mapping[str, Sender] | None = None
    on_urgent: Callable[[list[OutboxMessage]], None] | None = None
    on_unrecorded_crisis: Callable[[Incoming], None] | None = None
    # Said to whoever pressed a button when the turn had nothing else to say.
    pressed: str = ""
    # Said when a card's data cannot be read (forged, or from a card we no longer send).
    old_button: str = ""
    batcher: TurnBatcher | None = None
    _queues: ChatQueues = field(default_factory=ChatQueues)

    def __post_init__(self) -> None:
        if self.batcher is None:
            self.batcher = TurnBatcher(
                self.runner, self.senders, self.on_outbox_work, self.urgent_senders, self.on_urgent
            )

    def routes(self) -> list[BaseRoute]:
        """The endpoint, behind the SDK's JWT check (anonymous only in local testing)."""
        # An app of its own (not a Mount, which would redirect /api/messages to a path with a
        # slash): the SDK's middleware reads its configuration from the app's state.
        inner = Starlette(
            routes=[Route(PATH, self.receive, methods=["POST"])],
            middleware=[Middleware(JwtAuthorizationMiddleware)],
        )
        inner.state.agent_configuration = auth_configuration(self.settings)
        return [Route(PATH, inner, methods=["POST"])]

    async def receive(self, request: Request) -> Response:
        """One activity from Teams."""
        body = await body_within_limit(request, MAX_BODY)
        if body is None:
            log.warning("teams activity over the size limit refused")
            return JSONResponse({"error": "too large"}, status_code=413)
        try:
            data = json.loads(body)
            activity = Activity.model_validate(data)
        except (ValueError, ValidationError):
            return JSONResponse({"error": "not an activity"}, status_code=400)
        if activity.service_url and not self.conversations.urls.allowed(activity.service_url):
            # A forged activity naming somewhere else for us to call: nothing is done.
            log.warning("teams activity with a service URL not on the allow-list refused")
            return JSONResponse({"error": "service URL not allowed"}, status_code=403)
        refusal = self._not_ours(activity, getattr(request.state, "claims_identity", None))
        if refusal is not None:
            log.warning("teams activity refused", extra={"reason": refusal})
            return JSONResponse({"error": "not accepted"}, status_code=403)
        read = read_activity(activity, self.settings.teams_staff_conversation_id)
        if read.reference is not None:
            # In memory first: the crisis reply needs no database.
            self.conversations.remember(read.reference)
        incoming = read.incoming
        if incoming is None:
            await self._learn(read)
            if read.invoke and activity.name == INVOKE_NAME:
                # A card sent with missing or forged data: nothing done, and said kindly.
                return JSONResponse(invoke_message(self.old_button))
            if read.invoke:
                return JSONResponse({}, status_code=501)  # an invoke we do not offer
            return Response(status_code=200)
        place = self._queues.take(incoming.chat_id)
        try:
            if self.first_responder is not None:
                incoming = await self.first_responder.respond(incoming)
            try:
                await self._learn(read)
                member = await self.staff.find(
                    read.object_id, incoming.user_id, read.reference, read.name
                )
            except Exception as error:
                # The turn must still run (a crisis is recorded and staff alerted whatever
                # else fails): whoever this is counts as not staff.
                log.error("teams staff check failed", extra={"error": type(error).__name__})
                member = None
            if member is not None:
                incoming = replace(incoming, on_staff_list=True, first_name=member.name)
            await place.reached()
            outcome = await self._run(incoming)
        finally:
            place.leave()
        if outcome is None:
            return JSONResponse({"error": "try again"}, status_code=500)
        if read.invoke:
            return JSONResponse(invoke_message(outcome.alert or self.pressed))
        return Response(status_code=200)

    def _not_ours(self, activity: Activity, claims: object) -> str | None:
        """Why an authenticated activity is refused: its token names another service host, or
        it comes from another channel or tenant (None: it is ours)."""
        settings = self.settings
        if settings.teams_allow_anonymous:
            return None
        if activity.channel_id is not None and str(activity.channel_id) != "msteams":
            return "channel"
        claimed = getattr(claims, "claims", None) or {}
        service_url = claimed.get("serviceurl")
        # As the SDK's own adapter checks: where the token names a service URL, the activity's
        # must be on the same host (a token for one conversation's host cannot redirect us).
        if (
            isinstance(service_url, str)
            and activity.service_url
            and _host(service_url) != _host(activity.service_url)
        ):
            return "service_url"
        tenant = activity.conversation.tenant_id if activity.conversation else None
        if tenant is None and isinstance(activity.channel_data, dict):
            tenant_data = activity.channel_data.get("tenant")
            if isinstance(tenant_data, dict) and isinstance(tenant_data.get("id"), str):
                tenant = tenant_data["id"]
        if tenant is not None and tenant.lower() != settings.teams_tenant_id.lower():
            return "tenant"
        return None

    async def _learn(self, read: Read) -> None:
        """Keep where this conversation is reached; note the bot's arrival in a channel."""
        if read.reference is None:
            return
        try:
            await self.conversations.store(read.reference, self.clock.now())
        except Exception as error:
            # The turn can still run: the reference is in memory for this process.
            log.warning("teams conversation not stored", extra={"error": type(error).__name__})
        if read.installed:
            log.info(
                "teams bot installed",
                extra={"conversation": read.reference.conversation_id},
            )

    async def _run(self, incoming: Incoming) -> TurnOutcome | None:
        """The turn; None if it did not commit (Teams may send the activity again)."""
        assert self.batcher is not None
        try:
            outcome = await self.batcher.submit(incoming)
        except Exception as error:
            log.error(
                "teams turn failed",
                extra={"update_id": incoming.update_id, "error": type(error).__name__},
                exc_info=(type(error), error, error.__traceback__),
            )
            if incoming.crisis_sent and self.on_unrecorded_crisis is not None:
                self.on_unrecorded_crisis(incoming)
            return None
        if outcome.queued and self.on_outbox_work is not None:
            self.on_outbox_work.set()
        return outcome


def _host(url: str) -> str:
    """A URL's host, in lower case ('' if it has none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
