"""In webhook mode the Telegram webhook and the console share one web server."""

from __future__ import annotations

import dataclasses

import httpx

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from tests.e2e import conftest as e2e
from tests.e2e.conftest import at_name_step, free_port
from tests.fakes.fake_user import FakeGroup
from tests.fakes.telegram_api import FakeTelegramAPI

api = e2e.api
staff_group = e2e.staff_group


async def test_one_server_for_the_webhook_and_the_console(
    runtime: Runtime, api: FakeTelegramAPI, staff_group: FakeGroup
) -> None:
    port = free_port()
    settings = runtime.settings.model_copy(
        update={
            "telegram_mode": "webhook",
            "telegram_api_base_url": api.base_url,
            "webhook_url": f"http://127.0.0.1:{port}/telegram",
            "web_port": port,
        }
    )
    assert not settings.webhook_apart
    service = TelegramService(
        dataclasses.replace(runtime, settings=settings),
        request=api.httpx_request(),
        get_updates_request=api.httpx_request(),
        urgent_request=api.httpx_request(),
    )
    await service.start()
    try:
        assert service.web_address == f"http://127.0.0.1:{port}"
        user = await at_name_step(api, runtime, 9301)
        replies = await user.ask("Robin")
        assert any("Robin" in (reply.text or "") for reply in replies)
        async with httpx.AsyncClient(base_url=service.web_address) as browser:
            page = await browser.get("/login")
            forged = await browser.post("/telegram", json={"update_id": 1})
        assert page.status_code == 200 and "Sign in to the staff console" in page.text
        assert forged.status_code == 403  # the webhook still wants Telegram's secret
        assert service.receiving()
    finally:
        await service.stop()
