"""The python-telegram-bot applications our bot is measured beside (benchmarks/turns.py).

- echo: a bare Application with its own Updater, answering with the text it got;
- same reply: the same, answering every message with our exact /today text and buttons;
- the conversation peer: what a well-built PTB application would be, an Application with
  PicklePersistence and a persistent ConversationHandler whose entry point is /today, answering
  with our /today. Per turn it counts the turn and notes its time in ``context.user_data``,
  moves its conversation state (idle -> MENU, then MENU -> idle on the next turn) and replies,
  so every turn gives persistence a user_data write and a conversation write. Either PTB's own
  timer writes the pickle file (every 60 s by default, as a PicklePersistence user gets out of
  the box: a crash loses up to a minute), or, to be durable, each update's changes are written
  before the next update is handled (``FlushingApplication``). Even then PTB's durability is
  weaker than our commit: its Updater confirms an update before the handlers run, the write
  comes after the reply, and PicklePersistence rewrites the file in place without fsync.

Every bot runs in the caller's event loop against its own in-process fake Bot API (tests/fakes).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PicklePersistence,
    filters,
)

from benchmarks.closed_loop import (
    BOT_USERNAME,
    FIRST_USER_ID,
    NAMES,
    PROGRAMME_START,
    START,
    TOKEN,
    TURN_TIMEOUT_SECONDS,
    WARMUP_TURNS,
    AskFn,
    Result,
    measure,
)
from bot.content import Content
from bot.time.calendar import programme_days, status_on
from dialogs.menu import MENU_LAYOUT, MENU_PREFIX
from tests.fakes.fake_user import FakeUser
from tests.fakes.telegram_api import FakeTelegramAPI

# The one conversation state: the menu is showing.
MENU = 1
CONVERSATION_NAME = "today"
# PTB's default timer; with a flush after every update it is only a backstop.
DEFAULT_UPDATE_INTERVAL = 60.0


# ---- bare PTB bots ----------------------------------------------------------------------------


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
    return await _run(
        ApplicationBuilder(), MessageHandler(filters.TEXT, handler), users, turns, ask
    )


Checked = Callable[[Sequence[FakeUser]], Awaitable[None]]


async def _run(
    builder: ApplicationBuilder,  # type: ignore[type-arg]
    handler: BaseHandler[Any, Any, Any],
    users: int,
    turns: int,
    ask: AskFn,
    check: Checked | None = None,
) -> Result:
    """Build the Application against a fresh fake Bot API, poll, and run the closed loop;
    `check` runs after the timed turns, while the bot still runs."""
    async with FakeTelegramAPI(TOKEN, BOT_USERNAME, record_calls=False) as api:
        app: Application[Any, Any, Any, Any, Any, Any] = (
            builder.token(api.token)
            .base_url(api.base_url)
            .request(api.httpx_request())
            .get_updates_request(api.httpx_request())
            .build()
        )
        app.add_handler(handler)
        fakes = [api.user(FIRST_USER_ID + i, NAMES[i % len(NAMES)]) for i in range(users)]
        await app.initialize()
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            await api.wait_until_polling()
            result = await measure(fakes, turns, ask)
            if check is not None:
                await check(fakes)
            return result
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()


# ---- our /today answer, built without a database ---------------------------------------


def today_reply() -> tuple[str, InlineKeyboardMarkup]:
    """Our bot's /today answer at START (text and the whole menu), built without a database."""
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
        next_review=None,
        # Eleven days before the group starts there is no session to offer attendance for.
        attend=None,
    )
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    content.label(f"menu_{action}"), callback_data=f"{MENU_PREFIX}:{action}"
                )
                for action in row
            ]
            for row in MENU_LAYOUT
        ]
    )
    return text, markup


# ---- the conversation peer -------------------------------------------------------------------


class FlushingApplication(Application[Any, Any, Any, Any, Any, Any]):
    """An Application that writes its persistence after every update, not only on a timer."""

    async def process_update(self, update: object) -> None:
        """Handle the update, then write what it changed before the next update is taken."""
        await super().process_update(update)
        # PTB only persists on its update_interval timer (and at shutdown): there is no
        # per-update setting, and update_interval=0 turns the timer into a busy loop that
        # writes whenever it gets a turn of the event loop, not once per update. The handlers
        # have run and the Application has marked this update's user and chat by now, so this
        # writes exactly what the turn changed. Updates are handled one at a time (PTB's
        # default), so the next update waits for the write, as it would for a commit.
        await self.update_persistence()


