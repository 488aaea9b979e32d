"""The friends-and-family day: the day's details, patients' invitations and their guests."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.content import Content
from bot.db.models import Cohort, CohortEvent, Conversation, FamilyGuest, OutboxMessage, Person
from bot.services.events import events_of
from bot.services.outbox import SETTLED
from bot.services.planner import sessions_of
from bot.time.times import parse_clock

# A guest's link is `/start g_<token>`: the prefix tells it from a joining code.
LINK_PREFIX = "g_"
# 16 random bytes: 22 URL-safe characters, within the column and Telegram's 64-character payload.
TOKEN_BYTES = 16
ACCESS_MAX_LENGTH = 500
QUESTION_MAX_LENGTH = 1000
COMING, NOT_COMING = "yes", "no"


@dataclass(frozen=True)
class FamilyDay:
    """A group's friends-and-family day: its date, its own sessions and when they begin."""

    cohort: Cohort
    event: CohortEvent
    sessions: list[dict[str, str]]
    starts_at: datetime  # the first family session, UTC

    @property
    def on_date(self) -> date:
        """The day's date."""
        return self.event.on_date

    def closed(self, now: datetime) -> bool:
        """Once the family sessions have begun, invitations and replies are closed."""
        return now >= self.starts_at


def family_sessions(content: Content, event: CohortEvent, cohort: Cohort) -> list[dict[str, str]]:
    """The sessions guests come to: those the family-day timetable adds to the usual day."""
    qa_day = cohort.qa_day == event.number
    usual = content.day_sessions(event.number, qa_day=qa_day)
    family = content.day_sessions(event.number, qa_day=qa_day, family_day=True)
    titles = {session["title"] for session in family if session not in usual}
    # Matched by title, not position: the doctor's session may be moved to another time.
    timed = sessions_of(content, event, cohort)
    own = [session for session in timed if session["title"] in titles]
    return own or timed


async def family_day(
    session: AsyncSession, content: Content, tz: ZoneInfo, cohort_id: int | None
) -> FamilyDay | None:
    """The group's friends-and-family day, or None if the group or its date is unknown."""
    cohort = await session.get(Cohort, cohort_id) if cohort_id is not None else None
    if cohort is None:
        return None
    # events_of also makes the calendar of a group created before calendars were stored.
    events = await events_of(session, cohort)
    event = next((e for e in events if e.kind == "day" and e.number == cohort.family_day), None)
    return day_of(content, tz, cohort, event) if event is not None else None


def day_of(content: Content, tz: ZoneInfo, cohort: Cohort, event: CohortEvent) -> FamilyDay:
    """The family day of a group whose family-day event is already loaded."""
    sessions = family_sessions(content, event, cohort)
    first = parse_clock(sessions[0]["time"]) if sessions else None
    starts = datetime.combine(event.on_date, first or time(13, 30), tzinfo=tz)
    return FamilyDay(cohort, event, sessions, starts.astimezone(UTC))


def new_token() -> str:
    """A guest link's secret: unguessable, and short enough for a Telegram start payload."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def guest_link(bot_username: str, token: str) -> str:
    """The personal link a patient forwards to one guest."""
    return f"https://t.me/{bot_username}?start={LINK_PREFIX}{token}"


def token_of(start_payload: str) -> str | None:
    """The token in a `/start g_<token>` payload, or None if it is not a guest link."""
    payload = start_payload.strip()
    if not payload.startswith(LINK_PREFIX) or len(payload) <= len(LINK_PREFIX):
        return None
    return payload[len(LINK_PREFIX) :]


async def guests_of(session: AsyncSession, person_id: int) -> list[FamilyGuest]:
    """A patient's invitations, oldest first."""
    return list(
        await session.scalars(
            select(FamilyGuest).where(FamilyGuest.person_id == person_id).order_by(FamilyGuest.id)
        )
    )


async def invite(
    session: AsyncSession, person: Person, cohort_id: int, now: datetime, max_guests: int
) -> FamilyGuest | None:
    """A new invitation, or None when the patient has already invited as many as allowed."""
    made = await session.scalar(
        select(func.count()).select_from(FamilyGuest).where(FamilyGuest.person_id == person.id)
    )
    if (made or 0) >= max_guests:
        return None
    guest = FamilyGuest(person_id=person.id, cohort_id=cohort_id, token=new_token(), created_at=now)
    session.add(guest)
    await session.flush()
    return guest


