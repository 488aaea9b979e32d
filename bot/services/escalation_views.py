"""Escalations as staff look at them: listed, filtered, urgent first, with their timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from bot.db.models import Cohort, Escalation, EscalationEvent, Person, StaffAccount
from bot.services.escalations import OPEN, is_urgent
from bot.services.people import reference

FILTERS = ("open", "waiting", "mine", "resolved", "all")
# A page lists at most this many; the rest by filter or group.
PAGE_SIZE = 100


@dataclass(frozen=True)
class Listed:
    """One escalation in a list: enough to triage, never the patient's words."""

    escalation: Escalation
    reference: str
    first_name: str
    group: str
    urgent: bool
    waited: timedelta

    @property
    def id(self) -> int:
        """The escalation's number."""
        return self.escalation.id


def _waited(escalation: Escalation, now: datetime) -> timedelta:
    """How long it has waited for the step it needs next."""
    if escalation.status in OPEN:
        return now - escalation.created_at
    if escalation.status == "acknowledged" and escalation.acknowledged_at is not None:
        return now - escalation.acknowledged_at
    end = escalation.resolved_at or now
    return end - escalation.created_at


def _query(which: str, actor_key: str, cohort_id: int | None) -> Select[Escalation, Person]:
    query = select(Escalation, Person).join(Person, Person.id == Escalation.person_id)
    if which == "open":
        query = query.where(Escalation.status != "resolved")
    elif which == "waiting":
        query = query.where(Escalation.status.in_(OPEN))
    elif which == "resolved":
        query = query.where(Escalation.status == "resolved")
    elif which == "mine":
        acted = select(EscalationEvent.escalation_id).where(EscalationEvent.actor == actor_key)
        query = query.where(Escalation.id.in_(acted))
    if cohort_id is not None:
        query = query.where(Person.cohort_id == cohort_id)
    # A list never shows the patient's words or the outcome: not read at all.
    query = query.options(defer(Escalation.details), defer(Escalation.outcome))
    return query.order_by(Escalation.id.desc()).limit(PAGE_SIZE)


async def listed(
    session: AsyncSession,
    now: datetime,
    which: str = "open",
    actor_key: str = "",
    cohort_id: int | None = None,
) -> list[Listed]:
    """Escalations by filter: open ones not yet acknowledged come first, urgent before the
    rest, then the longest waiting."""
    rows = (await session.execute(_query(which, actor_key, cohort_id))).all()
    names: dict[int, str] = {}
    if rows:
        cohorts = await session.execute(select(Cohort.id, Cohort.name))
        names = {cohort_id: name for cohort_id, name in cohorts}
    found = [
        Listed(
            escalation=escalation,
            reference=reference(person),
            first_name=person.display_name,
            group=names.get(person.cohort_id or 0, ""),
            urgent=is_urgent(escalation),
            waited=_waited(escalation, now),
        )
        for escalation, person in rows
    ]

    def order(item: Listed) -> tuple[int, int, float]:
        stage = {"reported": 0, "alerted": 0, "acknowledged": 1}.get(item.escalation.status, 2)
        return stage, 0 if item.urgent else 1, -item.waited.total_seconds()

    return sorted(found, key=order)


async def one(session: AsyncSession, escalation_id: int, now: datetime) -> Listed | None:
    """One escalation with its person and group."""
    row = (
        await session.execute(
            select(Escalation, Person, Cohort.name)
            .join(Person, Person.id == Escalation.person_id)
            .outerjoin(Cohort, Cohort.id == Person.cohort_id)
            .where(Escalation.id == escalation_id)
        )
    ).first()
    if row is None:
        return None
    escalation, person, group = row
    return Listed(
        escalation,
        reference(person),
        person.display_name,
        group or "",
        is_urgent(escalation),
        _waited(escalation, now),
    )


async def timeline(session: AsyncSession, escalation_id: int) -> list[EscalationEvent]:
    """Its audit trail, oldest first."""
    found = await session.scalars(
        select(EscalationEvent)
        .where(EscalationEvent.escalation_id == escalation_id)
        .order_by(EscalationEvent.id)
    )
    return list(found)


async def actor_names(session: AsyncSession, keys: list[str]) -> dict[str, str]:
    """People's names for the audit trail's actor keys ("web:3", "telegram:5001", "system")."""
    names = {"system": "PMP Companion"}
    accounts = {int(k[4:]) for k in keys if k.startswith("web:") and k[4:].isdigit()}
    if accounts:
        found = await session.execute(
            select(StaffAccount.id, StaffAccount.name).where(StaffAccount.id.in_(accounts))
        )
        names |= {f"web:{account_id}": name for account_id, name in found}
    chat_keys = {k for k in keys if ":" in k and not k.startswith(("web:", "cli:"))}
    for key in chat_keys:
        channel, user_id = key.split(":", 1)
        person = await session.scalar(
            select(Person).where(Person.channel == channel, Person.channel_user_id == user_id)
        )
        if person is not None:
            names[key] = (
                f"{person.display_name} (staff)"
                if person.role == "staff"
                else f"the patient ({reference(person)})"
            )
    return names


async def count_acknowledged(session: AsyncSession) -> int:
    """How many are acknowledged and not yet resolved."""
    found = await session.scalar(
        select(func.count()).select_from(Escalation).where(Escalation.status == "acknowledged")
    )
    return int(found or 0)
