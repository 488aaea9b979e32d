"""Escalations in the console: the same service as the Telegram buttons, every surface in step."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.web.console import Console
from bot.clock import ManualClock
from bot.db.models import AuditEvent, Escalation, StaffAccount
from tests.escalation_support import STAFF_GROUP, Team, audit_actions, escalations
from tests.helpers import Chat
from tests.test_cli_escalations import report_pain
from tests.web.support import Browser, add_staff, browser_for

WORDS = 'Much worse <script>alert("x")</script> مرحبا since Monday'


async def raised(patient: Chat, team: Team, runtime: Runtime) -> Escalation:
    """A patient's pain report, alerted in the staff group."""
    await report_pain(patient, WORDS)
    await team.deliver()
    (escalation,) = await escalations(runtime)
    assert escalation.status == "alerted"
    return escalation


async def test_acknowledging_in_the_console_updates_the_staff_group_and_tells_the_patient(
    runtime: Runtime, patient: Chat, team: Team, browser: Browser
) -> None:
    escalation = await raised(patient, team, runtime)
    listed = await browser.client.get("/escalations")
    assert f"#{escalation.id}" in listed.text and "Not acknowledged" in listed.text
    assert "Much worse" not in listed.text  # the words only on request
    today = await browser.client.get("/")
    assert f"/escalations/{escalation.id}" in today.text

    done = await browser.post(f"/escalations/{escalation.id}/acknowledge")
    assert done.status_code == 200 and "Acknowledged." in done.text
    await team.deliver()
    (alert,) = team.desk.alerts() or [None]
    text = "\n".join(team.desk.texts(STAFF_GROUP))
    assert "Alex Clinician" in text  # the staff group's message shows who
    assert any("seen" in reply.text for _chat, reply in patient.sender.sent) or any(
        "team has seen" in t for t in team.desk.texts(patient.user_id)
    )
    actions = await audit_actions(runtime, escalation.id)
    assert "acknowledged" in actions and "patient_told" in actions
    today = await browser.client.get("/")
    assert "No escalation is waiting to be acknowledged." in today.text
    assert "1 acknowledged escalation is not yet resolved" in today.text
    del alert


async def test_pressing_acknowledge_twice_or_two_staff_at_once_acknowledges_once(
    runtime: Runtime, patient: Chat, team: Team, browser: Browser, console: Console
) -> None:
    escalation = await raised(patient, team, runtime)
    await add_staff(runtime, "kim@clinic.test", name="Kim Nurse")
    other = browser_for(console)
    await other.sign_in("kim@clinic.test")
    first_token, second_token = await browser.csrf(), await other.csrf()
    path = f"/escalations/{escalation.id}/acknowledge"
    answers = await asyncio.gather(
        browser.client.post(path, data={"csrf": first_token}),
        other.client.post(path, data={"csrf": second_token}),
        browser.client.post(path, data={"csrf": first_token}),
    )
    assert all(answer.status_code == 200 for answer in answers)
    assert sum("Acknowledged. The staff group" in a.text for a in answers) == 1
    assert sum("Nothing changed" in a.text for a in answers) == 2
    assert (await audit_actions(runtime, escalation.id)).count("acknowledged") == 1


async def test_a_telegram_press_shows_in_the_console(
    runtime: Runtime, patient: Chat, team: Team, browser: Browser
) -> None:
    escalation = await raised(patient, team, runtime)
    await team.press(1, "Acknowledge")
    page = await browser.client.get(f"/escalations/{escalation.id}")
    assert "Acknowledged" in page.text and "Sam" in page.text
    again = await browser.post(f"/escalations/{escalation.id}/acknowledge")
    assert "Nothing changed: this was already acknowledged by Sam" in again.text


async def test_the_words_are_shown_on_request_literally_and_the_viewing_recorded(
    runtime: Runtime, patient: Chat, team: Team, browser: Browser, clinician: StaffAccount
) -> None:
    escalation = await raised(patient, team, runtime)
    page = await browser.client.get(f"/escalations/{escalation.id}")
    assert "Show the patient's words" in page.text and "Much worse" not in page.text
    shown = await browser.post(f"/escalations/{escalation.id}/words")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in shown.text
    assert "<script>alert" not in shown.text and "مرحبا" in shown.text
    assert "details_shown" in await audit_actions(runtime, escalation.id)
    async with runtime.sessions() as session:
        viewed = await session.scalar(select(AuditEvent).where(AuditEvent.action == "viewed_words"))
    assert viewed is not None and viewed.account_id == clinician.id
    assert viewed.target == f"escalation:{escalation.id}"


