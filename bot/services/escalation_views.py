"""Escalations as staff look at them: listed, filtered, urgent first, with their timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVarTuple

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from bot.db.models import Cohort, Escalation, EscalationEvent, Person, StaffAccount
from bot.numbers import whole_number
from bot.services.escalations import OPEN, SOMEONE_ELSE, TAKEN_AS_YES, is_urgent
from bot.services.people import reference

FILTERS = ("open", "waiting", "mine", "resolved", "all")
# A page lists at most this many, the most pressing first; the rest by filter or group.
PAGE_SIZE = 50
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class Found:
    """The most pressing escalations of a filter, and how many there are in all."""

    items: list[Listed]
    total: int


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


def _filtered(query: Select[*Ts], which: str, actor_key: str, cohort_id: int | None) -> Select[*Ts]:
    """The rows a filter and a group choose (the query joins Person)."""
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
    return query


# How pressing, in SQL, so the database picks a page's worth: not yet acknowledged, then
# acknowledged, then resolved; urgent first (as is_urgent decides); the longest waiting first.
_STAGE = case((Escalation.status.in_(OPEN), 0), (Escalation.status == "acknowledged", 1), else_=2)
_URGENT = case(
    (Escalation.urgent.is_(True), 0),
    (
        and_(
            Escalation.risk == "crisis",
            func.coalesce(Escalation.concern, "") != SOMEONE_ELSE,
        ),
        0,
    ),
    (Escalation.check_answer.in_(TAKEN_AS_YES), 0),
    else_=1,
)
_WAITING_SINCE = case(
    (Escalation.status.in_(OPEN), Escalation.created_at),
    (Escalation.status == "acknowledged", Escalation.acknowledged_at),
    else_=None,
)


async def listed(
    session: AsyncSession,
    now: datetime,
    which: str = "open",
    actor_key: str = "",
    cohort_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> Found:
    """Escalations by filter: open ones not yet acknowledged come first, urgent before the
    rest, then the longest waiting (resolved ones newest first); the first `limit` of them,
    and how many there are."""
    page = _filtered(
        select(Escalation, Person.id, Person.display_name, Cohort.name)
        .join(Person, Person.id == Escalation.person_id)
        .outerjoin(Cohort, Cohort.id == Person.cohort_id),
        which,
        actor_key,
        cohort_id,
    )
    # A list never shows the patient's words or the outcome: not read at all.
    page = page.options(defer(Escalation.details), defer(Escalation.outcome))
    page = page.order_by(
        _STAGE, _URGENT, _WAITING_SINCE, Escalation.resolved_at.desc(), Escalation.id.desc()
    ).limit(limit)
    rows = (await session.execute(page)).all()
    total = len(rows)
    if total == limit:
        counted = _filtered(
            select(func.count())
            .select_from(Escalation)
            .join(Person, Person.id == Escalation.person_id),
            which,
            actor_key,
            cohort_id,
        )
        total = int(await session.scalar(counted) or 0)
    items = [
        Listed(
            escalation=escalation,
            reference=f"P{person_id}",
            first_name=name,
            group=group or "",
            urgent=is_urgent(escalation),
            waited=_waited(escalation, now),
        )
        for escalation, person_id, name, group in rows
    ]
    return Found(items, total)


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
    accounts = {
        number for k in keys if k.startswith("web:") and (number := whole_number(k[4:])) is not None
    }
    if accounts:
        found = await session.execute(
            select(StaffAccount.id, StaffAccount.name).where(StaffAccount.id.in_(accounts))
        )
        names |= {f"web:{account_id}": name for account_id, name in found}
    telegram = {k[9:] for k in keys if k.startswith("telegram:")}
    if telegram:
        linked = await session.execute(
            select(StaffAccount.telegram_user_id, StaffAccount.name).where(
                StaffAccount.telegram_user_id.in_(telegram)
            )
        )
        names |= {f"telegram:{user_id}": name for user_id, name in linked}
    chat_keys = {
        k for k in keys if ":" in k and not k.startswith(("web:", "cli:")) and k not in names
    }
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
        elif channel == "msteams":
            # A press in the Teams channel: the step's own line says who, where it matters
            # ("Acknowledged by ..."); a Teams id means nothing to a reader.
            names[key] = "someone in Teams"
    return names


async def count_acknowledged(session: AsyncSession) -> int:
    """How many are acknowledged and not yet resolved."""
    found = await session.scalar(
        select(func.count()).select_from(Escalation).where(Escalation.status == "acknowledged")
    )
    return int(found or 0)
