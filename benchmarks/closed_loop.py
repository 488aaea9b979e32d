"""The closed loop every turns benchmark runs: users all at once, each sending its next message
only when the reply to the previous one has arrived; wall time, latency and CPU per turn."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from tests.fakes.fake_user import FakeUser

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
# Generous: a turn waits behind every other user's turn in the queue.
TURN_TIMEOUT_SECONDS = 60.0

AskFn = Callable[[FakeUser, int], Awaitable[None]]


@dataclass
class Result:
    """Figures for one bot: turns, wall time, per-turn latency and process CPU time."""

    turns: int
    seconds: float
    latencies: list[float]
    # Process CPU (all threads) over the timed turns: the in-process fake Bot API's share is
    # in it too, alike for every bot, so the figures compare.
    cpu_seconds: float

    @property
    def turns_per_second(self) -> float:
        """Total turns over wall time."""
        return self.turns / self.seconds

    @property
    def cpu_ms_per_turn(self) -> float:
        """Process CPU per turn, in milliseconds."""
        return 1000 * self.cpu_seconds / self.turns

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
            "cpu_ms_per_turn": round(self.cpu_ms_per_turn, 3),
        }


async def closed_loop(users: Sequence[FakeUser], turns: int, ask: AskFn) -> Result:
    """All users at once, each sending its next message only after the previous reply."""
    latencies: list[float] = []

    async def one_user(user: FakeUser) -> None:
        for turn in range(turns):
            began = time.perf_counter()
            await ask(user, turn)
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    cpu_began = time.process_time()
    async with asyncio.TaskGroup() as group:
        for user in users:
            group.create_task(one_user(user))
    cpu = time.process_time() - cpu_began
    return Result(len(users) * turns, time.perf_counter() - began, latencies, cpu)


async def measure(users: Sequence[FakeUser], turns: int, ask: AskFn) -> Result:
    """Warm up (untimed), then run the timed closed loop."""
    await closed_loop(users, WARMUP_TURNS, ask)
    return await closed_loop(users, turns, ask)


def median_result(results: Sequence[Result]) -> Result:
    """The round with the median CPU per turn (its other figures come with it)."""
    return sorted(results, key=lambda r: r.cpu_ms_per_turn)[len(results) // 2]
