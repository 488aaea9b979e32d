"""Run the bot on Telegram: PTB application, polling or webhook, outbox dispatcher ticks."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from starlette.routing import BaseRoute
from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder
from telegram.request import BaseRequest, HTTPXRequest

from bot.app.channels.teams import TeamsBridge
from bot.app.channels.teams_alerts import TeamsSender
from bot.app.channels.teams_auth import MsalToken, NoToken, TokenSource
from bot.app.channels.teams_conversations import Conversations, ServiceUrls
from bot.app.channels.teams_reading import CHANNEL as TEAMS_BOT
from bot.app.channels.teams_sender import TeamsBotSender, card_words
from bot.app.channels.teams_staff import TeamsStaff
from bot.app.channels.telegram import (
    ALLOWED_UPDATES,
    CHANNEL,
    TelegramBridge,
    TelegramSender,
    poll,
    webhook_app,
    webhook_routes,
)
from bot.app.runtime import Runtime
from bot.app.turns import TurnRunner
from bot.app.web.app import create_app
from bot.app.web.console import Console
from bot.app.web.serve import Served, serve
from bot.db.models import OutboxMessage
from bot.messages import Incoming, Reply, Sender
from bot.safety.first_response import FirstResponder
from bot.services.escalations import TEAMS, TEAMS_CHAT
from bot.services.planner import Planner
from dialogs.flows import NUDGE_RENDERERS
from scheduler import dispatcher as dispatcher_module
from scheduler import housekeeping
from scheduler.dispatcher import Dispatcher
from scheduler.escalations import EscalationWatchdog
from scheduler.failures import FailureReporter
from scheduler.reminders import ReminderReleaser

log = logging.getLogger(__name__)

DISPATCH_INTERVAL_SECONDS = 5
# A poller that has not heard from Telegram for its long-poll wait and this long is not receiving
# (getUpdates failing again and again): the health check fails.
RECEIVING_GRACE_SECONDS = 60
# How often a notice about an unrecorded crisis message is tried on each staff route.
UNRECORDED_TRIES = 5
WATCHDOG_INTERVAL_SECONDS = 30


def first_responder(runner: TurnRunner, runtime: Runtime, sender: Sender) -> FirstResponder:
    """Crisis numbers for a channel, sent through `sender` before any turn: staff on the
    channel's list are not sent them."""
    return FirstResponder(
        runner.screener,
        runtime.content,
        sender,
        lambda incoming: incoming.on_staff_list is True,
        runner.answered,
        runner.crisis_reply_sent,
    )


def build_application(
    runtime: Runtime,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
) -> Application:  # type: ignore[type-arg]
    """The PTB application; no Updater, because we confirm updates only after commit."""
    settings = runtime.settings
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_api_base_url)
        .updater(None)
    )
    if settings.telegram_max_messages_per_second > 0:
        # max_retries=0: our outbox retries, so a 429 never blocks urgent sends in here.
        limiter = AIORateLimiter(
            overall_max_rate=settings.telegram_max_messages_per_second, max_retries=0
        )
        # PTB types the builder by its rate limiter's generic; ours changes nothing else.
        builder = builder.rate_limiter(limiter)  # type: ignore[arg-type]
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    return builder.build()


