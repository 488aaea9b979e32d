"""Dialog turns per second through our Telegram adapter, next to a bare PTB echo bot.

Both bots run in this process and event loop, one after the other, each against its own
in-process fake Bot API (tests/fakes). Users talk in a closed loop: all at once, each sending
its next message only when the reply to the previous one has arrived.

Run from the repository root::

    .venv/bin/python benchmarks/turns.py [--users 20] [--turns-per-user 100]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test] [--json]

A PostgreSQL database given with --database-url is WIPED (schema dropped and recreated).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

# Run as a plain script from the repository root: make `bot`, `tests`, ... importable.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import sqlalchemy  # noqa: E402
import telegram  # noqa: E402
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update  # noqa: E402
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: E402

from benchmarks.databases import describe_database, prepare_database  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.content import Content  # noqa: E402
from bot.app.runtime import Runtime, open_runtime  # noqa: E402
from bot.app.telegram_service import TelegramService  # noqa: E402
from bot.time.calendar import programme_days, status_on  # noqa: E402
from tests.fakes.fake_user import FakeUser  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402
from tests.helpers import make_cohort, make_invites  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
BOT_USERNAME = "pmp_bench_bot"
STAFF_CHAT_ID = -100888
FIRST_USER_ID = 70_001
# A Thursday before the group starts: /today answers "your group starts on ...".
START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
PROGRAMME_START = date(2026, 12, 7)  # the group tests.helpers.make_cohort makes
# Invented first names for the benchmark patients.
NAMES = ("Robin", "Sam", "Alex", "Jordan", "Morgan", "Casey", "Riley", "Quinn", "Avery", "Jesse")
WARMUP_TURNS = 3
TARGET_RATIO = 0.5
# Generous: a turn waits behind every other user's turn in the queue.
TURN_TIMEOUT_SECONDS = 60.0

AskFn = Callable[[FakeUser, int], Awaitable[None]]


@dataclass
class Result:
    """Figures for one bot: turns, wall time and per-turn latency."""

    turns: int
    seconds: float
    latencies: list[float]

    @property
    def turns_per_second(self) -> float:
        """Total turns over wall time."""
        return self.turns / self.seconds

    def percentile_ms(self, pct: int) -> float:
        """Latency percentile in milliseconds (inclusive method, so small samples work)."""
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[pct - 1] * 1000

    def to_json(self) -> dict[str, float | int]:
        """The figures as a JSON-ready dict."""
        return {
            "turns": self.turns,
            "seconds": round(self.seconds, 4),
            "turns_per_second": round(self.turns_per_second, 1),
            "latency_p50_ms": round(self.percentile_ms(50), 2),
            "latency_p95_ms": round(self.percentile_ms(95), 2),
        }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20, help="concurrent users (default 20)")
    parser.add_argument(
        "--turns-per-user", type=int, default=100, help="timed turns per user (default 100)"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a fresh SQLite file in a temp folder; a PostgreSQL database is WIPED",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds of all three bots, interleaved; medians are reported (default 3)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.users < 1 or args.turns_per_user < 1 or args.rounds < 1:
        parser.error("--users, --turns-per-user and --rounds must be at least 1")
    return args


async def closed_loop(users: Sequence[FakeUser], turns: int, ask: AskFn) -> Result:
    """All users at once, each sending its next message only after the previous reply."""
    latencies: list[float] = []

    async def one_user(user: FakeUser) -> None:
        for turn in range(turns):
            began = time.perf_counter()
            await ask(user, turn)
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for user in users:
            group.create_task(one_user(user))
    return Result(len(users) * turns, time.perf_counter() - began, latencies)


async def measure(users: Sequence[FakeUser], turns: int, ask: AskFn) -> Result:
    """Warm up (untimed), then run the timed closed loop."""
    await closed_loop(users, WARMUP_TURNS, ask)
    return await closed_loop(users, turns, ask)


# ---- bare PTB echo bot ------------------------------------------------------------------------


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply with the same text."""
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


async def echo_ask(user: FakeUser, turn: int) -> None:
    """One echo turn; PTB's Updater confirms before the handler runs, so wait for the reply."""
    sent = f"echo {user.user_id} {turn}"
    replies = await user.ask(sent, expect=1, timeout=TURN_TIMEOUT_SECONDS)
    if [m.text for m in replies] != [sent]:
        raise RuntimeError(f"echo bot answered {[m.text for m in replies]!r} to {sent!r}")


