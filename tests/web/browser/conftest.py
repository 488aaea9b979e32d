"""A real headless Chromium (Debian's, driven by Playwright) on the console that `pmp run`
serves, with the bot running against the fake Telegram Bot API."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from bot.db.models import StaffAccount
from tests.e2e import conftest as e2e
from tests.e2e.conftest import start_service
from tests.fakes.fake_user import FakeGroup
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.web.support import PASSWORD, add_staff

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("PMP_CHROMIUM", "/usr/bin/chromium")
# Where the run leaves a picture of each main page for a reviewer (named in the README).
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"
# WCAG 2.2 AA and what it includes.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@dataclass
class Console:
    """The running console, a browser on it, and what the browser reported."""

    service: TelegramService
    browser: Browser
    context: BrowserContext
    page: Page
    address: str
    # Content-Security-Policy violations and script errors seen by the browser.
    errors: list[str] = field(default_factory=list)

    async def sign_in(self, email: str = "alex@clinic.test", password: str = PASSWORD) -> None:
        """Sign in through the form, as a person does."""
        await self.page.goto(f"{self.address}/login")
        await self.page.get_by_label("Email address").fill(email)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Sign in").click()
        await self.page.wait_for_url(f"{self.address}/")

    async def screenshot(self, name: str) -> Path:
        """Keep a full-page picture under test-artifacts/screenshots/."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def accessibility_problems(self, path: str) -> list[dict[str, Any]]:
        """Serious and critical WCAG 2.2 AA violations axe-core finds on a page, read as the
        signed-in browser sees it (axe is injected with the page's CSP set aside for it)."""
        state = await self.context.storage_state()
        checker = await self.browser.new_context(bypass_csp=True, storage_state=state)
        try:
            page = await checker.new_page()
            await page.goto(f"{self.address}{path}")
            await page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
            result = await page.evaluate(
                "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
            )
        finally:
            await checker.close()
        return [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]


# The fake Bot API and the staff group, as the Telegram end-to-end tests have them.
api = e2e.api
staff_group = e2e.staff_group


@pytest.fixture
async def clinician_account(runtime: Runtime) -> StaffAccount:
    """Alex, a clinician with a console account."""
    return await add_staff(runtime)


@pytest.fixture
async def live(
    runtime: Runtime,
    api: FakeTelegramAPI,
    staff_group: FakeGroup,
    clinician_account: StaffAccount,
) -> AsyncIterator[Console]:
    """`pmp run` (polling the fake Bot API, serving the console) and Chromium looking at it."""
    service = await start_service(runtime, api, "polling")
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(
        executable_path=CHROMIUM,
        # Root in CI containers has no user namespaces for Chromium's sandbox.
        args=["--no-sandbox", "--disable-dev-shm-usage"],
    )
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = await context.new_page()
    console = Console(service, browser, context, page, service.web_address)
    page.on(
        "console",
        lambda message: _keep_error(console, message.type, message.text, message.location),
    )
    page.on("pageerror", lambda error: console.errors.append(f"script error: {error}"))
    try:
        yield console
    finally:
        await context.close()
        await browser.close()
        await playwright.stop()
        await service.stop()
    assert not console.errors, json.dumps(console.errors, indent=2)


def _keep_error(console: Console, kind: str, text: str, where: dict[str, Any]) -> None:
    """Keep what the browser's console says went wrong (a CSP refusal above all). A page sent
    with an error status on purpose (a wrong password is a 400) is not a fault of the page."""
    page_status = "the server responded with a status of 4" in text and "/static/" not in str(
        where.get("url", "")
    )
    if (kind == "error" and not page_status) or "Content Security Policy" in text:
        console.errors.append(text)
