"""Crisis message to staff alert: latency through the real Telegram adapter, with and without a
10,000-reminder fan-out running.

Everything runs in one process and event loop per scenario: the real TelegramService (PTB
Application with our AIORateLimiter, the urgent bot that bypasses it, the turn batcher, the
outbox dispatcher and its urgent lane, APScheduler ticks) polling the in-process fake Bot API
(tests/fakes).

A "report" is the quickest way a patient's words reach staff: one text message with explicit
risk language ("I want to kill myself"). The adapter sends crisis signposting before any database
work; one transaction then records an escalation and an urgent alert row (priority 0) for the
staff group, and the urgent lane sends it. Every report comes from a different patient, enrolled
directly in the database (bot.services.people.enrol), so setup is quick.

Timed with time.perf_counter:

* fetched -> staff alert sent: from the fake Bot API handing the update to the bot in a
  getUpdates response to the fake answering the sendMessage to the staff group that carries
  "Reference: P<id>" for that patient. The target (p99 under 250 ms) applies to this figure.
  Broken down into fetched -> turn committed -> alert sent; also split by the bot that sent
  the alert (the urgent bot, or the rate-limited one).
* sent by patient -> staff alert sent: from the update entering the fake's queue, so it also
  counts the wait for the bot's next getUpdates.
* fetched -> crisis text sent to the patient, and committed -> the turn's own replies sent.
* with --teams, fetched -> Teams card posted: to the fake Bot Connector (tests/fakes) answering
  the post of the Adaptive Card to the staff channel whose FactSet says "Reference: P<id>" for
  that patient (timed as the fake's answer ends), and committed -> Teams card posted.

--teams turns the Teams bot on beside Telegram (anonymous mode, loopback only; the staff channel
is the fake connector's CHANNEL_ID; the console, which serves /api/messages, on a free port). Once
the service is up, an installationUpdate for the staff channel is posted to its /api/messages, so
the bot learns where to post; every alert is then also a card there. The fake connector is served
in the same process and event loop. The bot paces each Teams conversation to Teams' limits
(7 posts a second, 60 in 30 s: PACE in bot/app/channels/teams_sender.py), so with reports faster
than about two a second most cards wait in the bot (a card whose moment is over 10 s away goes
back to the outbox and is tried again): the Teams figure then measures that pacing, not the
connector. Use --gap-ms 600 700 for a rate Teams accepts, and give --wait 120 for a burst of more
than 120 reports; the report window (and the fan-out counted in it) lasts until the last card.

Scenarios, each in a fresh process with a fresh database, fake Bot API and service (so one that
gets stuck cannot spill into the other):

1. alone: --reports patients send one crisis message each, one every --gap-ms (uniformly spread),
   with --reminders other patients enrolled and nothing else due.
2. fanout: as (1), but first the clock moves to 07:45 on day 1 of every reminder group, so
   --reminders morning reminders fall due; the dispatcher's own 5 s tick starts releasing and
   sending them through the rate-limited bot (telegram_max_messages_per_second, default 25:
   10,000 take ~7 minutes). The reports start once 50 have been delivered; the script prints how
   many were delivered at the start and end of the report window and how many were still to
   send, then ends the fan-out early (unsent reminders deleted) so a run takes a few minutes.

The run waits --wait seconds after the last report for every alert; an alert that has not
arrived by then counts with the time until then (the percentiles are then lower bounds), and
service.stop() gets 30 s. The exit status is 1 if an alert or crisis text (or, with --teams, a
Teams card) is missing or repeated.

The fake Bot API enforces no flood limits unless --api-rate / --per-chat-rate are given. (Real
Telegram allows a bot about 20 messages a minute in one group, so 200 alerts in seconds to one
staff group would get 429s there.)

Run from the repository root::

    .venv/bin/python benchmarks/escalation.py [--database sqlite|postgresql] [--reports 200]
        [--reminders 10000] [--gap-ms 20 50] [--our-rate 25] [--wait 60] [--teams] [--json]

--database postgresql uses postgresql+asyncpg://postgres@127.0.0.1:5432/bench (created with
createdb if missing) and WIPES it; --database-url names another database (also WIPED; the
databases "test" and "postgres" are refused).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a plain script from the repository root: make `bot`, `tests`, ... importable.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
import sqlalchemy  # noqa: E402
import telegram  # noqa: E402
from sqlalchemy import delete, func, select, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from benchmarks import fanout  # noqa: E402
from benchmarks.databases import describe_database, prepare_database  # noqa: E402
from benchmarks.fanout import code_version, populate, release_before  # noqa: E402
from bot.app.channels.telegram import CHANNEL  # noqa: E402
from bot.app.runtime import Runtime, open_runtime  # noqa: E402
from bot.app.telegram_service import TelegramService  # noqa: E402
from bot.app.turns import TurnOutcome  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.db.models import OutboxMessage, ScheduledMessage  # noqa: E402
from bot.messages import Incoming  # noqa: E402
from bot.safety import signposting  # noqa: E402
from bot.safety.screening import default_screen  # noqa: E402
from bot.services.cohorts import CohortRequest, create_cohort  # noqa: E402
from bot.services.people import enrol  # noqa: E402
from bot.services.planner import Planner  # noqa: E402
from bot.time.times import at, parse_clock  # noqa: E402
from tests.fakes.bot_connector import FakeBotConnector, card_of  # noqa: E402
from tests.fakes.fake_user import FakeUser  # noqa: E402
from tests.fakes.teams_activities import CHANNEL_ID, installation_update  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramAPI  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
BOT_USERNAME = "pmp_bench_bot"
STAFF_CHAT_ID = -100888
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench"
FORBIDDEN_DATABASES = ("test", "postgres")
# Reminder patients' chats, then the reporting patients' chats: the ranges never meet.
FIRST_REMINDER_USER = 700_001
FIRST_REPORTER = 950_001
NAMES = ("Robin", "Sam", "Alex", "Jordan", "Morgan", "Casey", "Riley", "Quinn", "Avery", "Jesse")
# Every reminder group starts on this Monday; planning happens two weeks before.
START_DATE = date(2027, 1, 4)
PLAN_AT = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)
MORNING_TIME = "07:45"  # the default morning reminder time: when day 1's reminders are due
# The reporting patients' group starts later, so none of their reminders is due during the run.
REPORTERS_START = START_DATE + timedelta(days=28)
# Where the clock stands until the fan-out should start: nothing is due in the hour before.
IDLE_LEAD = timedelta(hours=1)
# Invented messages with explicit risk language (every one must screen as "crisis").
CRISIS_PHRASES = (
    "I want to kill myself",
    "i want to die",
    "I'm going to kill myself tonight",
    "I wish I was dead",
    "I've been thinking about killing myself",
    "im gonna end my life",
)
TARGET_P99_MS = 250.0
# Reminders delivered before the reports start, so the fan-out is in its steady state.
FANOUT_WARMUP_SENDS = 50
STOP_SECONDS = 30.0  # for the service to stop
SCENARIOS = ("alone", "fanout")
ALERT_RE = re.compile(r"^Reference: P(\d+)$", re.MULTILINE)
# A post to a conversation (not a reply, update or delete): where the staff channel's cards go.
TEAMS_SEND_PATH = f"/v3/conversations/{CHANNEL_ID}/activities"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help=f"sqlite: a fresh file in a temp folder; postgresql: {POSTGRES_URL} (WIPED)",
    )
    parser.add_argument(
        "--database-url", default=None, help="another database instead (it is WIPED)"
    )
    parser.add_argument("--reports", type=int, default=200, help="reports per scenario (200)")
    parser.add_argument("--reminders", type=int, default=10_000, help="reminders (10000)")
    parser.add_argument("--group-size", type=int, default=8, help="patients per group (8)")
    parser.add_argument(
        "--gap-ms",
        type=float,
        nargs=2,
        default=(20.0, 50.0),
        metavar=("MIN", "MAX"),
        help="pause between two reports, uniformly spread (20 50)",
    )
    parser.add_argument(
        "--our-rate",
        type=float,
        default=25.0,
        help="telegram_max_messages_per_second for our AIORateLimiter (25, the default)",
    )
    parser.add_argument(
        "--api-rate",
        type=float,
        default=0.0,
        help="messages/s the fake Bot API allows overall (0: no limit)",
    )
    parser.add_argument(
        "--per-chat-rate",
        type=float,
        default=0.0,
        help="messages/s the fake Bot API allows per chat (0: no limit)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=60.0,
        help="seconds to wait for a scenario's alerts after its last report (60)",
    )
    parser.add_argument(
        "--teams",
        action="store_true",
        help="Teams on too: every alert is also a card in the fake Bot Connector's staff channel",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed for the pauses (1)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    # Internal: run one scenario and print its figures as JSON (what the default run does
    # twice, each in a fresh process).
    parser.add_argument("--only", choices=SCENARIOS, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reports < 1 or args.reminders < 1 or args.group_size < 1:
        parser.error("--reports, --reminders and --group-size must be at least 1")
    if args.gap_ms[0] < 0 or args.gap_ms[1] < args.gap_ms[0]:
        parser.error("--gap-ms needs 0 <= MIN <= MAX")
    if args.our_rate <= 0:
        parser.error("--our-rate must be positive: the fan-out must be paced to be long-running")
    return args


def progress(message: str) -> None:
    """A progress line on stderr, so --json output stays clean."""
    print(f"[escalation] {message}", file=sys.stderr, flush=True)


# ---- instruments ------------------------------------------------------------------------------


class RunningClock(fanout.RunningClock):
    """Runs with real time from a start moment; can be moved to another moment."""

    def set(self, moment: datetime) -> None:
        """Jump to `moment`; the clock runs on from there."""
        self._start, self._began = moment, time.monotonic()


@dataclass
class Observer:
    """What the fake Bot API handed out and received, with perf_counter times."""

    reminder_chats: range
    reporter_chats: range
    crisis_start: str
    # update id -> when a getUpdates response first carried it
    fetched: dict[int, float] = field(default_factory=dict)
    # person id -> (time, lane) of every staff-group message naming them
    alerts: defaultdict[int, list[tuple[float, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # chat id -> (time, lane) of every crisis text / other message sent to a reporting patient
    crisis: defaultdict[int, list[tuple[float, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    other_replies: defaultdict[int, list[tuple[float, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    reminders_sent: int = 0
    reminder_lanes: Counter[str] = field(default_factory=Counter)
    other_staff_messages: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    # person id -> when each staff-channel card naming them was posted to the fake connector
    teams_cards: defaultdict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    other_teams_posts: int = 0
    teams_failures: Counter[str] = field(default_factory=Counter)

    def seen(self, lane: str, method: str, response: httpx.Response, now: float) -> None:
        """Note one answered Bot API request."""
        if method not in ("getupdates", "sendmessage"):
            return
        body = json.loads(response.content)
        if not body.get("ok"):
            self.failures[f"{method}:{body.get('error_code')}"] += 1
            return
        result = body["result"]
        if method == "getupdates":
            for update_data in result:
                self.fetched.setdefault(int(update_data["update_id"]), now)
            return
        chat_id = int(result["chat"]["id"])
        text = result.get("text") or ""
        if chat_id == STAFF_CHAT_ID:
            match = ALERT_RE.search(text)
            if match is None:
                self.other_staff_messages += 1
            else:
                self.alerts[int(match.group(1))].append((now, lane))
        elif chat_id in self.reminder_chats:
            self.reminders_sent += 1
            self.reminder_lanes[lane] += 1
        elif chat_id in self.reporter_chats:
            if text.startswith(self.crisis_start):
                self.crisis[chat_id].append((now, lane))
            else:
                self.other_replies[chat_id].append((now, lane))

    def teams_seen(self, method: str, path: str, status: int, body: bytes, now: float) -> None:
        """Note one request the fake Bot Connector answered."""
        if status >= 300:
            self.teams_failures[f"{method} {path.rsplit('/', 1)[-1]}:{status}"] += 1
            return
        if method != "POST" or path.rstrip("/") != TEAMS_SEND_PATH:
            return
        reference = ALERT_RE.search(card_text(json.loads(body)))
        if reference is None:
            self.other_teams_posts += 1
        else:
            self.teams_cards[int(reference.group(1))].append(now)


def card_text(activity: dict[str, Any]) -> str:
    """An activity's Adaptive Card, line by line: text blocks, and facts as "Title: value"."""
    lines = []
    for element in (card_of(activity) or {}).get("body", []):
        if element.get("type") == "TextBlock":
            lines.append(str(element.get("text", "")))
        elif element.get("type") == "FactSet":
            lines += [f"{fact['title']}: {fact['value']}" for fact in element.get("facts", [])]
    return "\n".join(lines)


