"""A crisis storm with the bot killed at random moments: the real `pmp run` process, SIGKILL,
restart, and the fake Bot API over TCP. Used by tests/e2e/test_kill_storm.py (a few kills) and
benchmarks/kill_storm.py (fifty).

What it counts, from what patients and the staff group actually received:
- the longest a patient waited for the bot's first reply to a message (the stall);
- messages never answered;
- staff alerts missing (an escalation with no alert) or sent more than once;
- crisis replies sent more than once for one message.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from bot.app.runtime import open_runtime
from bot.config import Settings
from bot.db.models import Escalation, OutboxMessage
from tests.fakes.fake_user import FakeGroup, FakeUser
from tests.fakes.telegram_api import FakeTelegramAPI, serve_on_loopback

PMP = str(Path(sys.executable).with_name("pmp"))
BOT_USERNAME = "pmp_storm_bot"
STAFF_CHAT = -100_777
CRISIS = "I can't do this any more. I want to end my life"
CRISIS_REPLY = "Thank you for telling me"
ALERT_TITLE = "URGENT RISK"
ACK_DATA = re.compile(r"^e:ack:(\d+)$")
REPLY_TIMEOUT = 120.0


@dataclass
class StormResult:
    """What a storm did to the people in it."""

    kills: int = 0
    messages: int = 0
    waits: list[float] = field(default_factory=list)
    unanswered: int = 0
    escalations: int = 0
    alerts_missing: int = 0
    duplicate_alerts: int = 0
    duplicate_crisis_replies: int = 0

    @property
    def worst_wait(self) -> float:
        """The longest wait for a first reply, in seconds."""
        return max(self.waits, default=0.0)

    def summary(self) -> str:
        """One line of figures."""
        waits = sorted(self.waits)
        median = waits[len(waits) // 2] if waits else 0.0
        return (
            f"kills {self.kills}, messages {self.messages}, first reply median {median:.1f} s, "
            f"worst {self.worst_wait:.1f} s, unanswered {self.unanswered}, escalations "
            f"{self.escalations}, alerts missing {self.alerts_missing}, duplicate alerts "
            f"{self.duplicate_alerts}, duplicate crisis replies {self.duplicate_crisis_replies}"
        )


class Bot:
    """The `pmp run` process, started and killed."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, api: FakeTelegramAPI) -> None:
        """Start it and wait until it polls."""
        self.process = await asyncio.create_subprocess_exec(
            PMP,
            "run",
            env=self.env,
            cwd=self.workdir,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await api.wait_until_polling(timeout=60)

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        """A clean stop."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=30)
            except TimeoutError:
                await self.kill()


async def _pmp(env: dict[str, str], *args: str) -> object:
    """Run a `pmp` command and return its JSON."""
    process = await asyncio.create_subprocess_exec(
        PMP, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"pmp {' '.join(args)} failed: {err.decode()[-500:]}")
    return json.loads(out)


async def _reply_after(api: FakeTelegramAPI, user: FakeUser, mark: int, sent: float) -> float:
    """Seconds until the bot's first message to `user` after the first `mark` of them."""
    await api.wait_for(lambda: len(user.messages) > mark, timeout=REPLY_TIMEOUT)
    return time.monotonic() - sent


async def _say(api: FakeTelegramAPI, user: FakeUser, text: str, result: StormResult) -> None:
    """Send, and wait for the first reply (counted as unanswered if none comes)."""
    mark = len(user.messages)
    sent = time.monotonic()
    await user.send(text)
    result.messages += 1
    try:
        result.waits.append(await _reply_after(api, user, mark, sent))
    except AssertionError:
        result.unanswered += 1


async def _patient_round(api: FakeTelegramAPI, user: FakeUser, result: StormResult) -> None:
    """One patient's part of a round: a crisis message, then the answer to the question."""
    before = sum((m.text or "").startswith(CRISIS_REPLY) for m in user.messages)
    await _say(api, user, CRISIS, result)
    # The plan question follows the crisis reply; wait for it before answering.
    try:
        await api.wait_for(
            lambda: any("thought about how" in (m.text or "") for m in user.messages[-3:]),
            timeout=REPLY_TIMEOUT,
        )
    except AssertionError:
        result.unanswered += 1
    await _say(api, user, "no", result)
    got = sum((m.text or "").startswith(CRISIS_REPLY) for m in user.messages) - before
    result.duplicate_crisis_replies += max(0, got - 1)


async def _enrol(api: FakeTelegramAPI, env: dict[str, str], count: int) -> list[FakeUser]:
    """`count` patients who joined through their links."""
    cohort = await _pmp(
        env,
        "cohort",
        "create",
        "--name",
        "Storm",
        "--start",
        _next_monday().isoformat(),
        "--mode",
        "in-person",
        "--location",
        "Room 4",
        "--json",
    )
    assert isinstance(cohort, dict)
    codes = await _pmp(
        env, "invite", "create", "--cohort", str(cohort["id"]), "--count", str(count), "--json"
    )
    assert isinstance(codes, list)
    users = []
    for n, invite in enumerate(codes):
        user = api.user(810_000 + n, first_name=f"Pat{n}")
        await user.ask(f"/start {invite['code']}", timeout=30)
        await user.tap("Yes, I agree", timeout=30)
        await user.tap(f"Call me Pat{n}", timeout=30)
        users.append(user)
    return users


def _next_monday() -> date:
    """Groups start on a Monday: the coming one (today, if it is Monday)."""
    today = datetime.now(UTC).date()
    return today + timedelta(days=(7 - today.weekday()) % 7)


async def _resolve_all(settings: Settings) -> None:
    """Close every escalation, so the next round's crisis messages make new ones."""
    runtime = await open_runtime(settings, migrate=False)
    try:
        async with runtime.sessions() as session, session.begin():
            await session.execute(
                update(Escalation).values(status="resolved", resolved_at=datetime.now(UTC))
            )
    finally:
        await runtime.close()


async def _settled(settings: Settings, timeout: float = 90.0) -> None:
    """Wait until no staff alert is waiting to be sent (a dead claim is taken over in 10 s)."""
    runtime = await open_runtime(settings, migrate=False)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with runtime.sessions() as session:
                waiting = await session.scalar(
                    select(OutboxMessage.id)
                    .where(
                        OutboxMessage.kind == "alert",
                        OutboxMessage.status.in_(("pending", "sending")),
                    )
                    .limit(1)
                )
            if waiting is None:
                await asyncio.sleep(1)  # the last sends reach the fake
                return
            await asyncio.sleep(0.5)
    finally:
        await runtime.close()


async def _count_alerts(settings: Settings, group: FakeGroup, result: StormResult) -> None:
    """Original alerts per escalation, from the staff group's messages."""
    copies: dict[int, int] = {}
    for message in group.messages:
        if not (message.text or "").startswith(ALERT_TITLE):
            continue
        for row in message.buttons:
            for _label, data in row:
                found = ACK_DATA.match(data or "")
                if found:
                    copies[int(found.group(1))] = copies.get(int(found.group(1)), 0) + 1
    runtime = await open_runtime(settings, migrate=False)
    try:
        async with runtime.sessions() as session:
            ids = list(await session.scalars(select(Escalation.id)))
    finally:
        await runtime.close()
    result.escalations = len(ids)
    result.alerts_missing = sum(1 for escalation in ids if escalation not in copies)
    result.duplicate_alerts = sum(max(0, n - 1) for n in copies.values())


async def run_storm(
    database_url: str, workdir: Path, kills: int, patients: int = 20, seed: int = 12
) -> StormResult:
    """Enrol `patients`, then `kills` rounds: every patient in crisis at once, the bot killed
    at a random moment of it and started again."""
    rng = random.Random(seed)
    result = StormResult()
    async with FakeTelegramAPI(bot_username=BOT_USERNAME) as api:
        group = api.group(STAFF_CHAT, "PMP staff")
        async with serve_on_loopback(api) as base_url:
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "TELEGRAM_BOT_TOKEN": api.token,
                "TELEGRAM_BOT_USERNAME": BOT_USERNAME,
                "TELEGRAM_API_BASE_URL": base_url,
                "STAFF_CHAT_ID": str(STAFF_CHAT),
                "LOG_LEVEL": "WARNING",
                "NO_PROXY": "127.0.0.1",
            }
            settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
            bot = Bot(env, workdir)
            await bot.start(api)
            try:
                users = await _enrol(api, env, patients)
                for _ in range(kills):
                    storm = asyncio.gather(*(_patient_round(api, u, result) for u in users))
                    await asyncio.sleep(rng.uniform(0.05, 1.5))
                    await bot.kill()
                    result.kills += 1
                    await bot.start(api)
                    await storm
                    await _resolve_all(settings)
                await _settled(settings)
            finally:
                await bot.stop()
            await _count_alerts(settings, group, result)
    return result
