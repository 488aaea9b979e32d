"""The console in a real browser: sign in, and acknowledge an alert a Telegram patient raised."""

from __future__ import annotations

from bot.app.runtime import Runtime
from tests.e2e.test_escalations_telegram import alerts, alerts_recorded, enrolled, report
from tests.fakes.fake_user import FakeGroup
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.web.browser.conftest import Console

MAIN_PAGES = {
    "today": "/",
    "escalations": "/escalations",
}


async def test_signing_in_lands_on_today(live: Console) -> None:
    await live.page.goto(live.address)
    assert live.page.url.startswith(f"{live.address}/login")
    await live.screenshot("sign-in")
    await live.page.get_by_label("Email address").fill("alex@clinic.test")
    await live.page.get_by_label("Password").fill("not my password")
    await live.page.get_by_role("button", name="Sign in").click()
    assert await live.page.get_by_text("The email address or password is not right.").is_visible()
    await live.sign_in()
    heading = await live.page.get_by_role("heading", level=1).inner_text()
    assert heading.startswith("Today, ")
    assert await live.page.get_by_text("Alex Clinician (clinician)").is_visible()


async def test_acknowledging_a_telegram_patients_alert_in_the_browser(
    live: Console, api: FakeTelegramAPI, runtime: Runtime, staff_group: FakeGroup
) -> None:
    patient = await enrolled(api, runtime, 7301)
    await report(patient, "Much worse <b>since</b> the walk")
    await api.wait_for(lambda: len(alerts(staff_group)) == 1)
    await alerts_recorded(runtime, 1)
    (alert,) = alerts(staff_group)

    await live.sign_in()
    urgent = live.page.locator("a.nhsuk-card__link").first
    assert "More pain" in await urgent.inner_text()
    await urgent.click()
    await live.page.get_by_role("button", name="Show the patient's words").click()
    words = live.page.locator("#own-words")
    await words.wait_for()
    assert await words.inner_text() == "Much worse <b>since</b> the walk"  # shown literally
    await live.page.get_by_role("button", name="Acknowledge").click()
    await live.page.get_by_text("Acknowledged. The staff group's message now shows it").wait_for()
    await live.screenshot("escalation")

    await api.wait_for(lambda: alert.edited)
    assert alert.text is not None and "Acknowledged by Alex Clinician" in alert.text
    await api.wait_for(lambda: "has seen your message" in (patient.last.text or ""))
    # The button is gone: a second press cannot happen here.
    assert await live.page.get_by_role("button", name="Acknowledge").count() == 0


async def test_main_pages_have_no_serious_accessibility_problems(live: Console) -> None:
    await live.sign_in()
    for name, path in MAIN_PAGES.items():
        await live.page.goto(f"{live.address}{path}")
        await live.screenshot(name)
        problems = await live.accessibility_problems(path)
        assert problems == [], (path, problems)
