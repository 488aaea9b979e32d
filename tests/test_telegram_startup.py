"""Starting while Telegram cannot be reached: wait and try again, never give up."""

from __future__ import annotations

import pytest
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.app.telegram_service import until_telegram_answers


async def test_tries_again_until_telegram_answers(caplog: pytest.LogCaptureFixture) -> None:
    failures: list[Exception] = [NetworkError("connect failed"), TimedOut()]
    calls = 0

    async def connect() -> None:
        nonlocal calls
        calls += 1
        if failures:
            raise failures.pop(0)

    await until_telegram_answers(connect, waits=(0.0,))
    assert calls == 3
    assert caplog.text.count("Telegram cannot be reached") == 2
    assert "Telegram answered: starting" in caplog.text


async def test_a_refusal_from_telegram_is_not_waited_on() -> None:
    async def connect() -> None:
        raise BadRequest("Chat not found")

    with pytest.raises(BadRequest):
        await until_telegram_answers(connect, waits=(0.0,))
