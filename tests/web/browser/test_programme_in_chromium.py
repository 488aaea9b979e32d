"""Running the programme from the console in a real browser: a new group, its invites, a
patient joining on Telegram with one of them, a discharge; questions for the doctor marked
answered and downloaded; and every main page checked with axe and photographed."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from playwright.async_api import expect
from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import AuditEvent, Cohort, DoctorQuestion, Invite, Person
from tests.conftest import BOT_USERNAME
from tests.e2e.test_reminders_telegram import enrolled
from tests.fakes.fake_user import FakeUser
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.helpers import make_invites
from tests.web.browser.conftest import Console
from tests.web.support import add_staff

# The group of `enrolled` starts on Monday 7 December 2026; the doctor's session is on day 10,
# Tuesday 22 December, at 11:30.
AFTER_SESSION = datetime(2026, 12, 22, 14, 0, tzinfo=UTC)
LINK = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=([A-Za-z0-9_-]+)")
FAMILY_LINK = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=(g_[A-Za-z0-9_-]+)")


async def audit_actions(runtime: Runtime) -> list[str]:
    async with runtime.sessions() as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [r.action for r in rows if r.action != "signed_in"]


async def the_patient(runtime: Runtime, name: str) -> Person:
    async with runtime.sessions() as session:
        found = await session.scalar(select(Person).where(Person.display_name == name))
    assert found is not None, name
    return found


async def test_a_new_group_its_invites_a_patient_joining_and_a_discharge(
    live: Console, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    page = live.page
    await live.sign_in()
    await page.get_by_role("link", name="Groups", exact=True).click()
    await page.get_by_role("link", name="Create a group").click()
    await page.wait_for_url(f"{live.address}/groups/new")
    # Sent empty: the error summary says what is missing and each link leads to its field.
    await page.get_by_role("button", name="Create group").click()
    summary = page.get_by_role("alert")
    await expect(summary).to_contain_text("Enter a name for the group")
    await expect(summary).to_contain_text("Enter the date of the first day")
    await expect(page).to_have_title("Error: Create a group – PMP Companion")
    await summary.get_by_role("link", name="Enter a name for the group").click()
    await expect(page.get_by_label("Group name")).to_be_focused()
    await live.screenshot("group-new-errors")
    preview = page.locator("#calendar-preview")
    await expect(preview).to_contain_text("Enter the first day to see the twelve dates.")

    await page.get_by_label("Group name").fill("January in person")
    # A Tuesday first: the preview says why there is no calendar yet.
    await page.get_by_label("First day", exact=True).fill("2026-12-08")
    await expect(preview).to_contain_text("The first day must be a Monday.")
    await page.get_by_label("First day", exact=True).fill("2026-12-07")
    await expect(preview.get_by_role("table")).to_be_visible()
    day_rows = preview.get_by_role("row").filter(has_text=re.compile(r"^\s*Day \d+\b"))
    await expect(day_rows).to_have_count(12)
    await expect(day_rows.first).to_contain_text("Monday 7 December 2026")
    await expect(day_rows.nth(9)).to_contain_text("Doctor")  # day 10, the usual doctor's day
    # Choosing another doctor's day moves the tag in the preview, as staff watch.
    await page.get_by_label("Day of the doctor's question-and-answer session").select_option(
        "Day 9"
    )
    await expect(day_rows.nth(8)).to_contain_text("Doctor")
    await expect(day_rows.nth(9)).not_to_contain_text("Doctor")
    await page.get_by_label("Day of the doctor's question-and-answer session").select_option(
        "Day 10"
    )
    await expect(day_rows.nth(9)).to_contain_text("Doctor")
    await page.get_by_label("In person", exact=True).check()
    await page.get_by_label("Where it meets (in person)").fill("Pain Clinic, Room 4")
    await live.screenshot("group-new-filled")
    await page.get_by_role("button", name="Create group").click()

    # The notice's signature (for this session only) follows it.
    await page.wait_for_url(re.compile(r"/groups/\d+\?done=created&n=[0-9a-f]+$"))
    await expect(page.get_by_role("status")).to_have_text("The group has been created.")
    await expect(page.get_by_role("heading", level=1)).to_have_text("January in person")
    async with runtime.sessions() as session:
        (cohort,) = list(await session.scalars(select(Cohort)))
    assert (cohort.name, cohort.location, cohort.qa_day) == (
        "January in person",
        "Pain Clinic, Room 4",
        10,
    )
    assert f"/groups/{cohort.id}?done=created&n=" in page.url
    await expect(page.get_by_text("No patients have joined yet.")).to_be_visible()

    # Three invites, each with its code, link and QR code.
    await page.get_by_role("link", name="Make invites for this group").click()
    await page.get_by_label("How many patient invites?").fill("3")
    await page.get_by_role("button", name="Make invites").click()
    await page.wait_for_url(re.compile(r"/invites\?group=\d+&made=3&n=[0-9a-f]+$"))
    await expect(page.get_by_role("status")).to_contain_text("3 new invites have been made.")
    await expect(page.get_by_role("heading", name="Not used yet (3)")).to_be_visible()
    qr_name = "QR code. Scan it with a phone's camera to open the link to the bot."
    await expect(page.get_by_role("img", name=qr_name)).to_have_count(3)
    codes = LINK.findall(await page.get_by_role("table").inner_text())
    async with runtime.sessions() as session:
        stored = {i.code for i in await session.scalars(select(Invite))}
    assert len(codes) == 3 and set(codes) == stored
    await live.screenshot("invites-made")

    code = codes[0]
    pretty = f"{code[:4]}-{code[4:]}"
    await page.get_by_role("link", name=f"Print letter for {pretty}").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Joining PMP Companion")
    letter = page.locator("main")
    await expect(letter).to_contain_text("January in person")
    await expect(letter).to_contain_text("Your first day is Monday 7 December 2026")
    await expect(letter).to_contain_text(f"Your code: {pretty}")
    await expect(letter).to_contain_text(f"https://t.me/{BOT_USERNAME}?start={code}")
    await expect(page.get_by_role("img", name=qr_name)).to_have_count(1)
    await live.screenshot("invite-letter")

    # The patient scans the code and joins on Telegram.
    patient = api.user(7401, first_name="Robin")
    await patient.ask(f"/start {code}")
    await patient.tap("Yes, I agree")
    await patient.tap("Call me Robin")
    assert any("You have joined January in person." in t for t in patient.texts)

    await page.get_by_role("link", name="Back to invites").first.click()
    await expect(page.get_by_role("heading", name="Used (1)")).to_be_visible()
    await expect(page.get_by_role("heading", name="Not used yet (2)")).to_be_visible()
    used = page.get_by_role("table").filter(has=page.get_by_text("Invites: used"))
    await expect(used).to_contain_text(pretty)

    await page.get_by_role("link", name="Groups", exact=True).click()
    await page.get_by_role("link", name="January in person").click()
    await expect(page.locator("main")).to_contain_text("1 used of 3")
    robin = await the_patient(runtime, "Robin")
    row = page.get_by_role("row").filter(has_text="Robin")
    await expect(row).to_contain_text(f"P{robin.id}")
    await expect(row).to_contain_text("Joined")
    await live.screenshot("group-with-patient")

    # Discharge, through the page that says what it does.
    await row.get_by_role("link", name=f"P{robin.id}").click()
    await page.get_by_role("link", name=f"Discharge P{robin.id}").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Discharge P{robin.id} Robin?")
    # Robin has not even started: the page warns of the review still to come, and shows the
    # goodbye for someone leaving early (not the thanks for finishing).
    await expect(page.get_by_text("Their 12-month review is still to come")).to_be_visible()
    await expect(page.locator("main")).to_contain_text(
        "They are booked on it for Wednesday 29 December 2027."
    )
    goodbye = page.locator("main .pmp-words")
    await expect(goodbye).to_contain_text("The pain clinic team has discharged you")
    await expect(goodbye).not_to_contain_text("one-year review was the last part")
    await live.screenshot("discharge-confirm")
    confirm_path = page.url.removeprefix(live.address)
    assert await live.accessibility_problems(confirm_path) == []
    await page.get_by_role("button", name="Discharge", exact=True).click()
    await expect(page.get_by_role("status")).to_have_text(
        "They have been discharged. Their reminders have stopped."
    )
    await expect(page.get_by_role("link", name=f"Discharge P{robin.id}")).to_have_count(0)
    assert (await the_patient(runtime, "Robin")).discharged_at is not None
    await api.wait_for(lambda: any("discharged you" in t for t in patient.texts))
    assert await audit_actions(runtime) == [
        "created_group",
        "viewed_patients",
        "created_invites",
        "viewed_patients",
        "viewed_patient",
        "discharged",
        "viewed_patient",
    ]


async def test_the_error_summary_takes_the_focus(live: Console) -> None:
    """As the NHS.UK error summary should: a screen reader then reads out what is wrong."""
    await live.sign_in()
    await live.page.goto(f"{live.address}/groups/new")
    await live.page.get_by_role("button", name="Create group").click()
    await expect(live.page.get_by_role("alert")).to_be_focused(timeout=2000)


async def ask_the_doctor(patient: FakeUser, words: str, share: str) -> None:
    """One question through /question, as the patient taps it."""
    overview = await patient.ask("/question")
    labels = [label for m in overview for label in m.labels]
    await patient.tap(
        "Ask another question" if "Ask another question" in labels else "Ask a question"
    )
    await patient.ask(words)
    (saved,) = await patient.tap(share)
    assert "on the list for the doctor" in (saved.text or "")


async def test_questions_for_the_doctor_are_seen_marked_answered_and_downloaded(
    live: Console, api: FakeTelegramAPI, runtime: Runtime, clock: ManualClock
) -> None:
    patient = await enrolled(api, runtime, 7402)
    await ask_the_doctor(patient, "Will my pain ever go away?", "Say my first name with it")
    await ask_the_doctor(patient, "Can I drive on my <b>medication</b>?", "Ask anonymously")
    async with runtime.sessions() as session:
        first, second = list(
            await session.scalars(select(DoctorQuestion).order_by(DoctorQuestion.id))
        )
    page = live.page
    await live.sign_in()
    await page.get_by_role("link", name="Questions", exact=True).click()
    waiting = page.get_by_role("table").filter(has_text="Tuesday Group A")
    await expect(waiting.get_by_role("row").filter(has_text="Tuesday Group A")).to_contain_text("2")
    await waiting.get_by_role("link", name=re.compile("Tuesday Group A")).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Questions for the doctor")
    main = page.locator("main")
    await expect(main).to_contain_text("2 questions, 2 not answered yet.")
    mine = page.locator(f"#question-{first.id}")
    await expect(mine).to_contain_text("Will my pain ever go away?")
    await expect(mine).to_contain_text("Asked by Robin")
    other = page.locator(f"#question-{second.id}")
    await expect(other.locator(".pmp-words")).to_have_text("Can I drive on my <b>medication</b>?")
    await expect(other).to_contain_text("Asked anonymously")
    # Before the session the page says to wait: patients are told it was answered there.
    await expect(page.get_by_text("The session has not happened yet")).to_be_visible()
    await expect(main).to_contain_text("Mark them answered after it, on Tuesday 22 December 2026")
    await live.screenshot("questions-group")

    # The afternoon of the doctor's session.
    clock.set(AFTER_SESSION)
    await page.reload()
    assert "/login" in page.url  # signed out after weeks away: sign in again
    await live.sign_in()
    await page.goto(f"{live.address}/questions/{first.cohort_id}")
    await expect(main).to_contain_text("The session has taken place.")
    await expect(page.get_by_text("The session has not happened yet")).to_have_count(0)
    await mine.get_by_role("button", name=re.compile("^Mark answered")).click()
    await expect(page.get_by_role("status")).to_have_text(
        "1 question marked answered. 1 patient will be told (not at night)."
    )
    await expect(mine).to_contain_text("Answered")
    await expect(mine.get_by_role("button")).to_have_count(0)
    await expect(other).to_contain_text("Not answered yet")
    await expect(main).to_contain_text("2 questions, 1 not answered yet.")
    await expect(page.get_by_role("button", name="Mark the open question answered")).to_be_visible()
    async with runtime.sessions() as session:
        statuses = [
            q.status
            for q in await session.scalars(select(DoctorQuestion).order_by(DoctorQuestion.id))
        ]
    assert statuses == ["answered", "open"]
    await api.wait_for(
        lambda: any("Your question for the doctor was answered" in t for t in patient.texts)
    )
    await live.screenshot("questions-answered")

    async with page.expect_download() as info:
        await page.get_by_role("link", name=re.compile("^Download the list as CSV")).click()
    download = await info.value
    assert download.suggested_filename.endswith(".csv")
    path = await download.path()
    text = path.read_text(encoding="utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    body = "\n".join(",".join(r) for r in table)
    assert "Will my pain ever go away?" in body and "Robin" in body
    assert "Can I drive on my <b>medication</b>?" in body
    by_text = {next(c for c in r if "?" in c): r for r in table[1:]}
    assert "answered" in by_text["Will my pain ever go away?"]
    assert "open" in by_text["Can I drive on my <b>medication</b>?"]
    assert "Robin" not in by_text["Can I drive on my <b>medication</b>?"]
    assert (await audit_actions(runtime))[-1] == "downloaded_questions"


async def test_every_main_page_passes_axe_with_a_group_and_a_patient(
    live: Console, api: FakeTelegramAPI, runtime: Runtime
) -> None:
    await add_staff(runtime, "jo@clinic.test", "admin", "Jo Admin")
    patient = await enrolled(api, runtime, 7403)
    await ask_the_doctor(patient, "Should I keep swimming?", "Say my first name with it")
    # A guest invited to family day, who says yes.
    await patient.ask("/family")
    replies = await patient.tap("Invite someone")
    found = FAMILY_LINK.search("\n".join(m.text or "" for m in replies))
    assert found is not None, [m.text for m in replies]
    guest = api.user(7404, first_name="Sam")
    await guest.ask(f"/start {found.group(1)}")
    await guest.tap("Yes, I'll come")
    await guest.ask("Sam")
    await guest.ask("Step-free access, please")
    await guest.ask("How can I help on bad days?")
    robin = await the_patient(runtime, "Robin")
    group = robin.cohort_id
    (spare,) = await make_invites(runtime, await _cohort(runtime, group))

    pages = {
        "today": "/",
        "escalations": "/escalations",
        "groups": "/groups",
        "group-new": "/groups/new",
        "group": f"/groups/{group}",
        "invites": f"/invites?group={group}",
        "invite-letter-page": f"/invites/{spare.id}/letter",
        "day": f"/days?group={group}&day=1",
        "questions": "/questions",
        "question-group": f"/questions/{group}",
        "family": "/family",
        "family-group": f"/family/{group}",
        "reminders": f"/reminders?group={group}",
        "staff": "/staff",
        "audit": "/audit",
    }
    await live.sign_in("jo@clinic.test")
    problems = {}
    for name, path in pages.items():
        response = await live.page.goto(f"{live.address}{path}")
        assert response is not None and response.status == 200, path
        await live.screenshot(f"admin-{name}")
        found_problems = await live.accessibility_problems(path)
        if found_problems:
            problems[path] = found_problems
    assert problems == {}
    # The pages showed what was there.
    await live.page.goto(f"{live.address}/family/{group}")
    await expect(live.page.locator("main")).to_contain_text("Step-free access, please")
    await live.page.goto(f"{live.address}/questions/{group}")
    await expect(live.page.locator("main")).to_contain_text("Should I keep swimming?")
    # The audit log says what each line is about in staff's words.
    await live.page.goto(f"{live.address}/audit")
    viewed = live.page.get_by_role("row").filter(has_text="viewed family").first
    await expect(viewed.get_by_role("link", name=f"Group {group}")).to_be_visible()


async def _cohort(runtime: Runtime, cohort_id: int | None) -> Cohort:
    async with runtime.sessions() as session:
        found = await session.get(Cohort, cohort_id)
    assert found is not None
    return found
