"""Telegram adapter: PTB updates in, neutral events to the turn runner, replies out."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hmac
import json
import logging
import time
import warnings
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message, Update
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.warnings import PTBDeprecationWarning

from bot.app.channels.bodies import body_within_limit
from bot.app.channels.chat_order import ChatQueues, Place
from bot.app.channels.telegram_updates import get_updates, read_update
from bot.app.turns import TurnBatcher, TurnOutcome, TurnRunner
from bot.db.models import OutboxMessage
from bot.messages import (
    ButtonRows,
    DeliveryError,
    Incoming,
    PermanentDeliveryError,
    RecipientBlocked,
    Reply,
    Sender,
)
from bot.safety.first_response import FirstResponder
from dialogs.flows import STAFF_COMMANDS

log = logging.getLogger(__name__)

CHANNEL = "telegram"
# The update types we handle; the rest are not fetched at all.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
# A Telegram update is a few kilobytes (a message is at most 4,096 characters): anything far
# larger is not one, and is refused before it costs time or memory.
MAX_WEBHOOK_BODY = 256 * 1024
# A round taking longer than this is stuck (a frozen database): new messages are fetched and
# screened meanwhile, so crisis numbers never wait for it.
STUCK_ROUND_SECONDS = 2.0
# Telegram's method names are case-insensitive; PTB asks that do_api_request not be used for
# the methods it wraps, and names them in camel case, so this spelling is the Bot API's own
# and not one PTB warns about.
SEND_MESSAGE = "sendmessage"
# Give a failing update a few tries, then move on so one poison update can't stall everyone.
MAX_UPDATE_ATTEMPTS = 5
# Chats with a failed update in the current polling round: their later updates wait too.
_stalled_chats: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "stalled_chats", default=None
)


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """Inline buttons for a reply."""
    return _keyboard(reply.buttons) if reply.buttons else None


@functools.lru_cache(maxsize=256)
def _markup_json(rows: ButtonRows) -> str:
    """The inline keyboard as the Bot API's JSON, made once per distinct set of buttons."""
    return json.dumps(
        {
            "inline_keyboard": [
                [{"text": b.label, "callback_data": b.payload} for b in row] for row in rows
            ]
        },
        ensure_ascii=False,
    )


@functools.lru_cache(maxsize=256)
def _keyboard(rows: ButtonRows) -> InlineKeyboardMarkup:
    """Built once per distinct set of buttons: the menu is sent again and again.

    PTB's Telegram objects are immutable, so sharing one between messages is safe.
    """
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.payload) for b in row] for row in rows]
    )