class TimedConnectorApp:
    """Wraps the fake Bot Connector's ASGI app: tells the observer of each answered request."""

    def __init__(self, inner: Any, observer: Observer) -> None:
        self.inner = inner
        self.observer = observer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve one request; time the end of its answer."""
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        chunks: list[bytes] = []
        status = 0

        async def timed_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def timed_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.observer.teams_seen(
                    scope["method"], scope["path"], status, b"".join(chunks), time.perf_counter()
                )

        await self.inner(scope, timed_receive, timed_send)


class ObservedTransport(httpx.AsyncBaseTransport):
    """Routes to the fake's transport and tells the observer what was answered, and when."""

    def __init__(self, inner: httpx.AsyncBaseTransport, observer: Observer, lane: str) -> None:
        self.inner = inner
        self.observer = observer
        self.lane = lane

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Hand the request to the fake; time the answer."""
        response = await self.inner.handle_async_request(request)
        now = time.perf_counter()
        method = request.url.path.rstrip("/").rsplit("/", 1)[-1].lower()
        self.observer.seen(self.lane, method, response, now)
        return response


@dataclass
class TurnMarks:
    """Moments inside the bot, per update id: its transaction committed, its replies sent."""

    committed: dict[int, float] = field(default_factory=dict)
    replied: dict[int, float] = field(default_factory=dict)


def instrument(service: TelegramService, marks: TurnMarks) -> None:
    """Wrap the turn runner and batcher of this service instance (not the classes) to time."""
    runner = service.bridge.runner
    batcher = service.bridge.batcher
    run_batch: Callable[[Sequence[Incoming]], Awaitable[list[TurnOutcome]]] = runner.run_batch
    submit: Callable[[Incoming], Awaitable[TurnOutcome]] = batcher.submit

    async def timed_run_batch(incomings: Sequence[Incoming]) -> list[TurnOutcome]:
        outcomes = await run_batch(incomings)
        now = time.perf_counter()  # the transaction has committed
        for incoming in incomings:
            marks.committed.setdefault(int(incoming.update_id), now)
        return outcomes

    async def timed_submit(incoming: Incoming) -> TurnOutcome:
        outcome = await submit(incoming)
        # The batch committed and the turn runner sent its replies (or left them queued).
        marks.replied.setdefault(int(incoming.update_id), time.perf_counter())
        return outcome

    runner.run_batch = timed_run_batch  # type: ignore[method-assign]
    batcher.submit = timed_submit  # type: ignore[method-assign]


# ---- figures ----------------------------------------------------------------------------------


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 and max in milliseconds (inclusive method, so small samples work)."""
    if not seconds:
        return {}
    values = [s * 1000 for s in seconds]
    if len(values) < 2:
        cuts = [values[0]] * 99
    else:
        cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50": round(cuts[49], 1),
        "p95": round(cuts[94], 1),
        "p99": round(cuts[98], 1),
        "max": round(max(values), 1),
    }


