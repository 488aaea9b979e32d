"""Questions for the doctor: when they open and close, a patient's own questions, the list
the doctor reads (near-duplicates grouped), and telling patients theirs were answered."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from difflib import SequenceMatcher
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Content
from bot.db.models import Cohort, CohortEvent, DoctorQuestion, OutboxMessage, Person
from bot.messages import Reply
from bot.services.events import DAY, events_of
from bot.services.outbox import after_quiet_hours, outbox_row, patient_message
from bot.services.planner import QA_INVITE_TIME, FlowTimes, qa_deadline, qa_time
from bot.time.times import at

MAX_LENGTH = 500
# Enough for anything a patient wants to ask in one session; it keeps the doctor's list
# readable and stops a stuck client filling it.
MAX_OPEN_PER_PATIENT = 10
OPEN, WITHDRAWN, ANSWERED = "open", "withdrawn", "answered"
OPEN_NOW, CLOSED, OVER = "open", "closed", "over"
ANONYMOUS = "Anonymous"


@dataclass(frozen=True)
class Window:
    """A group's doctor's session and when questions for it open and close."""

    cohort: Cohort
    event: CohortEvent
    qa_at: datetime
    opens: datetime
    deadline: datetime

    def phase(self, now: datetime) -> str:
        """ "open" from joining until the deadline (`opens` is only when the invitation comes),
        "closed" (the session is still to come) or "over"."""
        if now < self.deadline:
            return OPEN_NOW
        if now < self.qa_at:
            return CLOSED
        return OVER


def window_for_event(
    content: Content, cohort: Cohort, event: CohortEvent, times: FlowTimes, tz: ZoneInfo
) -> Window | None:
    """The window of the session on this event, if the event holds it."""
    starts = qa_time(content, event, cohort)
    if starts is None:
        return None
    qa_at = at(event.on_date, starts, tz)
    opens = at(event.on_date - timedelta(days=times.open_days), QA_INVITE_TIME, tz)
    return Window(cohort, event, qa_at, opens, qa_deadline(qa_at, times))


async def window_of(
    session: AsyncSession, content: Content, cohort: Cohort, times: FlowTimes, tz: ZoneInfo
) -> Window | None:
    """The group's doctor's session, if its calendar has the day that holds it."""
    for event in await events_of(session, cohort):
        if event.kind == DAY and event.number == cohort.qa_day:
            return window_for_event(content, cohort, event, times, tz)
    return None


def clean_text(text: str) -> str | None:
    """A question tidied (runs of blank space closed up), or None if there is nothing to ask:
    no words at all, only emoji or punctuation."""
    tidy = re.sub(r"[ \t]+", " ", text).strip()
    return tidy if any(character.isalnum() for character in tidy) else None


async def own_questions(session: AsyncSession, person: Person) -> list[DoctorQuestion]:
    """A patient's questions on the doctor's list (not withdrawn, not late), oldest first."""
    return list(
        await session.scalars(
            select(DoctorQuestion)
            .where(
                DoctorQuestion.person_id == person.id,
                DoctorQuestion.status == OPEN,
                DoctorQuestion.late.is_(False),
            )
            .order_by(DoctorQuestion.id)
        )
    )


async def own_question(
    session: AsyncSession, person: Person, question_id: int
) -> DoctorQuestion | None:
    """One of the patient's own open questions for the doctor; None for anyone else's."""
    found = await session.get(DoctorQuestion, question_id)
    if found is None or found.person_id != person.id or found.status != OPEN or found.late:
        return None
    return found


def add_question(
    session: AsyncSession,
    person: Person,
    cohort_id: int,
    text: str,
    share_name: bool,
    now: datetime,
    late: bool = False,
) -> DoctorQuestion:
    """Save a question (a late one goes to the team, not on the doctor's list)."""
    question = DoctorQuestion(
        person_id=person.id,
        cohort_id=cohort_id,
        text=text,
        share_name=share_name,
        status=OPEN,
        late=late,
        created_at=now,
        updated_at=now,
    )
    session.add(question)
    return question


# --- The doctor's list ------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9']+")
# Words that say nothing about what is asked: two questions sharing only these are not alike.
_STOP_WORDS = (
    "a an the i i'm im me my mine we our you your it it's its is are was were be been am do "
    "does did can could would should will shall to of in on at for with and or but if so that "
    "this there what when why how who which any anything about from have has had get got "
    "please doctor dr"
)
_STOP = frozenset(_STOP_WORDS.split())
# Two questions are near-duplicates when they share at least two content words (words cut
# to their first five letters, so "medication" and "medicines" meet) and those are at least
# 0.4 of all their content words (Jaccard): "Will my pain ever go away?" and "Will the pain
# ever go away completely?" share 4 of 5; "Is it safe to exercise when it hurts?" and "... when
# my pain is bad?" 2 of 5. Or when their wording as a whole is very alike (difflib ratio at
# least 0.8: small rephrasings and spelling slips). Tuned on invented questions (see
# tests/test_cli_questions.py): lower, questions on different topics that share "pain" and
# one other word were grouped; higher, plain rephrasings were missed. Grouping only places
# questions together; each stays on the list in the patient's own words.
SHARED_WORDS = 2
JACCARD_THRESHOLD = 0.4
RATIO_THRESHOLD = 0.8
_STEM = 5


def _normal(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _content_words(text: str) -> frozenset[str]:
    return frozenset(word[:_STEM] for word in _WORD.findall(text.lower()) if word not in _STOP)


def similar(first: str, second: str) -> bool:
    """Whether two questions ask much the same thing."""
    matcher = SequenceMatcher(None, _normal(first), _normal(second))
    return _alike(_content_words(first), _content_words(second), matcher)


def _alike(words_a: frozenset[str], words_b: frozenset[str], matcher: SequenceMatcher[str]) -> bool:
    """Enough content words shared, or the letters much the same (the matcher holds both)."""
    shared = len(words_a & words_b)
    if shared >= SHARED_WORDS and shared / len(words_a | words_b) >= JACCARD_THRESHOLD:
        return True
    # The cheap upper bounds first: most pairs are told apart without the full comparison.
    return (
        matcher.real_quick_ratio() >= RATIO_THRESHOLD
        and matcher.quick_ratio() >= RATIO_THRESHOLD
        and matcher.ratio() >= RATIO_THRESHOLD
    )


def group_similar(texts: Sequence[str]) -> list[list[int]]:
    """Indexes of the texts, grouped with their near-duplicates (a chain of likeness joins a
    group); groups keep the order of their first question."""
    parent = list(range(len(texts)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    # Each text is read once, not once a pair; the matcher keeps what it learnt of the later.
    words = [_content_words(text) for text in texts]
    normal = [_normal(text) for text in texts]
    matcher: SequenceMatcher[str] = SequenceMatcher(None)
    for later in range(len(texts)):
        matcher.set_seq2(normal[later])
        for earlier in range(later):
            if root(earlier) == root(later):
                continue
            matcher.set_seq1(normal[earlier])
            if _alike(words[earlier], words[later], matcher):
                parent[root(later)] = root(earlier)
    groups: dict[int, list[int]] = {}
    for index in range(len(texts)):
        groups.setdefault(root(index), []).append(index)
    return sorted(groups.values(), key=lambda members: members[0])


@dataclass(frozen=True)
class ListedQuestion:
    """One question as the doctor's list shows it."""

    id: int
    group: int
    name: str  # the patient's first name where they allowed it, else "Anonymous"
    text: str
    status: str
    late: bool
    sent_at: datetime

    def to_json(self, tz: ZoneInfo) -> dict[str, Any]:
        """For `--json`."""
        return {
            "id": self.id,
            "group": self.group,
            "name": self.name,
            "question": self.text,
            "status": self.status,
            "late": self.late,
            "sent_local": f"{self.sent_at.astimezone(tz):%Y-%m-%d %H:%M}",
        }


async def doctor_list(
    session: AsyncSession, cohort_id: int, late: bool = False
) -> list[ListedQuestion]:
    """The group's questions (open and answered), near-duplicates next to each other; with
    `late`, the ones sent after the deadline for the team instead."""
    rows = list(
        await session.execute(
            select(DoctorQuestion, Person.display_name)
            .join(Person, Person.id == DoctorQuestion.person_id)
            .where(
                DoctorQuestion.cohort_id == cohort_id,
                DoctorQuestion.status.in_((OPEN, ANSWERED)),
                DoctorQuestion.late.is_(late),
            )
            .order_by(DoctorQuestion.id)
        )
    )
    listed = []
    for number, members in enumerate(group_similar([q.text for q, _name in rows]), start=1):
        for index in members:
            question, name = rows[index]
            listed.append(
                ListedQuestion(
                    question.id,
                    number,
                    name if question.share_name else ANONYMOUS,
                    question.text,
                    question.status,
                    question.late,
                    question.created_at,
                )
            )
    return listed


def as_markdown(
    content: Content,
    cohort: Cohort,
    window: Window | None,
    listed: Sequence[ListedQuestion],
    late: bool = False,
) -> str:
    """The list as a Markdown document (its words are in content/questions/doctor_list.j2)."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for item in listed:
        groups.setdefault(item.group, []).append(
            {
                "id": item.id,
                "name": _markdown_safe(item.name),
                "text": _markdown_safe(item.text),
                "status": item.status,
            }
        )
    return (
        content.env.get_template("questions/doctor_list.j2")
        .render(
            cohort=cohort,
            window=window,
            groups=list(groups.values()),
            count=len(listed),
            late=late,
        )
        .strip()
        + "\n"
    )


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def _markdown_safe(text: str) -> str:
    """A patient's words on one line, with nothing in them read as Markdown."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def as_csv(listed: Sequence[ListedQuestion], tz: ZoneInfo) -> str:
    """The list as CSV, one question a row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "group", "name", "question", "status", "late", "sent"])
    for item in listed:
        data = item.to_json(tz)
        writer.writerow(
            [
                item.id,
                item.group,
                _cell(item.name),
                _cell(item.text),
                item.status,
                "yes" if item.late else "no",
                data["sent_local"],
            ]
        )
    return out.getvalue()


def _cell(text: str) -> str:
    """A spreadsheet must not run a patient's words as a formula ("=HYPERLINK(...)")."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def groups_with_open_questions(session: AsyncSession) -> list[tuple[Cohort, int]]:
    """Groups with questions waiting for the doctor, and how many each has."""
    found = await session.execute(
        select(Cohort, func.count(DoctorQuestion.id))
        .join(DoctorQuestion, DoctorQuestion.cohort_id == Cohort.id)
        .where(DoctorQuestion.status == OPEN, DoctorQuestion.late.is_(False))
        .group_by(Cohort.id)
        .order_by(Cohort.id)
    )
    return [(cohort, int(count)) for cohort, count in found]


def document_row(channel: str, chat_id: str, name: str, text: str, now: datetime) -> OutboxMessage:
    """An outbox row that delivers `text` as a file called `name` (the doctor's list)."""
    return outbox_row(
        channel=channel, chat_id=chat_id, kind="document", text=text, now=now, document_name=name
    )


def document_name(cohort: Cohort, now: datetime, tz: ZoneInfo, suffix: str = "md") -> str:
    """A file name that says which group and when: questions-group-3-2026-12-16.md."""
    return f"questions-group-{cohort.id}-{now.astimezone(tz):%Y-%m-%d}.{suffix}"


# --- After the session --------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    """What marking questions answered did."""

    marked: int
    patients_told: int
    not_found: tuple[int, ...]


async def _session_over(
    session: AsyncSession, content: Content, cohort_id: int, tz: ZoneInfo, now: datetime
) -> bool:
    """Whether the group's doctor's session has begun (False when it is not known)."""
    cohort = await session.get(Cohort, cohort_id)
    if cohort is None:
        return False
    for event in await events_of(session, cohort):
        if event.kind == DAY and event.number == cohort.qa_day:
            starts = qa_time(content, event, cohort)
            return starts is not None and now >= at(event.on_date, starts, tz)
    return False


async def mark_answered(
    session: AsyncSession,
    content: Content,
    tz: ZoneInfo,
    cohort_id: int,
    question_ids: Sequence[int] | None,
    now: datetime,
) -> Answered:
    """Mark the group's open questions (these, or all) answered; tell each patient once."""
    query = select(DoctorQuestion).where(
        DoctorQuestion.cohort_id == cohort_id,
        DoctorQuestion.status == OPEN,
        DoctorQuestion.late.is_(False),
    )
    if question_ids is not None:
        query = query.where(DoctorQuestion.id.in_(list(question_ids)))
    found = list(await session.scalars(query.order_by(DoctorQuestion.id)))
    missing = tuple(sorted(set(question_ids or ()) - {q.id for q in found}))
    by_person: dict[int, int] = {}
    for question in found:
        question.status = ANSWERED
        question.answered_at = now
        question.updated_at = now
        by_person[question.person_id] = by_person.get(question.person_id, 0) + 1
    people = await session.scalars(select(Person).where(Person.id.in_(list(by_person))))
    # "At the session" only once it has happened: a question answered before it is not.
    after_session = await _session_over(session, content, cohort_id, tz, now) if found else False
    rows = []
    for person in people:
        if person.discharged_at is not None:
            continue
        text = content.render(
            "questions/answered",
            name=person.display_name,
            count=by_person[person.id],
            after_session=after_session,
        )
        not_before = after_quiet_hours(person, now, tz)
        rows.append(patient_message(person, "questions_answered", Reply(text), not_before, now))
    session.add_all(rows)
    await session.flush()
    return Answered(len(found), len(rows), missing)
