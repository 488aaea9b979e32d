"""Teams adapter (Microsoft 365 Agents SDK): activities in at /api/messages, neutral events to
the turn runner, replies and staff alerts out through the Bot Connector."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from microsoft_agents.activity import Activity
from microsoft_agents.hosting.fastapi import JwtAuthorizationMiddleware
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app.channels.bodies import body_within_limit
from bot.app.channels.chat_order import ChatQueues
from bot.app.channels.teams_auth import auth_configuration
from bot.app.channels.teams_cards import INVOKE_NAME, invoke_message
from bot.app.channels.teams_conversations import Conversations
from bot.app.channels.teams_reading import Read, read_activity
from bot.app.channels.teams_staff import StaffMember, TeamsStaff
from bot.app.turns import TurnBatcher, TurnOutcome, TurnRunner
from bot.clock import Clock
from bot.config import Settings
from bot.db.models import OutboxMessage
from bot.messages import Incoming, Sender
from bot.safety.first_response import FirstResponder

log = logging.getLogger(__name__)

PATH = "/api/messages"
# An activity is a few kilobytes; Teams' own limit on a message is about 28 KB.
MAX_BODY = 256 * 1024


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
            await self._learn(read)
            member = await self._staff_member(read, incoming.user_id)
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

    async def _staff_member(self, read: Read, user_id: str) -> StaffMember | None:
        """The member of staff behind this activity, or None; a check that fails is None, so
        the turn still runs (a crisis is recorded and staff alerted whatever else fails)."""
        try:
            return await self.staff.find(read.object_id, user_id, read.reference, read.name)
        except Exception as error:
            log.error("teams staff check failed", extra={"error": type(error).__name__})
            return None

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