@dataclass
class Report:
    """One patient's crisis message."""

    user: FakeUser
    person_id: int
    text: str
    update_id: int = 0
    sent_at: float = 0.0


def scenario_figures(
    name: str,
    reports: Sequence[Report],
    observer: Observer,
    marks: TurnMarks,
    waited: float,
    teams: bool = False,
) -> dict[str, Any]:
    """Latencies and checks for one scenario's reports (with `teams`, its Teams cards too).

    An alert that had not arrived when the wait ended (`waited`, a perf_counter time) counts
    with the time until then: the percentiles are then lower bounds.
    """
    to_alert, from_sent, to_crisis = [], [], []
    to_commit, commit_to_alert, commit_to_replies = [], [], []
    missing_alerts = duplicate_alerts = missing_crisis = duplicate_crisis = 0
    lanes: Counter[str] = Counter()
    by_lane: defaultdict[str, list[float]] = defaultdict(list)
    for report in reports:
        fetched = observer.fetched.get(report.update_id)
        alerts = observer.alerts.get(report.person_id, [])
        crisis = observer.crisis.get(report.user.chat_id, [])
        missing_alerts += not alerts
        duplicate_alerts += len(alerts) > 1
        missing_crisis += not crisis
        duplicate_crisis += len(crisis) > 1
        if fetched is None:
            fetched = report.sent_at  # never fetched: count from sending
        if not alerts:
            to_alert.append(waited - fetched)
            from_sent.append(waited - report.sent_at)
            continue
        alert_at, lane = alerts[0]
        lanes[lane] += 1
        by_lane[lane].append(alert_at - fetched)
        to_alert.append(alert_at - fetched)
        from_sent.append(alert_at - report.sent_at)
        if crisis:
            to_crisis.append(crisis[0][0] - fetched)
        committed = marks.committed.get(report.update_id)
        replied = marks.replied.get(report.update_id)
        if committed is not None:
            to_commit.append(committed - fetched)
            commit_to_alert.append(alert_at - committed)
            if replied is not None:
                commit_to_replies.append(replied - committed)
    over = sum(1 for s in to_alert if s * 1000 >= TARGET_P99_MS)
    figures: dict[str, Any] = {
        "name": name,
        "reports": len(reports),
        "fetched_to_alert_ms": percentiles(to_alert),
        "sent_to_alert_ms": percentiles(from_sent),
        "fetched_to_crisis_text_ms": percentiles(to_crisis),
        "breakdown_ms": {
            "fetched_to_committed": percentiles(to_commit),
            "committed_to_alert": percentiles(commit_to_alert),
            "committed_to_replies_sent": percentiles(commit_to_replies),
        },
        "alerts_over_target": over,
        "alert_lanes": dict(lanes),
        "fetched_to_alert_by_lane_ms": {lane: percentiles(v) for lane, v in by_lane.items()},
        "missing_alerts": missing_alerts,
        "percentiles_are_lower_bounds": missing_alerts > 0,
        "duplicate_alerts": duplicate_alerts,
        "missing_crisis_texts": missing_crisis,
        "duplicate_crisis_texts": duplicate_crisis,
        "all_once": not (missing_alerts or duplicate_alerts or missing_crisis or duplicate_crisis),
    }
    if teams:
        figures.update(teams_figures(reports, observer, marks, waited))
        figures["all_once"] = figures["all_once"] and not (
            figures["missing_teams_cards"] or figures["duplicate_teams_cards"]
        )
    p99 = figures["fetched_to_alert_ms"].get("p99")
    figures["meets_target"] = p99 is not None and p99 < TARGET_P99_MS and figures["all_once"]
    return figures