class TelegramService:
    """Starts and stops everything the Telegram bot needs, in one event loop."""

    def __init__(
        self,
        runtime: Runtime,
        request: BaseRequest | None = None,
        get_updates_request: BaseRequest | None = None,
        poll_seconds: int = 30,
        urgent_request: BaseRequest | None = None,
    ) -> None:
        settings = runtime.settings
        if not settings.staff_chats() and not settings.teams_webhook_url:
            # Alerts about patients at risk would reach nobody: refuse rather than run.
            raise ValueError(
                "set STAFF_CHAT_ID (the staff Telegram group), TEAMS_STAFF_CONVERSATION_ID (the "
                "staff Teams channel) or TEAMS_WEBHOOK_URL: staff alerts need somewhere to go"
            )
        self.runtime = runtime
        self.application = build_application(runtime, request, get_updates_request)
        # Crisis replies and staff alerts go through a bot of their own, outside our rate
        # limiter: thousands of reminders waiting there must not delay them.
        self.urgent_bot = Bot(
            settings.telegram_bot_token,
            base_url=settings.telegram_api_base_url,
            request=urgent_request or HTTPXRequest(connection_pool_size=8),
        )
        self.senders: dict[str, Sender] = {CHANNEL: TelegramSender(self.application)}
        urgent_senders: dict[str, Sender] = {
            CHANNEL: TelegramSender(self.application, self.urgent_bot)
        }
        self.teams: TeamsSender | None = None
        if settings.teams_webhook_url:
            self.teams = TeamsSender(settings.teams_webhook_url)
            self.senders[TEAMS] = urgent_senders[TEAMS] = self.teams
        staff_chats = settings.staff_chats()
        self.outbox_work = asyncio.Event()
        self._bulk_work = asyncio.Event()
        runner = runtime.runner(staff_chats, claim_urgent=True)
        responder = first_responder(runner, runtime, urgent_senders[CHANNEL])
        self.bridge = TelegramBridge(
            runner,
            self.senders,
            self.outbox_work,
            responder,
            urgent_senders,
            self._send_now,
            self._tell_unrecorded,
        )
        self.urgent_senders = urgent_senders
        self._sending_now: set[asyncio.Task[None]] = set()
        self.bridge.install(self.application)
        self.teams_bot: TeamsBotSender | None = None
        self.teams_bridge: TeamsBridge | None = None
        if settings.teams_enabled:
            self._start_teams_bot(runner, urgent_senders)
        self.dispatcher = Dispatcher(
            runtime.sessions,
            self.senders,
            runtime.clock,
            ReminderReleaser(runtime.sessions, runtime.content, settings.tz, NUDGE_RENDERERS),
            FailureReporter(runtime.sessions, runtime.content, staff_chats),
            urgent_senders=urgent_senders,
            resent_note=runtime.content.render("escalation/resent_note"),
        )
        self.watchdog = EscalationWatchdog(runtime.sessions, runner.escalator)
        self.dispatcher.on_refused_alert = self._fail_over_now
        self.planner = Planner.of(runtime.content, settings)
        self.scheduler = AsyncIOScheduler(timezone=settings.tz)
        self.poll_seconds = poll_seconds
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._poller: asyncio.Task[None] | None = None
        # The server that receives the webhook, if any; the console's server, or its own.
        self._server: Served | None = None
        self.web_server: Served | None = None
        self.retry_base_seconds = 1.0
        self.console = Console(
            settings=settings,
            clock=runtime.clock,
            sessions=runtime.sessions,
            content=runtime.content,
            escalator=runner.escalator,
            # Alerts edited and patients told by a console press go at once, not at a tick.
            wake=self.outbox_work.set,
        )

    def _start_teams_bot(self, runner: TurnRunner, urgent_senders: dict[str, Sender]) -> None:
        """The Teams bot: its sender for every Teams row, and its endpoint's bridge, which
        shares the Telegram bridge's batches (one writer of turns)."""
        runtime, settings = self.runtime, self.runtime.settings
        conversations = Conversations(
            runtime.sessions,
            ServiceUrls(settings.teams_service_hosts, anonymous=settings.teams_allow_anonymous),
        )
        tokens: TokenSource = NoToken() if settings.teams_allow_anonymous else MsalToken(settings)
        sender = TeamsBotSender(
            conversations, tokens, card_words(runtime.content), settings, runtime.clock
        )
        self.teams_bot = sender
        self.senders[TEAMS_BOT] = urgent_senders[TEAMS_BOT] = sender
        responder = first_responder(runner, runtime, sender)
        self.teams_bridge = TeamsBridge(
            runner,
            self.senders,
            conversations,
            TeamsStaff(runtime.sessions, settings, sender.member_email),
            settings,
            runtime.clock,
            first_responder=responder,
            on_outbox_work=self.outbox_work,
            urgent_senders=urgent_senders,
            on_urgent=self._send_now,
            on_unrecorded_crisis=self._tell_unrecorded,
            pressed=runtime.content.label("teams_pressed"),
            old_button=runtime.content.render("common/card_not_read"),
            batcher=self.bridge.batcher,
        )

    @property
    def web_address(self) -> str:
        """Where the console listens, once started."""
        return self.web_server.address if self.web_server is not None else ""

    async def start(self) -> None:
        """Connect to Telegram and begin receiving updates."""
        settings = self.runtime.settings
        await until_telegram_answers(self.application.initialize)
        await until_telegram_answers(self.urgent_bot.initialize)
        await self.application.start()
        await self._publish_commands()
        # Before anything is claimed: claims of a process that says it lives are never taken
        # over while it keeps saying so. A database down at start is waited out, as ever.
        try:
            await dispatcher_module.heartbeat(self.runtime.sessions, self.runtime.clock.now())
        except Exception as error:
            log.warning("cannot say the bot is alive yet", extra={"error": type(error).__name__})
        # Ticks only: the database says what is due. The default grace of 1 s silently skips
        # ticks on a busy loop.
        for tick, seconds in (
            (self.dispatcher.drain, DISPATCH_INTERVAL_SECONDS),
            (self._send_urgent, DISPATCH_INTERVAL_SECONDS),
            (self.watch_escalations, WATCHDOG_INTERVAL_SECONDS),
            (self._heartbeat, dispatcher_module.HEARTBEAT.total_seconds()),
        ):
            self.scheduler.add_job(
                tick,
                "interval",
                seconds=seconds,
                misfire_grace_time=60,
                coalesce=True,
                max_instances=1,
            )
        self.scheduler.add_job(
            self.plan_all,
            "interval",
            hours=1,
            next_run_time=datetime.now(settings.tz),
            misfire_grace_time=3600,
            coalesce=True,
            max_instances=1,
        )
        self.scheduler.add_job(
            self._housekeeping,
            "cron",
            hour=3,
            minute=30,  # outside 01:00-02:59, where DST makes cron times fire twice or never
            misfire_grace_time=3600,
            coalesce=True,
        )
        self.scheduler.start()
        self._tasks.append(asyncio.create_task(self._urgent_when_woken()))
        self._tasks.append(asyncio.create_task(self._dispatch_when_woken()))
        webhook: list[BaseRoute] = []
        if settings.telegram_mode == "webhook":
            await self.application.bot.set_webhook(
                url=settings.webhook_url,
                secret_token=settings.webhook_secret_token,
                # Telegram sends one chat's updates in sequence, waiting for each request to
                # end before the next of that chat; different chats arrive concurrently and
                # share a batch. So per-chat order holds without a stall marker here.
                allowed_updates=ALLOWED_UPDATES,
            )
            webhook = webhook_routes(
                self.application,
                self.bridge,
                settings.webhook_path,
                settings.webhook_secret_token,
            )
            if settings.webhook_apart:
                app = webhook_app(
                    self.application,
                    self.bridge,
                    settings.webhook_path,
                    settings.webhook_secret_token,
                )
                assert settings.webhook_port is not None
                self._server = await serve(
                    app, settings.webhook_listen or "127.0.0.1", settings.webhook_port
                )
                self._tasks.append(self._server.task)
                webhook = []
        if self.teams_bridge is not None:
            webhook += self.teams_bridge.routes()
        self.web_server = await serve(
            create_app(self.console, extra_routes=webhook), settings.web_listen, settings.web_port
        )
        self._tasks.append(self.web_server.task)
        if settings.telegram_mode == "webhook":
            if self._server is None:
                self._server = self.web_server
        else:
            await self.application.bot.delete_webhook()
            self._poller = asyncio.create_task(self._keep_polling())
        if not settings.staff_chat_id:
            log.warning("STAFF_CHAT_ID is not set: staff notices and alerts go to Teams only")
        log.info("staff console started", extra={"address": self.web_address})
        log.info("telegram bot started", extra={"mode": settings.telegram_mode})

    async def _keep_polling(self) -> None:
        """Poll until stopped; if the poller ever ends another way, start it again."""
        while not self._stop.is_set():
            try:
                await poll(
                    self.application,
                    self.bridge,
                    self._stop,
                    self.poll_seconds,
                    self.retry_base_seconds,
                )
            except Exception as error:
                # poll() catches what a round can raise; this is for what nobody foresaw.
                log.critical(
                    "the poller stopped; starting it again",
                    extra={"error": type(error).__name__},
                    exc_info=(type(error), error, error.__traceback__),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self.retry_base_seconds)

    def _tell_unrecorded(self, incoming: Incoming) -> None:
        """Tell staff of a crisis message whose turn failed, by a path that needs no turn."""
        task = asyncio.create_task(self._send_unrecorded(incoming))
        self._sending_now.add(task)
        task.add_done_callback(self._sending_now.discard)

    async def _send_unrecorded(self, incoming: Incoming) -> None:
        """Send the notice to every staff route straight away, trying each a few times."""
        reference = await self.bridge.runner.reference_of(incoming.channel, incoming.user_id)
        reply = Reply(
            self.runtime.content.render(
                "staff/unrecorded_crisis",
                account=incoming.user_id,
                reference=reference,
                carrier=self.runtime.content.carrier(incoming.channel),
            )
        )
        routes = list(self.runtime.settings.staff_chats().items())
        if self.teams is not None:
            routes.append((TEAMS, TEAMS_CHAT))
        for channel, chat in routes:
            for attempt in range(UNRECORDED_TRIES):
                try:
                    await self.urgent_senders[channel].send(chat, reply)
                except Exception as error:
                    log.error(
                        "staff could not be told of an unrecorded crisis message",
                        extra={"route": channel, "error": type(error).__name__},
                    )
                    await asyncio.sleep(self.retry_base_seconds * 2**attempt)
                else:
                    log.critical(
                        "staff told of a crisis message that could not be recorded",
                        extra={"route": channel, "update_id": incoming.update_id},
                    )
                    break

    async def _publish_commands(self) -> None:
        """Show our commands beside the message box; a failure here must not stop the bot."""
        content = self.runtime.content
        commands = [BotCommand(name, text) for name, text in content.commands().items()]
        staff_chat = self.runtime.settings.staff_chat_id
        try:
            await self.application.bot.set_my_commands(commands)
            if staff_chat:
                # The staff group sees only what it can use there.
                staff = content.commands("staff/commands")
                await self.application.bot.set_my_commands(
                    [BotCommand(name, text) for name, text in staff.items()],
                    scope=BotCommandScopeChat(staff_chat),
                )
        except TelegramError as error:
            log.warning("could not publish commands", extra={"error": type(error).__name__})

    async def plan_all(self) -> None:
        """Bring every active patient's reminders up to date."""
        counts = await self.planner.plan_everyone(self.runtime.sessions, self.runtime.clock.now())
        log.info(
            "reminders planned",
            extra={"people": counts.people, "added": counts.added, "moved": counts.moved},
        )

    async def _housekeeping(self) -> None:
        """Delete what we no longer need to keep."""
        settings = self.runtime.settings
        purged = await housekeeping.purge(
            self.runtime.sessions,
            self.runtime.clock.now(),
            timedelta(days=settings.family_keep_days),
            settings.tz,
        )
        log.info("housekeeping", extra=purged._asdict())

    def _send_now(self, rows: list[OutboxMessage]) -> None:
        """Send the staff alerts a turn just committed, beside its replies."""
        task = asyncio.create_task(self._send_claimed(rows))
        self._sending_now.add(task)
        task.add_done_callback(self._sending_now.discard)

    async def _send_claimed(self, rows: list[OutboxMessage]) -> None:
        try:
            await self.dispatcher.send_claimed(rows)
        except Exception:
            # Still claimed: the dispatcher takes them over when the lease runs out.
            log.exception("sending urgent rows failed; the dispatcher will retry them")

    async def _send_urgent(self) -> None:
        """Retry urgent rows that failed, on their own lane (a fan-out can take minutes)."""
        await self.dispatcher.send_urgent()

    async def _heartbeat(self) -> None:
        """Say this process is alive and receiving, so its claims are not taken over and
        `pmp health` passes; a process that no longer hears from Telegram says nothing."""
        if not self.receiving():
            log.critical("not receiving updates from Telegram: the health check now fails")
            return
        await dispatcher_module.heartbeat(self.runtime.sessions, self.runtime.clock.now())

    def receiving(self) -> bool:
        """Whether updates can still arrive: the poller runs and heard from Telegram lately,
        or the webhook endpoint is up."""
        if self._poller is not None:
            quiet = time.monotonic() - self.bridge.last_fetch
            return not self._poller.done() and quiet < self.poll_seconds + RECEIVING_GRACE_SECONDS
        if self._server is not None:
            server = self._server.server
            return bool(server.started) and not server.should_exit
        return True

    async def watch_escalations(self) -> None:
        """Alert unfinished reports, re-send unacknowledged alerts, fail over stuck ones."""
        counts = await self.watchdog.run(self.runtime.clock.now())
        if counts.total:
            self.outbox_work.set()

    def _fail_over_now(self) -> None:
        """A staff route refused an alert: send it by the other routes without waiting."""
        task = asyncio.create_task(self._fail_over())
        self._sending_now.add(task)
        task.add_done_callback(self._sending_now.discard)

    async def _fail_over(self) -> None:
        try:
            copied = await self.watchdog.fail_over(self.runtime.clock.now())
        except Exception:
            log.exception("fail-over failed; the watchdog's next tick will retry")
            return
        if copied:
            self.outbox_work.set()

    async def _urgent_when_woken(self) -> None:
        """Send urgent rows (staff alerts, crisis replies) the moment a turn writes them.

        This lane never waits for a reminder round: rounds can take minutes in a fan-out.
        """
        while not self._stop.is_set():
            await self.outbox_work.wait()
            self.outbox_work.clear()
            try:
                await self.dispatcher.send_urgent()
            except Exception:
                log.exception("urgent send failed; the next tick will retry")
            self._bulk_work.set()

    async def _dispatch_when_woken(self) -> None:
        """Send the rest of what a turn wrote (staff notices) without waiting for a tick."""
        while not self._stop.is_set():
            await self._bulk_work.wait()
            self._bulk_work.clear()
            self.dispatcher.make_way()  # a reminder round under way stops for staff mail
            try:
                await self.dispatcher.drain()
            except Exception:
                log.exception("outbox round failed; the next tick will retry")

    async def stop(self) -> None:
        """Stop receiving, finish the current turn, and release everything."""
        self._stop.set()
        self.outbox_work.set()
        self._bulk_work.set()
        for served in (self._server, self.web_server):
            if served is not None:
                served.server.should_exit = True
        if self._poller is not None:
            # The poller stops waiting at once, but finishes the round it is handling, so
            # every fetched update is committed, answered and confirmed before we go.
            await self._poller
        for task in self._tasks:
            await task
        for sending in list(self._sending_now):
            await sending  # alerts being sent are sent and recorded before we go
        # No new ticks; rounds under way finish and are recorded before the jobs are dropped
        # (shutting down cancels running jobs, which could leave sent rows unrecorded).
        self.scheduler.pause()
        async with self.dispatcher.round, self.dispatcher.urgent_round:
            self.scheduler.shutdown(wait=False)
        try:
            await dispatcher_module.signed_off(self.runtime.sessions)
        except Exception:
            log.warning("could not sign off; another process takes over in seconds")
        await self.application.stop()
        await self.application.shutdown()
        await self.urgent_bot.shutdown()
        if self.teams is not None:
            await self.teams.aclose()
        if self.teams_bot is not None:
            await self.teams_bot.aclose()


