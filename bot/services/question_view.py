"""The doctor's list as the console shows it: near-duplicates together, names only where the
patient allowed, late questions apart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import DoctorQuestion
from bot.numbers import whole_number
from bot.services.questions import OPEN, ListedQuestion, doctor_list


@dataclass(frozen=True)
class Shown:
    """One question: the first name only where the patient allowed it (else None)."""

    id: int
    first_name: str | None
    text: str
    status: str
    sent_at: datetime

    @property
    def is_open(self) -> bool:
        """Still waiting for the doctor."""
        return self.status == OPEN


@dataclass(frozen=True)
class Alike:
    """Questions that ask much the same thing (often one on its own)."""

    number: int
    questions: list[Shown]


@dataclass(frozen=True)
class GroupQuestions:
    """A group's doctor's list and the questions sent too late for it."""

    alike: list[Alike]
    late: list[Shown]

    @property
    def open_count(self) -> int:
        """How many are still waiting for the doctor."""
        return sum(q.is_open for group in self.alike for q in group.questions)

    @property
    def count(self) -> int:
        """How many are on the doctor's list, open or answered."""
        return sum(len(group.questions) for group in self.alike)


async def group_questions(session: AsyncSession, cohort_id: int) -> GroupQuestions:
    """The group's questions, grouped as the doctor's list groups them."""
    listed = await doctor_list(session, cohort_id)
    late = await doctor_list(session, cohort_id, late=True)
    # Who allowed their name is read from the question itself, not the list's "Anonymous":
    # a patient may be called that.
    ids = [item.id for item in [*listed, *late]]
    named: set[int] = set()
    if ids:
        named = set(
            await session.scalars(
                select(DoctorQuestion.id).where(
                    DoctorQuestion.id.in_(ids), DoctorQuestion.share_name.is_(True)
                )
            )
        )
    alike: dict[int, list[Shown]] = {}
    for item in listed:
        alike.setdefault(item.group, []).append(_shown(item, named))
    return GroupQuestions(
        [Alike(number, shown) for number, shown in alike.items()],
        [_shown(item, named) for item in late],
    )


def _shown(item: ListedQuestion, named: set[int]) -> Shown:
    return Shown(
        item.id, item.name if item.id in named else None, item.text, item.status, item.sent_at
    )


def chosen_ids(values: Sequence[str]) -> list[int] | None:
    """Question ids sent by a form, or None if any is not a whole number."""
    found = [whole_number(value) for value in values]
    return None if None in found else [n for n in found if n is not None]