def teams_figures(
    reports: Sequence[Report], observer: Observer, marks: TurnMarks, waited: float
) -> dict[str, Any]:
    """Fetched -> Teams card posted, per report; a card not posted counts until `waited`."""
    to_card, commit_to_card = [], []
    missing = duplicate = 0
    for report in reports:
        fetched = observer.fetched.get(report.update_id, report.sent_at)
        cards = observer.teams_cards.get(report.person_id, [])
        missing += not cards
        duplicate += len(cards) > 1
        posted = cards[0] if cards else waited
        to_card.append(posted - fetched)
        committed = marks.committed.get(report.update_id)
        if cards and committed is not None:
            commit_to_card.append(posted - committed)
    over = sum(1 for s in to_card if s * 1000 >= TARGET_P99_MS)
    p99 = percentiles(to_card).get("p99")
    return {
        "fetched_to_teams_card_ms": percentiles(to_card),
        "committed_to_teams_card_ms": percentiles(commit_to_card),
        "teams_cards_over_target": over,
        "teams_p99_under_target": p99 is not None and p99 < TARGET_P99_MS and not missing,
        "missing_teams_cards": missing,
        "duplicate_teams_cards": duplicate,
        "teams_percentiles_are_lower_bounds": missing > 0,
    }


# ---- setup ------------------------------------------------------------------------------------


def database_url(args: argparse.Namespace, temp_dir: Path | None) -> str:
    """The database to use; refuses the ones this benchmark must never wipe."""
    if args.database_url:
        url = str(args.database_url)
    elif args.database == "postgresql":
        url = POSTGRES_URL
    else:
        assert temp_dir is not None
        url = f"sqlite+aiosqlite:///{temp_dir}/bench.db"
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.database in FORBIDDEN_DATABASES:
        raise SystemExit(f"refusing to wipe the PostgreSQL database {parsed.database!r}")
    return url