def menu_reply() -> tuple[str, InlineKeyboardMarkup]:
    """The same text and buttons our bot answers /today with, built once, without a database."""
    content = Content()
    cohort = SimpleNamespace(
        name="Tuesday Group A",
        start_date=PROGRAMME_START,
        mode="in-person",
        location="Pain Clinic, Room 4",
        video_link=None,
    )
    days = programme_days(PROGRAMME_START)
    text = content.render(
        "menu/today_before",
        cohort=cohort,
        status=status_on(days, START.date()),
        sessions=content.timetable(),
        last_day=days[-1],
    )
    label = content.label
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(label("menu_today"), callback_data="m:today"),
                InlineKeyboardButton(label("menu_programme"), callback_data="m:programme"),
            ],
            [
                InlineKeyboardButton(label("menu_help"), callback_data="m:help"),
                InlineKeyboardButton(label("menu_privacy"), callback_data="m:privacy"),
            ],
        ]
    )
    return text, markup


def same_reply_handler(
    text: str, markup: InlineKeyboardMarkup
) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]:
    """A handler that answers every message with our /today message, and does nothing else."""

    async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(text, reply_markup=markup)

    return reply


async def same_reply_ask(user: FakeUser, turn: int) -> None:
    """One turn of the same-reply bot: any text in, the menu message out."""
    replies = await user.ask("/today", expect=1, timeout=TURN_TIMEOUT_SECONDS)
    if len(replies) != 1 or "Today" not in replies[0].labels:
        raise RuntimeError(f"unexpected replies: {[m.text for m in replies]!r}")


async def bench_echo(
    users: int,
    turns: int,
    handler: Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]] = echo,
    ask: AskFn = echo_ask,
) -> Result:
    """Turns per second of a plain PTB Application with its own Updater."""
    async with FakeTelegramAPI(TOKEN, BOT_USERNAME, record_calls=False) as api:
        app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(api.token)
            .base_url(api.base_url)
            .request(api.httpx_request())
            .get_updates_request(api.httpx_request())
            .build()
        )
        app.add_handler(MessageHandler(filters.TEXT, handler))
        fakes = [api.user(FIRST_USER_ID + i, NAMES[i % len(NAMES)]) for i in range(users)]
        await app.initialize()
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            await api.wait_until_polling()
            return await measure(fakes, turns, ask)
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()


# ---- our bot ----------------------------------------------------------------------------------


