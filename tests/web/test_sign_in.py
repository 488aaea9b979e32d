"""Signing in and out, sessions, CSRF, throttling, redirects and the security headers."""

from __future__ import annotations

from datetime import timedelta

from bot.app.runtime import Runtime
from bot.app.web.console import Console
from bot.clock import ManualClock
from bot.db.models import StaffAccount
from tests.web.support import PASSWORD, Browser, browser_for, hidden


async def test_a_clinician_signs_in_and_sees_today(
    console: Console, clinician: StaffAccount
) -> None:
    browser = browser_for(console)
    page = await browser.client.get("/")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2F"
    signed_in = await browser.sign_in()
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
    cookie = signed_in.headers["set-cookie"]
    assert "pmp_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    today = await browser.client.get("/")
    assert today.status_code == 200
    assert "Today" in today.text and "Alex Clinician" in today.text
    assert "No escalation is waiting to be acknowledged." in today.text


async def test_security_headers_on_every_page(browser: Browser) -> None:
    for path in ("/", "/login", "/nowhere"):
        response = await browser.client.get(path)
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"


async def test_wrong_password_and_unknown_address_read_the_same(
    console: Console, clinician: StaffAccount
) -> None:
    browser = browser_for(console)
    wrong = await browser.sign_in(password="not the password")
    nobody = await browser.sign_in(email="nobody@clinic.test")
    assert wrong.status_code == nobody.status_code == 400
    assert "The email address or password is not right." in wrong.text
    assert wrong.text.replace("alex@clinic.test", "") == nobody.text.replace(
        "nobody@clinic.test", ""
    )
    assert "pmp_session" not in browser.client.cookies


async def test_lockout_refuses_the_right_password_until_it_ends(
    console: Console, clinician: StaffAccount, clock: ManualClock
) -> None:
    browser = browser_for(console)
    for _ in range(console.settings.web_lockout_failures):
        assert (await browser.sign_in(password="wrong password!")).status_code == 400
    locked = await browser.sign_in()
    assert locked.status_code == 429
    assert "too many tries" in locked.text and "pmp_session" not in browser.client.cookies
    # An address with no account is locked the same way: nothing says which exist.
    for _ in range(console.settings.web_lockout_failures):
        await browser.sign_in(email="nobody@clinic.test", password="wrong password!")
    assert (await browser.sign_in(email="nobody@clinic.test")).status_code == 429
    clock.advance(timedelta(minutes=console.settings.web_lockout_minutes, seconds=1))
    assert (await browser.sign_in()).status_code == 303


async def test_no_open_redirect_after_sign_in(console: Console, clinician: StaffAccount) -> None:
    for target in (
        "https://elsewhere.example",
        "//elsewhere.example",
        "/\\elsewhere.example",
        "javascript:alert(1)",
    ):
        browser = browser_for(console)
        response = await browser.sign_in(next_path=target)
        assert response.status_code == 303 and response.headers["location"] == "/", target
    browser = browser_for(console)
    page = await browser.client.get("/login?next=https://elsewhere.example")
    assert 'name="next" value="/"' in page.text
    kept = await browser.sign_in(next_path="/escalations?show=all")
    assert kept.headers["location"] == "/escalations?show=all"


async def test_sign_in_form_needs_its_token(console: Console, clinician: StaffAccount) -> None:
    browser = browser_for(console)
    await browser.client.get("/login")
    response = await browser.client.post(
        "/login", data={"email": "alex@clinic.test", "password": PASSWORD, "csrf": "forged"}
    )
    assert response.status_code == 403 and "pmp_session" not in browser.client.cookies


async def test_missing_wrong_and_old_csrf_tokens_are_refused(
    console: Console, browser: Browser
) -> None:
    old_token = await browser.csrf()
    assert (await browser.client.post("/logout")).status_code == 403
    assert (await browser.client.post("/logout", data={"csrf": "wrong"})).status_code == 403
    assert (await browser.client.post("/logout", data={"csrf": old_token})).status_code == 303
    await browser.sign_in()
    # The token of the session that signed out does not work for the new one.
    reused = await browser.client.post("/logout", data={"csrf": old_token})
    assert reused.status_code == 403 and "This form has expired" in reused.text
    assert (await browser.client.get("/")).status_code == 200