def ensure_postgres_database(url: str) -> None:
    """Create the PostgreSQL database if it does not exist yet (createdb)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return
    command = ["createdb", "-h", parsed.host or "127.0.0.1", "-U", parsed.username or "postgres"]
    if parsed.port:
        command += ["-p", str(parsed.port)]
    done = subprocess.run([*command, parsed.database], capture_output=True, text=True, check=False)
    if done.returncode != 0 and "already exists" not in done.stderr:
        raise SystemExit(f"createdb failed: {done.stderr.strip()}")


def make_settings(url: str, api: FakeTelegramAPI, our_rate: float, teams: bool) -> Settings:
    """Production-like settings aimed at the fake: our rate limiter on, a staff group set.

    With `teams`, the Teams bot is on too (anonymous mode, loopback only), its staff channel the
    fake Bot Connector's, and the console (with /api/messages) listens on a free port.
    """
    teams_settings: dict[str, Any] = (
        {"teams_allow_anonymous": True, "teams_staff_conversation_id": CHANNEL_ID, "web_port": 0}
        if teams
        else {}
    )
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        telegram_bot_token=api.token,
        telegram_bot_username=BOT_USERNAME,
        telegram_api_base_url=api.base_url,
        telegram_mode="polling",
        staff_telegram_ids=[],
        staff_chat_id=STAFF_CHAT_ID,
        telegram_max_messages_per_second=our_rate,
        **teams_settings,
    )


async def install_in_staff_channel(service: TelegramService, connector: FakeBotConnector) -> None:
    """The app added to the staff channel: the bot learns where to post the channel's cards."""
    activity = installation_update("add", "channel", service_url=connector.service_url)
    async with httpx.AsyncClient(base_url=service.web_address, timeout=20) as client:
        response = await client.post("/api/messages", json=activity)
    if response.status_code != 200:
        raise RuntimeError(f"the installationUpdate got {response.status_code}: {response.text}")


async def enrol_reporters(runtime: Runtime, users: Sequence[FakeUser]) -> list[int]:
    """Enrol the reporting patients in a later group, straight into the database; their ids."""
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        cohort = await create_cohort(
            session,
            CohortRequest(
                name="Reporters group",
                start_date=REPORTERS_START,
                mode="in-person",
                location="Pain Clinic, Room 4",
            ),
            now,
        )
        people = [
            await enrol(
                session,
                role="patient",
                cohort_id=cohort.id,
                display_name=user.first_name,
                channel=CHANNEL,
                user_id=str(user.user_id),
                chat_id=str(user.chat_id),
                now=now,
            )
            for user in users
        ]
        return [person.id for person in people]


async def count_rows(runtime: Runtime, model: type, *where: Any) -> int:
    """How many rows of a table match."""
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def stop_fanout(runtime: Runtime, now: datetime) -> dict[str, int]:
    """End the fan-out early: due reminders not yet released are skipped, unsent ones deleted.

    Deleted rather than marked expired: expired reminders are summarised for staff, and that is
    not what is measured here.
    """
    async with runtime.sessions() as session, session.begin():
        skipped = await session.execute(
            update(ScheduledMessage)
            .where(ScheduledMessage.status == "planned", ScheduledMessage.due_at <= now)
            .values(status="skipped", reason="benchmark_stopped")
        )
        deleted = await session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.kind == "reminder", OutboxMessage.status == "pending"
            )
        )
    return {
        "reminders_not_released": int(skipped.rowcount or 0),  # type: ignore[attr-defined]
        "reminders_unsent_in_outbox": int(deleted.rowcount or 0),  # type: ignore[attr-defined]
    }


# ---- scenarios --------------------------------------------------------------------------------


async def send_reports(
    reports: Sequence[Report],
    observer: Observer,
    marks: TurnMarks,
    rng: random.Random,
    gap_ms: Sequence[float],
    wait_seconds: float,
    teams: bool = False,
) -> float:
    """Each patient sends their message, spread over time; returns when all has arrived."""
    for report in reports:
        report.sent_at = time.perf_counter()
        report.update_id = await report.user.send(report.text)
        await asyncio.sleep(rng.uniform(gap_ms[0], gap_ms[1]) / 1000)
    deadline = time.perf_counter() + wait_seconds
    while time.perf_counter() < deadline:
        if all(
            observer.alerts.get(r.person_id)
            and observer.crisis.get(r.user.chat_id)
            and r.update_id in marks.replied
            and (not teams or observer.teams_cards.get(r.person_id))
            for r in reports
        ):
            break
        await asyncio.sleep(0.01)
    return time.perf_counter()


