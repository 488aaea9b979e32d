"""`pmp questions`, `pmp cohort set-days --qa-time`, the staff `/questions` command, and the
grouping of near-duplicate questions."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import Cohort, DoctorQuestion, OutboxMessage, Person, ScheduledMessage
from bot.services import questions
from bot.services.planner import QA_INVITE
from tests.escalation_support import Team
from tests.helpers import Chat, make_cohort
from tests.scheduler.support import enrol
from tests.test_cli_escalations import cli, refused, run_json, run_ok  # noqa: F401

WHILE_OPEN = datetime(2026, 12, 18, 12, 0, tzinfo=UTC)
AFTER_SESSION = datetime(2026, 12, 22, 13, 0, tzinfo=UTC)


def test_near_duplicates_are_grouped_and_different_questions_are_not() -> None:
    invented = [
        "Will my pain ever go away?",  # 0
        "Can I take ibuprofen with my other medication?",  # 1
        "Is it safe to exercise when it hurts?",  # 2
        "Will the pain ever go away completely?",  # 3: like 0
        "Is ibuprofen safe with my other medicines?",  # 4: like 1
        "How long will the pain last after exercise?",  # 5: shares words, different question
        "Is it safe to exercise when my pain is bad?",  # 6: like 2
        "What causes my pain?",  # 7
        "What is pain?",  # 8: one shared word is not enough
        "Can I drive on my medication?",  # 9
        "Does surgery help back pain?",  # 10
        "Why does my back hurt more in cold weather?",  # 11
    ]
    assert questions.group_similar(invented) == [
        [0, 3],
        [1, 4],
        [2, 6],
        [5],
        [7],
        [8],
        [9],
        [10],
        [11],
    ]
    assert questions.similar("Will my pian ever go away?", "Will my pain ever go away?")
    assert not questions.similar("", "Will my pain ever go away?")


async def _group_with_questions(runtime: Runtime, tag: str = "") -> tuple[Cohort, list[int]]:
    """Robin and Alex of one group: four questions for the doctor (two of Robin's asked
    anonymously), Robin's late one and Alex's withdrawn one."""
    cohort = await make_cohort(runtime)
    robin = await enrol(runtime, cohort, f"robin{tag}", name="Robin")
    alex = await enrol(runtime, cohort, f"alex{tag}", name="Alex")
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        people = {p.id: p for p in await session.scalars(select(Person))}
        made = [
            questions.add_question(session, people[robin], cohort.id, text, share, now, late)
            for text, share, late in (
                ("Will my pain ever go away?", True, False),
                ('=HYPERLINK("http://x") *bold* question', False, False),
                ("Will the pain ever go away completely?", False, False),
                ("A late one about sleep", True, True),
            )
        ]
        made.append(
            questions.add_question(
                session, people[alex], cohort.id, "Can I drive on my medication?", True, now
            )
        )
        withdrawn = questions.add_question(
            session, people[alex], cohort.id, "Withdrawn words", True, now
        )
        withdrawn.status = "withdrawn"
        await session.flush()
        return cohort, [q.id for q in made]


async def test_the_list_in_markdown_names_only_where_allowed(
    cli: CliRunner,  # noqa: F811
    runtime: Runtime,
) -> None:
    cohort, ids = await _group_with_questions(runtime)
    text = await run_ok(cli, "questions", "--cohort", str(cohort.id))
    assert text.startswith(f"# Questions for the doctor: Tuesday Group A (group {cohort.id})")
    assert "Session: Tuesday 22 December 2026 at 11:30" in text
    assert "4 questions." in text
    assert "## 1. Similar questions (2)" in text
    assert f"- Robin: Will my pain ever go away? [#{ids[0]}]" in text
    assert f"- Anonymous: Will the pain ever go away completely? [#{ids[2]}]" in text
    assert "- Alex: Can I drive on my medication?" in text
    assert "\\*bold\\*" in text  # a patient's words are not read as Markdown
    assert "Withdrawn words" not in text and "late one" not in text
    assert text.index("ever go away completely") < text.index("HYPERLINK")  # grouped first

    late = await run_ok(cli, "questions", "--cohort", str(cohort.id), "--late")
    assert "after the deadline, for the team" in late and "Robin: A late one about sleep" in late


async def test_the_list_as_csv_and_json(
    cli: CliRunner,  # noqa: F811
    runtime: Runtime,
) -> None:
    cohort, ids = await _group_with_questions(runtime)
    text = await run_ok(cli, "questions", "--cohort", str(cohort.id), "--csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["id"] for row in rows] == [str(ids[0]), str(ids[2]), str(ids[1]), str(ids[4])]
    assert [row["group"] for row in rows] == ["1", "1", "2", "3"]
    assert [row["name"] for row in rows] == ["Robin", "Anonymous", "Anonymous", "Alex"]
    assert rows[2]["question"].startswith("'=HYPERLINK")  # never run as a formula
    data = await run_json(cli, "questions", "--cohort", str(cohort.id))
    assert [item["id"] for item in data] == [ids[0], ids[2], ids[1], ids[4]]
    assert data[1]["name"] == "Anonymous" and data[1]["status"] == "open"


async def test_bad_list_requests_are_refused(
    cli: CliRunner,  # noqa: F811
    runtime: Runtime,
) -> None:
    assert "Give --cohort" in await refused(cli, "questions")
    assert "There is no group with id 99" in await refused(cli, "questions", "--cohort", "99")
    cohort = await make_cohort(runtime)
    assert "Choose one" in await refused(
        cli, "questions", "--cohort", str(cohort.id), "--csv", "--json"
    )
    assert "--id" in await refused(cli, "questions", "answered", "--cohort", str(cohort.id))


async def test_marking_answered_tells_each_patient_once_outside_quiet_hours(
    cli: CliRunner,  # noqa: F811
    runtime: Runtime,
    clock: ManualClock,
) -> None:
    cohort, ids = await _group_with_questions(runtime)
    clock.set(datetime(2026, 12, 22, 22, 0, tzinfo=UTC))  # 22:00: Robin's quiet hours
    data = await run_json(
        cli, "questions", "answered", "--cohort", str(cohort.id), "--id", str(ids[0]),
        "--id", str(ids[2]), "--id", str(ids[3]),
    )  # fmt: skip
    assert (data["marked"], data["patients_told"], data["not_open"]) == (2, 1, [ids[3]])
    async with runtime.sessions() as session:
        (told,) = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "questions_answered")
            )
        )
        assert told.chat_id == "robin" and told.priority == 2
        assert "Your 2 questions for the doctor were answered" in told.text
        assert told.not_before == datetime(2026, 12, 23, 7, 30, tzinfo=UTC)
    again = await run_ok(cli, "questions", "answered", "--cohort", str(cohort.id), "--all")
    assert "2 question(s) marked answered; 2 patient(s) will be told" in again
    text = await run_ok(cli, "questions", "--cohort", str(cohort.id))
    assert "Will my pain ever go away? (answered)" in text
    async with runtime.sessions() as session:
        statuses = await session.scalars(select(DoctorQuestion.status).order_by(DoctorQuestion.id))
        assert list(statuses) == [
            "answered",
            "answered",
            "answered",
            "open",
            "answered",
            "withdrawn",
        ]


async def test_set_days_takes_the_session_time_and_moves_the_nudges(
    cli: CliRunner,  # noqa: F811
    runtime: Runtime,
) -> None:
    cohort = await make_cohort(runtime)
    await enrol(runtime, cohort, "robin")
    text = await run_ok(cli, "cohort", "set-days", str(cohort.id), "--qa-time", "2pm")
    assert "question-and-answer session on day 10 at 14:00" in text
    async with runtime.sessions() as session:
        stored = await session.get(Cohort, cohort.id)
        assert stored is not None and stored.qa_time == "14:00"
        invite = await session.scalar(
            select(ScheduledMessage).where(ScheduledMessage.slot == QA_INVITE)
        )
        # Questions now close at 14:00 the day before the session.
        assert invite is not None
        assert invite.send_until == datetime(2026, 12, 21, 14, 0, tzinfo=UTC)
    output = await refused(cli, "cohort", "set-days", str(cohort.id), "--qa-time", "25:99")
    assert "is not a time" in output


@pytest.fixture
def open_now(clock: ManualClock) -> None:
    clock.set(WHILE_OPEN)


async def test_staff_get_the_list_as_a_document(
    team: Team, runtime: Runtime, open_now: None
) -> None:
    cohort, ids = await _group_with_questions(runtime)
    await team.staff.command("questions")
    assert "It follows as a file" in team.staff.text
    await team.dispatcher.drain()
    (document,) = [r for r in team.desk.chats["staff-1"] if r.document_name]
    assert document.document_name == f"questions-group-{cohort.id}-2026-12-18.md"
    assert f"- Robin: Will my pain ever go away? [#{ids[0]}]" in document.text
    async with runtime.sessions() as session:
        # Sent, and not kept: the list is made afresh from the database when asked.
        kept = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.document_name.is_not(None))
        )
        assert kept is None


async def test_with_several_groups_staff_choose_one_by_its_id(
    team: Team, runtime: Runtime, open_now: None
) -> None:
    first, _ids = await _group_with_questions(runtime)
    second, _more = await _group_with_questions(runtime, "-2")
    await team.staff.command("questions")
    assert f"/questions {first.id}  Tuesday Group A (4 questions)" in team.staff.text
    assert f"/questions {second.id}" in team.staff.text
    await team.staff.command("questions", str(second.id))
    assert f"(group {second.id}): 4 questions" in team.staff.text
    # The file goes through the outbox; what is said next waits behind it, to keep order.
    await team.dispatcher.drain()
    (document,) = [r for r in team.desk.chats["staff-1"] if r.document_name]
    assert f"group {second.id}" in document.text
    await team.staff.command("questions", "99")
    assert 'There is no group "99"' in team.staff.text


async def test_with_no_questions_staff_are_told_so(team: Team, open_now: None) -> None:
    await team.staff.command("questions")
    assert "No group has questions for the doctor just now" in team.staff.text


async def test_a_patient_cannot_use_the_staff_command(
    patient: Chat, runtime: Runtime, open_now: None
) -> None:
    await patient.command("questions")
    assert "I don't know that command" in patient.text
    async with runtime.sessions() as session:
        assert (
            await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "document"))
            is None
        )


async def test_an_answered_question_leaves_the_patients_own_list(
    cli: CliRunner,  # noqa: F811
    runtime: Runtime,
    clock: ManualClock,
) -> None:
    cohort, _ids = await _group_with_questions(runtime)
    clock.set(AFTER_SESSION)
    await run_ok(cli, "questions", "answered", "--cohort", str(cohort.id), "--all")
    async with runtime.sessions() as session:
        robin = await session.scalar(select(Person).where(Person.channel_user_id == "robin"))
        assert robin is not None
        assert await questions.own_questions(session, robin) == []
