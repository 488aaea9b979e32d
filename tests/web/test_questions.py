"""Questions for the doctor in the console: the list, marking answered, CSV and Markdown."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.db.models import AuditEvent, Cohort, DoctorQuestion, OutboxMessage, Person
from bot.services import questions
from tests.dialogs.test_questions import ask
from tests.helpers import Chat, make_cohort
from tests.scheduler.support import enrol
from tests.web.support import Browser, unsigned

HOSTILE = '<script>alert("x")</script> هل سيختفي الألم؟ *bold* [link](http://x)'


async def group_with_questions(runtime: Runtime) -> tuple[Cohort, dict[str, int]]:
    """Robin asks through the bot with her name; more questions as the dialog saves them:
    an anonymous near-duplicate, hostile words, Alex's own, a late one and a withdrawn one."""
    cohort = await make_cohort(runtime)
    robin_id = await enrol(runtime, cohort, "robin", name="Robin")
    alex_id = await enrol(runtime, cohort, "alex", name="Alex")
    robin = Chat(runtime, user_id="robin")
    await ask(robin, "Will my pain ever go away?", "Say my first name with it")
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        robin_p, alex_p = await session.get(Person, robin_id), await session.get(Person, alex_id)
        assert robin_p is not None and alex_p is not None
        made = {
            "alike": questions.add_question(
                session, robin_p, cohort.id, "Will the pain ever go away completely?", False, now
            ),
            "hostile": questions.add_question(session, alex_p, cohort.id, HOSTILE, False, now),
            "alex": questions.add_question(
                session, alex_p, cohort.id, "Can I drive on my medication?", True, now
            ),
            "late": questions.add_question(
                session, alex_p, cohort.id, "A late one about sleep", True, now, late=True
            ),
            "withdrawn": questions.add_question(
                session, alex_p, cohort.id, "Withdrawn words", True, now
            ),
        }
        made["withdrawn"].status = "withdrawn"
        await session.flush()
        ids = {name: q.id for name, q in made.items()}
        first = await session.scalar(
            select(DoctorQuestion.id).where(DoctorQuestion.text == "Will my pain ever go away?")
        )
        assert first is not None
        ids["first"] = first
    return cohort, ids


def block(html: str, question_id: int) -> str:
    """The part of the page about one question."""
    found = re.search(rf'id="question-{question_id}">(.*?)</div>', html, re.S)
    assert found, f"question {question_id} is not on the page"
    return found.group(1)


def form_key(html: str, suffix: str) -> str:
    found = re.search(rf'name="form_key" value="([^"]+-{suffix})"', html)
    assert found, f"no form {suffix}"
    return found.group(1)


async def statuses(runtime: Runtime) -> dict[int, str]:
    async with runtime.sessions() as session:
        return {q.id: q.status for q in await session.scalars(select(DoctorQuestion))}


async def told(runtime: Runtime) -> list[str]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "questions_answered")
            .order_by(OutboxMessage.id)
        )
        return [row.chat_id for row in rows]


async def audit_lines(runtime: Runtime, action: str) -> list[tuple[str | None, str | None]]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
        return [(r.target, r.detail) for r in rows]


async def test_groups_with_open_questions_are_listed(runtime: Runtime, browser: Browser) -> None:
    empty = await browser.client.get("/questions")
    assert "No group has questions waiting for the doctor." in empty.text
    cohort, _ids = await group_with_questions(runtime)
    page = await browser.client.get("/questions")
    assert page.status_code == 200
    row = re.search(r'<a href="/questions/(\d+)">.*?</a></td>\s*<td[^>]*>(\d+)</td>', page.text)
    assert row is not None and row.groups() == (str(cohort.id), "4")


async def test_the_list_groups_alike_names_only_where_allowed_and_late_apart(
    runtime: Runtime, browser: Browser
) -> None:
    cohort, ids = await group_with_questions(runtime)
    page = await browser.client.get(f"/questions/{cohort.id}")
    assert page.status_code == 200
    html = page.text
    assert "4 questions, 4 not answered yet." in html
    assert "1. Similar questions (2)" in html
    assert html.index("ever go away completely") < html.index("alert")  # grouped first
    assert 'Asked by <span class="pmp-text">Robin</span>' in block(html, ids["first"])
    # Robin asked this one anonymously: her name is not beside it.
    assert "Robin" not in block(html, ids["alike"])
    assert "Asked anonymously" in block(html, ids["alike"])
    assert 'Asked by <span class="pmp-text">Alex</span>' in block(html, ids["alex"])
    assert "Withdrawn words" not in html
    doctor_list, late = html.split("Sent after the deadline")
    assert "A late one about sleep" in late and "A late one" not in doctor_list
    assert "Mark all 4 open questions answered" in html
    assert await audit_lines(runtime, "viewed_questions") == [(f"cohort:{cohort.id}", None)]