class TelegramSender:
    """Sends neutral replies with PTB; plain text only, so nothing is parsed as markup."""

    channel = CHANNEL

    def __init__(self, application: Application, bot: Bot | None = None) -> None:  # type: ignore[type-arg]
        self.application = application
        # Urgent mail uses a bot of its own that bypasses our rate limiter, so a crisis reply
        # or a staff alert never waits in a queue behind thousands of reminders.
        self.bot = bot or application.bot

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Send one message; return its id; translate Telegram errors into delivery errors."""
        with _delivery_errors():
            if reply.document_name is not None:
                # A file built from the text (the doctor's list), never parsed as markup.
                data = InputFile(reply.text.encode("utf-8"), filename=reply.document_name)
                message = await self.bot.send_document(
                    chat_id=int(chat_id), document=data, reply_markup=keyboard(reply)
                )
                return str(message.message_id)
            # The Bot API call itself, through the same rate limiter and error handling as
            # send_message, without building PTB objects for the buttons and reading the whole
            # Message back: a patient's turn needs only the new message's id.
            parameters: dict[str, object] = {"chat_id": int(chat_id), "text": reply.text}
            if reply.buttons:
                parameters["reply_markup"] = _markup_json(reply.buttons)
            sent = await self.bot.do_api_request(SEND_MESSAGE, api_kwargs=parameters)
        return str(sent["message_id"])

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        """Change a message we sent (text and buttons); an unchanged message is fine."""
        try:
            with _delivery_errors():
                await self.bot.edit_message_text(
                    chat_id=int(chat_id),
                    message_id=int(message_id),
                    text=reply.text,
                    reply_markup=keyboard(reply),
                )
        except PermanentDeliveryError as error:
            cause = error.__cause__
            if isinstance(cause, BadRequest) and "not modified" in cause.message.lower():
                return  # a second edit with the same words: what we wanted is there
            raise


@contextlib.contextmanager
def _delivery_errors() -> Iterator[None]:
    """Translate Telegram errors into our delivery errors."""
    try:
        yield
    except Forbidden as error:
        raise RecipientBlocked("forbidden") from error
    except RetryAfter as error:
        with warnings.catch_warnings():
            # PTB 22 warns that `retry_after` becomes a timedelta; both are handled here.
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            wait = error.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        raise DeliveryError("retry_after", retry_after=seconds) from error
    except BadRequest as error:
        raise PermanentDeliveryError("bad_request") from error
    except TelegramError as error:
        raise DeliveryError(type(error).__name__) from error


def _nobody(_user_id: int) -> bool:
    """No staff list: nobody is on it."""
    return False


def to_incoming(update: Update, is_staff: Callable[[int], bool] = _nobody) -> Incoming | None:
    """Translate a Telegram update; None for updates we deliberately leave alone. `is_staff`
    says whether a Telegram user id is on the staff list (asked on every update, so someone
    taken off the list loses access at once)."""
    update_id = str(update.update_id)
    query = update.callback_query
    if query is not None:
        message = query.message
        chat = message.chat if message is not None else None
        chat_id = str(chat.id) if chat is not None else str(query.from_user.id)
        return Incoming(
            channel=CHANNEL,
            user_id=str(query.from_user.id),
            chat_id=chat_id,
            update_id=update_id,
            kind="button",
            payload=query.data or "",
            first_name=query.from_user.first_name or "",
            private_chat=chat is None or chat.type == "private",
            message_id=str(message.message_id) if message is not None else "",
            buttons_on_message=_payloads(message),
            on_staff_list=is_staff(query.from_user.id),
        )
    member = update.my_chat_member
    if member is not None and member.chat.type == "private":
        status = member.new_chat_member.status
        kind = "blocked" if status == "kicked" else "unblocked" if status == "member" else None
        if kind is None:
            return None
        return Incoming(
            channel=CHANNEL,
            user_id=str(member.from_user.id),
            chat_id=str(member.chat.id),
            update_id=update_id,
            kind=kind,  # type: ignore[arg-type]
            on_staff_list=is_staff(member.from_user.id),
        )
    message = update.message or update.edited_message
    if message is None or message.from_user is None:
        return None  # channel posts, group membership: nothing to answer
    private = message.chat.type == "private"
    edited = update.edited_message is not None
    if edited and not private:
        return None  # staff commands are not run again when edited
    base = {
        "channel": CHANNEL,
        "user_id": str(message.from_user.id),
        "chat_id": str(message.chat.id),
        "update_id": update_id,
        "forwarded": message.forward_origin is not None,
        "first_name": message.from_user.first_name or "",
        "private_chat": private,
        "edited": edited,
        "sent_at": message.date.timestamp(),
        "on_staff_list": is_staff(message.from_user.id),
    }
    text = message.text
    if not private:
        # The bot does not converse in groups; it answers only /id there, which whoever sets
        # it up uses to learn the staff group's chat id, and the flows' staff commands (the
        # router checks the sender against the staff list).
        parsed = _command(message) if text else None
        if parsed == ("id", ""):
            return Incoming(kind="command", command="id", **base)  # type: ignore[arg-type]
        if parsed is not None and parsed[0] in STAFF_COMMANDS:
            command, rest = parsed
            return Incoming(kind="command", command=command, text=rest, **base)  # type: ignore[arg-type]
        return None
    if text is None:
        # A photo or file is not read, but its caption is screened for risk language.
        caption = message.caption or ""
        return Incoming(kind="unsupported", text=caption, **base)  # type: ignore[arg-type]
    if (parsed := _command(message)) is not None:
        command, rest = parsed
        return Incoming(kind="command", command=command, text=rest, **base)  # type: ignore[arg-type]
    return Incoming(kind="text", text=text, **base)  # type: ignore[arg-type]


def _payloads(message: object) -> tuple[str, ...]:
    """The callback data of every button on a message Telegram says was pressed."""
    markup = getattr(message, "reply_markup", None)
    if not isinstance(markup, InlineKeyboardMarkup):
        return ()
    return tuple(
        button.callback_data
        for row in markup.inline_keyboard
        for button in row
        if isinstance(button.callback_data, str)
    )


def _command(message: Message) -> tuple[str, str] | None:
    """(command, the rest) for '/start ABC' or '/start@our_bot ABC'; None for plain text."""
    text = message.text or ""
    entities = message.entities or ()
    if not text.startswith("/") or not any(
        e.type == "bot_command" and e.offset == 0 for e in entities
    ):
        return None
    head, _, rest = text.partition(" ")
    return head[1:].split("@", 1)[0].lower(), rest.strip()


DONE, FAILED, OUTAGE = "done", "failed", "outage"


@dataclass
class TelegramBridge:
    """Connects PTB to the turn runner, keeping each chat's updates in order."""

    runner: TurnRunner
    senders: Mapping[str, Sender]
    on_outbox_work: asyncio.Event | None = None
    # Sends crisis signposting before the turn (and its database work) begins.
    first_responder: FirstResponder | None = None
    # Senders for urgent replies (outside the rate limiter).
    urgent_senders: Mapping[str, Sender] | None = None
    # Sends the urgent rows (staff alerts) a batch claimed, as soon as it commits.
    on_urgent: Callable[[list[OutboxMessage]], None] | None = None
    # Tells staff of a crisis message whose turn failed, by a path that needs no turn.
    on_unrecorded_crisis: Callable[[Incoming], None] | None = None
    batcher: TurnBatcher = field(init=False)
    _queues: ChatQueues = field(default_factory=ChatQueues)
    # Updates read and given their places as they arrived, by the update object, until their
    # handler runs (so an update is read once).
    _places: dict[int, tuple[Incoming, Place]] = field(default_factory=dict)
    # Updates being processed that did not commit: FAILED, or OUTAGE (database unreachable).
    _results: dict[int, str] = field(default_factory=dict)
    # Updates with crisis language whose turn has not committed yet (for the loudest log line
    # if one is ever given up on; the database, not this set, is what alerts staff).
    crisis_pending: set[int] = field(default_factory=set)
    # Crisis updates whose failed turn staff were already told of without the turn.
    _told_unrecorded: set[int] = field(default_factory=set)
    # When the poller last heard from Telegram (monotonic seconds), for the health check.
    last_fetch: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.batcher = TurnBatcher(
            self.runner, self.senders, self.on_outbox_work, self.urgent_senders, self.on_urgent
        )

    def read(self, update: Update) -> Incoming | None:
        """The update as an Incoming, checked against the staff list as it is now."""
        return to_incoming(update, self.runner.settings.is_staff)

    async def handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """PTB handler for every update."""
        arrived = self._places.pop(id(update), None)
        if arrived is not None:
            incoming, place = arrived
        else:
            read = self.read(update)
            if read is None:
                return
            incoming, place = read, self._queues.take(read.chat_id)
        try:
            outcome = await self._take_turn(update, incoming, place)
        finally:
            place.leave()
        if outcome is None:
            return
        if update.callback_query is not None:
            try:
                await update.callback_query.answer(
                    text=outcome.alert, show_alert=outcome.alert is not None
                )
            except TelegramError:
                log.info("callback answer failed", extra={"update_id": update.update_id})
        if outcome.queued and self.on_outbox_work is not None:
            self.on_outbox_work.set()

    async def _take_turn(
        self, update: Update, incoming: Incoming, place: Place
    ) -> TurnOutcome | None:
        """Crisis numbers at once; then, in the chat's order, the turn (None: held back)."""
        if self.first_responder is not None:
            # Before waiting for the chat's earlier events and the database: nothing may hold
            # this up.
            incoming = await self.first_responder.respond(incoming)
            if incoming.crisis_sent:
                self.crisis_pending.add(update.update_id)
        stalled = _stalled_chats.get()
        await place.reached()
        if stalled is not None and incoming.chat_id in stalled:
            # An earlier update of this chat failed in this round: keep their order.
            self._results[update.update_id] = FAILED
            self._tell_unrecorded(update.update_id, incoming)
            return None
        try:
            outcome = await self.batcher.submit(incoming)
        except Exception as error:
            # Not confirmed: the poller or Telegram's webhook retry will bring it back.
            if stalled is not None:
                stalled.add(incoming.chat_id)  # marked before the next waiter runs
            down = await self._database_down(error)
            self._results[update.update_id] = OUTAGE if down else FAILED
            self._tell_unrecorded(update.update_id, incoming)
            raise
        self.crisis_pending.discard(update.update_id)
        self._told_unrecorded.discard(update.update_id)
        return outcome

    async def answer_early(self, update: Update) -> None:
        """Crisis numbers for an update fetched while an earlier round is stuck; its turn
        comes later. Staff are told at once, without the turn: the database may be why."""
        incoming = self.read(update)
        if incoming is None or self.first_responder is None:
            return
        answered = await self.first_responder.respond(incoming)
        if answered.crisis_sent:
            self.crisis_pending.add(update.update_id)
            self._tell_unrecorded(update.update_id, answered)

    def _tell_unrecorded(self, update_id: int, incoming: Incoming) -> None:
        """A crisis message's turn failed (a bug, an outage): tell staff now, once, without it."""
        if update_id not in self.crisis_pending or update_id in self._told_unrecorded:
            return
        self._told_unrecorded.add(update_id)
        if self.on_unrecorded_crisis is not None:
            self.on_unrecorded_crisis(incoming)

    async def _database_down(self, error: Exception) -> bool:
        """An outage, not a bug: a database-looking error while the database is unreachable."""
        if not isinstance(error, (DBAPIError, OSError, TimeoutError)):
            return False
        return not await self.runner.database_reachable()

    def install(self, application: Application) -> None:  # type: ignore[type-arg]
        """Register our handler and the single error handler."""
        application.add_handler(TypeHandler(Update, self.handle))
        application.add_error_handler(_log_error)

    async def process_round(
        self,
        application: Application,  # type: ignore[type-arg]
        updates: Sequence[Update],
    ) -> list[str]:
        """Run a getUpdates batch concurrently, chats in order; DONE, FAILED or OUTAGE each."""
        _stalled_chats.set(set())  # each task of the gather sees this round's set
        return list(await asyncio.gather(*(self.process(application, u) for u in updates)))

    async def process(self, application: Application, update: Update) -> str:  # type: ignore[type-arg]
        """Run one update through PTB; DONE when its turn committed (or it needed none)."""
        incoming = self.read(update)
        if incoming is not None:
            # Its place in its chat's queue is taken now, in the order updates arrived, before
            # anything can wait (a crisis reply being sent, PTB's own bookkeeping).
            self._places[id(update)] = (incoming, self._queues.take(incoming.chat_id))
        try:
            await application.process_update(update)
        finally:
            unhandled = self._places.pop(id(update), None)
            if unhandled is not None:
                unhandled[1].leave()  # the handler never ran
        return self._results.pop(update.update_id, DONE)


