"""Words and names the console's Reminders page puts next to `pmp reminders`' facts."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Person
from bot.numbers import whole_number
from bot.services import planner

# What each reminder is, for staff; a slot not named here is shown as stored.
SLOTS = {
    planner.EVENING: "Evening before",
    planner.MORNING: "Morning of the day",
    planner.WEEK_BEFORE: "A week before",
    planner.DAY_BEFORE: "The day before",
    planner.DISCHARGE: "Discharge message",
    planner.PRACTICE_PLAN: "Set home practice",
    planner.PRACTICE_CHECK: "Home practice: how did it go?",
    planner.PRACTICE_WEEKEND: "Weekend home-practice check-in",
    planner.QA_INVITE: "Questions for the doctor are open",
    planner.QA_REMINDER: "Questions for the doctor close soon",
    planner.CHALLENGE_NUDGE: "Thought challenge nudge",
    planner.CHALLENGE_REFLECT: "Thought challenge reflection",
}


def slot_words(slot: str) -> str:
    """What a reminder is, in words."""
    return SLOTS.get(slot, slot.replace("_", " "))


async def first_names(session: AsyncSession, references: Iterable[str]) -> dict[str, str]:
    """The first name of each patient reference ("P12"), for those that name a person."""
    ids = {n for ref in references if ref[:1] == "P" and (n := whole_number(ref[1:])) is not None}
    if not ids:
        return {}
    found = await session.execute(
        select(Person.id, Person.display_name).where(Person.id.in_(sorted(ids)))
    )
    return {f"P{person_id}": name for person_id, name in found}
