"""Staff accounts of the console: add, change, disable, and sign in with a throttle."""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AuditEvent, SignInAttempt, StaffAccount

ROLES = ("clinician", "admin")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 takes any length; a megabyte would only cost us time
# One network address may fail this many times more than one account before it is locked.
ADDRESS_FACTOR = 4
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}$")
_hasher = PasswordHasher()
# Checked when the account does not exist, so a wrong address takes as long as a wrong
# password and the timing tells nothing.
_DUMMY_HASH = _hasher.hash("not a password of anyone's")


class AccountError(ValueError):
    """A request to add or change an account that cannot be carried out; says why."""


def clean_email(text: str) -> str | None:
    """The address in lower case, or None if it is not one."""
    email = text.strip().lower()
    return email if len(email) <= 254 and _EMAIL.match(email) else None


def email_hash(text: str) -> str:
    """What sign-in tries are kept by: not the address itself."""
    return hashlib.sha256(text.strip().lower().encode()).hexdigest()


def hash_password(password: str) -> str:
    """An argon2 hash; refuses a password too short to be safe."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"The password must be at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"The password must be at most {MAX_PASSWORD} characters.")
    return _hasher.hash(password)


async def add_account(
    session: AsyncSession,
    email: str,
    name: str,
    role: str,
    password: str | None,
    now: datetime,
    chosen_by_them: bool = False,
) -> StaffAccount:
    """A new account; the address must be new too. A password an admin gave them must be
    changed at their first sign-in, unless they chose it themselves (`chosen_by_them`)."""
    clean = clean_email(email)
    if clean is None:
        raise AccountError("That is not an email address.")
    name = " ".join(name.split())
    if not name or len(name) > 80:
        raise AccountError("Give a name of 1 to 80 characters.")
    if role not in ROLES:
        raise AccountError("The role is clinician or admin.")
    if await session.scalar(select(StaffAccount.id).where(StaffAccount.email == clean)):
        raise AccountError("There is already an account with that email address.")
    account = StaffAccount(
        email=clean,
        name=name,
        role=role,
        password_hash=hash_password(password) if password is not None else None,
        created_at=now,
        password_changed_at=now if chosen_by_them else None,
    )
    session.add(account)
    await session.flush()
    return account


async def admins_left(session: AsyncSession, without: int) -> int:
    """How many enabled admins there are besides account `without`. Their rows stay locked
    until the transaction ends, so two admins demoting each other at once cannot both pass."""
    admins = await session.scalars(
        select(StaffAccount.id)
        .where(StaffAccount.role == "admin", StaffAccount.disabled_at.is_(None))
        .with_for_update()
    )
    return sum(1 for account_id in admins if account_id != without)


class SignIn(StrEnum):
    """How a sign-in went; the page says the same for a wrong address and a wrong password."""

    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"


@dataclass(frozen=True)
class Throttle:
    """Failures allowed in a window, per typed address and (more) per network address."""

    failures: int = 5
    window: timedelta = timedelta(minutes=15)

    async def locked(self, session: AsyncSession, key: str, address: str, now: datetime) -> bool:
        """Whether this address or network address failed too often lately."""
        since = now - self.window
        by_account = await session.scalar(
            select(func.count())
            .select_from(SignInAttempt)
            .where(
                SignInAttempt.email_hash == key,
                SignInAttempt.at > since,
                SignInAttempt.succeeded.is_(False),
            )
        )
        if (by_account or 0) >= self.failures:
            return True
        by_address = await session.scalar(
            select(func.count())
            .select_from(SignInAttempt)
            .where(
                SignInAttempt.address == address,
                SignInAttempt.at > since,
                SignInAttempt.succeeded.is_(False),
            )
        )
        return (by_address or 0) >= self.failures * ADDRESS_FACTOR


async def sign_in(
    session: AsyncSession,
    email: str,
    password: str,
    address: str,
    now: datetime,
    throttle: Throttle,
) -> tuple[SignIn, StaffAccount | None]:
    """Check an address and password, counting the try; locked accounts are refused even with
    the right password, and an address that has no account is counted like one that has."""
    key = email_hash(email)
    address = address[:64]
    # Tries for one address wait for each other here, so many at once cannot all be counted
    # before any is recorded (and get round the limit).
    await _one_at_a_time(session, key)
    if await throttle.locked(session, key, address, now):
        session.add(AuditEvent(at=now, action="sign_in_locked", detail=f"from {address}"))
        return SignIn.LOCKED, None
    clean = clean_email(email)
    account = None
    if clean is not None:
        account = await session.scalar(select(StaffAccount).where(StaffAccount.email == clean))
    # An account that signs in with Microsoft has no password here, and takes none.
    usable = (
        account is not None
        and account.disabled_at is None
        and account.password_hash
        and account.entra_object_id is None
    )
    stored = account.password_hash if usable and account is not None else None
    # argon2 takes tens of milliseconds on purpose: in a thread, not on the bot's event loop.
    verified = await asyncio.to_thread(_verify, stored, password[:MAX_PASSWORD])
    session.add(SignInAttempt(email_hash=key, address=address, at=now, succeeded=verified))
    if not verified or account is None:
        session.add(AuditEvent(at=now, action="sign_in_failed", detail=f"from {address}"))
        return SignIn.WRONG, None
    if stored is not None and _hasher.check_needs_rehash(stored):
        account.password_hash = _hasher.hash(password)
    session.add(
        AuditEvent(at=now, account_id=account.id, action="signed_in", detail=f"from {address}")
    )
    return SignIn.OK, account


async def change_password(
    session: AsyncSession, account: StaffAccount, current: str, new: str, now: datetime
) -> str | None:
    """Change their own password: None when done, else what is wrong (in plain words)."""
    if not account.password_hash or not await asyncio.to_thread(
        _verify, account.password_hash, current[:MAX_PASSWORD]
    ):
        return "current"
    if new == current:
        return "same"
    try:
        account.password_hash = hash_password(new)
    except AccountError:
        return "short" if len(new) < MIN_PASSWORD else "long"
    account.password_changed_at = now
    audit(session, account, "changed_password", now, f"account:{account.id}")
    return None


def _verify(stored: str | None, password: str) -> bool:
    """Whether the password matches the hash (checked against a dummy when there is none)."""
    try:
        _hasher.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return stored is not None


async def _one_at_a_time(session: AsyncSession, key: str) -> None:
    """Hold a lock for this email hash until the transaction ends: a PostgreSQL advisory lock,
    or on SQLite the database's single write lock, taken by a write."""
    if session.get_bind().dialect.name == "postgresql":
        lock = int(key[:15], 16)  # 60 bits of the hash: fits a bigint
        await session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": lock})
    else:
        await session.execute(
            update(SignInAttempt).where(SignInAttempt.id == -1).values(succeeded=False)
        )


def audit(
    session: AsyncSession,
    account: StaffAccount | None,
    action: str,
    now: datetime,
    target: str | None = None,
    detail: str | None = None,
) -> None:
    """Add a line to the console's audit log (ids only: never a patient's name or words)."""
    session.add(
        AuditEvent(
            at=now,
            account_id=account.id if account is not None else None,
            action=action[:40],
            target=target[:80] if target else None,
            detail=detail[:200] if detail else None,
        )
    )
