"""Staff accounts and the audit log: admins only, every change takes effect at once."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner
from sqlalchemy import func, select

from bot.app.cli import main as pmp_main
from bot.app.runtime import Runtime
from bot.app.web.console import Console
from bot.db.models import StaffAccount
from tests.test_cli_escalations import cli  # noqa: F401  (the fixture)
from tests.web.support import PASSWORD, Browser, browser_for, hidden, unsigned


async def count_accounts(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(StaffAccount)) or 0)


async def test_an_admin_adds_an_account_once_even_with_a_double_click(
    runtime: Runtime, admin_browser: Browser, console: Console
) -> None:
    page = await admin_browser.client.get("/staff")
    fields = {
        "csrf": hidden(page.text),
        "form_key": hidden(page.text, "form_key"),
        "email": "Sam.Physio@Clinic.test",
        "name": "Sam <i>Physio</i>",
        "role": "clinician",
        "password": "a first password here",
    }
    first = await admin_browser.client.post("/staff", data=fields)
    second = await admin_browser.client.post("/staff", data=fields)
    assert first.status_code == second.status_code == 303
    assert (
        unsigned(first.headers["location"])
        == unsigned(second.headers["location"])
        == "/staff?done=added"
    )
    assert await count_accounts(runtime) == 2
    listed = await admin_browser.client.get("/staff?done=added")
    assert (
        "sam.physio@clinic.test" in listed.text and "Sam &lt;i&gt;Physio&lt;/i&gt;" in listed.text
    )
    newcomer = browser_for(console)
    assert (
        await newcomer.sign_in("sam.physio@clinic.test", "a first password here")
    ).status_code == 303


async def test_bad_input_keeps_what_was_typed(runtime: Runtime, admin_browser: Browser) -> None:
    page = await admin_browser.client.get("/staff")
    response = await admin_browser.client.post(
        "/staff",
        data={
            "csrf": hidden(page.text),
            "form_key": hidden(page.text, "form_key"),
            "email": "not an address",
            "name": "Kim",
            "role": "boss",
            "password": "short",
        },
    )
    assert response.status_code == 400
    for message in ("Enter an email address", "Choose clinician or admin", "at least 12"):
        assert message in response.text
    assert 'value="not an address"' in response.text and 'value="Kim"' in response.text
    duplicate = await admin_browser.client.post(
        "/staff",
        data={
            "csrf": hidden(page.text),
            "form_key": "another-key",
            "email": "jo@clinic.test",
            "name": "Jo Again",
            "role": "admin",
            "password": "long enough password",
        },
    )
    assert duplicate.status_code == 400 and "already an account" in duplicate.text
    assert await count_accounts(runtime) == 1


async def test_disabling_signs_them_out_and_the_last_admin_stays(
    runtime: Runtime,
    admin_browser: Browser,
    browser: Browser,
    clinician: StaffAccount,
    admin: StaffAccount,
) -> None:
    assert (await browser.client.get("/")).status_code == 200
    disabled = await admin_browser.post(f"/staff/{clinician.id}", {"action": "disable"})
    assert disabled.status_code == 303
    assert (await browser.client.get("/")).status_code == 303  # signed out at the next click
    assert (await browser.sign_in()).status_code == 400
    yourself = await admin_browser.post(f"/staff/{admin.id}", {"action": "disable"})
    assert "you cannot disable your own account" in yourself.text
    demote = await admin_browser.post(f"/staff/{admin.id}", {"action": "role", "role": "clinician"})
    assert "at least one admin" in demote.text
    enabled = await admin_browser.post(f"/staff/{clinician.id}", {"action": "enable"})
    assert enabled.status_code == 303 and (await browser.sign_in()).status_code == 303


async def test_a_role_change_takes_effect_at_once(
    admin_browser: Browser, browser: Browser, clinician: StaffAccount
) -> None:
    assert (await browser.client.get("/audit")).status_code == 403
    await admin_browser.post(f"/staff/{clinician.id}", {"action": "role", "role": "admin"})
    assert (await browser.client.get("/audit")).status_code == 303  # signed out: roles changed
    await browser.sign_in()
    assert (await browser.client.get("/audit")).status_code == 200


async def test_the_audit_log_names_who_did_what(
    admin_browser: Browser, browser: Browser, clinician: StaffAccount, console: Console
) -> None:
    stranger = browser_for(console)
    assert (await stranger.sign_in("alex@clinic.test", "wrong password ok")).status_code == 400
    log = await admin_browser.client.get("/audit")
    assert "signed in" in log.text and "Alex Clinician (alex@clinic.test)" in log.text
    assert "sign in failed" in log.text and "Nobody signed in" in log.text
    assert PASSWORD not in log.text and "wrong password ok" not in log.text


async def test_staff_add_on_the_command_line(cli: CliRunner, runtime: Runtime) -> None:  # noqa: F811
    args = ["staff", "add", "lee@clinic.test", "--name", "Lee", "--role", "admin"]
    result = await asyncio.to_thread(
        cli.invoke, pmp_main, [*args, "--password-stdin"], input="a password of length\n"
    )
    assert result.exit_code == 0, result.output
    assert "Added lee@clinic.test (admin)" in result.output
    short = await asyncio.to_thread(
        cli.invoke,
        pmp_main,
        ["staff", "add", "kit@clinic.test", "--name", "Kit", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code == 2 and "at least 12 characters" in short.output
    listed = await asyncio.to_thread(cli.invoke, pmp_main, ["staff", "list"])
    assert "lee@clinic.test" in listed.output and "kit@" not in listed.output
    assert await count_accounts(runtime) == 1


async def test_a_linked_telegram_account_is_named_as_the_person_in_the_timeline(
    runtime: Runtime, admin_browser: Browser, clinician: StaffAccount
) -> None:
    from bot.db.models import Escalation, EscalationEvent
    from tests.helpers import enrol_patient
    from tests.test_cli_escalations import patient_person

    patient = await enrol_patient(runtime)
    person = await patient_person(runtime, patient)
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        escalation = Escalation(
            person_id=person.id, source="report", category="pain", created_at=now
        )
        session.add(escalation)
        await session.flush()
        session.add(
            EscalationEvent(
                escalation_id=escalation.id, at=now, action="acknowledged", actor="telegram:5001"
            )
        )
    page = await admin_browser.client.get(f"/escalations/{escalation.id}")
    assert "telegram:5001" in page.text  # nobody linked yet
    bad = await admin_browser.post(
        f"/staff/{clinician.id}", {"action": "telegram", "telegram_user_id": "abc"}
    )
    assert bad.status_code == 400 and "is a number" in bad.text
    linked = await admin_browser.post(
        f"/staff/{clinician.id}", {"action": "telegram", "telegram_user_id": "5001"}
    )
    assert linked.status_code == 303
    page = await admin_browser.client.get(f"/escalations/{escalation.id}")
    assert "telegram:5001" not in page.text and "Alex Clinician" in page.text