async def wait_until(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll until `predicate` holds."""
    deadline = time.perf_counter() + seconds
    while not predicate():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"timed out after {seconds:g} s waiting for {what}")
        await asyncio.sleep(0.05)


async def run_scenario(args: argparse.Namespace, url: str, name: str) -> dict[str, Any]:
    """One scenario ("alone" or "fanout") on a fresh database and service; its figures."""
    with_fanout = name == "fanout"
    ensure_postgres_database(url)
    await prepare_database(url)
    reminder_ids = [FIRST_REMINDER_USER + i for i in range(args.reminders)]
    reporter_ids = [FIRST_REPORTER + i for i in range(args.reports)]
    screen = default_screen()
    for phrase in CRISIS_PHRASES:
        if not screen.screen(phrase).is_crisis:
            raise RuntimeError(f"{phrase!r} does not screen as a crisis")
    rng = random.Random(args.seed)
    async with FakeTelegramAPI(
        TOKEN,
        BOT_USERNAME,
        global_rate=args.api_rate or None,
        per_chat_rate=args.per_chat_rate or None,
        record_calls=False,
    ) as api:
        api.group(STAFF_CHAT_ID, "PMP staff")
        for index, user_id in enumerate(reminder_ids):
            api.user(user_id, NAMES[index % len(NAMES)])
        reporters = [api.user(uid, NAMES[i % len(NAMES)]) for i, uid in enumerate(reporter_ids)]
        settings = make_settings(url, api, args.our_rate, args.teams)
        tz = settings.tz
        morning = parse_clock(MORNING_TIME)
        assert morning is not None
        due_at = at(START_DATE, morning, tz)
        clock = RunningClock(PLAN_AT)
        runtime = await open_runtime(settings, clock, migrate=False)
        crisis_text = signposting.crisis_text(runtime.content, None).strip()
        observer = Observer(
            reminder_chats=range(reminder_ids[0], reminder_ids[-1] + 1),
            reporter_chats=range(reporter_ids[0], reporter_ids[-1] + 1),
            crisis_start=crisis_text.splitlines()[0],
        )
        marks = TurnMarks()
        figures: dict[str, Any] = {}
        connector: FakeBotConnector | None = None
        try:
            if args.teams:
                connector = FakeBotConnector()
                # The fake hands its asgi_app to uvicorn: any ASGI app serves.
                connector.asgi_app = TimedConnectorApp(connector.asgi_app, observer)  # type: ignore[assignment]
                await connector.start()
            began = time.perf_counter()
            groups = await populate(runtime, reminder_ids, args.group_size)
            person_ids = await enrol_reporters(runtime, reporters)
            async with runtime.sessions() as session, session.begin():
                planned = await Planner(runtime.content, tz).plan(session, clock.now())
            clock.set(due_at - timedelta(seconds=1))
            before = await release_before(runtime, clock.now())
            progress(
                f"{name}: setup: {groups} groups, {args.reminders} + {len(reporters)} patients, "
                f"{planned.added} reminders planned, {before['released_before']} earlier ones "
                f"released, in {time.perf_counter() - began:.1f} s"
            )
            # Nothing is due yet: the fan-out starts only when the clock reaches 07:45.
            clock.set(due_at - IDLE_LEAD)

            def transport(lane: str) -> HTTPXRequest:
                inner = ObservedTransport(api.transport, observer, lane)
                return HTTPXRequest(httpx_kwargs={"transport": inner})

            service = TelegramService(
                runtime,
                request=transport("rate-limited bot"),
                get_updates_request=transport("updates"),
                urgent_request=transport("urgent bot"),
                poll_seconds=10,
            )
            planned_at_start = asyncio.Event()
            plan_all = service.plan_all

            async def plan_all_then_tell() -> None:
                try:
                    await plan_all()
                finally:
                    planned_at_start.set()

            # The hourly planning pass runs when the service starts: not during the timing.
            service.plan_all = plan_all_then_tell  # type: ignore[method-assign]
            instrument(service, marks)
            await service.start()
            try:
                await api.wait_until_polling()
                if connector is not None:
                    await install_in_staff_channel(service, connector)
                began = time.perf_counter()
                await asyncio.wait_for(planned_at_start.wait(), 300)
                progress(
                    f"{name}: service started; its planning pass took "
                    f"{time.perf_counter() - began:.1f} s"
                )
                if with_fanout:
                    # The clock reaches 07:45; the dispatcher's own tick starts the fan-out.
                    clock.set(due_at)
                    began = time.perf_counter()
                    await wait_until(
                        lambda: observer.reminders_sent >= FANOUT_WARMUP_SENDS, 60, "the fan-out"
                    )
                    progress(
                        f"{name}: {observer.reminders_sent} reminders sent "
                        f"{time.perf_counter() - began:.1f} s after the clock reached 07:45"
                    )
                reports = [
                    Report(reporters[i], person_ids[i], CRISIS_PHRASES[i % len(CRISIS_PHRASES)])
                    for i in range(args.reports)
                ]
                sent_at_start = observer.reminders_sent
                window_began = time.perf_counter()
                ended = await send_reports(
                    reports, observer, marks, rng, args.gap_ms, args.wait, args.teams
                )
                sent_at_end = observer.reminders_sent
                window = ended - window_began
                figures = scenario_figures(
                    "during the fan-out" if with_fanout else "alone",
                    reports,
                    observer,
                    marks,
                    ended,
                    args.teams,
                )
                unsent = await count_rows(
                    runtime,
                    OutboxMessage,
                    OutboxMessage.kind == "reminder",
                    OutboxMessage.status.in_(("pending", "sending")),
                ) + await count_rows(
                    runtime,
                    ScheduledMessage,
                    ScheduledMessage.status == "planned",
                    ScheduledMessage.due_at <= clock.now(),
                )
                figures.update(
                    {
                        "window_s": round(window, 2),
                        "reminders_sent_at_window_start": sent_at_start,
                        "reminders_sent_at_window_end": sent_at_end,
                        "reminder_rate_in_window": round((sent_at_end - sent_at_start) / window, 1),
                        "reminders_still_to_send_at_end": unsent,
                        "fanout_running_throughout": sent_at_start > 0
                        and sent_at_end < args.reminders
                        and unsent > 0,
                    }
                )
                progress(f"{name}: p99 {figures['fetched_to_alert_ms'].get('p99')} ms")
                if args.teams:
                    teams_p99 = figures["fetched_to_teams_card_ms"].get("p99")
                    progress(f"{name}: Teams card p99 {teams_p99} ms")
                if with_fanout:
                    figures["fanout_stopped_early"] = await stop_fanout(runtime, clock.now())
            finally:
                began = time.perf_counter()
                stopped_in_time = True
                try:
                    # Bounded: a stop that waits for a whole send round must not hang the run.
                    await asyncio.wait_for(service.stop(), STOP_SECONDS)
                except TimeoutError:
                    stopped_in_time = False
                stop_s = time.perf_counter() - began
            progress(
                f"{name}: service stopped in {stop_s:.1f} s"
                if stopped_in_time
                else f"{name}: service.stop() had not finished after {STOP_SECONDS:g} s: abandoned"
            )
        finally:
            if connector is not None:
                await connector.stop()
            await runtime.close()
    if args.teams:
        figures.update(
            {
                "other_teams_channel_posts": observer.other_teams_posts,
                "connector_failures": dict(observer.teams_failures),
            }
        )
    figures.update(
        {
            "reminder_lanes": dict(observer.reminder_lanes),
            "other_staff_messages": observer.other_staff_messages,
            "other_replies_to_reporters": sum(len(v) for v in observer.other_replies.values()),
            "api_failures": dict(observer.failures),
            "service_stop_s": round(stop_s, 2),
            "service_stopped_in_time": stopped_in_time,
        }
    )
    return figures


def child_argv(args: argparse.Namespace, scenario: str) -> list[str]:
    """The command line running one scenario in a process of its own."""
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--only",
        scenario,
        "--database",
        args.database,
        "--reports",
        str(args.reports),
        "--reminders",
        str(args.reminders),
        "--group-size",
        str(args.group_size),
        "--gap-ms",
        str(args.gap_ms[0]),
        str(args.gap_ms[1]),
        "--our-rate",
        str(args.our_rate),
        "--api-rate",
        str(args.api_rate),
        "--per-chat-rate",
        str(args.per_chat_rate),
        "--wait",
        str(args.wait),
        "--seed",
        str(args.seed),
    ]
    if args.database_url:
        argv += ["--database-url", args.database_url]
    if args.teams:
        argv.append("--teams")
    return argv


def run_both(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each scenario in a fresh process, database and service (a stuck one cannot linger)."""
    scenarios = []
    for scenario in SCENARIOS:
        done = subprocess.run(
            child_argv(args, scenario), stdout=subprocess.PIPE, text=True, check=False
        )
        if not done.stdout.strip():
            raise SystemExit(f"the {scenario} scenario failed (exit status {done.returncode})")
        scenarios.append(json.loads(done.stdout))
    return scenarios


# ---- report -----------------------------------------------------------------------------------


def print_report(figures: dict[str, Any]) -> None:
    """Human-readable output."""
    api = "no limits"
    if figures["api_rate"] or figures["per_chat_rate"]:
        overall, per_chat = figures["api_rate"] or "-", figures["per_chat_rate"] or "-"
        api = f"{overall} msg/s overall, {per_chat} per chat"
    target, code = figures["target_p99_ms"], figures["code"]
    lines = [
        f"Python {figures['python']}, python-telegram-bot {figures['python_telegram_bot']}, "
        f"SQLAlchemy {figures['sqlalchemy']}, {figures['cpu_count']} CPUs ({figures['platform']})",
        f"code: commit {code['commit']}"
        + (
            f", with changes in {', '.join(code['changed_files'])}" if code["changed_files"] else ""
        ),
        f"database: {figures['database']}",
        f"{figures['reports_per_scenario']} crisis reports per scenario, each from another "
        f"patient, one every {figures['gap_ms'][0]:g}-{figures['gap_ms'][1]:g} ms; "
        f"{figures['reminders']} patients with a reminder due in the fan-out",
        f"our AIORateLimiter {figures['our_rate']:g} msg/s; fake Bot API: {api}",
        "each scenario: a fresh database, fake Bot API and TelegramService in a process of its own",
    ]
    if figures.get("teams"):
        lines.append(
            "Teams on (anonymous mode): every alert also goes as a card to the staff channel of "
            "the fake Bot Connector, in the same process"
        )
    lines += [
        "",
        f"{'ms':<46} {'p50':>9} {'p95':>9} {'p99':>9} {'max':>9}",
    ]
    for scenario in figures["scenarios"]:
        lines.append(f"{scenario['name']} ({scenario['window_s']:.1f} s window)")
        breakdown = scenario["breakdown_ms"]
        rows = [
            ("fetched -> staff alert sent", scenario["fetched_to_alert_ms"]),
            ("  fetched -> turn committed", breakdown["fetched_to_committed"]),
            ("  committed -> alert sent", breakdown["committed_to_alert"]),
        ]
        for lane, pct in scenario["fetched_to_alert_by_lane_ms"].items():
            rows.append((f"  alerts sent by the {lane}", pct))
        if "fetched_to_teams_card_ms" in scenario:
            rows += [
                ("fetched -> Teams card posted", scenario["fetched_to_teams_card_ms"]),
                ("  committed -> Teams card posted", scenario["committed_to_teams_card_ms"]),
            ]
        rows += [
            ("sent by patient -> staff alert sent", scenario["sent_to_alert_ms"]),
            ("fetched -> crisis text sent", scenario["fetched_to_crisis_text_ms"]),
            ("committed -> the turn's replies sent", breakdown["committed_to_replies_sent"]),
        ]
        for label, pct in rows:
            if pct:
                lines.append(
                    f"  {label:<44} {pct['p50']:>9.1f} {pct['p95']:>9.1f} "
                    f"{pct['p99']:>9.1f} {pct['max']:>9.1f}"
                )
        verdict = "meets" if scenario["meets_target"] else "MISSES"
        lines.append(
            f"  {verdict} the target (p99 fetched -> alert under {target:g} ms, every alert and "
            f"crisis text exactly once); {scenario['alerts_over_target']} alerts took "
            f"{target:g} ms or more"
        )
        lines.append(f"  alerts sent by {scenario['alert_lanes']}")
        if scenario["percentiles_are_lower_bounds"]:
            lines.append(
                f"  (lower bounds: {scenario['missing_alerts']} alerts had not arrived when the "
                f"wait ended {figures['wait_s']:g} s after the last report; counted until then)"
            )
        lines.append(
            f"  alerts not arrived {scenario['missing_alerts']}, duplicated "
            f"{scenario['duplicate_alerts']}; crisis texts missing "
            f"{scenario['missing_crisis_texts']}, duplicated {scenario['duplicate_crisis_texts']}"
        )
        if "fetched_to_teams_card_ms" in scenario:
            under = "under" if scenario["teams_p99_under_target"] else "NOT under"
            lines.append(
                f"  Teams cards: p99 {under} {target:g} ms; {scenario['teams_cards_over_target']} "
                f"took {target:g} ms or more; not arrived {scenario['missing_teams_cards']}, "
                f"duplicated {scenario['duplicate_teams_cards']}; other posts to the channel "
                f"{scenario['other_teams_channel_posts']}; connector errors "
                f"{scenario['connector_failures'] or 0}"
            )
            if scenario["teams_percentiles_are_lower_bounds"]:
                lines.append(
                    f"  (Teams lower bounds: {scenario['missing_teams_cards']} cards had not "
                    f"arrived when the wait ended; counted until then)"
                )
        if "fanout_stopped_early" in scenario:
            running = "yes" if scenario["fanout_running_throughout"] else "NO"
            stopped = scenario["fanout_stopped_early"]
            lines.append(
                f"  fan-out: {scenario['reminders_sent_at_window_start']} reminders sent at the "
                f"window's start, {scenario['reminders_sent_at_window_end']} at its end "
                f"({scenario['reminder_rate_in_window']:g}/s), "
                f"{scenario['reminders_still_to_send_at_end']} still to send; running throughout: "
                f"{running}"
            )
            lines.append(
                f"  then stopped early: {stopped['reminders_unsent_in_outbox']} unsent outbox "
                f"reminders deleted, {stopped['reminders_not_released']} unreleased ones skipped"
            )
        else:
            lines.append(
                f"  reminders sent during the window: {scenario['reminders_sent_at_window_end']}"
            )
        lines.append(
            (
                f"  service stop took {scenario['service_stop_s']:.1f} s"
                if scenario["service_stopped_in_time"]
                else f"  service.stop() had NOT finished after {scenario['service_stop_s']:.0f} s"
            )
            + f"; other staff-group messages {scenario['other_staff_messages']}; other replies "
            f"to the reporting patients {scenario['other_replies_to_reporters']}; Bot API errors "
            f"{scenario['api_failures'] or 0}"
        )
    print("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    args = parse_args(argv)
    # Warnings and errors only: the bot's per-turn INFO lines would measure the terminal.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    # A drain tick skipped because the fan-out's drain is still running is expected here.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    temporary = args.database_url is None and args.database == "sqlite"
    if args.only:
        temp_dir = Path(tempfile.mkdtemp(prefix="pmp-escalation-")) if temporary else None
        try:
            scenario = asyncio.run(run_scenario(args, database_url(args, temp_dir), args.only))
        finally:
            if temp_dir is not None:
                shutil.rmtree(temp_dir, ignore_errors=True)
        print(json.dumps(scenario))
        return 0
    version = code_version()  # the commit (and local changes) this run measures
    scenarios = run_both(args)
    url = database_url(args, Path("<temp>"))
    figures = {
        "python": platform.python_version(),
        "python_telegram_bot": telegram.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "code": version,
        "database": describe_database(url, temporary),
        "reports_per_scenario": args.reports,
        "reminders": args.reminders,
        "gap_ms": list(args.gap_ms),
        "wait_s": args.wait,
        "our_rate": args.our_rate,
        "api_rate": args.api_rate or None,
        "per_chat_rate": args.per_chat_rate or None,
        "target_p99_ms": TARGET_P99_MS,
        "scenarios": scenarios,
    }
    if args.teams:
        figures["teams"] = True
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print_report(figures)
    # Missing or repeated alerts (or Teams cards) fail the run; a missed latency target is a
    # figure to report.
    return 0 if all(scenario["all_once"] for scenario in scenarios) else 1


if __name__ == "__main__":
    raise SystemExit(main())