async def withdraw(session: AsyncSession, person_id: int, guest_id: int) -> bool:
    """Delete an invitation of this patient that nobody has opened; False if there is none."""
    result = await session.execute(
        delete(FamilyGuest).where(
            FamilyGuest.id == guest_id,
            FamilyGuest.person_id == person_id,
            FamilyGuest.opened_at.is_(None),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def by_token(session: AsyncSession, token: str) -> FamilyGuest | None:
    """The invitation a link names."""
    return await session.scalar(select(FamilyGuest).where(FamilyGuest.token == token))


async def of_account(session: AsyncSession, channel: str, user_id: str) -> FamilyGuest | None:
    """The invitation this messaging account opened, if any."""
    return await session.scalar(
        select(FamilyGuest).where(
            FamilyGuest.channel == channel, FamilyGuest.channel_user_id == user_id
        )
    )


async def claim(
    session: AsyncSession,
    guest: FamilyGuest,
    channel: str,
    user_id: str,
    chat_id: str,
    now: datetime,
) -> bool:
    """Make this account the owner of the link; False if someone else opened it first.

    Conditional, so two people opening the same link at once cannot both own it.
    """
    result = await session.execute(
        update(FamilyGuest)
        .where(FamilyGuest.id == guest.id, FamilyGuest.channel_user_id.is_(None))
        .values(channel=channel, channel_user_id=user_id, chat_id=chat_id, opened_at=now)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.refresh(guest)
    return True


def status(guest: FamilyGuest) -> str:
    """Where an invitation stands: not_opened, no_answer, coming or not_coming."""
    if guest.opened_at is None:
        return "not_opened"
    if guest.reply is None:
        return "no_answer"
    return "coming" if guest.reply == COMING else "not_coming"


async def cohort_guests(
    session: AsyncSession, cohort_id: int
) -> list[tuple[Person, list[FamilyGuest]]]:
    """Each patient of a group with their invitations (none for some)."""
    patients = list(
        await session.scalars(
            select(Person)
            .where(Person.cohort_id == cohort_id, Person.role == "patient")
            .order_by(Person.id)
        )
    )
    guests = await session.scalars(
        select(FamilyGuest).where(FamilyGuest.cohort_id == cohort_id).order_by(FamilyGuest.id)
    )
    by_person: dict[int, list[FamilyGuest]] = {person.id: [] for person in patients}
    for guest in guests:
        by_person.setdefault(guest.person_id, []).append(guest)
    return [(person, by_person[person.id]) for person in patients]


def family_day_event() -> ColumnElement[bool]:
    """Join condition: the programme-day event that is its group's friends-and-family day."""
    return and_(
        CohortEvent.cohort_id == Cohort.id,
        CohortEvent.kind == "day",
        CohortEvent.number == Cohort.family_day,
    )


async def purge_guests(session: AsyncSession, today: date, keep: timedelta) -> int:
    """Delete guests (and their dialog state and settled messages) `keep` after their day.

    Returns how many guests were deleted.
    """
    past = (
        select(
            FamilyGuest.id, FamilyGuest.channel, FamilyGuest.channel_user_id, FamilyGuest.chat_id
        )
        .join(Cohort, Cohort.id == FamilyGuest.cohort_id)
        .join(CohortEvent, family_day_event())
        .where(CohortEvent.on_date < today - keep)
    )
    ids: list[int] = []
    accounts: list[tuple[str, str]] = []
    chats: list[tuple[str, str]] = []
    for guest_id, channel, user_id, chat_id in await session.execute(past):
        ids.append(guest_id)
        if channel is not None and user_id is not None and chat_id is not None:
            accounts.append((channel, user_id))
            chats.append((channel, chat_id))
    if not ids:
        return 0
    await _forget_accounts(session, accounts, chats)
    await session.execute(delete(FamilyGuest).where(FamilyGuest.id.in_(ids)))
    return len(ids)


async def _forget_accounts(
    session: AsyncSession,
    accounts: Sequence[tuple[str, str]],
    chats: Sequence[tuple[str, str]],
) -> None:
    """A guest's dialog state, and messages to them that are settled, go with them."""
    for channel, user_id in accounts:
        # Someone who has since joined the programme keeps their own dialog state.
        enrolled = await session.scalar(
            select(Person.id).where(Person.channel == channel, Person.channel_user_id == user_id)
        )
        if enrolled is None:
            await session.execute(
                delete(Conversation).where(
                    Conversation.channel == channel, Conversation.channel_user_id == user_id
                )
            )
    for channel, chat_id in chats:
        await session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.channel == channel,
                OutboxMessage.chat_id == chat_id,
                OutboxMessage.person_id.is_(None),
                OutboxMessage.status.in_(SETTLED),
            )
        )
