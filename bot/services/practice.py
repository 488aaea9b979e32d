"""Home practice: a plan set after a programme day, and how it went, kept per programme day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import CohortEvent, Person, PracticePlan
from bot.services import attendance
from bot.services.events import DAY

AREAS = ("pacing", "relaxation", "movement", "own")
WHEN = ("tonight", "morning")
OUTCOMES = ("done", "partly", "not")
LAST_DAY = 12
TARGET_MAX_LENGTH = 200
OBSTACLES_MAX_LENGTH = 500


@dataclass(frozen=True)
class Item:
    """One piece of practice: when, which area, the small concrete target, and how it went."""

    when: str
    area: str
    target: str
    outcome: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As stored in `practice_plan.items`."""
        return {
            "when": self.when,
            "area": self.area,
            "target": self.target,
            "outcome": self.outcome,
        }


def items_of(plan: PracticePlan) -> list[Item]:
    """A stored plan's items, tonight's first."""
    stored = plan.items.get("items", []) if isinstance(plan.items, dict) else []
    found = [
        Item(str(i["when"]), str(i["area"]), str(i["target"]), i.get("outcome")) for i in stored
    ]
    return sorted(found, key=lambda item: WHEN.index(item.when) if item.when in WHEN else 9)


async def programme_days(session: AsyncSession, person: Person) -> list[CohortEvent]:
    """The patient's programme days, in order."""
    events = await attendance.patient_events(session, person)
    return sorted((e for e in events if e.kind == DAY), key=lambda e: e.on_date)


def day_to_plan_after(days: list[CohortEvent], today: date) -> CohortEvent | None:
    """The programme day whose evening and next morning a plan made today is for.

    The most recent programme day up to today, unless it was the last (no review follows).
    """
    done = [d for d in days if d.on_date <= today]
    if not done or done[-1].number >= LAST_DAY:
        return None
    return done[-1]


def next_day_after(days: list[CohortEvent], event: CohortEvent) -> CohortEvent | None:
    """The programme day after this one, if any."""
    later = [d for d in days if d.on_date > event.on_date]
    return later[0] if later else None


async def plan_for(session: AsyncSession, person_id: int, event_id: int) -> PracticePlan | None:
    """The plan set after this programme day, if any."""
    return await session.scalar(
        select(PracticePlan).where(
            PracticePlan.person_id == person_id, PracticePlan.event_id == event_id
        )
    )


async def waiting_for_review(
    session: AsyncSession, person: Person, days: list[CohortEvent], today: date
) -> PracticePlan | None:
    """The latest plan for a day before today that has not been looked back on yet."""
    earlier = {d.id: d for d in days if d.on_date < today}
    if not earlier:
        return None
    plans = await session.scalars(
        select(PracticePlan).where(
            PracticePlan.person_id == person.id,
            PracticePlan.event_id.in_(list(earlier)),
            PracticePlan.reviewed_at.is_(None),
        )
    )
    found = [p for p in plans if items_of(p)]
    return max(found, key=lambda p: earlier[p.event_id].on_date) if found else None


async def save_plan(
    session: AsyncSession, person: Person, event: CohortEvent, items: list[Item], now: datetime
) -> PracticePlan:
    """Set (or replace) the plan for the evening and morning after a programme day."""
    plan = await plan_for(session, person.id, event.id)
    stored = {"items": [item.to_json() for item in items]}
    if plan is None:
        plan = PracticePlan(
            person_id=person.id, event_id=event.id, items=stored, created_at=now, updated_at=now
        )
        session.add(plan)
    else:
        plan.items = stored  # a new dict, so SQLAlchemy sees the JSON change
        plan.obstacles = None
        plan.reviewed_at = None
        plan.updated_at = now
    await session.flush()
    return plan


def record_review(
    plan: PracticePlan, outcomes: dict[str, str], obstacles: str | None, now: datetime
) -> list[Item]:
    """Keep how each piece went (by when) and what got in the way."""
    items = [
        Item(i.when, i.area, i.target, outcomes.get(i.when, i.outcome)) for i in items_of(plan)
    ]
    plan.items = {"items": [item.to_json() for item in items]}
    plan.obstacles = obstacles or None
    plan.reviewed_at = now
    plan.updated_at = now
    return items
