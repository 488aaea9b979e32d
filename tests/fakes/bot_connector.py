"""In-process fake of the Bot Framework Connector (REST v3) that the SDK's ConnectorClient calls.

Serve it with ``async with FakeBotConnector() as fake:`` (uvicorn on 127.0.0.1, a free port, in
the SAME event loop: the fake uses asyncio primitives and is not thread-safe), then point the
real ``ConnectorClient(endpoint=fake.service_url, token=...)`` or the bot's activities'
``serviceUrl`` at ``fake.service_url``.

Behaviour notes (deliberate simplifications of the real service):

* The SDK puts conversation and activity ids into the URL path unquoted; ':' '@' ';' pass through
  as-is and are routed here from the decoded path, so "19:x@thread.tacv2;messageid=1" works.
  A '#' or '?' in an id truncates the SDK's URL (the fake then sees a shorter path).
* Every posted activity gets a new numeric id; the body's own "id" is ignored, as Teams does.
  ``sent()`` and ``current()`` return copies of the body with "id" set to the assigned id.
* Replies are accepted whatever the replied-to id (incoming user messages are never posted
  here); updates and deletes need an activity posted to that same conversation, else 404.
* Members are one directory for all conversations unless ``add_member(conversations=...)``.
* Errors use the Bot Framework ErrorResponse shape ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import itertools
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = [
    "ADAPTIVE_CARD",
    "CALL_KINDS",
    "ConnectorCall",
    "FakeBotConnector",
    "Member",
    "card_of",
    "personal_conversation_id",
    "text_of",
]

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"

CallKind = Literal["create", "send", "reply", "update", "delete", "member", "members", "unknown"]
CALL_KINDS: tuple[CallKind, ...] = (
    "create",
    "send",
    "reply",
    "update",
    "delete",
    "member",
    "members",
    "unknown",
)
# The calls that fail_next/hang_next apply to unless told otherwise.
_DEFAULT_FAULT_KINDS: frozenset[CallKind] = frozenset({"send", "reply", "update"})

_ERROR_CODES = {
    400: "BadArgument",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    412: "PreconditionFailed",
    413: "MessageSizeTooBig",
    429: "Throttled",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}

_CONVERSATION_PATH = re.compile(r"^/v3/conversations/(?P<cid>[^/]+)(?P<rest>(?:/.*)?)$")

T = TypeVar("T")


def personal_conversation_id(member_id: str, tenant_id: str | None = None) -> str:
    """The stable personal (1:1) conversation id the fake gives one member in one tenant."""
    digest = hashlib.sha256(f"{tenant_id or ''}|{member_id}".encode()).hexdigest()[:24]
    return f"a:personal-{digest}"


def card_of(activity: dict[str, Any]) -> dict[str, Any] | None:
    """The first Adaptive Card's content in an activity JSON, or None if it carries none."""
    for attachment in activity.get("attachments") or []:
        if isinstance(attachment, dict) and attachment.get("contentType") == ADAPTIVE_CARD:
            content = attachment.get("content")
            return content if isinstance(content, dict) else None
    return None


def text_of(activity: dict[str, Any]) -> str:
    """An activity's plain "text" ("" when absent)."""
    text = activity.get("text")
    return text if isinstance(text, str) else ""