async def _log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error's type only: never the update, which holds what a patient wrote."""
    error = context.error
    update_id = getattr(update, "update_id", None)
    log.error(
        "update failed",
        extra={"update_id": update_id, "error": type(error).__name__},
        exc_info=(type(error), error, error.__traceback__) if error else None,
    )


async def poll(
    application: Application,  # type: ignore[type-arg]
    bridge: TelegramBridge,
    stop: asyncio.Event,
    poll_seconds: int = 30,
    retry_base_seconds: float = 1.0,
) -> None:
    """Long-poll getUpdates; the offset moves past an update only after its turn committed.

    Nothing but `stop` ends this loop: a round that fails in a way nobody foresaw is logged
    and tried again, because a poller that dies while the process lives answers nobody.
    """
    offset: int | None = None
    attempts: dict[int, tuple[int, int]] = {}  # update id -> (failures, waits)
    delay = retry_base_seconds
    while not stop.is_set():
        try:
            fetched = await _fetch_unless_stopped(application, offset, poll_seconds, stop)
            if fetched is None:
                break
            bridge.last_fetch = time.monotonic()
            offset = await _run_round_watched(
                application,
                bridge,
                _run_round(
                    application, bridge, stop, fetched, offset, attempts, retry_base_seconds
                ),
                offset,
                {update_id for update_id, _ in fetched},
            )
        except TelegramError as error:
            log.warning("getUpdates failed", extra={"error": type(error).__name__})
        except Exception as error:
            log.error(
                "a polling round failed; polling goes on",
                extra={"error": type(error).__name__},
                exc_info=(type(error), error, error.__traceback__),
            )
        else:
            delay = retry_base_seconds
            continue
        await _pause(stop, delay)
        delay = min(delay * 2, 30.0)

    if offset is not None:
        # Confirm the last round now, so a restart does not fetch it again.
        with contextlib.suppress(TelegramError):
            await get_updates(application.bot, offset, 0, ALLOWED_UPDATES)


