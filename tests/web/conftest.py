"""Fixtures for console tests: the console, a clinician and an admin, signed-in browsers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app.runtime import Runtime
from bot.app.web.console import Console
from bot.db.models import StaffAccount
from tests.web.support import Browser, add_staff, browser_for, make_console


@pytest.fixture
def console(runtime: Runtime) -> Console:
    """The console over the test runtime."""
    return make_console(runtime)


@pytest.fixture
async def clinician(runtime: Runtime) -> StaffAccount:
    """Alex, a clinician with a console account."""
    return await add_staff(runtime)


@pytest.fixture
async def admin(runtime: Runtime) -> StaffAccount:
    """Jo, an admin."""
    return await add_staff(runtime, "jo@clinic.test", "admin", "Jo Admin")


@pytest.fixture
async def browser(console: Console, clinician: StaffAccount) -> AsyncIterator[Browser]:
    """A browser signed in as Alex."""
    browser = browser_for(console)
    response = await browser.sign_in()
    assert response.status_code == 303, response.text
    yield browser
    await browser.client.aclose()


@pytest.fixture
async def admin_browser(console: Console, admin: StaffAccount) -> AsyncIterator[Browser]:
    """A browser signed in as Jo, an admin."""
    browser = browser_for(console)
    response = await browser.sign_in("jo@clinic.test")
    assert response.status_code == 303, response.text
    yield browser
    await browser.client.aclose()
