"""Friends and family day in the console: each group's day, guests, replies and their words."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.clock import ManualClock
from bot.db.models import AuditEvent
from tests.dialogs.test_family import answer_all, guest_opens, invite
from tests.helpers import enrol_patient
from tests.web.support import Browser


async def audit_lines(runtime: Runtime) -> list[tuple[str, str | None]]:
    async with runtime.sessions() as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(r.action, r.target) for r in rows if r.action != "signed_in"]


def rows(html: str) -> list[list[str]]:
    """The guests table's cells, tags and markup removed."""
    body = html.split('<tbody class="nhsuk-table__body">', 1)[1].split("</tbody>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


async def test_staff_see_each_patients_guests_replies_and_words(
    runtime: Runtime, browser: Browser
) -> None:
    robin = await enrol_patient(runtime)
    await enrol_patient(runtime, user_id="patient-2", name="Jo")  # another group
    await answer_all(await guest_opens(runtime, await invite(robin)))
    declined = await guest_opens(runtime, await invite(robin), "guest-2")
    await declined.press("No, I can't come")
    await declined.say("Alex")
    await declined.press("No questions")
    await invite(robin)  # not opened yet

    page = await browser.client.get("/family/1")
    assert page.status_code == 200
    html = page.text
    assert "Wednesday 16 December 2026 (day 7)." in html
    assert "<li>13:30: Friends and family session: understanding chronic pain together</li>" in html
    assert "1 coming, 1 not coming, 3 invited in all." in html
    assert rows(html) == [
        ["P1 Robin", "Sam", "Yes", "Step-free access, please", "How can I help on bad days?"],
        ["P1 Robin", "Alex", "No", "None given", "None"],
        ["P1 Robin", "Link not opened yet", "Not yet", "None given", "None"],
    ]
    assert "Jo" not in html
    assert "invitations and replies are closed" not in html
    assert await audit_lines(runtime) == [("viewed_family", "cohort:1")]


async def test_the_list_of_groups_shows_each_day_and_who_is_coming(
    runtime: Runtime, browser: Browser
) -> None:
    empty = await browser.client.get("/family")
    assert "There are no groups yet." in empty.text
    robin = await enrol_patient(runtime)
    await enrol_patient(runtime, user_id="patient-2", name="Jo")
    await answer_all(await guest_opens(runtime, await invite(robin)))
    await invite(robin)
    page = await browser.client.get("/family")
    assert page.status_code == 200
    assert rows(page.text) == [
        ["Tuesday Group A (group 1)", "Wednesday 16 December 2026 (day 7)", "2", "1"],
        ["Tuesday Group A (group 2)", "Wednesday 16 December 2026 (day 7)", "0", "0"],
    ]
    assert await audit_lines(runtime) == []  # no guest's details on this page


async def test_guests_words_are_shown_literally(runtime: Runtime, browser: Browser) -> None:
    robin = await enrol_patient(runtime)
    guest = await guest_opens(runtime, await invite(robin))
    await guest.press("Yes, I'll come")
    await guest.say("<i>Sam</i>")
    await guest.say("כיסא גלגלים\n<img src=x onerror=alert(1)>")
    await guest.say('"><script>alert(1)</script>')
    html = (await browser.client.get("/family/1")).text
    assert "<script>" not in html and "<img" not in html and "<i>Sam" not in html
    assert '<span class="pmp-words">כיסא גלגלים\n&lt;img src=x onerror=alert(1)&gt;</span>' in html
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;i&gt;Sam&lt;/i&gt;" in html


async def test_a_patient_who_invited_nobody_and_the_day_once_begun(
    runtime: Runtime, browser: Browser, clock: ManualClock
) -> None:
    await enrol_patient(runtime)
    page = await browser.client.get("/family/1")
    assert rows(page.text) == [["P1 Robin", "Nobody invited"]]
    assert "0 coming, 0 not coming, 0 invited in all." in page.text
    clock.set(datetime(2026, 12, 16, 13, 30, tzinfo=UTC))
    assert (await browser.sign_in()).status_code == 303
    begun = await browser.client.get("/family/1")
    assert "invitations and replies are closed" in begun.text


async def test_unknown_groups_are_not_found(runtime: Runtime, browser: Browser) -> None:
    for path in ("/family/99", "/family/abc", "/family/0", "/family/99999999999", "/family/1x"):
        response = await browser.client.get(path)
        assert response.status_code == 404, path
        assert "Page not found" in response.text
    assert await audit_lines(runtime) == []