async def _run_round_watched(
    application: Application,  # type: ignore[type-arg]
    bridge: TelegramBridge,
    running: Coroutine[Any, Any, int | None],
    offset: int | None,
    in_round: set[int],
) -> int | None:
    """Run a round; while it is stuck (a frozen database), keep answering crisis messages.

    The offset does not move until the round is done, so nothing new is confirmed: updates
    that arrived meanwhile are only screened, and their crisis numbers sent, now; their turns
    run in a later round, which does not send the numbers again.
    """
    round_task = asyncio.ensure_future(running)
    peeked: set[int] = set(in_round)
    while True:
        done, _ = await asyncio.wait({round_task}, timeout=STUCK_ROUND_SECONDS)
        if done:
            return round_task.result()
        try:
            waiting = await get_updates(application.bot, offset, 0, ALLOWED_UPDATES)
        except TelegramError:
            continue
        bridge.last_fetch = time.monotonic()
        fresh = [u for update_id, u in waiting if update_id not in peeked and u is not None]
        peeked.update(update_id for update_id, _ in waiting)
        if fresh:
            log.warning(
                "a round is stuck: answering new messages' risk first", extra={"n": len(fresh)}
            )
            await asyncio.gather(*(bridge.answer_early(update) for update in fresh))


async def _run_round(
    application: Application,  # type: ignore[type-arg]
    bridge: TelegramBridge,
    stop: asyncio.Event,
    fetched: list[tuple[int, Update | None]],
    offset: int | None,
    attempts: dict[int, tuple[int, int]],
    retry_base_seconds: float,
) -> int | None:
    """Run one getUpdates batch; the offset to confirm after it."""
    # Turns of one round share a transaction; chats stay in order. An update that
    # succeeded after one that failed is fetched again and ignored as a duplicate.
    results = iter(
        await bridge.process_round(application, [u for _, u in fetched if u is not None])
    )
    for update_id, update in fetched:
        # An update that cannot be read was logged by id; it is confirmed and passed over.
        result = DONE if update is None else next(results)
        if result == DONE:
            offset = update_id + 1
            attempts.pop(update_id, None)
            continue
        # A database outage is waited out however long it lasts, and does not count; a
        # bug that fails one update every time must not hold up everyone else for ever.
        failures, waits = attempts.get(update_id, (0, 0))
        failures += result == FAILED
        attempts[update_id] = (failures, waits + 1)
        if failures >= MAX_UPDATE_ATTEMPTS:
            log.error("update skipped after repeated failures", extra={"update_id": update_id})
            if update_id in bridge.crisis_pending:
                bridge.crisis_pending.discard(update_id)
                # Crisis numbers went out and staff were told without the turn; but no
                # escalation was recorded: say so loudly.
                log.critical(
                    "a message with crisis language could not be recorded",
                    extra={"update_id": update_id},
                )
            offset = update_id + 1
            attempts.pop(update_id, None)
            continue
        await _pause(stop, min(retry_base_seconds * 2.0 ** min(waits + 1, 10), 30.0))
        break  # fetch again from this update: later ones must not overtake it
    return offset