@dataclass
class Member:
    """A TeamsChannelAccount in the fake's directory."""

    id: str
    name: str
    aad_object_id: str
    email: str | None = None
    user_principal_name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    tenant_id: str | None = None
    conversations: frozenset[str] | None = None  # None: a member of every conversation

    def to_json(self) -> dict[str, Any]:
        """The TeamsChannelAccount JSON as the connector returns it."""
        body: dict[str, Any] = {"id": self.id, "name": self.name, "aadObjectId": self.aad_object_id}
        optional = {
            "email": self.email,
            "userPrincipalName": self.user_principal_name,
            "givenName": self.given_name,
            "surname": self.surname,
            "tenantId": self.tenant_id,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        body.setdefault("userRole", "user")
        return body

    def matches(self, key: str) -> bool:
        """Whether a member lookup key (id, AAD object id or UPN) names this member."""
        return key in (self.id, self.aad_object_id) or (
            self.user_principal_name is not None and key.lower() == self.user_principal_name.lower()
        )


@dataclass
class ConnectorCall:
    """One request the fake received, and how it answered."""

    method: str
    kind: CallKind
    path: str
    conversation_id: str | None
    activity_id: str | None  # the id in the URL (replied-to / updated / deleted activity)
    body: Any
    authorization: str | None
    member_id: str | None = None  # the id in the URL of a member lookup
    query: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # None while the call hangs
    response_id: str | None = None  # id the fake assigned (send, reply, create)
    refused: bool = False  # answered by fail_next, a missing token or a dropped hang
    hung: bool = False  # held by hang_next at some point

    @property
    def activity(self) -> dict[str, Any] | None:
        """The activity as stored (body with the assigned id), for send/reply/update calls."""
        if not isinstance(self.body, dict) or self.kind not in ("send", "reply", "update"):
            return None
        stored = copy.deepcopy(self.body)
        stored["id"] = self.response_id or self.activity_id
        return stored


@dataclass
class _Fault:
    """A pending fail_next rule."""

    status: int
    times: int
    retry_after: str | None
    conversation_id: str | None
    kinds: frozenset[CallKind]


@dataclass
class _Hang:
    """A pending hang_next rule."""

    times: int
    seconds: float | None
    deliver: bool
    conversation_id: str | None
    kinds: frozenset[CallKind]


def _matches(rule: _Fault | _Hang, kind: CallKind, conversation_id: str | None) -> bool:
    """Whether a fault or hang rule applies to a call."""
    return kind in rule.kinds and (
        rule.conversation_id is None or rule.conversation_id == conversation_id
    )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A Bot Framework ErrorResponse."""
    code = _ERROR_CODES.get(status, "ServiceError")
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


class FakeBotConnector:
    """Fake Bot Framework Connector service: conversations, activities, members, faults."""

    def __init__(self, *, expected_token: str | None = None, host: str = "127.0.0.1") -> None:
        """Set up an empty fake; when expected_token is given, other bearer tokens get 401."""
        self.expected_token = expected_token
        self.host = host
        self.calls: list[ConnectorCall] = []
        self.members: list[Member] = []
        self._activities: dict[tuple[str, str], dict[str, Any]] = {}
        self._conversations: dict[str, dict[str, Any]] = {}
        self._faults: list[_Fault] = []
        self._hangs: list[_Hang] = []
        self._hung: set[asyncio.Event] = set()
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1_700_000_000_001)
        self._group_ids = itertools.count(1)
        self._port: int | None = None
        self._server: Any = None
        self._serving: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self.asgi_app = Starlette(
            routes=[
                Route("/{path:path}", self._handle, methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )

    # -- serving -------------------------------------------------------------------------

    @property
    def service_url(self) -> str:
        """The base URL to give ConnectorClient / put in activities' serviceUrl."""
        if self._port is None:
            raise RuntimeError("FakeBotConnector is not started")
        return f"http://{self.host}:{self._port}/"

    async def start(self) -> str:
        """Serve the fake with uvicorn on a free loopback port in this event loop."""
        import uvicorn

        if self._serving is not None:
            return self.service_url
        # A pre-bound listening socket: no waiting for uvicorn's start-up before the first call.
        sock = socket.socket()
        sock.bind((self.host, 0))
        sock.listen(64)
        self._sock = sock
        self._port = int(sock.getsockname()[1])
        self._server = uvicorn.Server(
            uvicorn.Config(self.asgi_app, log_level="warning", lifespan="off", loop="asyncio")
        )
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started and not self._serving.done():
            await asyncio.sleep(0.005)
        if self._serving.done():
            self._serving.result()  # re-raise why uvicorn failed to start
        return self.service_url

    async def stop(self) -> None:
        """Let hanging calls through and shut the server down."""
        self.release()
        if self._serving is None:
            return
        self._server.should_exit = self._server.force_exit = True
        await self._serving
        self._serving = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> FakeBotConnector:
        """Start serving."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving."""
        await self.stop()

    # -- directory ---------------------------------------------------------------------

    def add_member(
        self,
        id: str,
        name: str,
        aad_object_id: str,
        *,
        email: str | None = None,
        user_principal_name: str | None = None,
        given_name: str | None = None,
        surname: str | None = None,
        tenant_id: str | None = None,
        conversations: Iterable[str] | None = None,
    ) -> Member:
        """Put a Teams user in the directory that GET .../members/{id} answers from."""
        member = Member(
            id=id,
            name=name,
            aad_object_id=aad_object_id,
            email=email,
            user_principal_name=user_principal_name if user_principal_name is not None else email,
            given_name=given_name,
            surname=surname,
            tenant_id=tenant_id,
            conversations=frozenset(conversations) if conversations is not None else None,
        )
        self.members = [m for m in self.members if m.id != id]
        self.members.append(member)
        return member

    def remove_member(self, id: str) -> None:
        """Take a user out of the directory (later lookups get 404)."""
        self.members = [m for m in self.members if m.id != id]

    def _member(self, conversation_id: str, key: str) -> Member | None:
        """The member a lookup key names in a conversation."""
        for member in self.members:
            in_conversation = (
                member.conversations is None or conversation_id in member.conversations
            )
            if in_conversation and member.matches(key):
                return member
        return None

    # -- faults ------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        retry_after: str | None = None,
        conversation_id: str | None = None,
        kinds: Iterable[CallKind] = _DEFAULT_FAULT_KINDS,
    ) -> None:
        """Answer the next `times` matching calls with `status` (and Retry-After if given)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        self._faults.append(_Fault(status, times, retry_after, conversation_id, frozenset(kinds)))

    def hang_next(
        self,
        times: int = 1,
        seconds: float | None = None,
        *,
        deliver: bool = True,
        conversation_id: str | None = None,
        kinds: Iterable[CallKind] = _DEFAULT_FAULT_KINDS,
    ) -> None:
        """Hold the next `times` matching calls until release() (or `seconds` pass).

        Once let through, a held call is processed normally, or with deliver=False answered
        504 without storing anything.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        self._hangs.append(_Hang(times, seconds, deliver, conversation_id, frozenset(kinds)))

    def release(self) -> None:
        """Let every hanging call through and forget hangs not yet used."""
        self._hangs.clear()
        for event in self._hung:
            event.set()

    def clear_faults(self) -> None:
        """Forget pending fail_next rules."""
        self._faults.clear()

    @property
    def hanging(self) -> int:
        """How many calls are held right now."""
        return len(self._hung)

    @property
    def refused_count(self) -> int:
        """How many calls were refused (fault injection, bad token, dropped hang)."""
        return sum(1 for call in self.calls if call.refused)

    def refused(self) -> list[ConnectorCall]:
        """The refused calls, oldest first."""
        return [call for call in self.calls if call.refused]

    def _take_fault(self, kind: CallKind, conversation_id: str | None) -> _Fault | None:
        """Consume one use of the first fault rule matching a call."""
        for rule in self._faults:
            if _matches(rule, kind, conversation_id):
                rule.times -= 1
                if rule.times <= 0:
                    self._faults.remove(rule)
                return rule
        return None

    def _take_hang(self, kind: CallKind, conversation_id: str | None) -> _Hang | None:
        """Consume one use of the first hang rule matching a call."""
        for rule in self._hangs:
            if _matches(rule, kind, conversation_id):
                rule.times -= 1
                if rule.times <= 0:
                    self._hangs.remove(rule)
                return rule
        return None

    # -- queries -----------------------------------------------------------------------

    def calls_of(self, kind: CallKind, conversation_id: str | None = None) -> list[ConnectorCall]:
        """Calls of one kind (optionally in one conversation), oldest first."""
        return [
            call
            for call in self.calls
            if call.kind == kind
            and (conversation_id is None or call.conversation_id == conversation_id)
        ]

    def sent(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """Activities accepted by send or reply (as posted, with their ids), oldest first."""
        return [
            activity
            for call in self.calls
            if call.kind in ("send", "reply")
            and not call.refused
            and call.status is not None
            and (conversation_id is None or call.conversation_id == conversation_id)
            and (activity := call.activity) is not None
        ]

    def updates(
        self, conversation_id: str | None = None, activity_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Accepted update bodies (with the updated id), oldest first."""
        return [
            activity
            for call in self.calls
            if call.kind == "update"
            and call.status == 200
            and (conversation_id is None or call.conversation_id == conversation_id)
            and (activity_id is None or call.activity_id == activity_id)
            and (activity := call.activity) is not None
        ]

    def current(self, conversation_id: str, activity_id: str) -> dict[str, Any]:
        """The latest version of a posted activity after updates (KeyError if never posted)."""
        try:
            return copy.deepcopy(self._activities[(conversation_id, activity_id)])
        except KeyError:
            raise KeyError(
                f"no activity {activity_id!r} in conversation {conversation_id!r}"
            ) from None

    def conversations(self) -> dict[str, dict[str, Any]]:
        """Conversations created through POST /v3/conversations: id to ConversationParameters."""
        return copy.deepcopy(self._conversations)

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until predicate() is truthy (re-checked after every call); return its value."""
        async with self._changed:
            try:
                return await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
            except TimeoutError:
                seen = [
                    f"{c.method} {c.kind} {c.conversation_id} -> {c.status}" for c in self.calls
                ]
                raise TimeoutError(
                    f"condition not met within {timeout}s; calls so far: {seen}"
                ) from None

    async def _notify(self) -> None:
        """Wake wait_for callers."""
        async with self._changed:
            self._changed.notify_all()

    # -- request handling ----------------------------------------------------------------

    def _next_id(self) -> str:
        """A fresh activity id (Teams channel style: millisecond-like digits)."""
        return str(next(self._ids))

    @staticmethod
    def _classify(method: str, path: str) -> tuple[CallKind, str | None, str | None]:
        """The call kind, conversation id and activity id a request addresses."""
        if path.rstrip("/") == "/v3/conversations":
            return ("create" if method == "POST" else "unknown"), None, None
        match = _CONVERSATION_PATH.match(path)
        if match is None:
            return "unknown", None, None
        cid, rest = match["cid"], match["rest"].rstrip("/")
        parts = rest.split("/")[1:] if rest else []
        if parts == ["activities"] and method == "POST":
            return "send", cid, None
        if len(parts) == 2 and parts[0] == "activities":
            kinds: dict[str, CallKind] = {"POST": "reply", "PUT": "update", "DELETE": "delete"}
            return kinds.get(method, "unknown"), cid, parts[1]
        if parts == ["members"] and method == "GET":
            return "members", cid, None
        if len(parts) == 2 and parts[0] == "members" and method == "GET":
            return "member", cid, parts[1]
        return "unknown", cid, None

    async def _handle(self, request: Request) -> Response:
        """Record a call, apply faults and hangs, then answer it."""
        path = request.url.path
        kind, conversation_id, item_id = self._classify(request.method, path)
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = await request.json()
            except ValueError:
                body = raw.decode("utf-8", "replace")
        call = ConnectorCall(
            method=request.method,
            kind=kind,
            path=path,
            conversation_id=conversation_id,
            activity_id=item_id if kind != "member" else None,
            member_id=item_id if kind == "member" else None,
            body=body,
            authorization=request.headers.get("authorization"),
            query=dict(request.query_params),
        )
        self.calls.append(call)
        try:
            response = await self._answer(call)
            call.status = response.status_code
        finally:
            await self._notify()
        return response

    async def _answer(self, call: ConnectorCall) -> Response:
        """Produce the response to a recorded call (mutating its record)."""
        if self.expected_token is not None and call.authorization != (
            f"Bearer {self.expected_token}"
        ):
            call.refused = True
            return _error(401, "Authorization has been denied for this request.")
        hang = self._take_hang(call.kind, call.conversation_id)
        if hang is not None:
            call.hung = True
            event = asyncio.Event()
            self._hung.add(event)
            await self._notify()
            try:
                with contextlib.suppress(TimeoutError):  # seconds=None: wait for release()
                    await asyncio.wait_for(event.wait(), hang.seconds)
            finally:
                self._hung.discard(event)
            if not hang.deliver:
                call.refused = True
                return _error(504, "The upstream service did not answer in time.")
        fault = self._take_fault(call.kind, call.conversation_id)
        if fault is not None:
            call.refused = True
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
            return _error(fault.status, f"Injected failure {fault.status}.", headers)
        handlers = {
            "create": self._create,
            "send": self._post_activity,
            "reply": self._post_activity,
            "update": self._update,
            "delete": self._delete,
            "members": self._list_members,
        }
        if call.kind == "member":
            return self._get_member(call)
        handler = handlers.get(call.kind)
        if handler is None:
            return _error(404, f"Unknown route {call.method} {call.path}.")
        return handler(call)

    def _create(self, call: ConnectorCall) -> Response:
        """POST /v3/conversations: a personal chat id per member, else a new group chat."""
        params = call.body
        if not isinstance(params, dict):
            return _error(400, "ConversationParameters required.")
        members = params.get("members") or []
        if not members or not all(isinstance(m, dict) and m.get("id") for m in members):
            return _error(400, "At least one member with an id is required.")
        channel_data = params.get("channelData")
        tenant = params.get("tenantId")
        if tenant is None and isinstance(channel_data, dict):
            tenant = (channel_data.get("tenant") or {}).get("id")
        if len(members) == 1 and not params.get("isGroup"):
            conversation_id = personal_conversation_id(str(members[0]["id"]), tenant)
        else:
            conversation_id = f"19:fake-group-{next(self._group_ids)}@thread.v2"
        self._conversations.setdefault(conversation_id, copy.deepcopy(params))
        call.conversation_id = conversation_id
        response: dict[str, Any] = {"id": conversation_id, "serviceUrl": self.service_url}
        activity = params.get("activity")
        if isinstance(activity, dict):
            activity_id = self._next_id()
            stored = copy.deepcopy(activity)
            stored["id"] = activity_id
            self._activities[(conversation_id, activity_id)] = stored
            response["activityId"] = activity_id
            call.response_id = activity_id
        return JSONResponse(response, status_code=201)

    def _post_activity(self, call: ConnectorCall) -> Response:
        """Send or reply: store the activity under a fresh id."""
        if not isinstance(call.body, dict) or not call.body.get("type"):
            return _error(400, "An activity with a type is required.")
        assert call.conversation_id is not None
        activity_id = self._next_id()
        call.response_id = activity_id
        stored = call.activity
        assert stored is not None
        self._activities[(call.conversation_id, activity_id)] = stored
        return JSONResponse({"id": activity_id}, status_code=201)

    def _update(self, call: ConnectorCall) -> Response:
        """PUT an activity: replace its current version if it was posted to that conversation."""
        assert call.conversation_id is not None and call.activity_id is not None
        key = (call.conversation_id, call.activity_id)
        if key not in self._activities:
            return _error(404, "The activity to update was not found.")
        if not isinstance(call.body, dict) or not call.body.get("type"):
            return _error(400, "An activity with a type is required.")
        stored = call.activity
        assert stored is not None
        self._activities[key] = stored
        return JSONResponse({"id": call.activity_id}, status_code=200)

    def _delete(self, call: ConnectorCall) -> Response:
        """DELETE an activity posted to that conversation."""
        assert call.conversation_id is not None and call.activity_id is not None
        if self._activities.pop((call.conversation_id, call.activity_id), None) is None:
            return _error(404, "The activity to delete was not found.")
        return Response(status_code=200)

    def _get_member(self, call: ConnectorCall) -> Response:
        """GET one member as a TeamsChannelAccount."""
        assert call.conversation_id is not None and call.member_id is not None
        member = self._member(call.conversation_id, call.member_id)
        if member is None:
            return _error(404, "The member was not found in this conversation.")
        return JSONResponse(member.to_json(), status_code=200)

    def _list_members(self, call: ConnectorCall) -> Response:
        """GET all members of a conversation."""
        assert call.conversation_id is not None
        found = [
            member.to_json()
            for member in self.members
            if member.conversations is None or call.conversation_id in member.conversations
        ]
        return JSONResponse(found, status_code=200)
