"""Helpers for console tests: a staff account, a signed-in httpx client, the CSRF token."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from bot.app.runtime import Runtime
from bot.app.web.app import create_app
from bot.app.web.console import Console
from bot.db.models import StaffAccount
from bot.services import staff_accounts
from bot.services.escalations import Escalator

PASSWORD = "correct horse battery staple"
BASE = "http://console.test"


def make_console(runtime: Runtime, staff_chats: dict[str, str] | None = None) -> Console:
    """The console over a test runtime; alerts as the tests' staff group has them."""
    chats = {"console": "staff"} if staff_chats is None else staff_chats
    return Console(
        settings=runtime.settings,
        clock=runtime.clock,
        sessions=runtime.sessions,
        content=runtime.content,
        escalator=Escalator.from_settings(runtime.settings, runtime.content, chats),
    )


async def add_staff(
    runtime: Runtime,
    email: str = "alex@clinic.test",
    role: str = "clinician",
    name: str = "Alex Clinician",
    password: str = PASSWORD,
) -> StaffAccount:
    """A console account."""
    async with runtime.sessions() as session, session.begin():
        # An account in use: its own password chosen (the first-password step is tested apart).
        return await staff_accounts.add_account(
            session, email, name, role, password, runtime.clock.now(), chosen_by_them=True
        )


def hidden(html: str, name: str = "csrf") -> str:
    """The value of a hidden field of a page."""
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name} field on the page"
    return found.group(1)


@dataclass
class Browser:
    """An httpx client on the console app, keeping cookies as a browser does."""

    client: httpx.AsyncClient

    async def sign_in(
        self, email: str = "alex@clinic.test", password: str = PASSWORD, next_path: str = "/"
    ) -> httpx.Response:
        """Open the sign-in page and send the form."""
        page = await self.client.get("/login")
        return await self.client.post(
            "/login",
            data={
                "csrf": hidden(page.text),
                "email": email,
                "password": password,
                "next": next_path,
            },
        )

    async def csrf(self, path: str = "/") -> str:
        """The session's CSRF token, read off a page."""
        page = await self.client.get(path)
        assert page.status_code == 200, page.text
        return hidden(page.text)

    async def post(
        self, path: str, data: dict[str, str] | None = None, **kwargs: object
    ) -> httpx.Response:
        """Send a form with the session's CSRF token."""
        fields = {"csrf": await self.csrf(), **(data or {})}
        return await self.client.post(path, data=fields, **kwargs)  # type: ignore[arg-type]


def browser_for(console: Console) -> Browser:
    """A fresh browser (no cookies) on the console."""
    transport = httpx.ASGITransport(app=create_app(console))
    return Browser(httpx.AsyncClient(transport=transport, base_url=BASE))


def unsigned(location: str) -> str:
    """Where a form sent the browser, without the signature that keeps its notice private."""
    return re.sub(r"&n=[0-9a-f]+$", "", location)
