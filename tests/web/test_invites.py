"""Invites in the console: a group's codes by state, making them once, the QR code and the
printable letter, and revoking one that has not been used."""

from __future__ import annotations

import dataclasses
from datetime import date

from sqlalchemy import select

from bot.app.runtime import Runtime
from bot.app.web.console import Console
from bot.db.models import AuditEvent, Cohort, Invite
from bot.services import invites
from bot.services.invites import InviteState
from tests.helpers import Chat, make_cohort, make_invites
from tests.web.support import Browser, browser_for, hidden, unsigned


async def _invites(runtime: Runtime) -> list[Invite]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(Invite).order_by(Invite.id)))


async def _make(browser: Browser, cohort: Cohort, count: str) -> tuple[str, object]:
    page = await browser.client.get(f"/invites?group={cohort.id}")
    assert page.status_code == 200, page.text
    key = hidden(page.text, "form_key")
    response = await browser.post(
        "/invites", {"group": str(cohort.id), "count": count, "form_key": key}
    )
    return key, response


async def test_pick_a_group_and_make_invites_with_links_and_qr_codes(
    runtime: Runtime, browser: Browser
) -> None:
    cohort = await make_cohort(runtime)
    choose = await browser.client.get("/invites")
    assert "Choose a group" in choose.text and "Tuesday Group A" in choose.text
    assert 'name="count"' not in choose.text
    _, response = await _make(browser, cohort, "3")
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert unsigned(response.headers["location"]) == f"/invites?group={cohort.id}&made=3"  # type: ignore[attr-defined]
    made = await _invites(runtime)
    assert len(made) == 3 and {i.role for i in made} == {"patient"}
    page = await browser.client.get(response.headers["location"])  # type: ignore[attr-defined]
    assert "3 new invites have been made." in page.text and "Not used yet (3)" in page.text
    for invite in made:
        assert invites.pretty_code(invite.code) in page.text
        assert f"https://t.me/pmp_test_bot?start={invite.code}" in page.text
        assert f'href="/invites/{invite.id}/letter"' in page.text
    assert page.text.count('<svg role="img" aria-label="QR code.') == 3
    assert "<title>QR code." in page.text
    assert "style=" not in page.text and "<script>" not in page.text
    audit = await _audit(runtime)
    assert ("created_invites", f"cohort:{cohort.id}", "3") in audit


