"""A review reminder offers only what makes sense for its moment."""

from __future__ import annotations

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.db.models import Cohort, CohortEvent, Person
from bot.services.planner import DAY_BEFORE, WEEK_BEFORE
from dialogs.flows import NUDGE_RENDERERS
from scheduler.reminders import ReminderReleaser
from tests.helpers import enrol_patient


async def test_the_week_before_a_review_offers_no_running_late(runtime: Runtime) -> None:
    await enrol_patient(runtime)
    async with runtime.sessions() as session:
        person = await session.scalar(select(Person).where(Person.role == "patient"))
        assert person is not None and person.cohort_id is not None
        cohort = await session.get(Cohort, person.cohort_id)
        review = await session.scalar(
            select(CohortEvent).where(
                CohortEvent.cohort_id == person.cohort_id,
                CohortEvent.kind == "review",
                CohortEvent.number == 1,
            )
        )
        assert cohort is not None and review is not None
    releaser = ReminderReleaser(
        runtime.sessions, runtime.content, runtime.settings.tz, NUDGE_RENDERERS
    )
    week = releaser.render(WEEK_BEFORE, person, review, cohort)
    day = releaser.render(DAY_BEFORE, person, review, cohort)
    assert [b.label for row in week.buttons for b in row] == ["I'll be there", "Can't make it"]
    assert [b.label for row in day.buttons for b in row] == [
        "I'll be there",
        "Running late",
        "Can't make it",
    ]
