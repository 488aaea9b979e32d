"""Enrolled people: look-ups and enrolment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Person
from bot.numbers import whole_number

PRIVACY_VERSION = "2026-11"
NAME_MAX_LENGTH = 40


def clean_name(text: str) -> str | None:
    """A name as the person wants to be called, or None when it cannot be one."""
    name = " ".join(text.split())
    if not name or len(name) > NAME_MAX_LENGTH:
        return None
    if name.startswith("/"):
        return None
    # Refuse names with no letters at all (only digits, punctuation or emoji): likely a mis-tap.
    if not any(char.isalpha() for char in name):
        return None
    return name


async def enrol(
    session: AsyncSession,
    *,
    role: str,
    cohort_id: int | None,
    display_name: str,
    channel: str,
    user_id: str,
    chat_id: str,
    now: datetime,
) -> Person:
    """Store a newly enrolled person; consent is recorded for patients."""
    person = Person(
        role=role,
        cohort_id=cohort_id,
        display_name=display_name,
        channel=channel,
        channel_user_id=user_id,
        chat_id=chat_id,
        consented_at=now if role == "patient" else None,
        privacy_version=PRIVACY_VERSION if role == "patient" else None,
        created_at=now,
    )
    session.add(person)
    await session.flush()
    return person


async def patients_of(session: AsyncSession, cohort_id: int) -> list[Person]:
    """The patients who have joined a group, in the order they joined."""
    found = await session.scalars(
        select(Person)
        .where(Person.cohort_id == cohort_id, Person.role == "patient")
        .order_by(Person.id)
    )
    return list(found)


async def find_account(session: AsyncSession, channel: str, user_id: str) -> Person | None:
    """The person enrolled with this account, if any."""
    found: Person | None = await session.scalar(
        select(Person).where(Person.channel == channel, Person.channel_user_id == user_id)
    )
    return found


def reference(person: Person) -> str:
    """The short reference staff notices use instead of a name (P7)."""
    return f"P{person.id}"


def staff_reference(person: Person) -> str:
    """The reference in a notice to staff, marked when the patient has been discharged, so
    nobody plans care for them as if they were still on the programme (P7 (discharged))."""
    return reference(person) + (" (discharged)" if person.discharged_at is not None else "")


def parse_reference(text: str) -> int | None:
    """'P7', 'p7' or '7' → 7; None if it is not a reference."""
    return whole_number(text.strip().upper().removeprefix("P"))


async def find_patient(session: AsyncSession, reference: str) -> Person | None:
    """The patient with this reference, if there is one."""
    person_id = parse_reference(reference)
    if person_id is None:
        return None
    person = await session.get(Person, person_id)
    return person if person is not None and person.role == "patient" else None