async def _audit(runtime: Runtime) -> list[tuple[str, str | None, str | None]]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(AuditEvent.action, AuditEvent.target, AuditEvent.detail).order_by(AuditEvent.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_a_double_submit_makes_the_invites_once(runtime: Runtime, browser: Browser) -> None:
    cohort = await make_cohort(runtime)
    key, first = await _make(browser, cohort, "2")
    again = await browser.post("/invites", {"group": str(cohort.id), "count": "2", "form_key": key})
    assert again.status_code == 303
    assert again.headers["location"] == first.headers["location"]  # type: ignore[attr-defined]
    assert len(await _invites(runtime)) == 2


async def test_a_huge_or_odd_count_is_refused(runtime: Runtime, browser: Browser) -> None:
    cohort = await make_cohort(runtime)
    for count in ("51", "1000000", "99999999999999999999", "0", "-3", "abc", "", "2.5"):
        _, response = await _make(browser, cohort, count)
        assert response.status_code == 400, count  # type: ignore[attr-defined]
        text = response.text  # type: ignore[attr-defined]
        assert "Enter a number of invites from 1 to 50" in text, count
        assert 'id="count-error"' in text and 'href="#count"' in text
    assert await _invites(runtime) == []
    _, fifty = await _make(browser, cohort, "50")
    assert fifty.status_code == 303  # type: ignore[attr-defined]
    assert len(await _invites(runtime)) == 50


async def test_a_finished_group_takes_no_invites(runtime: Runtime, browser: Browser) -> None:
    old = await make_cohort(runtime, date(2026, 9, 7))
    page = await browser.client.get(f"/invites?group={old.id}")
    assert "This group has finished" in page.text and 'name="count"' not in page.text
    # As if sent from a page opened before the group's last day passed.
    fields = {"group": str(old.id), "count": "1", "form_key": "opened-before-it-finished"}
    response = await browser.post("/invites", fields)
    assert response.status_code == 400 and "This group has finished" in response.text
    assert await _invites(runtime) == []


async def test_revoke_asks_first_and_the_code_then_stops_working(
    runtime: Runtime, browser: Browser
) -> None:
    cohort = await make_cohort(runtime)
    (invite,) = await make_invites(runtime, cohort)
    ask = await browser.client.get(f"/invites/{invite.id}/revoke")
    assert ask.status_code == 200 and "Revoke invite" in ask.text
    assert invites.pretty_code(invite.code) in ask.text
    (still,) = await _invites(runtime)
    assert still.expires_at == invite.expires_at
    done = await browser.post(f"/invites/{invite.id}/revoke")
    assert done.status_code == 303
    assert unsigned(done.headers["location"]) == f"/invites?group={cohort.id}&done=revoked"
    async with runtime.sessions() as session:
        check = await invites.check_code(session, invite.code, runtime.clock.now())
    assert check.state is InviteState.EXPIRED
    page = await browser.client.get(done.headers["location"])
    assert "The invite has been revoked." in page.text and "Revoked (1)" in page.text
    assert "Expired" not in page.text and "QR code." not in page.text
    assert ("revoked_invite", f"invite:{invite.id}", None) in await _audit(runtime)
    again = await browser.post(f"/invites/{invite.id}/revoke")
    assert unsigned(again.headers["location"]) == f"/invites?group={cohort.id}&done=ended"
    assert [a for a, _, _ in await _audit(runtime)].count("revoked_invite") == 1


async def test_a_used_invite_cannot_be_revoked(
    runtime: Runtime, browser: Browser, patient: Chat
) -> None:
    (used,) = [i for i in await _invites(runtime) if i.used_at is not None and i.role == "patient"]
    ask = await browser.client.get(f"/invites/{used.id}/revoke")
    assert "This invite has been used" in ask.text and 'action="/invites/' not in ask.text
    refused = await browser.post(f"/invites/{used.id}/revoke")
    assert refused.status_code == 409
    assert "cannot be revoked. Nothing has changed." in refused.text
    (after,) = [i for i in await _invites(runtime) if i.id == used.id]
    assert after.expires_at == used.expires_at and after.used_at == used.used_at
    assert "revoked_invite" not in [a for a, _, _ in await _audit(runtime)]
    page = await browser.client.get(f"/invites?group={used.cohort_id}")
    assert "Used (1)" in page.text


async def test_the_letter_has_what_the_patient_needs_and_no_staff_names(
    runtime: Runtime, browser: Browser
) -> None:
    cohort = await make_cohort(runtime)
    (invite,) = await make_invites(runtime, cohort)
    letter = await browser.client.get(f"/invites/{invite.id}/letter")
    assert letter.status_code == 200
    main = letter.text.split('id="main-content"')[1].split("</main>")[0]
    assert "Tuesday Group A" in main and "Monday 7 December 2026" in main
    assert "Pain Clinic, Room 4" in main and invites.pretty_code(invite.code) in main
    assert f"https://t.me/pmp_test_bot?start={invite.code}" in main
    assert '<svg role="img"' in main and "@pmp_test_bot" in main
    assert "pmp-no-print" in main
    assert "It works until Thursday 10 December 2026 at 10:00." in main
    assert "Alex" not in main and "Clinician" not in main
    assert "style=" not in letter.text and main.count("<h1") == 1


async def test_without_a_bot_username_patients_type_the_code(
    runtime: Runtime, console: Console, browser: Browser
) -> None:
    cohort = await make_cohort(runtime, mode="online")
    (invite,) = await make_invites(runtime, cohort)
    plain = dataclasses.replace(
        console, settings=console.settings.model_copy(update={"telegram_bot_username": ""})
    )
    other = browser_for(plain)
    other.client.cookies = browser.client.cookies
    page = await other.client.get(f"/invites?group={cohort.id}")
    assert "type their code to it" in page.text and "t.me" not in page.text
    assert "<svg" not in page.text
    letter = await other.client.get(f"/invites/{invite.id}/letter")
    assert "Type your code below into the chat" in letter.text
    assert "<svg" not in letter.text and "t.me" not in letter.text
    assert "The group meets online" in letter.text
    await other.client.aclose()


async def test_bad_invite_addresses_are_not_found(runtime: Runtime, browser: Browser) -> None:
    cohort = await make_cohort(runtime)
    (staff_code,) = await make_invites(runtime, cohort, role="staff")
    for path in (
        "/invites/abc/letter",
        "/invites/0/letter",
        "/invites/99999/letter",
        "/invites/99999999999999999999/revoke",
        f"/invites/{staff_code.id}/letter",  # a letter is for patients
        "/invites?group=abc",
        "/invites?group=99999",
    ):
        response = await browser.client.get(path)
        assert response.status_code == 404, path
        assert "Page not found" in response.text, path
    missing = await browser.post("/invites/99999/revoke")
    assert missing.status_code == 404
    nowhere = await browser.post("/invites", {"group": "abc", "count": "1", "form_key": "k"})
    assert nowhere.status_code == 404


async def test_only_admins_see_and_revoke_staff_codes(
    runtime: Runtime, browser: Browser, admin_browser: Browser
) -> None:
    cohort = await make_cohort(runtime)
    (staff_code,) = await make_invites(runtime, cohort, role="staff")
    (patient_code,) = await make_invites(runtime, cohort)
    pretty = invites.pretty_code(staff_code.code)
    seen = await browser.client.get(f"/invites?group={cohort.id}")
    assert invites.pretty_code(patient_code.code) in seen.text and pretty not in seen.text
    assert (await browser.client.get(f"/invites/{staff_code.id}/revoke")).status_code == 404
    refused = await browser.post(f"/invites/{staff_code.id}/revoke", {"form_key": "k-staff"})
    assert refused.status_code == 404
    assert pretty in (await admin_browser.client.get(f"/invites?group={cohort.id}")).text
