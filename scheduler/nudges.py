"""What the programme's own flows need to word a nudge when it falls due."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Content
from bot.db.models import Cohort, CohortEvent, Person, ScheduledMessage
from bot.messages import Reply


@dataclass(frozen=True)
class NudgeContext:
    """A due flow nudge (home practice, questions, thought challenge) and what it is about."""

    session: AsyncSession
    content: Content
    tz: ZoneInfo
    reminder: ScheduledMessage
    person: Person
    event: CohortEvent | None  # None for a thought challenge's own nudges
    cohort: Cohort | None
    now: datetime


# Words a due nudge, or returns None when it is no longer needed (they already sent their
# questions, already reflected): the reminder is then recorded as skipped, not sent.
NudgeRenderer = Callable[[NudgeContext], Awaitable[Reply | None]]