def today_handler(
    text: str, markup: InlineKeyboardMarkup, next_state: int
) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, int]]:
    """/today: note the turn in user_data, answer with our menu, move to `next_state`."""

    async def today(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert update.message is not None and context.user_data is not None
        user_data = context.user_data
        user_data["today_turns"] = user_data.get("today_turns", 0) + 1
        user_data["last_today"] = update.message.date
        await update.message.reply_text(text, reply_markup=markup)
        return next_state

    return today


def conversation() -> ConversationHandler[ContextTypes.DEFAULT_TYPE]:
    """The persistent /today conversation: idle -> MENU on one turn, MENU -> idle on the next."""
    text, markup = today_reply()
    # Alternating keeps the conversation state changing every turn; staying in MENU would
    # leave persistence nothing to write for the conversation after the first turn.
    return ConversationHandler(
        entry_points=[CommandHandler("today", today_handler(text, markup, MENU))],
        states={
            MENU: [CommandHandler("today", today_handler(text, markup, ConversationHandler.END))]
        },
        fallbacks=[],
        name=CONVERSATION_NAME,
        persistent=True,
    )


async def bench_conversation_peer(
    users: int,
    turns: int,
    ask: AskFn = same_reply_ask,
    *,
    update_interval: float | None = None,
) -> Result:
    """Turns per second of the ConversationHandler + PicklePersistence peer (own Updater).

    With `update_interval` None every update is written before the next is handled; with a
    number, only PTB's own timer writes, every `update_interval` seconds.
    """
    with tempfile.TemporaryDirectory(prefix="pmp-ptb-peer-") as folder:
        # Defaults otherwise: one file, written on every change (on_flush=False), as a
        # PicklePersistence user gets out of the box.
        persistence = PicklePersistence(
            Path(folder) / "peer.pickle",
            update_interval=DEFAULT_UPDATE_INTERVAL if update_interval is None else update_interval,
        )
        builder = ApplicationBuilder().persistence(persistence)
        if update_interval is None:
            builder = builder.application_class(FlushingApplication)

        async def written(fakes: Sequence[FakeUser]) -> None:
            # Before shutdown, which writes everything anyway: the writes happened while the
            # bot ran. (On the timer alone they may well not have: that is its weakness.)
            await wait_persisted(
                persistence.filepath, [fake.user_id for fake in fakes], WARMUP_TURNS + turns, 2.0
            )

        check = written if update_interval is None else None
        return await _run(builder, conversation(), users, turns, ask, check)


async def persisted_turns(path: Path) -> dict[int, tuple[int, object]]:
    """Each user's turn count and conversation state as the pickle file has them now."""
    # A fresh instance reads the file itself rather than the Application's copy in memory
    # (and finds nothing, not an error, while there is no file yet).
    reader: PicklePersistence[dict[Any, Any], dict[Any, Any], dict[Any, Any]]
    reader = PicklePersistence(path)
    user_data = await reader.get_user_data()
    states = await reader.get_conversations(CONVERSATION_NAME)
    return {
        user_id: (data.get("today_turns", 0), states.get((user_id, user_id)))
        for user_id, data in user_data.items()
    }


async def wait_persisted(path: Path, user_ids: Sequence[int], turns: int, patience: float) -> None:
    """Wait until the file has every user's last turn and conversation state, or fail."""
    # Odd turn counts leave the conversation in MENU, even ones back at idle (stored as None).
    expected = {user_id: (turns, MENU if turns % 2 else None) for user_id in user_ids}
    pause = 0.01
    for _ in range(max(1, round(patience / pause))):
        found = await persisted_turns(path)
        if found == expected:
            return
        # The last update's write follows its reply, so give it a moment.
        await asyncio.sleep(pause)
    wrong = {key: value for key, value in found.items() if expected.get(key) != value}
    raise RuntimeError(f"pickle file not up to date after {patience:g} s: {wrong!r}")
