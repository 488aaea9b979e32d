"""/today turns through our Telegram adapter, beside the python-telegram-bot applications a
team might build instead (benchmarks/ptb_peer.py): CPU per turn, turns per second, latency.

All bots run in this process and event loop, one after the other, each against its own
in-process fake Bot API (tests/fakes). Users talk in a closed loop: all at once, each sending
its next message only when the reply to the previous one has arrived. CPU per turn is the
process's CPU time over the timed turns, the fake Bot API's share included (alike for every bot).

The yardstick is the conversation peer: PTB's ConversationHandler with PicklePersistence. We
keep one durable database transaction per turn; the peer is shown both as it comes (its pickle
file written every 60 s, so a crash loses up to a minute) and written after every update.

Run from the repository root::

    .venv/bin/python benchmarks/turns.py [--users 20] [--turns-per-user 100] [--rounds 3]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test] [--json]

A PostgreSQL database given with --database-url is WIPED (schema dropped and recreated).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Run as a plain script from the repository root: make `bot`, `tests`, ... importable.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import sqlalchemy  # noqa: E402
import telegram  # noqa: E402

from benchmarks.closed_loop import (  # noqa: E402
    BOT_USERNAME,
    FIRST_USER_ID,
    NAMES,
    STAFF_CHAT_ID,
    START,
    TOKEN,
    TURN_TIMEOUT_SECONDS,
    WARMUP_TURNS,
    Result,
    measure,
    median_result,
)
from benchmarks.databases import describe_database, prepare_database  # noqa: E402
from benchmarks.ptb_peer import (  # noqa: E402
    bench_conversation_peer,
    bench_echo,
    same_reply_ask,
    same_reply_handler,
    today_reply,
)
from bot.app.runtime import Runtime, open_runtime  # noqa: E402
from bot.app.telegram_service import TelegramService  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.config import Settings  # noqa: E402
from tests.fakes.fake_user import FakeUser  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402
from tests.helpers import make_cohort, make_invites  # noqa: E402

# Our CPU per turn may be at most this many times the conversation peer's (as it comes).
TARGET_CPU_RATIO = 2.0
BOTS = (
    ("echo", "echo: bare PTB Application + Updater"),
    ("same_reply", "same reply: bare PTB, our /today message"),
    ("peer", "peer: ConversationHandler + PicklePersistence"),
    ("peer_durable", "peer, pickle written after every update"),
    ("ours", "ours: /today, one durable transaction"),
)


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
        help="rounds of every bot, interleaved; medians are reported (default 3)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.users < 1 or args.turns_per_user < 1 or args.rounds < 1:
        parser.error("--users, --turns-per-user and --rounds must be at least 1")
    return args


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
            # As `pmp run` does once loaded (bot/app/telegram_service.run_forever); undone
            # after, so the PTB bots of the next round run as they come.
            gc.collect()
            gc.freeze()
            await service.start()
            try:
                await api.wait_until_polling()
                await enrol_all(runtime, fakes)
                return await measure(fakes, turns, ours_ask)
            finally:
                await service.stop()
                gc.unfreeze()
        finally:
            await runtime.close()


# ---- report -----------------------------------------------------------------------------------


def report(
    args: argparse.Namespace, database: str, rounds: Sequence[dict[str, Result]]
) -> dict[str, Any]:
    """Everything worth printing, as one dict: medians over the interleaved rounds."""

    def ratios(than: str) -> list[float]:
        return sorted(r["ours"].cpu_ms_per_turn / r[than].cpu_ms_per_turn for r in rounds)

    to_peer = ratios("peer")
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
        **{name: median_result([r[name] for r in rounds]).to_json() for name, _ in BOTS},
        "cpu_ratio_to_peer": round(statistics.median(to_peer), 3),
        "cpu_ratio_to_peer_range": [round(to_peer[0], 3), round(to_peer[-1], 3)],
        "cpu_ratio_to_durable_peer": round(statistics.median(ratios("peer_durable")), 3),
        "cpu_ratio_to_echo": round(statistics.median(ratios("echo")), 3),
        "target_cpu_ratio": TARGET_CPU_RATIO,
        "meets_target": statistics.median(to_peer) <= TARGET_CPU_RATIO,
    }


def print_report(figures: dict[str, Any]) -> None:
    """Human-readable output."""
    verdict = "meets" if figures["meets_target"] else "ABOVE"
    lines = [
        f"Python {figures['python']}, python-telegram-bot {figures['python_telegram_bot']}, "
        f"SQLAlchemy {figures['sqlalchemy']}, {figures['cpu_count']} CPUs ({figures['platform']})",
        f"database: {figures['database']}",
        f"{figures['users']} users x {figures['turns_per_user']} turns, closed loop, "
        f"after {figures['warmup_turns_per_user']} warm-up turns per user; "
        f"{figures['rounds']} interleaved rounds, medians shown",
        f"PTB rate limiter: {figures['rate_limiter']}; fake Bot API has no rate limits",
        "",
        f"{'bot':<48} {'CPU ms/turn':>11} {'turns/s':>9} {'p50 ms':>8} {'p95 ms':>8}",
    ]
    for name, title in BOTS:
        fig = figures[name]
        lines.append(
            f"{title:<48} {fig['cpu_ms_per_turn']:>11.2f} {fig['turns_per_second']:>9.1f} "
            f"{fig['latency_p50_ms']:>8.1f} {fig['latency_p95_ms']:>8.1f}"
        )
    low, high = figures["cpu_ratio_to_peer_range"]
    lines += [
        "CPU: the process's, fake Bot API included; latency: from sending to answered",
        "",
        f"CPU ratio ours/peer: {figures['cpu_ratio_to_peer']:.2f} (rounds ranged "
        f"{low:.2f}-{high:.2f}; {verdict} the target of {figures['target_cpu_ratio']:g})",
        f"CPU ratio ours/peer written after every update: "
        f"{figures['cpu_ratio_to_durable_peer']:.2f}; ours/echo: "
        f"{figures['cpu_ratio_to_echo']:.2f}",
    ]
    print("\n".join(lines))


async def run(args: argparse.Namespace, url: str) -> list[dict[str, Result]]:
    """Rounds of every bot, interleaved so drift hits all of them."""
    text, markup = today_reply()
    users, turns = args.users, args.turns_per_user
    rounds = []
    for _ in range(args.rounds):
        rounds.append(
            {
                "echo": await bench_echo(users, turns),
                "same_reply": await bench_echo(
                    users, turns, same_reply_handler(text, markup), same_reply_ask
                ),
                "peer": await bench_conversation_peer(users, turns, update_interval=60.0),
                "peer_durable": await bench_conversation_peer(users, turns),
                "ours": await bench_ours(url, users, turns),
            }
        )
    return rounds


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print the figures."""
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