async def _fetch_unless_stopped(
    application: Application,  # type: ignore[type-arg]
    offset: int | None,
    poll_seconds: int,
    stop: asyncio.Event,
) -> list[tuple[int, Update | None]] | None:
    """getUpdates, abandoned (None) if asked to stop: only the wait is ever cut short."""
    fetch = asyncio.ensure_future(
        get_updates(application.bot, offset, poll_seconds, ALLOWED_UPDATES)
    )
    stopping: asyncio.Future[object] = asyncio.ensure_future(stop.wait())
    waiting: set[asyncio.Future[object]] = {fetch, stopping}  # type: ignore[arg-type]
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if fetch.done():
        stopping.cancel()
        return fetch.result()
    fetch.cancel()  # nothing fetched yet is lost: unconfirmed updates stay with Telegram
    with contextlib.suppress(asyncio.CancelledError, TelegramError):
        await fetch
    return None


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait, but wake at once when asked to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def webhook_routes(
    application: Application,  # type: ignore[type-arg]
    bridge: TelegramBridge,
    path: str,
    secret_token: str,
) -> list[BaseRoute]:
    """The webhook endpoint, which answers 200 only after the turn has committed."""
    if not secret_token:
        raise ValueError("webhook mode needs WEBHOOK_SECRET_TOKEN")
    expected = secret_token.encode()

    async def receive(request: Request) -> Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("webhook call with a wrong secret refused")
            return PlainTextResponse("forbidden", status_code=403)
        body = await body_within_limit(request, MAX_WEBHOOK_BODY)
        if body is None:
            log.warning("webhook call with a body over the limit refused")
            return PlainTextResponse("too large", status_code=413)
        try:
            data = json.loads(body)
        except ValueError:
            return PlainTextResponse("bad request", status_code=400)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return PlainTextResponse("bad request", status_code=400)
        update = read_update(data, application.bot)
        if update is None:
            # Logged by id; confirmed, so Telegram does not send it again and again.
            return PlainTextResponse("ok")
        if await bridge.process(application, update) == DONE:
            return PlainTextResponse("ok")
        # Telegram retries non-2xx answers: the update is not lost.
        return PlainTextResponse("retry", status_code=500)

    return [Route(path, receive, methods=["POST"])]


def webhook_app(
    application: Application,  # type: ignore[type-arg]
    bridge: TelegramBridge,
    path: str,
    secret_token: str,
) -> Starlette:
    """The webhook on a server of its own (WEBHOOK_PORT set apart from the console's)."""

    async def health(_request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = webhook_routes(application, bridge, path, secret_token)
    return Starlette(routes=[*routes, Route("/healthz", health, methods=["GET"])])
