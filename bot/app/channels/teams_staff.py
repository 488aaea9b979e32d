"""Who is staff in Teams, decided on every activity from the console's accounts."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app.channels.teams_conversations import Reference
from bot.config import Settings
from bot.db.models import StaffAccount

# How long an email looked up for a Teams account is trusted before asking again.
EMAIL_CACHE_SECONDS = 600
EMAIL_CACHE_SIZE = 10_000


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