async def test_patients_words_are_shown_literally_and_kept_inert_in_the_files(
    runtime: Runtime, browser: Browser
) -> None:
    cohort, ids = await group_with_questions(runtime)
    page = await browser.client.get(f"/questions/{cohort.id}")
    assert "<script>alert" not in page.text
    shown = block(page.text, ids["hostile"])
    assert (
        '<p class="pmp-words nhsuk-u-margin-bottom-2">&lt;script&gt;alert(&#34;x&#34;)'
        "&lt;/script&gt; هل سيختفي الألم؟ *bold* [link](http://x)</p>"
    ) in shown
    table = await browser.client.get(f"/questions/{cohort.id}.csv")
    rows = list(csv.DictReader(io.StringIO(table.content.decode("utf-8-sig"))))
    (hostile,) = [row for row in rows if row["id"] == str(ids["hostile"])]
    assert hostile["question"] == HOSTILE and hostile["name"] == "Anonymous"
    text = (await browser.client.get(f"/questions/{cohort.id}.md")).text
    assert "\\<script\\>" in text and "<script>" not in text
    assert "\\*bold\\* \\[link\\](http://x)" in text and "هل سيختفي الألم؟" in text


async def test_a_formula_in_a_question_is_not_run_by_a_spreadsheet(
    runtime: Runtime, browser: Browser
) -> None:
    cohort = await make_cohort(runtime)
    person_id = await enrol(runtime, cohort, "robin", name="=cmd|' /C calc'!A0")
    async with runtime.sessions() as session, session.begin():
        person = await session.get(Person, person_id)
        assert person is not None
        questions.add_question(
            session, person, cohort.id, '=HYPERLINK("http://x","y")', True, runtime.clock.now()
        )
    table = await browser.client.get(f"/questions/{cohort.id}.csv")
    (row,) = csv.DictReader(io.StringIO(table.content.decode("utf-8-sig")))
    assert row["question"] == '\'=HYPERLINK("http://x","y")'
    assert row["name"].startswith("'=")


async def test_downloads_are_files_with_the_groups_name_and_are_recorded(
    runtime: Runtime, browser: Browser
) -> None:
    cohort, ids = await group_with_questions(runtime)
    table = await browser.client.get(f"/questions/{cohort.id}.csv")
    assert table.status_code == 200
    assert table.headers["content-type"] == "text/csv; charset=utf-8"
    assert table.headers["content-disposition"] == (
        f'attachment; filename="questions-group-{cohort.id}-2026-11-26.csv"'
    )
    assert table.content.startswith(b"\xef\xbb\xbfid,group,name,question,status,late,sent\r\n")
    rows = list(csv.DictReader(io.StringIO(table.content.decode("utf-8-sig"))))
    assert [row["id"] for row in rows] == [
        str(ids[n]) for n in ("first", "alike", "hostile", "alex")
    ]
    assert [row["name"] for row in rows] == ["Robin", "Anonymous", "Anonymous", "Alex"]
    document = await browser.client.get(f"/questions/{cohort.id}.md")
    assert document.headers["content-type"] == "text/markdown; charset=utf-8"
    assert document.headers["content-disposition"] == (
        f'attachment; filename="questions-group-{cohort.id}-2026-11-26.md"'
    )
    assert document.text.startswith(
        f"# Questions for the doctor: Tuesday Group A (group {cohort.id})"
    )
    assert f"- Robin: Will my pain ever go away? [#{ids['first']}]" in document.text
    assert "late one" not in document.text and "Withdrawn" not in document.text
    assert await audit_lines(runtime, "downloaded_questions") == [
        (f"cohort:{cohort.id}", "csv, 4 questions"),
        (f"cohort:{cohort.id}", "md, 4 questions"),
    ]


async def test_a_group_with_no_questions_downloads_an_empty_list(
    runtime: Runtime, browser: Browser
) -> None:
    cohort = await make_cohort(runtime)
    table = await browser.client.get(f"/questions/{cohort.id}.csv")
    assert table.status_code == 200
    assert table.content == b"\xef\xbb\xbfid,group,name,question,status,late,sent\r\n"
    document = await browser.client.get(f"/questions/{cohort.id}.md")
    assert document.status_code == 200 and "0 questions." in document.text
    page = await browser.client.get(f"/questions/{cohort.id}")
    assert "No questions on the list yet." in page.text and "Mark all" not in page.text