async def test_a_stolen_cookie_is_useless_after_signing_out(
    console: Console, browser: Browser
) -> None:
    stolen = browser.client.cookies["pmp_session"]
    await browser.post("/logout")
    thief = browser_for(console)
    thief.client.cookies.set("pmp_session", stolen)
    assert (await thief.client.get("/")).status_code == 303


async def test_idle_and_absolute_timeouts(
    console: Console, browser: Browser, clock: ManualClock
) -> None:
    clock.advance(timedelta(minutes=console.settings.web_idle_minutes - 1))
    assert (await browser.client.get("/")).status_code == 200
    clock.advance(timedelta(minutes=console.settings.web_idle_minutes + 1))
    assert (await browser.client.get("/")).status_code == 303
    await browser.sign_in()
    for _ in range(console.settings.web_absolute_hours * 6 + 1):
        clock.advance(timedelta(minutes=10))
        response = await browser.client.get("/")
    assert response.status_code == 303


async def test_a_disabled_account_is_signed_out_at_its_next_click(
    runtime: Runtime, browser: Browser, clinician: StaffAccount, clock: ManualClock
) -> None:
    async with runtime.sessions() as session, session.begin():
        account = await session.get(StaffAccount, clinician.id)
        assert account is not None
        account.disabled_at = clock.now()
    assert (await browser.client.get("/")).status_code == 303
    assert (await browser.sign_in()).status_code == 400


async def test_a_clinician_cannot_open_an_admin_page(browser: Browser) -> None:
    response = await browser.client.get("/staff")
    assert response.status_code == 403 and "This page is for admins" in response.text


async def test_a_huge_form_is_refused_kindly(browser: Browser) -> None:
    token = await browser.csrf()
    response = await browser.client.post("/logout", data={"csrf": token, "note": "x" * 1_000_000})
    assert response.status_code == 413 and "Nothing was saved" in response.text
    assert (await browser.client.get("/")).status_code == 200  # still signed in


async def test_static_files_cannot_climb_out(browser: Browser) -> None:
    assert (await browser.client.get("/static/console.css")).status_code == 200
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py"):
        response = await browser.client.get(path)
        assert response.status_code == 404, path
        assert "create_app" not in response.text


async def test_sign_in_and_out_are_in_the_audit_log(
    runtime: Runtime, browser: Browser, clinician: StaffAccount
) -> None:
    from sqlalchemy import select

    from bot.db.models import AuditEvent

    await browser.post("/logout")
    async with runtime.sessions() as session:
        actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["signed_in", "signed_out"]
    assert hidden((await browser.client.get("/login")).text)


async def test_many_wrong_passwords_at_once_are_still_counted_one_by_one(
    console: Console, clinician: StaffAccount, runtime: Runtime
) -> None:
    import asyncio

    from sqlalchemy import func, select

    from bot.db.models import SignInAttempt

    browsers = [browser_for(console) for _ in range(12)]
    pages = await asyncio.gather(*(b.client.get("/login") for b in browsers))
    answers = await asyncio.gather(
        *(
            b.client.post(
                "/login",
                data={"csrf": hidden(page.text), "email": "alex@clinic.test", "password": "no"},
            )
            for b, page in zip(browsers, pages, strict=True)
        )
    )
    async with runtime.sessions() as session:
        checked = await session.scalar(select(func.count()).select_from(SignInAttempt))
    # Only as many passwords were checked as the limit allows; the rest were refused unchecked.
    assert checked == console.settings.web_lockout_failures
    assert sum(answer.status_code == 429 for answer in answers) == 12 - checked


async def test_the_session_cookie_is_secure_over_https(
    console: Console, clinician: StaffAccount
) -> None:
    import httpx

    from bot.app.web.app import create_app

    transport = httpx.ASGITransport(app=create_app(console))
    async with httpx.AsyncClient(transport=transport, base_url="https://pmp.trust.test") as tls:
        browser = Browser(tls)
        signed_in = await browser.sign_in()
    assert "Secure" in signed_in.headers["set-cookie"]
    plain = await browser_for(console).sign_in()
    assert "Secure" not in plain.headers["set-cookie"]  # http://127.0.0.1 on this machine