async def test_resolving_needs_a_short_note_and_keeps_what_was_typed(
    runtime: Runtime, patient: Chat, team: Team, browser: Browser
) -> None:
    escalation = await raised(patient, team, runtime)
    path = f"/escalations/{escalation.id}/resolve"
    empty = await browser.post(path, {"outcome": "   "})
    assert empty.status_code == 400 and "Write a short outcome note." in empty.text
    long_note = "Rang back <b>" + "x" * 600
    too_long = await browser.post(path, {"outcome": long_note})
    assert too_long.status_code == 400 and "nothing was saved" in too_long.text
    assert "Rang back &lt;b&gt;" in too_long.text  # kept, shown literally
    done = await browser.post(path, {"outcome": "Rang back; plan agreed"})
    assert done.status_code == 303
    page = await browser.client.get(done.headers["location"])
    assert "Resolved." in page.text and "Rang back; plan agreed" in page.text
    (escalation,) = await escalations(runtime)
    assert escalation.status == "resolved" and escalation.resolved_by == "Alex Clinician"


async def test_unknown_and_impossible_escalations_are_a_kind_404(browser: Browser) -> None:
    for path in ("/escalations/999", "/escalations/99999999999999", "/escalations/abc"):
        page = await browser.client.get(path)
        assert page.status_code == 404, path
    posted = await browser.post("/escalations/999/acknowledge")
    assert posted.status_code == 404 and "Not found" in posted.text


async def test_filters(runtime: Runtime, patient: Chat, team: Team, browser: Browser) -> None:
    escalation = await raised(patient, team, runtime)
    assert "There are no escalations" in (await browser.client.get("/escalations?show=mine")).text
    await browser.post(f"/escalations/{escalation.id}/acknowledge")
    assert f"#{escalation.id}" in (await browser.client.get("/escalations?show=mine")).text
    assert (
        "There are no escalations" in (await browser.client.get("/escalations?show=resolved")).text
    )
    odd = await browser.client.get("/escalations?show=<x>&group=12345678901234")
    assert odd.status_code == 200 and f"#{escalation.id}" in odd.text


async def test_the_most_pressing_come_first_and_the_rest_are_counted(
    runtime: Runtime, patient: Chat, browser: Browser, clock: ManualClock
) -> None:
    from datetime import timedelta

    from bot.services import escalation_views
    from tests.test_cli_escalations import patient_person

    person = await patient_person(runtime, patient)
    now = clock.now()
    kinds = [
        ("acknowledged", False, "none", now - timedelta(hours=5)),
        ("alerted", False, "none", now - timedelta(hours=3)),
        ("alerted", False, "none", now - timedelta(hours=4)),
        ("alerted", True, "none", now - timedelta(minutes=5)),
        ("alerted", False, "crisis", now - timedelta(minutes=1)),
        ("resolved", True, "crisis", now - timedelta(days=2)),
    ]
    async with runtime.sessions() as session, session.begin():
        for status, urgent, risk, at in kinds:
            session.add(
                Escalation(
                    person_id=person.id,
                    source="report",
                    category="pain",
                    status=status,
                    urgent=urgent,
                    risk=risk,
                    created_at=at,
                    acknowledged_at=at if status != "alerted" else None,
                    resolved_at=now if status == "resolved" else None,
                )
            )
    async with runtime.sessions() as session:
        found = await escalation_views.listed(session, now, "all", limit=4)
    order = [(item.id, item.escalation.status) for item in found.items]
    # Urgent ones first (the newest crisis is urgent too), then the longest waiting.
    assert [escalation_id for escalation_id, _ in order] == [4, 5, 3, 2]
    assert found.total == 6
    today = await browser.client.get("/")
    assert today.text.index("#4 ") < today.text.index("#5 ") < today.text.index("#3 ")
    assert "1 acknowledged escalation is not yet resolved" in today.text
    listed = await browser.client.get("/escalations?show=all")
    assert "#6" in listed.text  # resolved ones still listed under All


async def test_a_link_cannot_say_something_happened_when_it_did_not(
    runtime: Runtime, patient: Chat, team: Team, browser: Browser, console: Console
) -> None:
    escalation = await raised(patient, team, runtime)
    forged = await browser.client.get(f"/escalations/{escalation.id}?done=resolved")
    assert "Resolved." not in forged.text and "Not acknowledged" in forged.text
    done = await browser.post(f"/escalations/{escalation.id}/resolve", {"outcome": "Rang back"})
    assert "Resolved." in (await browser.client.get(done.headers["location"])).text
    # The same link works only for the session whose form made it.
    await add_staff(runtime, "kim@clinic.test", name="Kim Nurse")
    other = browser_for(console)
    await other.sign_in("kim@clinic.test")
    assert "Resolved." not in (await other.client.get(done.headers["location"])).text
