"""The first password an admin gives must be changed at the first sign-in; anyone can change
their own, and every other browser of theirs is signed out."""

from __future__ import annotations

from bot.app.runtime import Runtime
from bot.app.web.console import Console
from bot.services import staff_accounts
from tests.web.support import PASSWORD, Browser, browser_for


async def test_a_first_password_must_be_changed_before_anything_else(
    runtime: Runtime, console: Console
) -> None:
    async with runtime.sessions() as session, session.begin():
        await staff_accounts.add_account(
            session, "sam@clinic.test", "Sam", "clinician", "given by an admin", runtime.clock.now()
        )
    browser = browser_for(console)
    assert (await browser.sign_in("sam@clinic.test", "given by an admin")).status_code == 303
    for path in ("/", "/escalations", "/groups"):
        sent = await browser.client.get(path)
        assert sent.status_code == 303 and sent.headers["location"] == "/account/password"
    page = await browser.client.get("/account/password")
    assert "Choose your own password" in page.text
    token = await browser.csrf("/account/password")
    mismatch = await browser.client.post(
        "/account/password",
        data={"csrf": token, "current": "given by an admin", "new": "a" * 12, "again": "b" * 12},
    )
    assert mismatch.status_code == 400 and "are not the same" in mismatch.text
    wrong = await browser.client.post(
        "/account/password",
        data={
            "csrf": token,
            "current": "nope",
            "new": "mine and only mine",
            "again": "mine and only mine",
        },
    )
    assert wrong.status_code == 400 and "current password is not right" in wrong.text
    done = await browser.client.post(
        "/account/password",
        data={
            "csrf": token,
            "current": "given by an admin",
            "new": "mine and only mine",
            "again": "mine and only mine",
        },
    )
    assert done.status_code == 303
    assert (
        "Your password has been changed"
        in (await browser.client.get(done.headers["location"])).text
    )
    assert (
        await browser_for(console).sign_in("sam@clinic.test", "given by an admin")
    ).status_code == 400
    assert (
        await browser_for(console).sign_in("sam@clinic.test", "mine and only mine")
    ).status_code == 303


async def test_changing_your_password_signs_out_your_other_browsers(
    console: Console, browser: Browser
) -> None:
    elsewhere = browser_for(console)
    await elsewhere.sign_in()
    assert (await elsewhere.client.get("/")).status_code == 200
    token = await browser.csrf("/account/password")
    new = "a brand new passphrase"
    done = await browser.client.post(
        "/account/password",
        data={"csrf": token, "current": PASSWORD, "new": new, "again": new},
    )
    assert done.status_code == 303
    assert (await browser.client.get("/")).status_code == 200  # this browser stays signed in
    assert (await elsewhere.client.get("/")).status_code == 303
