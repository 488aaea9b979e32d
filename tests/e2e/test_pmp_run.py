"""`pmp run` as an operator starts it: a real process, real settings, the fake Bot API over TCP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.safety.lexicon import DEFAULT_LEXICON_PATH
from tests.conftest import BOT_USERNAME
from tests.e2e.conftest import free_port
from tests.fakes.telegram_api import FakeTelegramAPI, serve_on_loopback

PMP = str(Path(sys.executable).with_name("pmp"))


def coming_monday() -> str:
    """A start `pmp cohort create` accepts by the real clock: it refuses dates in the past."""
    today = datetime.now(UTC).date()
    return (today + timedelta(days=7 - today.weekday())).isoformat()


@pytest.fixture
async def served_api(api: FakeTelegramAPI) -> AsyncIterator[str]:
    """The fake Bot API on a loopback port; yields its base URL."""
    async with serve_on_loopback(api) as base_url:
        yield base_url


def bot_env(api: FakeTelegramAPI, served_api: str, db_url: str, **settings: str) -> dict[str, str]:
    """The environment an operator gives `pmp`, pointed at the fake Bot API; `settings` on top."""
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_BOT_USERNAME": BOT_USERNAME,
        "TELEGRAM_API_BASE_URL": served_api,
        "STAFF_CHAT_ID": "-100777",
        "LOG_LEVEL": "INFO",
        "NO_PROXY": "127.0.0.1",
        "WEB_PORT": "0",
        **settings,
    }


async def stop(bot: asyncio.subprocess.Process, timeout: float = 30) -> tuple[bytes, bytes]:
    """Stop a `pmp run` as an operator would (Ctrl-C) and return what it printed; one that has
    not stopped in time is killed, so no test leaves a bot running behind it, and fails."""
    bot.send_signal(signal.SIGINT)
    try:
        out, err = await asyncio.wait_for(bot.communicate(), timeout=timeout)
    except TimeoutError:
        bot.kill()
        await bot.wait()
        raise AssertionError(f"pmp run did not stop within {timeout:.0f} s of Ctrl-C") from None
    return out or b"", err or b""


async def pmp(env: dict[str, str], *args: str) -> str:
    """Run a `pmp` command to completion and return what it printed."""
    process = await asyncio.create_subprocess_exec(
        PMP, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_pmp_run_serves_a_patient_on_telegram(
    api: FakeTelegramAPI, served_api: str, db_url: str, tmp_path: Path
) -> None:
    env = bot_env(api, served_api, db_url)
    cohort = json.loads(
        await pmp(
            env,
            "cohort",
            "create",
            "--name",
            "Autumn",
            "--start",
            coming_monday(),
            "--mode",
            "in-person",
            "--location",
            "Room 4",
            "--json",
        )
    )
    (invite,) = json.loads(
        await pmp(env, "invite", "create", "--cohort", str(cohort["id"]), "--json")
    )

    web_port = free_port()
    env["WEB_PORT"] = str(web_port)
    bot = await asyncio.create_subprocess_exec(
        PMP, "run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    try:
        user = api.user(9100)
        await api.wait_until_polling(timeout=30)
        replies = await user.ask(f"/start {invite['code']}", timeout=15)
        assert "You have been invited to join Autumn" in replies[0].text
        # The staff console is served by the same process.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port}") as browser:
            page = await browser.get("/login")
        assert page.status_code == 200 and "Sign in to the staff console" in page.text
    finally:
        _out, err = await stop(bot)
    logged = err.decode()
    assert "telegram bot started" in logged
    assert api.token not in logged and invite["code"] not in logged
    assert "Traceback" not in logged


async def test_pmp_run_refuses_to_start_with_nowhere_to_send_staff_alerts(
    api: FakeTelegramAPI, served_api: str, db_url: str
) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("STAFF_CHAT_ID", "TEAMS_WEBHOOK_URL")
    }
    env.update(
        {
            "DATABASE_URL": db_url,
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_BASE_URL": served_api,
            "NO_PROXY": "127.0.0.1",
        }
    )
    process = await asyncio.create_subprocess_exec(
        PMP, "run", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert (
        "set STAFF_CHAT_ID (the staff Telegram group), TEAMS_STAFF_CONVERSATION_ID (the staff "
        "Teams channel) or TEAMS_WEBHOOK_URL" in err.decode()
    )
    assert "Traceback" not in err.decode()
    assert api.token not in err.decode()


async def test_pmp_run_refuses_to_start_with_a_broken_lexicon_entry(
    api: FakeTelegramAPI, served_api: str, db_url: str, tmp_path: Path
) -> None:
    # Never run without a screen: a lexicon entry that does not compile stops the start.
    broken = tmp_path / "risk_lexicon.toml"
    broken.write_text(
        DEFAULT_LEXICON_PATH.read_text(encoding="utf-8")
        + '\n[[risk]]\nid = "typo-entry"\nlevel = "crisis"\nconcern = "self"\n'
        + "note = \"a typo\"\npatterns = ['\\\\bwant to (die']\n",
        encoding="utf-8",
    )
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": db_url,
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_BASE_URL": served_api,
            "STAFF_CHAT_ID": "-100",
            "RISK_LEXICON_PATH": str(broken),
            "NO_PROXY": "127.0.0.1",
        }
    )
    process = await asyncio.create_subprocess_exec(
        PMP, "run", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert "risk lexicon entry 'typo-entry'" in err.decode()
    assert "Traceback" not in err.decode()


async def test_pmp_run_with_a_token_telegram_rejects_says_so_without_printing_it(
    api: FakeTelegramAPI, served_api: str, db_url: str
) -> None:
    wrong = "987654:WRONG-token-that-must-stay-secret"
    env = bot_env(api, served_api, db_url, TELEGRAM_BOT_TOKEN=wrong)
    process = await asyncio.create_subprocess_exec(
        PMP, "run", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in err.decode()
    assert "WRONG-token" not in (out + err).decode()


async def test_pmp_health_passes_while_the_bot_receives_and_fails_once_it_stops(
    api: FakeTelegramAPI, served_api: str, db_url: str, tmp_path: Path
) -> None:
    env = bot_env(api, served_api, db_url)
    before = await asyncio.create_subprocess_exec(
        PMP, "health", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert await before.wait() == 1  # no bot running yet
    bot = await asyncio.create_subprocess_exec(
        PMP, "run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    try:
        await api.wait_until_polling(timeout=30)
        assert "OK: the bot said it was receiving" in await pmp(env, "health")
    finally:
        await stop(bot)
    after = await asyncio.create_subprocess_exec(
        PMP, "health", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, _err = await after.communicate()
    assert after.returncode == 1 and "Unhealthy" in out.decode()


async def test_pmp_run_passes_over_an_update_it_cannot_read_and_answers_the_next_crisis(
    api: FakeTelegramAPI, served_api: str, db_url: str, tmp_path: Path
) -> None:
    env = bot_env(api, served_api, db_url)
    sender, writer = api.user(9110, first_name="Zed"), api.user(9111)
    poll = {
        "id": "5",
        "question": "How is everyone?",
        "options": [{"text": "fine"}],  # no voter_count: PTB cannot read it
        "total_voter_count": 0,
        "is_closed": False,
        "is_anonymous": True,
        "type": "regular",
        "allows_multiple_answers": False,
    }
    chat = {"id": 9110, "type": "private", "first_name": "Zed"}
    base = {"from": sender.to_api(), "chat": chat, "date": api.now()}
    # Waiting before the bot starts, so its very first getUpdates holds them all.
    api.inject_update({"message": {"message_id": 1, **base, "poll": poll}})
    api.inject_update({"message": {"message_id": 2, **base, "chat": {}, "text": "zebra"}})
    bot = await asyncio.create_subprocess_exec(
        PMP, "run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    try:
        await api.wait_until_polling(timeout=30)
        replies = await writer.ask("I want to end my life", timeout=15)
        assert any("Samaritans: call 116 123" in (r.text or "") for r in replies)
    finally:
        _out, err = await stop(bot)
    logged = err.decode()
    assert "an update could not be read and was passed over" in logged
    assert "How is everyone" not in logged and "zebra" not in logged
    assert "Traceback" not in logged


async def test_pmp_run_with_its_database_frozen_still_sends_crisis_numbers_at_once(
    api: FakeTelegramAPI, served_api: str, db_url: str, tmp_path: Path
) -> None:
    from tests.e2e.test_faults_telegram import freezable_url

    async with freezable_url(db_url) as (url, frozen):
        env = bot_env(api, served_api, url)
        staff = api.group(-100777, "PMP staff")
        cohort = json.loads(
            await pmp(
                env, "cohort", "create", "--name", "Frozen", "--start", coming_monday(),
                "--mode", "in-person", "--location", "Room 4", "--json",
            )
        )  # fmt: skip
        codes = json.loads(
            await pmp(env, "invite", "create", "--cohort", str(cohort["id"]), "--count", "2",
                      "--json")
        )  # fmt: skip
        bot = await asyncio.create_subprocess_exec(
            PMP, "run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            await api.wait_until_polling(timeout=30)
            first, second = api.user(9120, first_name="Ann"), api.user(9121, first_name="Bo")
            for user, invite in ((first, codes[0]), (second, codes[1])):
                await user.ask(f"/start {invite['code']}", timeout=15)
                await user.tap("Yes, I agree", timeout=15)
                await user.tap(f"Call me {user.first_name}", timeout=15)
            async with frozen():
                await first.send("quiet day today")  # its turn waits on the frozen database
                await asyncio.sleep(0.3)
                mark = len(second.messages)
                await second.send("I want to end my life")
                await api.wait_for(
                    lambda: any(
                        (m.text or "").startswith("Thank you for telling me")
                        for m in second.messages[mark:]
                    ),
                    timeout=10,
                )
            # Thawed: the turn is recorded and staff get the usual alert.
            await api.wait_for(
                lambda: any((m.text or "").startswith("URGENT RISK") for m in staff.messages),
                timeout=60,
            )
        finally:
            await stop(bot, timeout=60)


async def test_pmp_run_when_telegram_cannot_be_reached_says_so_in_a_line_and_keeps_trying(
    api: FakeTelegramAPI, db_url: str, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/bot"
    env = bot_env(api, closed, db_url)
    bot = await asyncio.create_subprocess_exec(
        PMP, "run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    assert bot.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(30):
            while sum("Telegram cannot be reached" in line for line in lines) < 3:
                lines.append((await bot.stderr.readline()).decode())
        assert bot.returncode is None  # still running, still trying
    finally:
        _out, rest = await stop(bot)
    text = "".join(lines) + rest.decode()
    assert "Traceback" not in text
    tries = [line for line in lines if "Telegram cannot be reached" in line]
    assert all(len(line) < 300 for line in tries)  # one short line each
    assert "in_seconds=1.0" in tries[0] and "in_seconds=2.0" in tries[1]  # backing off
    assert api.token not in text
