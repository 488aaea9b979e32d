"""The real PTB Application, in polling and in webhook mode, against the fake Bot API."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator

import pytest

from bot.app.runtime import Runtime
from bot.app.telegram_service import TelegramService
from tests.conftest import BOT_USERNAME, STAFF_CHAT_ID
from tests.fakes.fake_user import FakeGroup, FakeUser
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.helpers import make_cohort, make_invites


def free_port() -> int:
    """A loopback port nobody is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    """The fake Telegram Bot API."""
    async with FakeTelegramAPI(bot_username=BOT_USERNAME) as fake:
        yield fake


@pytest.fixture
def staff_group(api: FakeTelegramAPI) -> FakeGroup:
    """The staff group chat."""
    return api.group(STAFF_CHAT_ID, "PMP staff")


async def at_name_step(api: FakeTelegramAPI, runtime: Runtime, user_id: int) -> FakeUser:
    """A Telegram user who opened a fresh invite link and agreed: now asked for a name."""
    (invite,) = await make_invites(runtime, await make_cohort(runtime))
    user = api.user(user_id)
    await user.ask(f"/start {invite.code}")
    await user.tap("Yes, I agree")
    return user


async def start_service(
    runtime: Runtime, api: FakeTelegramAPI, mode: str, retry_base_seconds: float = 0.05
) -> TelegramService:
    """Start the bot as `pmp run` would, pointed at the fake."""
    port = free_port()
    settings = runtime.settings.model_copy(
        update={
            "telegram_mode": mode,
            "telegram_api_base_url": api.base_url,
            "webhook_url": f"http://127.0.0.1:{port}/telegram",
            "webhook_listen": "127.0.0.1",
            "webhook_port": port,
        }
    )
    service = TelegramService(
        dataclasses.replace(runtime, settings=settings),
        request=api.httpx_request(),
        get_updates_request=api.httpx_request(),
        urgent_request=api.httpx_request(),
        poll_seconds=1,
    )
    service.retry_base_seconds = retry_base_seconds
    await service.start()
    if mode == "polling":
        await api.wait_until_polling()
    return service


@pytest.fixture(params=["polling", "webhook"])
async def service(
    request: pytest.FixtureRequest, runtime: Runtime, api: FakeTelegramAPI, staff_group: FakeGroup
) -> AsyncIterator[TelegramService]:
    """The running bot."""
    running = await start_service(runtime, api, request.param)
    yield running
    await running.stop()