async def test_marking_one_answered_acts_once_however_often_it_is_sent(
    runtime: Runtime, browser: Browser
) -> None:
    cohort, ids = await group_with_questions(runtime)
    page = await browser.client.get(f"/questions/{cohort.id}")
    fields = {"question": str(ids["first"]), "form_key": form_key(page.text, str(ids["first"]))}
    first = await browser.post(f"/questions/{cohort.id}/answered", fields)
    again = await browser.post(f"/questions/{cohort.id}/answered", fields)  # a double click
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert unsigned(first.headers["location"]) == f"/questions/{cohort.id}?marked=1&told=1"
    after = await statuses(runtime)
    assert after[ids["first"]] == "answered"
    assert [after[ids[n]] for n in ("alike", "hostile", "alex", "late")] == ["open"] * 4
    assert await told(runtime) == ["robin"]
    assert await audit_lines(runtime, "marked_answered") == [
        (f"cohort:{cohort.id}", f"1 marked (#{ids['first']})")
    ]
    shown = await browser.client.get(first.headers["location"])
    assert "1 question marked answered. 1 patient will be told (not at night)." in shown.text
    assert "Answered" in block(shown.text, ids["first"])
    assert "Mark answered" not in block(shown.text, ids["first"])
    # The same question from a page opened before: a new form, but nothing left to change.
    late = await browser.post(
        f"/questions/{cohort.id}/answered",
        {"question": str(ids["first"]), "form_key": "an-older-page-" + str(ids["first"])},
    )
    assert unsigned(late.headers["location"]) == f"/questions/{cohort.id}?marked=0&told=0"
    shown = await browser.client.get(late.headers["location"])
    assert "Nothing changed: that question was already marked answered." in shown.text
    assert await told(runtime) == ["robin"]


async def test_marking_all_answered_leaves_late_questions_alone(
    runtime: Runtime, browser: Browser
) -> None:
    cohort, ids = await group_with_questions(runtime)
    page = await browser.client.get(f"/questions/{cohort.id}")
    fields = {"all": "yes", "form_key": form_key(page.text, "all")}
    done = await browser.post(f"/questions/{cohort.id}/answered", fields)
    assert unsigned(done.headers["location"]) == f"/questions/{cohort.id}?marked=4&told=2"
    await browser.post(f"/questions/{cohort.id}/answered", fields)  # a double click
    after = await statuses(runtime)
    assert [after[ids[n]] for n in ("first", "alike", "hostile", "alex")] == ["answered"] * 4
    assert after[ids["late"]] == "open" and after[ids["withdrawn"]] == "withdrawn"
    assert sorted(await told(runtime)) == ["alex", "robin"]
    shown = await browser.client.get(done.headers["location"])
    assert "4 questions marked answered. 2 patients will be told" in shown.text
    assert "Mark all" not in shown.text and "0 not answered yet" in shown.text
    assert len(await audit_lines(runtime, "marked_answered")) == 1
    listed = await browser.client.get("/questions")
    assert "No group has questions waiting for the doctor." in listed.text


async def test_bad_marking_requests_change_nothing(runtime: Runtime, browser: Browser) -> None:
    cohort, ids = await group_with_questions(runtime)
    other = await make_cohort(runtime)
    before = await statuses(runtime)
    for fields in ({}, {"question": "abc"}, {"question": ""}, {"all": "no"}, {"question": "²"}):
        response = await browser.post(
            f"/questions/{cohort.id}/answered", {**fields, "form_key": "k" + str(len(fields))}
        )
        assert response.status_code == 400, fields
        assert "Choose a question to mark answered" in response.text
    # Another group's question, a late one and one that does not exist: none of this group's
    # open questions.
    for number, question in enumerate((ids["first"], ids["late"], 999999)):
        response = await browser.post(
            f"/questions/{other.id if number == 0 else cohort.id}/answered",
            {"question": str(question), "form_key": f"x{number}"},
        )
        assert response.status_code == 303 and "marked=0" in unsigned(response.headers["location"])
    no_key = await browser.post(f"/questions/{cohort.id}/answered", {"all": "yes"})
    assert no_key.status_code == 403
    no_csrf = await browser.client.post(
        f"/questions/{cohort.id}/answered", data={"all": "yes", "form_key": "y"}
    )
    assert no_csrf.status_code == 403
    assert await statuses(runtime) == before and await told(runtime) == []


async def test_unknown_groups_are_not_found(runtime: Runtime, browser: Browser) -> None:
    for path in (
        "/questions/99",
        "/questions/abc",
        "/questions/99.csv",
        "/questions/99.md",
        "/questions/0",
        "/questions/99999999999",
        "/questions/99999999999.csv",
    ):
        response = await browser.client.get(path)
        assert response.status_code == 404, path
        assert "Page not found" in response.text
    response = await browser.post("/questions/99/answered", {"all": "yes", "form_key": "z"})
    assert response.status_code == 404
    assert await audit_lines(runtime, "downloaded_questions") == []
