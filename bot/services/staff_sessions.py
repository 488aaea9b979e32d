"""Signed-in console sessions, kept on the server, and forms that must act only once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import FormUse, StaffAccount, StaffSession

# last_seen_at is written at most this often: a page of many requests is not many writes.
SEEN_EVERY = timedelta(seconds=30)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_token() -> str:
    """A random token for a cookie, a form or a CSRF check."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Lifetime:
    """How long a session lasts: idle, and at most."""

    idle: timedelta
    absolute: timedelta


async def start(session: AsyncSession, account: StaffAccount, now: datetime) -> str:
    """A new session for the account; returns the cookie's key (only its hash is kept)."""
    key = new_token()
    session.add(
        StaffSession(
            key_hash=_hash(key),
            account_id=account.id,
            csrf_token=new_token(),
            created_at=now,
            last_seen_at=now,
        )
    )
    return key


async def find(
    session: AsyncSession, key: str, now: datetime, lifetime: Lifetime
) -> tuple[StaffSession, StaffAccount] | None:
    """The live session and its enabled account for a cookie's key; one that timed out, or
    whose account was disabled, is ended here."""
    if not key or len(key) > 100:
        return None
    row = (
        await session.execute(
            select(StaffSession, StaffAccount)
            .join(StaffAccount, StaffAccount.id == StaffSession.account_id)
            .where(StaffSession.key_hash == _hash(key))
        )
    ).first()
    if row is None:
        return None
    found, account = row
    expired = now - found.last_seen_at > lifetime.idle or now - found.created_at > lifetime.absolute
    if expired or account.disabled_at is not None:
        await session.delete(found)
        return None
    return found, account


async def write_first(session: AsyncSession, key: str) -> None:
    """Begin a request that will write with a write: on SQLite the transaction then holds the
    write lock from its first statement (waiting its turn for it), instead of reading first
    and failing at once when another request wrote in between."""
    await session.execute(
        update(StaffSession)
        .where(StaffSession.key_hash == _hash(key))
        .values(last_seen_at=StaffSession.last_seen_at)
        .execution_options(synchronize_session=False)
    )


async def touch(session: AsyncSession, found: StaffSession, now: datetime) -> None:
    """Note the session was used now (at most every SEEN_EVERY). Called last in a request, so
    on SQLite the write lock it takes is held only until the commit that follows."""
    if now - found.last_seen_at > SEEN_EVERY:
        await session.execute(
            update(StaffSession)
            .where(StaffSession.id == found.id)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )


async def end(session: AsyncSession, key: str) -> None:
    """Sign out: the cookie's key works no more."""
    await session.execute(delete(StaffSession).where(StaffSession.key_hash == _hash(key)))


async def end_all(session: AsyncSession, account_id: int) -> None:
    """End every session of an account (disabled, or its role changed)."""
    await session.execute(delete(StaffSession).where(StaffSession.account_id == account_id))


async def end_others(session: AsyncSession, account_id: int, keep_id: int) -> None:
    """End every session of an account but this one (their password changed)."""
    await session.execute(
        delete(StaffSession).where(
            StaffSession.account_id == account_id, StaffSession.id != keep_id
        )
    )


async def first_use(
    session: AsyncSession, form_key: str, account: StaffAccount, now: datetime
) -> FormUse | None:
    """Record that a form was sent; None (and nothing recorded) if it was sent before, in which
    case the earlier use says where it went. Runs in a savepoint so the turn goes on."""
    use = FormUse(form_key=form_key[:64], account_id=account.id, at=now)
    try:
        async with session.begin_nested():
            session.add(use)
    except IntegrityError:
        return None
    return use


async def earlier_use(session: AsyncSession, form_key: str) -> FormUse | None:
    """The first use of a form sent twice."""
    found: FormUse | None = await session.scalar(
        select(FormUse).where(FormUse.form_key == form_key[:64])
    )
    return found
