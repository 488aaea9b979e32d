"""Where each Teams conversation is reached (its Bot Connector service URL), kept in the database
and remembered in memory, and the allow-list every service URL is checked against."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from aiohttp import ClientSession, ClientTimeout
from microsoft_agents.hosting.core import OutboundHostValidator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import TeamsConversation

log = logging.getLogger(__name__)

# A conversation id names a channel, or a thread in it (";messageid=..."): the channel is one.
THREAD_SUFFIX = ";messageid="
_LOOPBACK_NAMES = {"localhost"}


def channel_of(conversation_id: str) -> str:
    """The conversation without the thread ("19:x@thread.tacv2;messageid=1" → "19:x@...")."""
    return conversation_id.split(THREAD_SUFFIX, 1)[0]


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServiceUrls:
    """The hosts the bot may call: Microsoft's Bot Connector (checked by the SDK's outbound host
    validator, which also refuses private addresses a name resolves to), or, in anonymous mode
    for local testing, loopback only."""

    def __init__(self, hosts: Sequence[str], anonymous: bool = False) -> None:
        self.anonymous = anonymous
        self._validator = OutboundHostValidator(
            list(hosts), enabled=True, include_default_microsoft_hosts=False
        )

    def allowed(self, url: str) -> bool:
        """Whether a service URL an activity names may be called."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError:
            return False
        host = (parts.hostname or "").lower()
        if not host or parts.username or parts.password or parts.query or parts.fragment:
            return False
        if self.anonymous:
            # Local testing: a forged activity cannot make the bot call anything off this host.
            return parts.scheme in ("http", "https") and _loopback(host)
        return self._validator.is_allowed(url)

    def session(self, base_url: str, timeout: float) -> ClientSession:
        """An HTTP session for one service URL, refusing any other host (and, outside
        anonymous mode, any address a name resolves to that is not public)."""
        options = {"base_url": base_url, "timeout": ClientTimeout(total=timeout)}
        if self.anonymous:
            return ClientSession(**options)  # type: ignore[arg-type]
        return self._validator.client(options)


@dataclass(frozen=True)
class Reference:
    """How to reach one conversation."""

    conversation_id: str
    service_url: str
    tenant_id: str | None
    kind: str
    user_id: str | None = None


class Conversations:
    """Conversation references: in memory for the crisis reply (no database before it), and in
    the database so a restarted bot can still reach everyone."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], urls: ServiceUrls) -> None:
        self.sessions = sessions
        self.urls = urls
        self._known: dict[str, Reference] = {}
        # What this process has written to the database, so it is not written again.
        self._stored: dict[str, Reference] = {}
        self._personal: dict[str, str] = {}

    def remember(self, reference: Reference) -> bool:
        """Keep a reference in memory (no database); False if its service URL is not allowed."""
        if not self.urls.allowed(reference.service_url):
            return False
        self._known[reference.conversation_id] = reference
        if reference.kind == "personal" and reference.user_id:
            self._personal[reference.user_id] = reference.conversation_id
        return True

    async def store(self, reference: Reference, now: datetime) -> None:
        """Keep a reference in the database (the service URL may move: the newest wins);
        written once per process unless it changes, so a message costs no write for it."""
        if not self.remember(reference):
            return
        if self._stored.get(reference.conversation_id) == reference:
            return
        await self._write(reference, now)
        self._stored[reference.conversation_id] = reference

    async def _write(self, reference: Reference, now: datetime) -> None:
        async with self.sessions() as session, session.begin():
            changed = await session.execute(
                update(TeamsConversation)
                .where(TeamsConversation.conversation_id == reference.conversation_id)
                .values(
                    service_url=reference.service_url,
                    tenant_id=reference.tenant_id,
                    user_id=reference.user_id,
                    updated_at=now,
                )
            )
            if changed.rowcount:  # type: ignore[attr-defined]
                return
        try:
            async with self.sessions() as session, session.begin():
                session.add(
                    TeamsConversation(
                        conversation_id=reference.conversation_id,
                        service_url=reference.service_url,
                        tenant_id=reference.tenant_id,
                        kind=reference.kind,
                        user_id=reference.user_id,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            pass  # another request stored it a moment ago: the same conversation

    async def find(self, conversation_id: str) -> Reference | None:
        """The reference for a conversation id, or for a person's personal chat by their id."""
        known = self._known.get(conversation_id)
        if known is None and conversation_id in self._personal:
            known = self._known.get(self._personal[conversation_id])
        if known is not None:
            return known
        async with self.sessions() as session:
            row = await session.scalar(
                select(TeamsConversation).where(
                    TeamsConversation.conversation_id == conversation_id
                )
            )
            if row is None:
                row = await session.scalar(
                    select(TeamsConversation)
                    .where(
                        TeamsConversation.user_id == conversation_id,
                        TeamsConversation.kind == "personal",
                    )
                    .order_by(TeamsConversation.updated_at.desc())
                    .limit(1)
                )
        if row is None:
            return None
        found = Reference(
            row.conversation_id, row.service_url, row.tenant_id, row.kind, row.user_id
        )
        if not self.remember(found):
            log.warning("a stored teams service URL is not allowed now", extra={"id": row.id})
            return None
        return found