def make_settings(url: str, api: FakeTelegramAPI) -> Settings:
    """Production-like settings aimed at the fake, with PTB's rate limiter off."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        telegram_bot_token=api.token,
        telegram_bot_username=BOT_USERNAME,
        telegram_api_base_url=api.base_url,
        telegram_mode="polling",
        staff_telegram_ids=[],
        staff_chat_id=STAFF_CHAT_ID,
        # We measure our own overhead, not the flood-control pacing AIORateLimiter adds.
        telegram_max_messages_per_second=0,
    )


async def enrol_all(runtime: Runtime, users: Sequence[FakeUser]) -> None:
    """Enrol every user through the bot, as a patient would: deep link, consent, name."""
    cohort = await make_cohort(runtime)
    invites = await make_invites(runtime, cohort, count=len(users))

    async def enrol_one(user: FakeUser, code: str) -> None:
        await user.ask(f"/start {code}", timeout=TURN_TIMEOUT_SECONDS)
        await user.tap("Yes, I agree", timeout=TURN_TIMEOUT_SECONDS)
        done = await user.ask(user.first_name, timeout=TURN_TIMEOUT_SECONDS)
        if not any("You have joined" in (m.text or "") for m in done):
            raise RuntimeError(f"{user!r} did not enrol: {[m.text for m in done]!r}")

    async with asyncio.TaskGroup() as group:
        for user, invite in zip(users, invites, strict=True):
            group.create_task(enrol_one(user, invite.code))


async def ours_ask(user: FakeUser, turn: int) -> None:
    """One /today turn; our poller confirms only after commit and send, so replies are there."""
    replies = await user.ask("/today", expect=1, timeout=TURN_TIMEOUT_SECONDS)
    # /today answers with one message carrying the menu buttons.
    if len(replies) != 1 or "Today" not in replies[0].labels:
        raise RuntimeError(f"unexpected /today replies: {[m.text for m in replies]!r}")


async def bench_ours(url: str, users: int, turns: int) -> Result:
    """Turns per second of TelegramService (polling) with enrolled patients sending /today."""
    await prepare_database(url)
    async with FakeTelegramAPI(TOKEN, BOT_USERNAME, record_calls=False) as api:
        api.group(STAFF_CHAT_ID, "PMP staff")
        fakes = [api.user(FIRST_USER_ID + i, NAMES[i % len(NAMES)]) for i in range(users)]
        runtime = await open_runtime(make_settings(url, api), ManualClock(START), migrate=False)
        try:
            service = TelegramService(
                runtime,
                request=api.httpx_request(),
                get_updates_request=api.httpx_request(),
                urgent_request=api.httpx_request(),
                poll_seconds=10,
            )
            await service.start()
            try:
                await api.wait_until_polling()
                await enrol_all(runtime, fakes)
                return await measure(fakes, turns, ours_ask)
            finally:
                await service.stop()
        finally:
            await runtime.close()


# ---- report -----------------------------------------------------------------------------------


def median_result(results: Sequence[Result]) -> Result:
    """The round with the median throughput (its latencies come with it)."""
    return sorted(results, key=lambda r: r.turns_per_second)[len(results) // 2]


def report(
    args: argparse.Namespace,
    database: str,
    rounds: Sequence[tuple[Result, Result, Result]],
) -> dict[str, Any]:
    """Everything worth printing, as one dict: medians over the interleaved rounds."""
    ratios = sorted(ours.turns_per_second / echo.turns_per_second for echo, _, ours in rounds)
    to_same = sorted(ours.turns_per_second / same.turns_per_second for _, same, ours in rounds)
    ratio = statistics.median(ratios)
    return {
        "python": platform.python_version(),
        "python_telegram_bot": telegram.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "database": database,
        "users": args.users,
        "turns_per_user": args.turns_per_user,
        "warmup_turns_per_user": WARMUP_TURNS,
        "rounds": len(rounds),
        "rate_limiter": "off (telegram_max_messages_per_second=0)",
        "echo": median_result([r[0] for r in rounds]).to_json(),
        "same_reply": median_result([r[1] for r in rounds]).to_json(),
        "ours": median_result([r[2] for r in rounds]).to_json(),
        "ratio": round(ratio, 3),
        "ratio_range": [round(ratios[0], 3), round(ratios[-1], 3)],
        # How much of the gap is ours (router, database, outbox) rather than the bigger reply.
        "ratio_to_same_reply": round(statistics.median(to_same), 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
    }


def print_report(figures: dict[str, Any]) -> None:
    """Human-readable output."""
    echo_fig, same_fig, ours_fig = figures["echo"], figures["same_reply"], figures["ours"]
    verdict = "meets" if figures["meets_target"] else "BELOW"
    lines = [
        f"Python {figures['python']}, python-telegram-bot {figures['python_telegram_bot']}, "
        f"SQLAlchemy {figures['sqlalchemy']}, {figures['cpu_count']} CPUs ({figures['platform']})",
        f"database: {figures['database']}",
        f"{figures['users']} users x {figures['turns_per_user']} turns, closed loop, "
        f"after {figures['warmup_turns_per_user']} warm-up turns per user; "
        f"{figures['rounds']} interleaved rounds, medians shown",
        f"PTB rate limiter: {figures['rate_limiter']}; fake Bot API has no rate limits",
        "",
        f"{'bot':<44} {'turns/s':>9} {'p50 ms':>8} {'p95 ms':>8}",
    ]
    for name, fig in (
        ("echo: bare PTB Application + Updater", echo_fig),
        ("same reply: bare PTB, our /today message", same_fig),
        ("ours: TelegramService /today + DB commit", ours_fig),
    ):
        lines.append(
            f"{name:<44} {fig['turns_per_second']:>9.1f} "
            f"{fig['latency_p50_ms']:>8.1f} {fig['latency_p95_ms']:>8.1f}"
        )
    lines += [
        "latency: from sending to confirmed and answered (a getUpdates batch is confirmed at once)",
        "",
        f"ratio ours/echo: {figures['ratio']:.3f} (rounds ranged "
        f"{figures['ratio_range'][0]:.3f}-{figures['ratio_range'][1]:.3f}; "
        f"{verdict} the target of {figures['target_ratio']})",
        f"ratio ours/same reply (our router, database and outbox alone): "
        f"{figures['ratio_to_same_reply']:.3f}",
    ]
    print("\n".join(lines))


async def run(args: argparse.Namespace, url: str) -> list[tuple[Result, Result, Result]]:
    """Rounds of echo, the same-reply bot and ours, interleaved so drift hits all three."""
    text, markup = menu_reply()
    rounds = []
    for _ in range(args.rounds):
        echo_result = await bench_echo(args.users, args.turns_per_user)
        same_result = await bench_echo(
            args.users, args.turns_per_user, same_reply_handler(text, markup), same_reply_ask
        )
        ours_result = await bench_ours(url, args.users, args.turns_per_user)
        rounds.append((echo_result, same_result, ours_result))
    return rounds


def main(argv: Sequence[str] | None = None) -> int:
    """Run both benchmarks and print the figures."""
    args = parse_args(argv)
    # Warnings and errors only: the bot's per-turn INFO lines would measure the terminal.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    temp_dir = None if args.database_url else Path(tempfile.mkdtemp(prefix="pmp-bench-"))
    url = args.database_url or f"sqlite+aiosqlite:///{temp_dir}/bench.db"
    try:
        rounds = asyncio.run(run(args, url))
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
    database = describe_database(url, temp_dir is not None)
    figures = report(args, database, rounds)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_report(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