# Seconds between tries to reach Telegram at start; the last is repeated for ever.
CONNECT_WAITS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


async def until_telegram_answers(
    connect: Callable[[], Awaitable[None]], waits: tuple[float, ...] = CONNECT_WAITS
) -> None:
    """Connect, and while Telegram cannot be reached say so in one line and try again, waiting
    longer each time (a network down at start is not a reason to stop)."""
    tries = 0
    while True:
        try:
            await connect()
            if tries:
                log.warning("Telegram answered: starting")
            return
        except NetworkError as error:
            if isinstance(error, BadRequest):
                raise  # Telegram answered, and said no: waiting will not change that
            wait = waits[min(tries, len(waits) - 1)]
            tries += 1
            log.warning(
                "Telegram cannot be reached: trying again",
                extra={"in_seconds": wait, "tries": tries, "error": type(error).__name__},
            )
            await asyncio.sleep(wait)


async def run_forever(runtime: Runtime) -> None:
    """Run until interrupted."""
    service = TelegramService(runtime)
    # Everything loaded so far (the risk screen's word lists and weights above all) lives as
    # long as the process: the garbage collector need not look at it again, which keeps a
    # message's screening from waiting on a collection.
    gc.collect()
    gc.freeze()
    await service.start()
    try:
        await asyncio.Event().wait()
    finally:
        await service.stop()
