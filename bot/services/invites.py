"""Single-use joining codes that expire, and the deep links that carry them."""

from __future__ import annotations

import enum
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Cohort, Invite
from bot.safety.screening import default_screen
from bot.services.events import day_dates, events_of, nice
from bot.time.times import at

# No 0/O, 1/I/L: codes are read out over the phone and typed by people in pain.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
ROLES = ("patient", "staff")
_CODE_RE = re.compile(rf"^[{ALPHABET}]{{{CODE_LENGTH}}}$")


def new_code() -> str:
    """A random code from the unambiguous alphabet that the risk screen reads as nothing:
    about 1 in 240 random codes looks to its classifier like words worth a safety question,
    which a patient typing their code should never be asked."""
    screen = default_screen()
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        if not screen.screen(pretty_code(code)).needs_check and not screen.screen(code).needs_check:
            return code


def normalise_code(text: str) -> str | None:
    """Turn what someone typed ('abcd-efgh', ' ABCD EFGH ') into a code, or None."""
    candidate = re.sub(r"[\s\-_]", "", text).upper()
    return candidate if _CODE_RE.match(candidate) else None


def pretty_code(code: str) -> str:
    """'ABCD-EFGH': easier to read aloud."""
    return f"{code[:4]}-{code[4:]}"


def deep_link(bot_username: str, code: str) -> str:
    """The Telegram link that opens the bot with `/start <code>`."""
    return f"https://t.me/{bot_username}?start={code}"


class InviteError(ValueError):
    """Invites that cannot be made, with a plain reason for staff."""


def expiry(now: datetime, valid_days: int, first_day: date, tz: ZoneInfo) -> datetime:
    """When a new code stops working: after `valid_days`, and never before the end of the
    group's first day (local), so someone invited early can still join before it starts."""
    end_of_first_day = at(first_day + timedelta(days=1), time(0), tz)
    return max(now + timedelta(days=valid_days), end_of_first_day)


class InviteState(enum.Enum):
    """What a code turned out to be when someone used it."""

    VALID = "valid"
    NOT_FOUND = "not_found"
    USED = "used"
    EXPIRED = "expired"


@dataclass(frozen=True)
class InviteCheck:
    """The verdict on a code, with the invite when there is one."""

    state: InviteState
    invite: Invite | None = None


async def create_invites(
    session: AsyncSession,
    cohort_id: int,
    role: str,
    count: int,
    now: datetime,
    valid_days: int,
    tz: ZoneInfo,
) -> list[Invite]:
    """Make `count` fresh codes for a group whose programme has not ended."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not 1 <= count <= 200:
        raise ValueError("count must be between 1 and 200")
    cohort = await session.get(Cohort, cohort_id)
    if cohort is None:
        raise InviteError(f"There is no group with id {cohort_id}.")
    days = day_dates(await events_of(session, cohort))
    if days[-1] < now.astimezone(tz).date():
        raise InviteError(
            f"Group {cohort_id} ({cohort.name}) has finished: its last day was {nice(days[-1])}."
            " Invite people to a group that has not finished."
        )
    expires_at = expiry(now, valid_days, days[0], tz)
    invites = [
        Invite(
            code=new_code(),
            cohort_id=cohort_id,
            role=role,
            created_at=now,
            expires_at=expires_at,
        )
        for _ in range(count)
    ]
    session.add_all(invites)
    await session.flush()
    return invites


async def check_code(session: AsyncSession, code: str, now: datetime) -> InviteCheck:
    """Look a code up and say whether it can still be used."""
    invite = await session.scalar(select(Invite).where(Invite.code == code))
    if invite is None:
        return InviteCheck(InviteState.NOT_FOUND)
    if invite.used_at is not None:
        return InviteCheck(InviteState.USED, invite)
    if invite.expires_at <= now:
        return InviteCheck(InviteState.EXPIRED, invite)
    return InviteCheck(InviteState.VALID, invite)


async def claim(session: AsyncSession, invite_id: int, person_id: int, now: datetime) -> bool:
    """Mark an invite used; False when someone else claimed it first (conditional update)."""
    result = await session.execute(
        update(Invite)
        .where(Invite.id == invite_id, Invite.used_at.is_(None), Invite.expires_at > now)
        .values(used_at=now, used_by_person_id=person_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def record_decline(session: AsyncSession, invite_id: int, now: datetime) -> None:
    """Note that the invite was declined; the code stays usable if they change their mind."""
    await session.execute(update(Invite).where(Invite.id == invite_id).values(declined_at=now))


def status(invite: Invite, now: datetime) -> str:
    """'used', 'expired', 'declined' (still usable) or 'unused'."""
    if invite.used_at is not None:
        return "used"
    if invite.expires_at <= now:
        return "expired"
    return "declined" if invite.declined_at is not None else "unused"


async def invites_for_cohort(session: AsyncSession, cohort_id: int) -> list[Invite]:
    """Every invite of a group, oldest first."""
    result = await session.scalars(
        select(Invite).where(Invite.cohort_id == cohort_id).order_by(Invite.id)
    )
    return list(result)
