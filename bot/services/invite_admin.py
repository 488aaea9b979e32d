"""Revoking joining codes from the console, and telling a revoked code from an expired one.

An invite has no state of its own for "revoked": revoking ends it now (expires_at = now), so
the bot refuses it as it refuses any expired code, and the audit line written in the same
transaction is what marks it as revoked rather than run out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEvent, Invite, StaffAccount
from bot.services import invites, staff_accounts

REVOKED_ACTION = "revoked_invite"
STATES = ("unused", "declined", "used", "expired", "revoked")


class Revoked(StrEnum):
    """What became of a request to revoke a code."""

    DONE = "done"
    USED = "used"  # someone joined with it: it cannot be taken back
    ENDED = "ended"  # it had expired or been revoked already


def target(invite: Invite) -> str:
    """How the audit log names an invite."""
    return f"invite:{invite.id}"


async def revoke(
    session: AsyncSession, account: StaffAccount, invite: Invite, now: datetime
) -> Revoked:
    """End a code now, unless it has been used; the same change a patient's claim races with
    is made conditionally, so exactly one of the two wins."""
    if invite.used_at is not None:
        return Revoked.USED
    result = await session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.used_at.is_(None), Invite.expires_at > now)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(invite)
    if not result.rowcount:  # type: ignore[attr-defined]
        return Revoked.USED if invite.used_at is not None else Revoked.ENDED
    staff_accounts.audit(session, account, REVOKED_ACTION, now, target(invite))
    return Revoked.DONE


async def revoked_ids(session: AsyncSession, found: Iterable[Invite]) -> set[int]:
    """Which of these invites were revoked (rather than left to expire)."""
    targets = {target(invite): invite.id for invite in found}
    if not targets:
        return set()
    rows = await session.scalars(
        select(AuditEvent.target).where(
            AuditEvent.action == REVOKED_ACTION, AuditEvent.target.in_(list(targets))
        )
    )
    return {targets[name] for name in rows if name is not None}


def state(invite: Invite, now: datetime, revoked: set[int]) -> str:
    """'unused', 'declined' (still usable), 'used', 'expired' or 'revoked'."""
    found = invites.status(invite, now)
    return "revoked" if found == "expired" and invite.id in revoked else found
